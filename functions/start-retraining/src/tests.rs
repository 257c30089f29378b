use super::*;
use aws_lambda_events::s3::S3Event;
use aws_sdk_codepipeline::error::ErrorMetadata as CpMeta;
use aws_sdk_codepipeline::operation::start_pipeline_execution::{
    StartPipelineExecutionError, StartPipelineExecutionOutput,
};
use aws_sdk_codepipeline::types::error::PipelineNotFoundException;
use aws_sdk_dynamodb::error::ErrorMetadata as DdbMeta;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::Context;
use shared::ErrorName;

fn event(file: &str) -> LambdaEvent<S3Event> {
    let mut context = Context::default();
    context.request_id = "req-1".into();
    LambdaEvent::new(
        serde_json::from_str(&testkit::event_text("start-retraining", file)).unwrap(),
        context,
    )
}

fn state(ddb: &[&Rule], cp: &[&Rule]) -> State {
    State {
        config: Config {
            pipeline_name: "mlops-pipeline".into(),
            table_name: "runs".into(),
            prefix: "training/".into(),
            suffix: ".csv".into(),
            quiet_seconds: 0,
            scheduler_role_arn: None,
            dead_letter_arn: None,
            name_token: shared::naming::StackToken::parse(testkit::TEST_TOKEN).unwrap(),
        },
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, ddb, |c| c
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())),
        codepipeline: mock_client!(aws_sdk_codepipeline, RuleMode::Sequential, cp, |c| c
            .retry_config(aws_sdk_codepipeline::config::retry::RetryConfig::disabled())),
        scheduler: mock_client!(aws_sdk_scheduler, RuleMode::Sequential, &[], |c| c
            .retry_config(aws_sdk_scheduler::config::retry::RetryConfig::disabled())),
    }
}

fn claim_ok(key: &'static str) -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(move |r| {
            let item = r.item().unwrap();
            item["pk"]
                .as_s()
                .is_ok_and(|pk| pk.starts_with("TRIGGER#mlops-data/") && pk.contains(key))
                && item["state"].as_s().is_ok_and(|s| s == "starting")
                && item.contains_key("expiresAt")
                && r.condition_expression()
                    .is_some_and(|c| c.contains("attribute_not_exists"))
        })
        .then_output(|| PutItemOutput::builder().build())
}

fn claim_taken() -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    })
}

fn settled(state: &'static str) -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |r| {
            r.expression_attribute_values().is_some_and(|v| {
                v.get(&format!(":{state}")).and_then(|a| a.as_s().ok()) == Some(&state.to_owned())
            }) && r.condition_expression() == Some("attempt = :attempt")
        })
        .then_output(|| UpdateItemOutput::builder().build())
}

fn started(uri: &'static str) -> Rule {
    mock!(aws_sdk_codepipeline::Client::start_pipeline_execution)
        .match_requests(move |r| {
            let vars = r.variables();
            r.name() == Some("mlops-pipeline")
                && r.client_request_token()
                    .is_some_and(|t| t.starts_with("s3-") && t.len() <= 128)
                && vars
                    .iter()
                    .any(|v| v.name() == "TrainingDataUri" && v.value() == uri)
                && vars.iter().any(|v| v.name() == "DataETag")
        })
        .then_output(|| {
            StartPipelineExecutionOutput::builder()
                .pipeline_execution_id("exec-1")
                .build()
        })
}

#[tokio::test]
async fn new_data_starts_the_pipeline_with_the_object_as_variables() {
    let (claim, done) = (claim_ok("training/iris.csv#3HL4"), settled("started"));
    let start = started("s3://mlops-data/training/iris.csv");
    let s = state(&[&claim, &done], &[&start]);
    let out = handle(&s, event("put.json")).await.unwrap();
    assert_eq!(out.started.len(), 1);
    assert_eq!(
        out.started[0].pipeline_execution_id.as_deref(),
        Some("exec-1")
    );
    assert_eq!(
        (claim.num_calls(), start.num_calls(), done.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_repeat_delivery_starts_nothing() {
    let taken = claim_taken();
    let start = started("s3://mlops-data/training/iris.csv");
    let s = state(&[&taken], &[&start]);
    let out = handle(&s, event("put.json")).await.unwrap();
    assert_eq!((out.started.len(), out.duplicates), (0, 1));
    assert_eq!(start.num_calls(), 0);
}

#[tokio::test]
async fn a_folder_marker_among_records_is_skipped_and_the_others_start() {
    let (a, b) = (claim_ok("iris-a.csv#v-a"), claim_ok("iris-b.csv#v-b"));
    let (done_a, done_b) = (settled("started"), settled("started"));
    let (start_a, start_b) = (
        started("s3://mlops-data/training/iris-a.csv"),
        started("s3://mlops-data/training/iris-b.csv"),
    );
    let s = state(&[&a, &done_a, &b, &done_b], &[&start_a, &start_b]);
    let out = handle(&s, event("several-records.json")).await.unwrap();
    assert_eq!((out.started.len(), out.ignored), (2, 1));
}

#[tokio::test]
async fn a_missing_pipeline_fails_with_its_name_and_frees_the_trigger() {
    let (claim, failed) = (claim_ok("iris.csv"), settled("failed"));
    let start = mock!(aws_sdk_codepipeline::Client::start_pipeline_execution).then_error(|| {
        StartPipelineExecutionError::PipelineNotFoundException(
            PipelineNotFoundException::builder()
                .message("no pipeline")
                .meta(CpMeta::builder().code("PipelineNotFoundException").build())
                .build(),
        )
    });
    let s = state(&[&claim, &failed], &[&start]);
    let err = handle(&s, event("put.json")).await.unwrap_err();
    assert_eq!(err.name, ErrorName::ResourceNotFound);
    assert_eq!(
        failed.num_calls(),
        1,
        "the trigger is marked failed so a later delivery can start it"
    );
}

#[tokio::test]
async fn a_throttled_start_is_transient_and_reports_what_did_start() {
    let (a, done_a) = (claim_ok("iris-a.csv"), settled("started"));
    let (b, failed_b) = (claim_ok("iris-b.csv"), settled("failed"));
    let start_a = started("s3://mlops-data/training/iris-a.csv");
    let throttled =
        mock!(aws_sdk_codepipeline::Client::start_pipeline_execution).then_error(|| {
            StartPipelineExecutionError::generic(
                CpMeta::builder().code("ThrottlingException").build(),
            )
        });
    let s = state(&[&a, &done_a, &b, &failed_b], &[&start_a, &throttled]);
    let err = handle(&s, event("several-records.json")).await.unwrap_err();
    assert_eq!(err.name, ErrorName::Throttled);
    assert!(
        err.message.contains("1 of 3 records") && err.message.contains("(1 started)"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn an_unreachable_table_is_transient() {
    let down = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::generic(DdbMeta::builder().code("InternalServerError").build())
    });
    let s = state(&[&down], &[]);
    let err = handle(&s, event("put.json")).await.unwrap_err();
    assert_eq!(err.name, ErrorName::AwsUnavailable);
}

#[test]
fn the_window_schedule_targets_the_pipeline_in_its_roles_partition() {
    assert_eq!(
        crate::pipeline_target_arn("arn:aws-cn:iam::123456789012:role/scheduler"),
        "arn:aws-cn:scheduler:::aws-sdk:codepipeline:startPipelineExecution"
    );
    assert_eq!(
        crate::pipeline_target_arn("arn:aws-us-gov:iam::123456789012:role/scheduler"),
        "arn:aws-us-gov:scheduler:::aws-sdk:codepipeline:startPipelineExecution"
    );
    assert_eq!(
        crate::pipeline_target_arn("arn:aws:iam::123456789012:role/scheduler"),
        "arn:aws:scheduler:::aws-sdk:codepipeline:startPipelineExecution"
    );
}

#[test]
fn uploads_in_one_quiet_window_share_its_run_which_fires_when_it_closes() {
    let mut config = state(&[], &[]).config;
    config.quiet_seconds = 300;
    let at = |now: u64| crate::window(&config, "mlops-data", now);
    let (first, last, next) = (at(1_800), at(2_099), at(2_100));
    assert_eq!(first, last, "one window, one run");
    assert_eq!(first.fires_at, shared::clock::rfc3339(2_100));
    assert_ne!(first.name, next.name);
    assert_eq!(first.input["ClientRequestToken"], first.name.as_str());
    assert_eq!(
        first.input["Variables"][0]["Value"],
        "s3://mlops-data/training/"
    );
    assert_eq!(first.input["Variables"][1]["Value"], "window-6");
}
