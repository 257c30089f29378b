use super::*;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::error::ErrorMetadata;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::put_item::{PutItemError, PutItemOutput};
use aws_sdk_dynamodb::operation::update_item::{UpdateItemError, UpdateItemOutput};
use aws_sdk_dynamodb::types::error::ConditionalCheckFailedException;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::Context;
use shared::ErrorName;
use shared::contract::{RunStatus, Stage};

fn input(file: &str) -> RecordInput {
    serde_json::from_str(&testkit::event_text("record-metadata", file)).unwrap()
}

fn state(ddb: &[&Rule], sns: &[&Rule]) -> State {
    State {
        config: Config {
            table_name: "runs".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:notifications".into(),
            name_token: shared::naming::StackToken::parse(testkit::TEST_TOKEN).unwrap(),
        },
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, ddb, |c| c
            .retry_config(RetryConfig::disabled())),
        sns: mock_client!(aws_sdk_sns, RuleMode::Sequential, sns, |c| c
            .retry_config(RetryConfig::disabled())),
        sfn: mock_client!(aws_sdk_sfn, RuleMode::Sequential, &[], |c| c
            .retry_config(RetryConfig::disabled())),
    }
}

fn event(input: RecordInput) -> LambdaEvent<RecordInput> {
    LambdaEvent::new(input, Context::default())
}

fn put_new() -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item)
        .match_requests(|r| {
            r.condition_expression() == Some("attribute_not_exists(#sk)")
                && r.item()
                    .is_some_and(|i| i["pk"].as_s().is_ok_and(|pk| pk.starts_with("RUN#")))
        })
        .then_output(|| PutItemOutput::builder().build())
}

fn put_exists() -> Rule {
    mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder()
                .message("exists")
                .build(),
        )
    })
}

fn existing_event(notified: bool) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item)
        .match_requests(|r| r.consistent_read() == Some(true))
        .then_output(move || {
            let mut item = std::collections::HashMap::new();
            if notified {
                item.insert("notified".to_owned(), AttributeValue::Bool(true));
            }
            GetItemOutput::builder().set_item(Some(item)).build()
        })
}

fn summary_ok() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.key()
                .is_some_and(|k| k["sk"].as_s().is_ok_and(|sk| sk == "SUMMARY"))
        })
        .then_output(|| UpdateItemOutput::builder().build())
}

fn mark_notified() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.update_expression() == Some("SET notified = :t REMOVE notificationOwed")
        })
        .then_output(|| UpdateItemOutput::builder().build())
}

fn publish(subject_start: &'static str) -> Rule {
    mock!(aws_sdk_sns::Client::publish)
        .match_requests(move |r| {
            let attrs = r.message_attributes().unwrap();
            r.subject().is_some_and(|s| s.starts_with(subject_start))
                && attrs["stage"].string_value().is_some()
                && attrs["status"].string_value().is_some()
        })
        .then_output(|| PublishOutput::builder().message_id("m-1").build())
}

#[tokio::test]
async fn a_first_stage_is_recorded_and_returns_the_runs_names() {
    let (put, summary) = (put_new(), summary_ok());
    let s = state(&[&put, &summary], &[]);
    let out = handle(&s, event(input("started.json"))).await.unwrap();
    assert!(out.recorded && !out.notified);
    assert_eq!(
        out.names,
        Some(RunNames::for_execution(
            &s.config.name_token,
            "run-0123abc-20261121T100000"
        ))
    );
    assert_eq!((put.num_calls(), summary.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_failure_is_recorded_and_notified_once_with_filterable_attributes() {
    let (put, summary, mark, sent) = (
        put_new(),
        summary_ok(),
        mark_notified(),
        publish("[mlops] Quality gate failed"),
    );
    let s = state(&[&put, &summary, &mark], &[&sent]);
    let out = handle(&s, event(input("failed.json"))).await.unwrap();
    assert!(out.recorded && out.notified);
    assert_eq!((sent.num_calls(), mark.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_retry_of_a_notified_stage_records_and_sends_nothing_new() {
    let (put, get, summary) = (put_exists(), existing_event(true), summary_ok());
    let sent = publish("[mlops]");
    let s = state(&[&put, &get, &summary], &[&sent]);
    let out = handle(&s, event(input("failed.json"))).await.unwrap();
    assert!(!out.recorded && out.notified);
    assert_eq!(sent.num_calls(), 0);
}

#[tokio::test]
async fn a_retry_after_a_lost_notification_sends_it() {
    let (put, get, summary, mark) = (
        put_exists(),
        existing_event(false),
        summary_ok(),
        mark_notified(),
    );
    let sent = publish("[mlops] Quality gate failed");
    let s = state(&[&put, &get, &summary, &mark], &[&sent]);
    let out = handle(&s, event(input("failed.json"))).await.unwrap();
    assert!(!out.recorded && out.notified);
    assert_eq!(sent.num_calls(), 1);
}

#[tokio::test]
async fn an_older_event_does_not_move_the_summary_back() {
    let stale = mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )
    });
    let put = put_new();
    let s = state(&[&put, &stale], &[]);
    let mut trained = input("started.json");
    trained.stage = Stage::Trained;
    trained.status = RunStatus::Running;
    let out = handle(&s, event(trained)).await.unwrap();
    assert!(out.recorded);
    assert_eq!(stale.num_calls(), 1);
}

#[tokio::test]
async fn a_bad_entered_time_is_refused_before_any_write() {
    let put = put_new();
    let s = state(&[&put], &[]);
    let mut bad = input("started.json");
    bad.entered_time = "yesterday".into();
    let err = handle(&s, event(bad)).await.unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
    assert!(err.message.contains("enteredTime"));
    assert_eq!(put.num_calls(), 0);
}

#[tokio::test]
async fn an_entered_time_with_a_utc_offset_is_accepted() {
    // moto's Step Functions writes `+00:00` where AWS writes `Z`.
    let put = put_new();
    let summary = summary_ok();
    let s = state(&[&put, &summary], &[]);
    let mut started = input("started.json");
    started.entered_time = "2026-11-21T14:00:51.763108+00:00".into();
    let out = handle(&s, event(started)).await.unwrap();
    assert!(out.recorded);
    assert_eq!(put.num_calls(), 1);
}

#[tokio::test]
async fn throttling_is_a_named_transient_error() {
    let throttled = mock!(aws_sdk_dynamodb::Client::put_item).then_error(|| {
        PutItemError::generic(ErrorMetadata::builder().code("ThrottlingException").build())
    });
    let s = state(&[&throttled], &[]);
    let err = handle(&s, event(input("started.json"))).await.unwrap_err();
    assert_eq!(err.name, ErrorName::Throttled);
}

/// The reminder is record-reminder's (ReminderFunction), whose role only reads
/// approvals; record-metadata refuses one before any call, and record-reminder
/// refuses anything else, so a schedule cannot write the trail.
#[tokio::test]
async fn reminders_and_trail_records_each_go_to_their_own_function_only() {
    let reminder: serde_json::Value = serde_json::from_str(&testkit::event_text(
        "record-metadata",
        "approval-reminder.json",
    ))
    .unwrap();
    let s = state(&[], &[]);
    let err = handle_any(&s, LambdaEvent::new(reminder, Context::default()))
        .await
        .unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
    assert!(err.message.contains("record-reminder"), "{err}");

    let record: serde_json::Value =
        serde_json::from_str(&testkit::event_text("record-metadata", "started.json")).unwrap();
    let reader = reminder::Reader {
        table_name: "runs".into(),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, &[], |c| c
            .retry_config(aws_sdk_dynamodb::config::retry::RetryConfig::disabled())),
    };
    let err = reminder::handle_only(&reader, LambdaEvent::new(record, Context::default()))
        .await
        .unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
    assert!(err.message.contains("approval reminders only"), "{err}");
}
