use super::*;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_s3::types::Object;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::Context;
use proptest::prelude::*;
use shared::contract::ProblemType;

const OUTPUT: &str = "setosa,5.0,3.6,1.4,0.2,setosa\nversicolor,6.0,2.2,4.0,1.0,versicolor\nvirginica,6.3,2.8,5.1,1.5,versicolor\nvirginica,7.7,3.0,6.1,2.3,virginica\n";

fn input(gate: &str) -> LambdaEvent<EvaluateInput> {
    LambdaEvent::new(
        EvaluateInput {
            execution_name: "run-1".into(),
            transform_output_uri: "s3://artifacts/transform/run-1/".into(),
            problem_type: ProblemType::Classification,
            gate_metric: gate.into(),
            model_artifact_uri: None,
        },
        Context::default(),
    )
}

fn state(rules: &[&Rule]) -> State {
    State {
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, rules),
    }
}

fn listed(keys: &'static [&'static str]) -> Rule {
    mock!(aws_sdk_s3::Client::list_objects_v2)
        .match_requests(|r| r.prefix() == Some("transform/run-1/"))
        .then_output(move || {
            ListObjectsV2Output::builder()
                .set_contents(Some(
                    keys.iter()
                        .map(|k| Object::builder().key(*k).build())
                        .collect(),
                ))
                .build()
        })
}

fn object(body: &'static str) -> Rule {
    mock!(aws_sdk_s3::Client::get_object).then_output(move || {
        GetObjectOutput::builder()
            .body(ByteStream::from_static(body.as_bytes()))
            .build()
    })
}

#[tokio::test]
async fn evaluates_every_output_object_and_writes_the_report_beside_them() {
    let list = listed(&[
        "transform/run-1/iris-test.csv.out",
        "transform/run-1/model-quality.json",
    ]);
    let get = object(OUTPUT);
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(|r| {
            r.key() == Some("transform/run-1/model-quality.json")
                && r.content_type() == Some("application/json")
        })
        .then_output(|| PutObjectOutput::builder().build());
    let s = state(&[&list, &get, &put]);
    let out = handle(&s, input("accuracy")).await.unwrap();
    assert_eq!(out.rows, 4);
    assert_eq!(out.gate_value, 0.75);
    assert_eq!(
        out.report_uri,
        "s3://artifacts/transform/run-1/model-quality.json"
    );
    assert_eq!(
        (get.num_calls(), put.num_calls()),
        (1, 1),
        "the report itself is not read as output"
    );
}

#[tokio::test]
async fn bad_output_and_a_gate_it_cannot_read_are_named_errors() {
    let s = state(&[
        &listed(&["transform/run-1/a.out"]),
        &object("setosa,5.0,3.6\nsetosa\n"),
    ]);
    let err = handle(&s, input("accuracy")).await.unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
    assert!(err.to_string().contains("a.out line 2"), "{err}");

    let s = state(&[&listed(&[])]);
    let err = handle(&s, input("accuracy")).await.unwrap_err();
    assert!(
        err.to_string().contains("no batch transform output"),
        "{err}"
    );

    let s = state(&[]);
    let err = handle(&s, input("rmse")).await.unwrap_err();
    assert!(err.to_string().contains("higher must be better"), "{err}");
}

proptest! {
    /// However S3 cuts the object into chunks, the rows and the metrics are the same.
    #[test]
    fn any_chunking_gives_the_same_evaluation(cuts in proptest::collection::vec(0usize..OUTPUT.len(), 0..8)) {
        let mut whole = Evaluation::new(ProblemType::Classification);
        let mut rows = Rows::default();
        rows.push(OUTPUT.as_bytes(), &mut whole).unwrap();
        rows.finish(&mut whole).unwrap();

        let mut cuts = cuts;
        cuts.sort_unstable();
        let mut chunked = Evaluation::new(ProblemType::Classification);
        let mut rows = Rows::default();
        let mut start = 0;
        for cut in cuts.into_iter().chain([OUTPUT.len()]) {
            rows.push(&OUTPUT.as_bytes()[start..cut], &mut chunked).unwrap();
            start = cut;
        }
        rows.finish(&mut chunked).unwrap();
        prop_assert_eq!(whole.metrics(), chunked.metrics());
        prop_assert_eq!(chunked.rows(), 4);
    }
}

proptest! {
    /// Any bytes at all, cut anywhere, for either kind of problem: the reader
    /// counts rows or refuses with the line it stopped at (InvalidInput names
    /// it), never panics, and never counts more rows than the object has lines.
    #[test]
    fn any_bytes_are_read_or_refused_by_line_never_a_panic(
        bytes in proptest::collection::vec(
            prop_oneof![any::<u8>(), Just(b','), Just(b'\n'), Just(b'1'), Just(b'a')],
            0..1024,
        ),
        cut in 0usize..1024,
        regression in any::<bool>(),
    ) {
        let kind = if regression { ProblemType::Regression } else { ProblemType::Classification };
        let mut evaluation = Evaluation::new(kind);
        let mut rows = Rows::default();
        let cut = cut.min(bytes.len());
        let read = rows
            .push(&bytes[..cut], &mut evaluation)
            .and_then(|()| rows.push(&bytes[cut..], &mut evaluation))
            .and_then(|()| rows.finish(&mut evaluation));
        let lines = bytes.split(|b| *b == b'\n').count() as u64;
        match read {
            Ok(()) => {
                prop_assert!(evaluation.rows() <= lines);
                let _ = evaluation.report("2026-12-01T00:00:00Z");
            }
            Err(e) => prop_assert!(
                e.starts_with("line ") && e[5..].split(':').next().is_some_and(|n| n.parse::<u64>().is_ok_and(|n| n >= 1 && n <= lines)),
                "{e}"
            ),
        }
    }
}

#[tokio::test]
async fn the_model_archive_is_hashed_as_read_with_the_version_read() {
    // SHA-256("abc"), the FIPS 180-2 example.
    let get = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| {
            r.bucket() == Some("artifacts") && r.key() == Some("models/train-1/output/model.tar.gz")
        })
        .then_output(|| {
            GetObjectOutput::builder()
                .version_id("v-42")
                .body(ByteStream::from_static(b"abc"))
                .build()
        });
    let s = state(&[&get]);
    let d = digest(&s, "s3://artifacts/models/train-1/output/model.tar.gz")
        .await
        .unwrap();
    assert_eq!(
        d.sha256,
        "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    );
    assert_eq!((d.version_id.as_deref(), d.bytes), (Some("v-42"), 3));
}

#[tokio::test]
async fn a_model_archive_uri_that_names_no_object_is_invalid_input() {
    let s = state(&[]);
    for uri in ["models/x", "s3://artifacts/models/", "s3://artifacts"] {
        let err = digest(&s, uri).await.unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidInput, "{uri}");
        assert!(err.message.contains("modelArtifactUri"), "{err}");
    }
}
