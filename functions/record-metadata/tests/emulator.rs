//! record-metadata's real binary, under cargo-lambda's runtime, against moto's
//! DynamoDB and SNS (read back through an SQS subscription).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::{Value, json};
use testkit::{Inbox, LambdaRuntime, Moto, unique};

fn event(file: &str, execution: &str) -> Value {
    let mut e: Value = serde_json::from_str(&testkit::event_text("record-metadata", file)).unwrap();
    e["executionName"] = json!(execution);
    e
}

async fn trail(
    sdk: &shared::aws::SdkConfig,
    table: &str,
    execution: &str,
) -> Vec<std::collections::HashMap<String, AttributeValue>> {
    aws_sdk_dynamodb::Client::new(sdk)
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(shared::keys::run_pk(execution)))
        .send()
        .await
        .unwrap()
        .items()
        .to_vec()
}

fn attr<'a>(item: &'a std::collections::HashMap<String, AttributeValue>, name: &str) -> &'a str {
    item[name].as_s().unwrap()
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn keeps_one_event_per_stage_a_forward_summary_and_notifies_people() {
    let sdk = Moto::from_env().sdk_config().await;
    let table = testkit::create_table(&sdk).await.unwrap();
    let inbox = Inbox::create(&sdk).await.unwrap();
    let execution = unique("run");
    let mut runtime = LambdaRuntime::start();
    let record = runtime.function(
        env!("CARGO_BIN_EXE_record-metadata"),
        &[
            ("TABLE_NAME", table.as_str()),
            ("NOTIFICATION_TOPIC_ARN", inbox.topic_arn.as_str()),
        ],
    );

    let started = runtime
        .invoke(&record, &event("started.json", &execution))
        .output();
    assert_eq!(started["recorded"], true);
    assert!(
        started["names"]["trainingJobName"]
            .as_str()
            .unwrap()
            .starts_with(&format!("train-{}-run-", testkit::TEST_TOKEN))
    );

    // The same stage again (a retry): no second event.
    let again = runtime
        .invoke(&record, &event("started.json", &execution))
        .output();
    assert_eq!(again["recorded"], false);
    let items = trail(&sdk, &table, &execution).await;
    assert_eq!(items.len(), 2, "one event and the summary");

    // The run fails later: recorded, summary moves forward, people are told.
    let failed = runtime
        .invoke(&record, &event("failed.json", &execution))
        .output();
    assert_eq!(
        (failed["recorded"].clone(), failed["notified"].clone()),
        (json!(true), json!(true))
    );

    // A late retry of an earlier stage must not move the summary backwards.
    let mut late = event("started.json", &execution);
    late["stage"] = json!("trained");
    late["enteredTime"] = json!("2026-11-21T10:05:00.000Z");
    assert_eq!(runtime.invoke(&record, &late).output()["recorded"], true);

    let items = trail(&sdk, &table, &execution).await;
    let summary = items.iter().find(|i| attr(i, "sk") == "SUMMARY").unwrap();
    assert_eq!(attr(summary, "status"), "failed");
    assert_eq!(attr(summary, "error"), "QualityGateFailed");
    assert_eq!(attr(summary, "commitId"), "0123abc");
    assert_eq!(attr(summary, "startedAt"), "2026-11-21T10:00:00.123Z");
    let stages: Vec<_> = items
        .iter()
        .filter(|i| attr(i, "sk").starts_with("EVENT#"))
        .map(|i| attr(i, "stage"))
        .collect();
    assert_eq!(stages, ["started", "trained", "failed"]);

    // Exactly one notification, for the failure, with filterable attributes.
    let messages = inbox.read(&sdk).await.unwrap();
    assert_eq!(messages.len(), 1, "{messages:?}");
    let note = &messages[0];
    assert_eq!(
        note["Subject"],
        format!("[mlops] Quality gate failed: {execution}")
    );
    assert!(note["Message"].as_str().unwrap().contains("What next:"));
    assert_eq!(note["MessageAttributes"]["status"]["Value"], "failed");
    assert_eq!(note["MessageAttributes"]["stage"]["Value"], "failed");

    // The failure delivered again: recorded once, notified once.
    let retry = runtime
        .invoke(&record, &event("failed.json", &execution))
        .output();
    assert_eq!(
        (retry["recorded"].clone(), retry["notified"].clone()),
        (json!(false), json!(true))
    );
    assert!(inbox.read(&sdk).await.unwrap().is_empty());
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_missing_table_is_a_named_error() {
    let sdk = Moto::from_env().sdk_config().await;
    let inbox = Inbox::create(&sdk).await.unwrap();
    let mut runtime = LambdaRuntime::start();
    let record = runtime.function(
        env!("CARGO_BIN_EXE_record-metadata"),
        &[
            ("TABLE_NAME", "no-such-table"),
            ("NOTIFICATION_TOPIC_ARN", inbox.topic_arn.as_str()),
        ],
    );
    let answer = runtime.invoke(&record, &event("started.json", &unique("run")));
    assert_eq!(answer.error_type(), "ResourceNotFound");
}

/// A notification that cannot go out (here the topic is gone) must not fail
/// the call: the stage is recorded, the run goes on, and the event says a
/// notice is owed. Before, RecordDeployed failed and the run was reported
/// failed while its model served.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_notice_that_cannot_go_out_is_owed_not_a_failed_stage() {
    let sdk = Moto::from_env().sdk_config().await;
    let table = testkit::create_table(&sdk).await.unwrap();
    let execution = unique("run");
    let mut runtime = LambdaRuntime::start();
    let record = runtime.function(
        env!("CARGO_BIN_EXE_record-metadata"),
        &[
            ("TABLE_NAME", table.as_str()),
            (
                "NOTIFICATION_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:deleted-topic",
            ),
        ],
    );
    let mut deployed = event("started.json", &execution);
    deployed["stage"] = json!("deployed");
    deployed["status"] = json!("succeeded");
    let answer = runtime.invoke(&record, &deployed).output();
    assert_eq!(
        (answer["recorded"].clone(), answer["notified"].clone()),
        (json!(true), json!(false))
    );
    let items = trail(&sdk, &table, &execution).await;
    let summary = items.iter().find(|i| attr(i, "sk") == "SUMMARY").unwrap();
    assert_eq!(
        attr(summary, "status"),
        "succeeded",
        "the run is not reported failed"
    );
    let recorded = items
        .iter()
        .find(|i| attr(i, "sk").starts_with("EVENT#"))
        .unwrap();
    assert_eq!(
        recorded
            .get("notificationOwed")
            .and_then(|v| v.as_bool().ok()),
        Some(&true)
    );
    assert!(recorded.get("notified").is_none());
}
