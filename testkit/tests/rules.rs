//! The template's EventBridge rules on AWS's own events: their patterns,
//! resolved from the translated template, matched by the test stack's
//! EventBridge against events in the shape AWS documents. The insider rules
//! read CloudTrail's records ("AWS API Call via CloudTrail") made by the
//! pipeline's own roles and by someone else; the pipeline-failure rule reads
//! CodePipeline's action events. What a rule keeps lands in a queue.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use serde_json::{Value, json};
use testkit::template::{ACCOUNT, Resolver, Template};

const REGION: &str = "us-east-1";

/// A CloudTrail record of `event_name` by `caller` (an assumed role's issuer
/// ARN, or an IAM user's ARN).
fn record(source: &str, event_name: &str, caller: &str, request: Value) -> (String, Value) {
    let identity = if caller.contains(":user/") {
        json!({"type": "IAMUser", "arn": caller, "accountId": ACCOUNT})
    } else {
        json!({
            "type": "AssumedRole",
            "arn": format!("{}/session", caller.replace(":iam::", ":sts::").replace(":role/", ":assumed-role/")),
            "accountId": ACCOUNT,
            "sessionContext": {"sessionIssuer": {"type": "Role", "arn": caller, "accountId": ACCOUNT}}
        })
    };
    let service = source.trim_start_matches("aws.");
    (
        source.to_owned(),
        json!({
            "eventVersion": "1.09",
            "userIdentity": identity,
            "eventTime": "2026-12-01T10:00:00Z",
            "eventSource": format!("{service}.amazonaws.com"),
            "eventName": event_name,
            "awsRegion": REGION,
            "requestParameters": request,
            "eventType": "AwsApiCall",
            "recipientAccountId": ACCOUNT
        }),
    )
}

/// Puts `events` (source, detail-type, detail) through the template rule
/// `id`'s pattern; answers the `detail` of each event the rule let through.
async fn through(id: &str, events: &[(String, String, Value)]) -> Vec<Value> {
    let t = Template::load().unwrap();
    let r = Resolver::new(t, REGION);
    let sdk = testkit::Moto::from_env().sdk_config().await;
    let sdk = sdk
        .to_builder()
        .region(aws_config::Region::new(REGION))
        .build();
    let eventbridge = aws_sdk_eventbridge::Client::new(&sdk);
    let sqs = aws_sdk_sqs::Client::new(&sdk);
    let queue = sqs
        .create_queue()
        .queue_name(testkit::unique("rule"))
        .send()
        .await
        .unwrap()
        .queue_url()
        .unwrap()
        .to_owned();
    let queue_arn = format!(
        "arn:aws:sqs:{REGION}:{ACCOUNT}:{}",
        queue.rsplit('/').next().unwrap()
    );
    let rule = t.resource(id).unwrap();
    let pattern = r.resolve(&rule["Properties"]["EventPattern"]).unwrap();
    let name = testkit::unique("rule");
    eventbridge
        .put_rule()
        .name(&name)
        .event_pattern(pattern.to_string())
        .send()
        .await
        .unwrap_or_else(|e| panic!("{id}: {e:?}"));
    eventbridge
        .put_targets()
        .rule(&name)
        .targets(
            aws_sdk_eventbridge::types::Target::builder()
                .id("keep")
                .arn(&queue_arn)
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    for (source, detail_type, detail) in events {
        let put = eventbridge
            .put_events()
            .entries(
                aws_sdk_eventbridge::types::PutEventsRequestEntry::builder()
                    .source(source)
                    .detail_type(detail_type)
                    .detail(detail.to_string())
                    .build(),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(put.failed_entry_count(), 0);
    }
    let mut kept = Vec::new();
    for _ in 0..3 {
        let got = sqs
            .receive_message()
            .queue_url(&queue)
            .max_number_of_messages(10)
            .wait_time_seconds(1)
            .send()
            .await
            .unwrap();
        for m in got.messages() {
            let event: Value = serde_json::from_str(m.body().unwrap_or("null")).unwrap();
            kept.push(event["detail"].clone());
            sqs.delete_message()
                .queue_url(&queue)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        }
    }
    kept
}

/// A failed Source or Build action of this stack's pipeline reaches
/// record-metadata; a success, a later stage's failure (the run records its
/// own) and another pipeline's failure do not.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn the_pipeline_failure_rule_takes_a_failed_source_or_build_action_of_this_pipeline_only() {
    let t = Template::load().unwrap();
    let r = Resolver::new(t, REGION);
    let documented: Value = serde_json::from_str(&testkit::event_text(
        "record-metadata",
        "pipeline-build-failed.json",
    ))
    .unwrap();
    let pipeline = r.text(&json!({"Ref": "Pipeline"})).unwrap();
    let action = |stage: &str, state: &str, of: &str| {
        let mut detail = documented["detail"].clone();
        detail["pipeline"] = json!(of);
        detail["stage"] = json!(stage);
        detail["state"] = json!(state);
        (
            "aws.codepipeline".to_owned(),
            "CodePipeline Action Execution State Change".to_owned(),
            detail,
        )
    };
    let kept = through(
        "RecordMetadataFunctionPipelineActionFailed",
        &[
            action("Build", "FAILED", &pipeline),
            action("Source", "FAILED", &pipeline),
            action("Build", "SUCCEEDED", &pipeline),
            action("Train", "FAILED", &pipeline),
            action("Build", "FAILED", "another-pipeline"),
        ],
    )
    .await;
    let kept: Vec<(String, String)> = kept
        .iter()
        .map(|d| {
            (
                d["stage"].as_str().unwrap().to_owned(),
                d["pipeline"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        kept,
        [
            ("Build".to_owned(), pipeline.clone()),
            ("Source".to_owned(), pipeline)
        ]
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn the_insider_rules_keep_calls_made_outside_the_pipeline_and_leave_its_own() {
    let t = Template::load().unwrap();
    let r = Resolver::new(t, REGION);
    let machine = r.attribute("StateMachineRole", "Arn").unwrap();
    let handler = r.attribute("HandleApprovalFunctionRole", "Arn").unwrap();
    let someone = format!("arn:aws:iam::{ACCOUNT}:role/ops-admin");
    let user = format!("arn:aws:iam::{ACCOUNT}:user/mallory");
    let group = r
        .text(&json!({"Fn::Sub": "${AWS::StackName}-models"}))
        .unwrap();
    let package = format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/{group}/3");
    let other = format!("arn:aws:sagemaker:{REGION}:{ACCOUNT}:model-package/other-models/3");
    let topic = r
        .attribute("ApprovalTopic", "Arn")
        .unwrap_or_else(|_| r.text(&json!({"Ref": "ApprovalTopic"})).unwrap());
    let notices = r.text(&json!({"Ref": "NotificationTopic"})).unwrap();
    let approve = json!({"modelPackageArn": package, "modelApprovalStatus": "Approved"});
    let calls = [
        // The registry: only a status change by someone but the state machine.
        record(
            "aws.sagemaker",
            "UpdateModelPackage",
            &machine,
            approve.clone(),
        ),
        record(
            "aws.sagemaker",
            "UpdateModelPackage",
            &someone,
            approve.clone(),
        ),
        record(
            "aws.sagemaker",
            "UpdateModelPackage",
            &user,
            approve.clone(),
        ),
        record(
            "aws.sagemaker",
            "UpdateModelPackage",
            &someone,
            json!({"modelPackageArn": other, "modelApprovalStatus": "Approved"}),
        ),
        record(
            "aws.sagemaker",
            "UpdateModelPackage",
            &someone,
            json!({"modelPackageArn": package, "modelPackageDescription": "typo fixed"}),
        ),
        // Task answers: only by someone but handle-approval.
        record(
            "aws.states",
            "SendTaskSuccess",
            &handler,
            json!({"output": "{}"}),
        ),
        record(
            "aws.states",
            "SendTaskSuccess",
            &someone,
            json!({"output": "{}"}),
        ),
        record(
            "aws.states",
            "SendTaskFailure",
            &user,
            json!({"error": "x"}),
        ),
        // The approval topic's subscriptions, not the notices topic's.
        record(
            "aws.sns",
            "Unsubscribe",
            &user,
            json!({"subscriptionArn": format!("{topic}:0a1b2c3d")}),
        ),
        record(
            "aws.sns",
            "Subscribe",
            &someone,
            json!({"topicArn": topic, "protocol": "email", "endpoint": "eve@example.com"}),
        ),
        record(
            "aws.sns",
            "Subscribe",
            &someone,
            json!({"topicArn": notices, "protocol": "email", "endpoint": "ops@example.com"}),
        ),
    ];
    let calls: Vec<(String, String, Value)> = calls
        .into_iter()
        .map(|(source, detail)| (source, "AWS API Call via CloudTrail".to_owned(), detail))
        .collect();
    let mut kept = Vec::new();
    for id in [
        "ApprovalSubscriptionsChangedRule",
        "RegistryApprovalOutsideRule",
        "TaskAnsweredOutsideRule",
    ] {
        for detail in through(id, &calls).await {
            kept.push(format!(
                "{id} {} {}",
                detail["eventName"].as_str().unwrap(),
                detail["userIdentity"]["arn"].as_str().unwrap()
            ));
        }
    }
    kept.sort();
    let caller = |role: &str| {
        format!(
            "{}/session",
            role.replace(":iam::", ":sts::")
                .replace(":role/", ":assumed-role/")
        )
    };
    let mut want = vec![
        format!(
            "ApprovalSubscriptionsChangedRule Subscribe {}",
            caller(&someone)
        ),
        format!("ApprovalSubscriptionsChangedRule Unsubscribe {user}"),
        format!(
            "RegistryApprovalOutsideRule UpdateModelPackage {}",
            caller(&someone)
        ),
        format!("RegistryApprovalOutsideRule UpdateModelPackage {user}"),
        format!("TaskAnsweredOutsideRule SendTaskFailure {user}"),
        format!(
            "TaskAnsweredOutsideRule SendTaskSuccess {}",
            caller(&someone)
        ),
    ];
    want.sort();
    assert_eq!(kept, want);
}
