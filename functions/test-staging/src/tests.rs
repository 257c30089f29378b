use super::*;
use aws_sdk_s3::operation::get_object::GetObjectOutput;
use aws_sdk_s3::operation::put_object::PutObjectOutput;
use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointOutput;
use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::Context;
use shared::report::SampleGroup;
use std::sync::{Arc, Mutex};
use verdict::{Case, examples, judge, quantile};

fn config(requests: u32) -> Config {
    let requests = requests.to_string();
    let env = Env::from_pairs([
        ("ENDPOINT_NAME", "iris-staging"),
        ("ARTIFACT_BUCKET", "artifacts"),
        ("FEATURE_COUNT", "4"),
        ("STAGING_REQUESTS", requests.as_str()),
        ("STAGING_MAX_P99_MS", "1000"),
        (
            "STAGING_EXAMPLES",
            "4.5,1.3,0.3,0.3=setosa; 5.9,3,5.1,1.8=virginica",
        ),
    ]);
    Config::from_env(&env).unwrap()
}

fn quality() -> ModelQuality {
    let mut q: ModelQuality = serde_json::from_str("{}").unwrap();
    q.sample = vec![
        SampleGroup {
            label: "setosa".into(),
            rows: vec!["setosa,5.1,3.5,1.4,0.2,setosa".into()],
        },
        SampleGroup {
            label: "virginica".into(),
            // The batch transform mispredicted this one: staging must repeat it.
            rows: vec!["virginica,6.3,3.3,6.0,2.5,versicolor".into()],
        },
    ];
    q
}

/// A model that answers by its first feature, as a trained one would: the
/// same row gets the same label.
fn model(wrong: bool) -> Rule {
    mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint)
        .match_requests(|r| r.endpoint_name() == Some("iris-staging"))
        .then_compute_output(move |r| {
            let body = String::from_utf8_lossy(r.body().map(|b| b.as_ref()).unwrap_or_default())
                .into_owned();
            let label = match body.split(',').next().unwrap_or_default() {
                "5.1" | "4.5" => "setosa",
                "6.3" if wrong => "virginica",
                "6.3" => "versicolor",
                _ => "virginica",
            };
            InvokeEndpointOutput::builder()
                .body(Blob::new(format!("{label}\n")))
                .build()
        })
}

fn state(requests: u32, rules: &[&Rule], s3: &[&Rule]) -> State {
    let config = config(requests);
    let runtime = mock_client!(aws_sdk_sagemakerruntime, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    State {
        invoke: invoke_endpoint::State {
            config: config.invoke.clone(),
            runtime,
        },
        s3: mock_client!(aws_sdk_s3, RuleMode::MatchAny, s3),
        config,
    }
}

fn event(uri: &str) -> LambdaEvent<TestStagingInput> {
    LambdaEvent::new(
        TestStagingInput {
            execution_name: "run-1".into(),
            model_quality_uri: uri.into(),
            model_name: Some("model-1".into()),
            execution_start_time: None,
            approval_timeout_seconds: Some(86_400),
        },
        Context::default(),
    )
}

const URI: &str = "s3://artifacts/transform/run-1/model-quality.json";

/// The key and body of the last report written.
type Written = Arc<Mutex<Option<(String, Vec<u8>)>>>;

fn report_store() -> (Rule, Rule, Written) {
    let get = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| {
            r.bucket() == Some("artifacts") && r.key() == Some("transform/run-1/model-quality.json")
        })
        .then_output(|| {
            GetObjectOutput::builder()
                .body(serde_json::to_vec(&quality()).unwrap().into())
                .build()
        });
    let written = Arc::new(Mutex::new(None));
    let keep = written.clone();
    let put = mock!(aws_sdk_s3::Client::put_object)
        .match_requests(move |r| {
            let body = r.body().bytes().unwrap_or_default().to_vec();
            *keep.lock().unwrap() = Some((r.key().unwrap_or_default().to_owned(), body));
            true
        })
        .then_output(|| PutObjectOutput::builder().build());
    (get, put, written)
}

#[tokio::test]
async fn a_staging_endpoint_that_repeats_the_batch_and_the_examples_passes_with_its_figures() {
    let (get, put, written) = report_store();
    let model = model(false);
    let state = state(6, &[&model], &[&get, &put]);
    let out = handle(&state, event(URI)).await.unwrap();
    assert_eq!(
        out.report_uri,
        "s3://artifacts/transform/run-1/staging-report.json"
    );
    let f = out.figures;
    // 2 held-out rows and 2 examples once each, then a load of 6.
    assert_eq!((f.requests, f.errors), (10, 0));
    assert_eq!((f.agreed, f.compared), (2, 2));
    assert_eq!((f.examples_passed, f.examples), (2, 2));
    assert_eq!(model.num_calls(), 10);
    assert!(f.p99_ms >= f.p50_ms && f.p50_ms > 0.0, "{f:?}");
    let (key, body) = written.lock().unwrap().clone().unwrap();
    assert_eq!(key, "transform/run-1/staging-report.json");
    let report: StagingReport = serde_json::from_slice(&body).unwrap();
    assert!(report.passed && report.failures.is_empty());
    assert_eq!(report.endpoint_name, "iris-staging");
    assert_eq!(report.cases.len(), 4);
    assert_eq!(report.cases[1].expected, "versicolor");
}

#[tokio::test]
async fn a_disagreement_with_the_batch_fails_by_name_and_the_report_still_says_why() {
    let (get, put, written) = report_store();
    let model = model(true);
    let state = state(2, &[&model], &[&get, &put]);
    let err = handle(&state, event(URI)).await.unwrap_err();
    assert_eq!(err.name, ErrorName::StagingTestFailed);
    assert!(
        err.message.contains("1 of 2 held-out rows disagree")
            && err
                .message
                .contains("6.3,3.3,6.0,2.5: virginica, batch versicolor"),
        "{}",
        err.message
    );
    let (_, body) = written.lock().unwrap().clone().unwrap();
    let report: StagingReport = serde_json::from_slice(&body).unwrap();
    assert!(!report.passed);
    assert_eq!(report.failures.len(), 1);
}

#[tokio::test]
async fn an_endpoint_that_errs_fails_on_its_error_rate() {
    let (get, put, _) = report_store();
    let broken = mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint).then_error(|| {
        aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError::ModelError(
            aws_sdk_sagemakerruntime::types::error::ModelError::builder()
                .message("boom")
                .build(),
        )
    });
    let state = state(3, &[&broken], &[&get, &put]);
    let err = handle(&state, event(URI)).await.unwrap_err();
    assert_eq!(err.name, ErrorName::StagingTestFailed);
    assert!(
        err.message.contains("100.0% of 7 requests failed"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_report_outside_the_stacks_runs_is_refused_before_any_call() {
    let (get, put, _) = report_store();
    let model = model(false);
    let state = state(1, &[&model], &[&get, &put]);
    for uri in [
        "s3://other/transform/run-1/model-quality.json",
        "s3://artifacts/models/run-1/model-quality.json",
        "s3://artifacts/transform/run-1/other.json",
        "s3://artifacts/transform/../model-quality.json",
        "not a uri",
    ] {
        let err = handle(&state, event(uri)).await.unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidInput, "{uri}");
    }
    assert_eq!(get.num_calls() + model.num_calls(), 0);
}

#[test]
fn the_quantiles_are_nearest_rank() {
    let values: Vec<f64> = (1..=100).map(f64::from).collect();
    assert_eq!(quantile(&values, 0.5), 50.0);
    assert_eq!(quantile(&values, 0.99), 99.0);
    assert_eq!(quantile(&[7.0], 0.99), 7.0);
    assert_eq!(quantile(&[], 0.5), 0.0);
}

#[test]
fn latency_over_the_bound_fails_and_names_the_figure() {
    let cases = vec![Case {
        row: "1,2,3,4".into(),
        expected_from_batch: Some("a".into()),
        expected_example: None,
    }];
    let bounds = verdict::Bounds {
        requests: 1,
        max_error_percent: 0.0,
        max_p99_ms: 100.0,
    };
    let answers = vec![Ok("a".to_owned()), Ok("a".to_owned())];
    let (_, _, fine) = judge(&cases, &answers, &[10.0, 99.0], &bounds);
    assert!(fine.is_empty(), "{fine:?}");
    let (f, _, slow) = judge(&cases, &answers, &[10.0, 250.0], &bounds);
    assert_eq!(f.p99_ms, 250.0);
    assert_eq!(slow, ["p99 latency 250.0 ms is over 100 ms"]);
}

#[test]
fn examples_read_as_row_equals_label_and_bad_ones_are_refused() {
    let read = examples("4.5,1.3,0.3,0.3=setosa;5.9,3,5.1,1.8 = virginica;").unwrap();
    assert_eq!(read.len(), 2);
    assert_eq!(read[1].row, "5.9,3,5.1,1.8");
    assert_eq!(read[1].label, "virginica");
    assert!(examples("").unwrap().is_empty());
    for bad in ["no label", "=setosa", "1,2="] {
        assert!(examples(bad).is_err(), "{bad}");
    }
    let env = Env::from_pairs([
        ("ENDPOINT_NAME", "e"),
        ("ARTIFACT_BUCKET", "b"),
        ("STAGING_REQUESTS", "0"),
    ]);
    assert!(Config::from_env(&env).is_err());
}

#[test]
fn production_gets_what_is_left_of_the_runs_time_after_its_deploy() {
    let start = shared::clock::parse_rfc3339_ms("2026-12-01T00:00:00Z").unwrap();
    let input = |asked| TestStagingInput {
        execution_name: "run".into(),
        model_quality_uri: URI.into(),
        model_name: None,
        execution_start_time: Some("2026-12-01T00:00:00Z".into()),
        approval_timeout_seconds: Some(asked),
    };
    let hour = 3_600_000;
    // Early in the run the template's timeout stands.
    assert_eq!(approval_timeout(&input(86_400), start + hour), 86_400);
    // After four and a half days (a long first approval), the rest is cut.
    let late = start + 108 * hour;
    let left = RUN_TIMEOUT_SECONDS - 108 * 3600 - DEPLOY_RESERVE_SECONDS;
    assert_eq!(approval_timeout(&input(345_600), late), left);
    // The run, the deploy reserve included, still ends in time.
    assert!(108 * 3600 + left + DEPLOY_RESERVE_SECONDS <= RUN_TIMEOUT_SECONDS);
    // Past the budget: the shortest approval, which then times out.
    assert_eq!(
        approval_timeout(&input(345_600), start + 170 * hour),
        MIN_APPROVAL_SECONDS
    );
    // Without a start time: the template's.
    let mut unknown = input(7200);
    unknown.execution_start_time = None;
    assert_eq!(approval_timeout(&unknown, late), 7200);
}
