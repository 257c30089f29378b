use super::*;
use aws_sdk_s3::operation::copy_object::CopyObjectOutput;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_object_versions::ListObjectVersionsOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::{Object, ObjectVersion};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::Context;
use std::sync::{Arc, Mutex};

fn config() -> Config {
    Config {
        data_bucket: "data".into(),
        artifact_bucket: "artifacts".into(),
    }
}

fn state(rules: &[&Rule]) -> State {
    State {
        config: config(),
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules),
    }
}

fn input(training: &str, test: &str) -> LambdaEvent<SnapshotInput> {
    LambdaEvent::new(
        SnapshotInput {
            execution_name: "run-1".into(),
            training_data_uri: training.into(),
            test_data_uri: test.into(),
        },
        Context::default(),
    )
}

fn version(key: &str, id: &str, latest: bool, size: i64) -> ObjectVersion {
    ObjectVersion::builder()
        .key(key)
        .version_id(id)
        .is_latest(latest)
        .size(size)
        .e_tag(format!("\"etag-{id}\""))
        .build()
}

fn no_manifest() -> Rule {
    mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| r.prefix() == Some("runs/run-1/data-manifest.json"))
        .then_output(|| ListObjectsV2Output::builder().build())
}

fn versions(prefix: &'static str, page: Vec<ObjectVersion>) -> Rule {
    mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(move |r| r.prefix() == Some(prefix) && r.bucket() == Some("data"))
        .then_output(move || {
            ListObjectVersionsOutput::builder()
                .set_versions(Some(page.clone()))
                .build()
        })
}

/// Records every CopyObject's (source, destination key).
fn copies(seen: Arc<Mutex<Vec<(String, String)>>>) -> Rule {
    mock!(aws_sdk_s3::Client::copy_object)
        .match_requests(move |r| {
            let mut seen = seen.lock().unwrap();
            seen.push((
                r.copy_source().unwrap_or_default().to_owned(),
                format!(
                    "{}/{}",
                    r.bucket().unwrap_or_default(),
                    r.key().unwrap_or_default()
                ),
            ));
            true
        })
        .then_output(|| CopyObjectOutput::builder().build())
}

#[tokio::test]
async fn lists_the_current_versions_writes_the_manifest_and_copies_exactly_those_versions() {
    let listed = no_manifest();
    // Page one ends in the middle of a.csv's versions; page two is asked from there.
    let first = mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(|r| r.prefix() == Some("training/") && r.key_marker().is_none())
        .then_output(|| {
            ListObjectVersionsOutput::builder()
                .versions(version("training/a b+.csv", "v2", true, 10))
                .versions(version("training/", "vf", true, 0))
                .is_truncated(true)
                .next_key_marker("training/a b+.csv")
                .next_version_id_marker("v2")
                .build()
        });
    let second = mock!(aws_sdk_s3::Client::list_object_versions)
        .match_requests(|r| {
            r.prefix() == Some("training/")
                && r.key_marker() == Some("training/a b+.csv")
                && r.version_id_marker() == Some("v2")
        })
        .then_output(|| {
            ListObjectVersionsOutput::builder()
                .versions(version("training/a b+.csv", "v1", false, 9))
                .versions(version("training/deleted.csv", "v7", false, 5))
                .versions(version("training/2024/b.csv", "v3", true, 20))
                .build()
        });
    let test = versions(
        "test/iris.csv",
        vec![version("test/iris.csv", "t1", true, 4)],
    );
    let written = Arc::new(Mutex::new(None::<DataManifest>));
    let put = {
        let written = written.clone();
        mock!(aws_sdk_s3::Client::put_object)
            .match_requests(move |r| {
                let body = r.body().bytes().unwrap_or_default();
                *written.lock().unwrap() = serde_json::from_slice(body).ok();
                r.bucket() == Some("artifacts") && r.key() == Some("runs/run-1/data-manifest.json")
            })
            .then_output(|| PutObjectOutput::builder().build())
    };
    let seen = Arc::new(Mutex::new(Vec::new()));
    let copy = copies(seen.clone());
    let s = state(&[&listed, &first, &second, &test, &put, &copy]);
    let out = handle(&s, input("s3://data/training/", "s3://data/test/iris.csv"))
        .await
        .unwrap();

    assert_eq!(
        out.manifest_uri,
        "s3://artifacts/runs/run-1/data-manifest.json"
    );
    assert_eq!(out.training.uri, "s3://artifacts/snapshots/run-1/training/");
    assert_eq!(out.training.source_uri, "s3://data/training/");
    assert_eq!((out.training.objects, out.training.bytes), (2, 30));
    assert_eq!(
        out.training.version_id, None,
        "two objects: no single version"
    );
    assert_eq!(out.test.uri, "s3://artifacts/snapshots/run-1/test/iris.csv");
    assert_eq!(out.test.version_id.as_deref(), Some("t1"));
    assert_eq!(
        (first.num_calls(), second.num_calls(), put.num_calls()),
        (1, 1, 1)
    );

    let manifest = written
        .lock()
        .unwrap()
        .clone()
        .expect("the manifest is JSON");
    let listed: Vec<(&str, &str, &str, u64)> = manifest
        .training
        .objects
        .iter()
        .map(|o| {
            (
                o.key.as_str(),
                o.version_id.as_str(),
                o.e_tag.as_str(),
                o.size,
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("training/2024/b.csv", "v3", "etag-v3", 20),
            ("training/a b+.csv", "v2", "etag-v2", 10)
        ],
        "current versions only, in key order: no older version, no deleted key, no folder"
    );
    assert_eq!(manifest.bucket, "data");
    assert_eq!(manifest.test.objects[0].version_id, "t1");

    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            (
                "data/test/iris.csv?versionId=t1".to_owned(),
                "artifacts/snapshots/run-1/test/iris.csv".to_owned()
            ),
            (
                "data/training/2024/b.csv?versionId=v3".to_owned(),
                "artifacts/snapshots/run-1/training/2024/b.csv".to_owned()
            ),
            (
                "data/training/a%20b%2B.csv?versionId=v2".to_owned(),
                "artifacts/snapshots/run-1/training/a b+.csv".to_owned()
            ),
        ],
        "each listed version, its key URL-encoded in the copy source"
    );
}

fn earlier(training: &str) -> DataManifest {
    DataManifest {
        execution_name: "run-1".into(),
        created_at: "2026-01-01T00:00:00Z".into(),
        bucket: "data".into(),
        training: ManifestSet {
            source_uri: training.into(),
            uri: "s3://artifacts/snapshots/run-1/training/".into(),
            objects: vec![ManifestObject {
                key: "training/iris.csv".into(),
                version_id: "old".into(),
                e_tag: "e".into(),
                size: 3,
            }],
        },
        test: ManifestSet {
            source_uri: "s3://data/test/".into(),
            uri: "s3://artifacts/snapshots/run-1/test/".into(),
            objects: vec![ManifestObject {
                key: "test/t.csv".into(),
                version_id: "t".into(),
                e_tag: "e".into(),
                size: 1,
            }],
        },
    }
}

fn found_manifest(manifest: DataManifest) -> (Rule, Rule) {
    let listed = mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| r.prefix() == Some("runs/run-1/data-manifest.json"))
        .then_output(|| {
            ListObjectsV2Output::builder()
                .contents(
                    Object::builder()
                        .key("runs/run-1/data-manifest.json")
                        .build(),
                )
                .build()
        });
    let body = serde_json::to_vec(&manifest).unwrap();
    let get = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("runs/run-1/data-manifest.json"))
        .then_output(move || {
            GetObjectOutput::builder()
                .body(ByteStream::from(body.clone()))
                .build()
        });
    (listed, get)
}

#[tokio::test]
async fn a_retry_or_a_redrive_copies_the_versions_its_manifest_names_whatever_the_prefix_holds_now()
{
    let (listed, get) = found_manifest(earlier("s3://data/training/"));
    let now = versions(
        "training/",
        vec![version("training/iris.csv", "new", true, 3)],
    );
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let seen = Arc::new(Mutex::new(Vec::new()));
    let copy = copies(seen.clone());
    let s = state(&[&listed, &get, &now, &put, &copy]);
    let out = handle(&s, input("s3://data/training/", "s3://data/test/"))
        .await
        .unwrap();
    assert_eq!(out.training.version_id.as_deref(), Some("old"));
    assert_eq!(
        (now.num_calls(), put.num_calls()),
        (0, 0),
        "nothing listed or written again"
    );
    let mut sources: Vec<String> = seen
        .lock()
        .unwrap()
        .iter()
        .map(|(s, _)| s.clone())
        .collect();
    sources.sort();
    assert_eq!(
        sources,
        [
            "data/test/t.csv?versionId=t",
            "data/training/iris.csv?versionId=old"
        ]
    );
}

#[tokio::test]
async fn a_manifest_of_this_execution_naming_other_data_is_a_conflict_and_nothing_is_copied() {
    let (listed, get) = found_manifest(earlier("s3://data/training/other/"));
    let seen = Arc::new(Mutex::new(Vec::new()));
    let copy = copies(seen.clone());
    let s = state(&[&listed, &get, &copy]);
    let err = handle(&s, input("s3://data/training/", "s3://data/test/"))
        .await
        .unwrap_err();
    assert_eq!(err.name, ErrorName::Conflict, "{err}");
    assert!(err.message.contains("training/other/"), "{err}");
    assert_eq!(copy.num_calls(), 0);
}

#[tokio::test]
async fn data_outside_the_data_buckets_two_prefixes_or_a_bad_execution_name_is_refused_before_any_call()
 {
    let listed = no_manifest();
    let s = state(&[&listed]);
    let cases = [
        (
            "run-1",
            "s3://other/training/",
            "s3://data/test/",
            "trainingDataUri",
        ),
        (
            "run-1",
            "s3://data/test/",
            "s3://data/test/",
            "trainingDataUri",
        ),
        (
            "run-1",
            "s3://data/training/",
            "s3://data/training/",
            "testDataUri",
        ),
        (
            "run-1",
            "s3://data/training/../models/",
            "s3://data/test/",
            "trainingDataUri",
        ),
        (
            "run-1",
            "https://data/training/",
            "s3://data/test/",
            "trainingDataUri",
        ),
        (
            "../run",
            "s3://data/training/",
            "s3://data/test/",
            "executionName",
        ),
        (
            "run/1",
            "s3://data/training/",
            "s3://data/test/",
            "executionName",
        ),
        (
            "",
            "s3://data/training/",
            "s3://data/test/",
            "executionName",
        ),
    ];
    for (execution, training, test, field) in cases {
        let mut event = input(training, test);
        event.payload.execution_name = execution.into();
        let err = handle(&s, event).await.unwrap_err();
        assert_eq!(
            err.name,
            ErrorName::InvalidInput,
            "{execution} {training} {test}"
        );
        assert!(err.message.contains(field), "{err}");
    }
    assert_eq!(listed.num_calls(), 0);
}

#[tokio::test]
async fn an_empty_prefix_or_an_object_too_large_to_copy_is_refused_before_the_manifest_is_written()
{
    let put =
        mock!(aws_sdk_s3::Client::put_object).then_output(|| PutObjectOutput::builder().build());
    let listed = no_manifest();
    let empty = versions(
        "training/",
        vec![version("training/old.csv", "v0", false, 1)],
    );
    let test = versions("test/", vec![version("test/t.csv", "t", true, 1)]);
    let s = state(&[&listed, &empty, &test, &put]);
    let err = handle(&s, input("s3://data/training/", "s3://data/test/"))
        .await
        .unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
    assert!(
        err.message.contains("no objects under s3://data/training/"),
        "{err}"
    );

    let huge = versions(
        "training/",
        vec![version(
            "training/big.csv",
            "v",
            true,
            (MAX_COPY_BYTES + 1) as i64,
        )],
    );
    let s = state(&[&listed, &huge, &test, &put]);
    let err = handle(&s, input("s3://data/training/", "s3://data/test/"))
        .await
        .unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
    assert!(
        err.message.contains("training/big.csv") && err.message.contains("5 GiB"),
        "{err}"
    );
    assert_eq!(put.num_calls(), 0);
}
