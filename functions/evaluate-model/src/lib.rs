//! evaluate-model's handler, as a library (the same shape as every function):
//! the model's quality on the held-out data, read from the batch transform's
//! output as a stream, written as a model-quality report beside it.

pub mod evaluation;

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::LambdaEvent;
use sha2::{Digest, Sha256};
use shared::contract::{ArtifactDigest, EvaluateInput, EvaluateOutput, parse_s3_uri};
use shared::{ConfigError, Env, ErrorName, Failure, aws};

use evaluation::Evaluation;

/// A row longer than this is refused rather than buffered.
pub const MAX_ROW_BYTES: usize = 1 << 20;

/// The report's name, beside the transform's `*.out` objects.
pub const REPORT_NAME: &str = "model-quality.json";

#[derive(Debug, Clone)]
pub struct Config;

impl Config {
    pub fn from_env(_env: &Env) -> Result<Self, ConfigError> {
        Ok(Config)
    }
}

#[derive(Debug)]
pub struct State {
    pub s3: aws_sdk_s3::Client,
}

impl State {
    pub fn new(_config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            s3: aws_sdk_s3::Client::new(sdk),
        }
    }
}

/// The transform's output objects under `prefix`, in key order.
async fn outputs(state: &State, bucket: &str, prefix: &str) -> Result<Vec<String>, Failure> {
    let mut keys = Vec::new();
    let mut token = None;
    loop {
        let page = state
            .s3
            .list_objects_v2()
            .bucket(bucket)
            .prefix(prefix)
            .set_continuation_token(token)
            .send()
            .await
            .map_err(|e| aws::failure("ListObjectsV2 (transform output)", &e))?;
        keys.extend(
            page.contents()
                .iter()
                .filter_map(|o| o.key())
                .filter(|k| k.ends_with(".out"))
                .map(str::to_owned),
        );
        token = page.next_continuation_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    keys.sort();
    Ok(keys)
}

/// Splits a stream of chunks into rows and feeds them to the evaluation:
/// only the row being read is held, whatever the object's size.
#[derive(Debug, Default)]
pub struct Rows {
    row: Vec<u8>,
    line: u64,
}

impl Rows {
    pub fn push(&mut self, chunk: &[u8], evaluation: &mut Evaluation) -> Result<(), String> {
        let mut start = 0;
        for (end, _) in chunk.iter().enumerate().filter(|(_, b)| **b == b'\n') {
            self.row.extend_from_slice(&chunk[start..end]);
            self.take(evaluation)?;
            start = end + 1;
        }
        self.row.extend_from_slice(&chunk[start..]);
        if self.row.len() > MAX_ROW_BYTES {
            return Err(format!(
                "line {}: longer than {MAX_ROW_BYTES} bytes",
                self.line + 1
            ));
        }
        Ok(())
    }

    /// The last row, if the object does not end with a newline.
    pub fn finish(&mut self, evaluation: &mut Evaluation) -> Result<(), String> {
        if self.row.is_empty() {
            return Ok(());
        }
        self.take(evaluation)
    }

    fn take(&mut self, evaluation: &mut Evaluation) -> Result<(), String> {
        self.line += 1;
        let line = self.line;
        let text =
            std::str::from_utf8(&self.row).map_err(|_| format!("line {line}: not UTF-8 text"))?;
        evaluation
            .add(text.trim_end_matches('\r'))
            .map_err(|why| format!("line {line}: {why}"))?;
        self.row.clear();
        Ok(())
    }
}

/// Reads one object chunk by chunk as S3 sends them, each to `take`; gives
/// back the S3 version read. `what` names the object in an error.
async fn each_chunk(
    state: &State,
    bucket: &str,
    key: &str,
    what: &str,
    mut take: impl FnMut(&[u8]) -> Result<(), Failure>,
) -> Result<Option<String>, Failure> {
    let object = state
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| aws::failure(&format!("GetObject ({what})"), &e))?;
    let mut body: ByteStream = object.body;
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|e| {
            Failure::new(
                ErrorName::AwsUnavailable,
                format!("reading s3://{bucket}/{key}: {e}"),
            )
        })?;
        take(&chunk)?;
    }
    Ok(object.version_id)
}

/// Feeds one object's rows to the evaluation.
async fn read(
    state: &State,
    bucket: &str,
    key: &str,
    evaluation: &mut Evaluation,
) -> Result<(), Failure> {
    let mut rows = Rows::default();
    let bad = |why: String| Failure::invalid_input(format!("s3://{bucket}/{key} {why}"));
    each_chunk(state, bucket, key, "transform output", |chunk| {
        rows.push(chunk, evaluation).map_err(bad)
    })
    .await?;
    rows.finish(evaluation).map_err(bad)
}

/// The model archive's SHA-256, read as a stream (an archive of any size in
/// the function's memory), with the S3 version that was read.
pub async fn digest(state: &State, uri: &str) -> Result<ArtifactDigest, Failure> {
    let (bucket, key) = parse_s3_uri(uri)
        .filter(|(_, key)| !key.is_empty() && !key.ends_with('/'))
        .ok_or_else(|| {
            Failure::invalid_input(format!(
                "modelArtifactUri must be an s3://bucket/key URI of one object, got {uri:?}"
            ))
        })?;
    let mut hasher = Sha256::new();
    let mut bytes = 0u64;
    let version_id = each_chunk(state, bucket, key, "model archive", |chunk| {
        bytes += chunk.len() as u64;
        hasher.update(chunk);
        Ok(())
    })
    .await?;
    let sha256 = shared::naming::hex(&hasher.finalize());
    Ok(ArtifactDigest {
        uri: uri.to_owned(),
        version_id,
        sha256,
        bytes,
    })
}

pub async fn handle(
    state: &State,
    event: LambdaEvent<EvaluateInput>,
) -> Result<EvaluateOutput, Failure> {
    let input = event.payload;
    let (bucket, prefix) = where_to_read(&input)?;
    let (evaluation, objects) = evaluate(state, bucket, &prefix, input.problem_type).await?;
    let metrics = evaluation.metrics();
    let gate_value = metrics.get(&input.gate_metric).copied().ok_or_else(|| {
        Failure::invalid_input(format!(
            "{} is undefined on this held-out data (every label is the same)",
            input.gate_metric
        ))
    })?;
    let model_artifact = match &input.model_artifact_uri {
        Some(uri) => Some(digest(state, uri).await?),
        None => None,
    };
    let report_uri = write_report(state, bucket, &prefix, &evaluation).await?;
    tracing::info!(
        rows = evaluation.rows(),
        objects,
        gate = %input.gate_metric,
        value = gate_value,
        "evaluated on the held-out data"
    );
    Ok(EvaluateOutput {
        report_uri,
        rows: evaluation.rows(),
        metrics,
        gate_metric: input.gate_metric,
        gate_value,
        model_artifact,
    })
}

/// The transform output's bucket and prefix (ending in `/`), once the gate
/// metric is one this problem type computes.
fn where_to_read(input: &EvaluateInput) -> Result<(&str, String), Failure> {
    let allowed = Evaluation::gates(input.problem_type);
    if !allowed.contains(&input.gate_metric.as_str()) {
        return Err(Failure::invalid_input(format!(
            "gateMetric {:?} is not a held-out metric the gate can read for a {:?} model (higher must be better): one of {}",
            input.gate_metric,
            input.problem_type,
            allowed.join(", ")
        )));
    }
    let (bucket, prefix) = parse_s3_uri(&input.transform_output_uri).ok_or_else(|| {
        Failure::invalid_input(format!(
            "transformOutputUri must be an s3://bucket/prefix/ URI, got {:?}",
            input.transform_output_uri
        ))
    })?;
    let prefix = if prefix.is_empty() || prefix.ends_with('/') {
        prefix.to_owned()
    } else {
        format!("{prefix}/")
    };
    Ok((bucket, prefix))
}

/// Every output object under the prefix, read as a stream into one
/// evaluation; with how many objects were read.
async fn evaluate(
    state: &State,
    bucket: &str,
    prefix: &str,
    kind: shared::contract::ProblemType,
) -> Result<(Evaluation, usize), Failure> {
    let keys = outputs(state, bucket, prefix).await?;
    if keys.is_empty() {
        return Err(Failure::invalid_input(format!(
            "no batch transform output (*.out) under s3://{bucket}/{prefix}"
        )));
    }
    let mut evaluation = Evaluation::new(kind);
    for key in &keys {
        read(state, bucket, key, &mut evaluation).await?;
    }
    if evaluation.rows() == 0 {
        return Err(Failure::invalid_input(format!(
            "the batch transform output under s3://{bucket}/{prefix} has no rows"
        )));
    }
    Ok((evaluation, keys.len()))
}

/// The model-quality report beside the output; answers its URI.
async fn write_report(
    state: &State,
    bucket: &str,
    prefix: &str,
    evaluation: &Evaluation,
) -> Result<String, Failure> {
    let report = serde_json::to_vec(&evaluation.report(&shared::clock::now_rfc3339()))
        .map_err(|e| Failure::invalid_input(format!("the model-quality report: {e}")))?;
    let report_key = format!("{prefix}{REPORT_NAME}");
    state
        .s3
        .put_object()
        .bucket(bucket)
        .key(&report_key)
        .content_type("application/json")
        .body(ByteStream::from(report))
        .send()
        .await
        .map_err(|e| aws::failure("PutObject (model-quality report)", &e))?;
    Ok(format!("s3://{bucket}/{report_key}"))
}

#[cfg(test)]
mod tests;
