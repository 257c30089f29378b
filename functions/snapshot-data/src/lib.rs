//! snapshot-data's handler, as a library (the same shape as every function):
//! the exact objects a run reads, listed in a manifest kept with the run and
//! copied, version by version, where the jobs read them.
//!
//! Why a copy rather than a manifest file SageMaker reads: a SageMaker
//! manifest (`S3DataType: ManifestFile`) names keys, not versions, so a job
//! reading one still reads whatever each key holds when the job starts. A copy
//! made from the listed versions is what the job reads, whatever is uploaded
//! meanwhile, and a redrive a week later reads the same bytes.

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::LambdaEvent;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use shared::contract::{
    DataManifest, ManifestObject, ManifestSet, SnapshotInput, SnapshotOutput, SnapshotSet,
    parse_s3_uri,
};
use shared::{ConfigError, Env, ErrorName, Failure, aws};

/// More objects than this in one set is refused: at eight copies at a time
/// they would not all be copied within the function's timeout.
pub const MAX_OBJECTS: usize = 10_000;

/// CopyObject copies at most 5 GiB in one request.
pub const MAX_COPY_BYTES: u64 = 5 * 1024 * 1024 * 1024;

/// Copies in flight at once.
pub const COPIES_AT_ONCE: usize = 8;

/// The manifest's name under `runs/<execution>/` in the artifact bucket.
pub const MANIFEST_NAME: &str = "data-manifest.json";

/// Where the copies go, under the artifact bucket: `snapshots/<execution>/<key>`.
pub const SNAPSHOT_PREFIX: &str = "snapshots/";

/// A key in a URL: everything but the unreserved characters and `/` encoded.
const KEY: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'/');

#[derive(Debug, Clone)]
pub struct Config {
    /// The only bucket a run's data may come from.
    pub data_bucket: String,
    /// Where the manifest and the copies go.
    pub artifact_bucket: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            data_bucket: env.resource_name("DATA_BUCKET")?,
            artifact_bucket: env.resource_name("ARTIFACT_BUCKET")?,
        })
    }
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub s3: aws_sdk_s3::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            s3: aws_sdk_s3::Client::new(sdk),
        }
    }
}

/// The two sets a run reads, each under its own prefix of the data bucket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DataSet {
    Training,
    Test,
}

impl DataSet {
    pub const fn prefix(self) -> &'static str {
        match self {
            DataSet::Training => "training/",
            DataSet::Test => "test/",
        }
    }

    pub const fn field(self) -> &'static str {
        match self {
            DataSet::Training => "trainingDataUri",
            DataSet::Test => "testDataUri",
        }
    }
}

/// An execution name as Step Functions makes them from this project's
/// triggers: letters, digits, `-` and `_`, at most 80. It names keys, so
/// nothing else (no `/`, no `..`) gets through.
pub fn execution_name(name: &str) -> Result<&str, Failure> {
    let fits = (1..=80).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if fits {
        Ok(name)
    } else {
        Err(Failure::invalid_input(format!(
            "executionName must be 1 to 80 letters, digits, '-' or '_', got {name:?}"
        )))
    }
}

/// The key prefix `uri` names in the data bucket, under `set`'s prefix.
pub fn source_prefix<'a>(config: &Config, set: DataSet, uri: &'a str) -> Result<&'a str, Failure> {
    let refused = || {
        Failure::invalid_input(format!(
            "{} must be under s3://{}/{} (the data bucket of this stack), got {uri:?}",
            set.field(),
            config.data_bucket,
            set.prefix()
        ))
    };
    let (bucket, key) = parse_s3_uri(uri).ok_or_else(refused)?;
    let dotted = key.split('/').any(|part| part == "." || part == "..");
    if bucket != config.data_bucket || !key.starts_with(set.prefix()) || dotted {
        return Err(refused());
    }
    Ok(key)
}

/// The current version of every object under `prefix`, in key order. A key
/// whose latest version is a delete marker is gone and not listed; a
/// zero-byte "folder" key (ending in `/`) holds no data and is left out.
pub async fn current_objects(
    state: &State,
    bucket: &str,
    prefix: &str,
) -> Result<Vec<ManifestObject>, Failure> {
    let mut objects = Vec::new();
    let (mut key_marker, mut version_marker) = (None, None);
    loop {
        let page = state
            .s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key_marker)
            .set_version_id_marker(version_marker)
            .send()
            .await
            .map_err(|e| aws::failure("ListObjectVersions (run data)", &e))?;
        for object in page.versions().iter().filter_map(current) {
            objects.push(object);
            if objects.len() > MAX_OBJECTS {
                return Err(Failure::invalid_input(format!(
                    "more than {MAX_OBJECTS} objects under s3://{bucket}/{prefix}: a run reads at most {MAX_OBJECTS} per prefix; merge them into fewer files"
                )));
            }
        }
        if page.is_truncated() != Some(true) {
            break;
        }
        key_marker = page.next_key_marker().map(str::to_owned);
        version_marker = page.next_version_id_marker().map(str::to_owned);
        if key_marker.is_none() {
            break;
        }
    }
    objects.sort_by(|a, b| a.key.cmp(&b.key));
    Ok(objects)
}

/// A listed version as the manifest records it, if it is a key's current
/// version holding data (not a "folder" key).
fn current(version: &aws_sdk_s3::types::ObjectVersion) -> Option<ManifestObject> {
    let key = version.key()?;
    if version.is_latest() != Some(true) || key.ends_with('/') {
        return None;
    }
    Some(ManifestObject {
        key: key.to_owned(),
        // An object written before versioning was enabled has the version "null".
        version_id: version.version_id().unwrap_or("null").to_owned(),
        e_tag: version
            .e_tag()
            .unwrap_or_default()
            .trim_matches('"')
            .to_owned(),
        size: version
            .size()
            .and_then(|s| u64::try_from(s).ok())
            .unwrap_or(0),
    })
}

/// A set's manifest entry, refused if it is empty or holds an object too large
/// to copy in one request.
fn manifest_set(
    config: &Config,
    execution: &str,
    set: DataSet,
    source_uri: &str,
    prefix: &str,
    objects: Vec<ManifestObject>,
) -> Result<ManifestSet, Failure> {
    let bucket = &config.data_bucket;
    if objects.is_empty() {
        return Err(Failure::invalid_input(format!(
            "{}: no objects under s3://{bucket}/{prefix}",
            set.field()
        )));
    }
    if let Some(big) = objects.iter().find(|o| o.size > MAX_COPY_BYTES) {
        return Err(Failure::invalid_input(format!(
            "s3://{bucket}/{} is {} bytes: a run copies objects of at most 5 GiB (CopyObject's limit); split it into smaller files",
            big.key, big.size
        )));
    }
    Ok(ManifestSet {
        source_uri: source_uri.to_owned(),
        uri: format!(
            "s3://{}/{SNAPSHOT_PREFIX}{execution}/{prefix}",
            config.artifact_bucket
        ),
        objects,
    })
}

/// The manifest this execution wrote before (a retry, a redrive), if any.
/// Looked for by listing its exact key, so that a missing manifest is an
/// empty list and never a 403 (GetObject on a missing key is AccessDenied
/// without s3:ListBucket on the whole bucket).
async fn earlier_manifest(state: &State, key: &str) -> Result<Option<DataManifest>, Failure> {
    let bucket = &state.config.artifact_bucket;
    let listed = state
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(key)
        .send()
        .await
        .map_err(|e| aws::failure("ListObjectsV2 (data manifest)", &e))?;
    if !listed.contents().iter().any(|o| o.key() == Some(key)) {
        return Ok(None);
    }
    let object = state
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| aws::failure("GetObject (data manifest)", &e))?;
    let body = object.body.collect().await.map_err(|e| {
        Failure::new(
            ErrorName::AwsUnavailable,
            format!("reading s3://{bucket}/{key}: {e}"),
        )
    })?;
    serde_json::from_slice(&body.into_bytes())
        .map(Some)
        .map_err(|e| {
            Failure::new(
                ErrorName::Conflict,
                format!("s3://{bucket}/{key} is not a data manifest: {e}"),
            )
        })
}

/// Copies one listed version to `snapshots/<execution>/<key>`.
async fn copy(
    s3: aws_sdk_s3::Client,
    from: String,
    to: String,
    object: ManifestObject,
    execution: String,
) -> Result<(), Failure> {
    let source = format!(
        "{from}/{}?versionId={}",
        utf8_percent_encode(&object.key, KEY),
        utf8_percent_encode(&object.version_id, KEY)
    );
    s3.copy_object()
        .bucket(&to)
        .key(format!("{SNAPSHOT_PREFIX}{execution}/{}", object.key))
        .copy_source(source)
        // The copy carries no tags: copying them would need tag permissions on
        // both sides, and the jobs read bytes only.
        .tagging_directive(aws_sdk_s3::types::TaggingDirective::Replace)
        .send()
        .await
        .map_err(|e| aws::failure(&format!("CopyObject ({})", object.key), &e))?;
    Ok(())
}

/// Copies every object of the manifest, [`COPIES_AT_ONCE`] at a time.
async fn copy_all(state: &State, manifest: &DataManifest) -> Result<(), Failure> {
    let mut running = tokio::task::JoinSet::new();
    let objects = manifest
        .training
        .objects
        .iter()
        .chain(&manifest.test.objects);
    for object in objects {
        if running.len() >= COPIES_AT_ONCE {
            joined(running.join_next().await)?;
        }
        running.spawn(copy(
            state.s3.clone(),
            manifest.bucket.clone(),
            state.config.artifact_bucket.clone(),
            object.clone(),
            manifest.execution_name.clone(),
        ));
    }
    while let Some(done) = running.join_next().await {
        joined(Some(done))?;
    }
    Ok(())
}

fn joined(
    done: Option<Result<Result<(), Failure>, tokio::task::JoinError>>,
) -> Result<(), Failure> {
    match done {
        None => Ok(()),
        Some(Ok(copied)) => copied,
        Some(Err(e)) => Err(Failure::new(
            ErrorName::AwsUnavailable,
            format!("a copy stopped before it finished: {e}"),
        )),
    }
}

fn summary(set: &ManifestSet) -> SnapshotSet {
    SnapshotSet {
        source_uri: set.source_uri.clone(),
        uri: set.uri.clone(),
        objects: set.objects.len() as u64,
        bytes: set.objects.iter().map(|o| o.size).sum(),
        version_id: match set.objects.as_slice() {
            [one] => Some(one.version_id.clone()),
            _ => None,
        },
    }
}

/// The manifest an earlier try wrote, if it names this run's data: a
/// `Conflict` when it names other data (the execution's input was changed).
fn same_data(
    config: &Config,
    input: &SnapshotInput,
    key: &str,
    earlier: DataManifest,
) -> Result<DataManifest, Failure> {
    if earlier.training.source_uri == input.training_data_uri
        && earlier.test.source_uri == input.test_data_uri
        && earlier.bucket == config.data_bucket
    {
        return Ok(earlier);
    }
    Err(Failure::new(
        ErrorName::Conflict,
        format!(
            "s3://{}/{key} names other data ({} and {}) than this run's {} and {}",
            config.artifact_bucket,
            earlier.training.source_uri,
            earlier.test.source_uri,
            input.training_data_uri,
            input.test_data_uri
        ),
    ))
}

/// This execution's manifest: the one written before, or a new one listed now
/// and written before any copy, so a retry copies exactly the same versions.
async fn manifest(
    state: &State,
    input: &SnapshotInput,
    execution: &str,
    key: &str,
) -> Result<DataManifest, Failure> {
    let config = &state.config;
    if let Some(earlier) = earlier_manifest(state, key).await? {
        return same_data(config, input, key, earlier);
    }
    let mut sets = Vec::with_capacity(2);
    for (set, uri) in [
        (DataSet::Training, &input.training_data_uri),
        (DataSet::Test, &input.test_data_uri),
    ] {
        let prefix = source_prefix(config, set, uri)?;
        let objects = current_objects(state, &config.data_bucket, prefix).await?;
        sets.push(manifest_set(config, execution, set, uri, prefix, objects)?);
    }
    let (Some(test), Some(training)) = (sets.pop(), sets.pop()) else {
        return Err(Failure::invalid_input("the run names no data"));
    };
    let manifest = DataManifest {
        execution_name: execution.to_owned(),
        created_at: shared::clock::now_rfc3339(),
        bucket: config.data_bucket.clone(),
        training,
        test,
    };
    let body = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Failure::invalid_input(format!("the manifest: {e}")))?;
    state
        .s3
        .put_object()
        .bucket(&config.artifact_bucket)
        .key(key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| aws::failure("PutObject (data manifest)", &e))?;
    Ok(manifest)
}

pub async fn handle(
    state: &State,
    event: LambdaEvent<SnapshotInput>,
) -> Result<SnapshotOutput, Failure> {
    let input = event.payload;
    let config = &state.config;
    let execution = execution_name(&input.execution_name)?;
    // Both checked before anything is read or written.
    source_prefix(config, DataSet::Training, &input.training_data_uri)?;
    source_prefix(config, DataSet::Test, &input.test_data_uri)?;
    let key = format!("runs/{execution}/{MANIFEST_NAME}");
    let manifest = manifest(state, &input, execution, &key).await?;
    copy_all(state, &manifest).await?;
    let output = SnapshotOutput {
        manifest_uri: format!("s3://{}/{key}", config.artifact_bucket),
        training: summary(&manifest.training),
        test: summary(&manifest.test),
    };
    tracing::info!(
        training_objects = output.training.objects,
        training_bytes = output.training.bytes,
        test_objects = output.test.objects,
        "snapshot of the run's data"
    );
    Ok(output)
}

#[cfg(test)]
mod tests;
