//! The approval protocol end to end on moto's executing Step Functions: a
//! state machine waits on a task token; request-approval's code stores it and
//! emails the link; handle-approval's real binary serves the page and decides.
//! The test state machine hands out its token through SQS
//! (`sqs:sendMessage.waitForTaskToken`) so moto needs no Lambda runtime; the
//! test then calls request-approval with exactly what the state machine sends.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;
use std::time::Duration;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::contract::RequestApprovalInput;
use shared::items::{self, ChampionItem};
use testkit::{Inbox, LambdaRuntime, Moto, unique};

struct Run {
    sdk: shared::aws::SdkConfig,
    table: String,
    inbox: Inbox,
    execution_arn: String,
    approval_id: String,
}

/// Starts a waiting execution (state timeout `sfn_timeout`) and requests its
/// approval (expiry `approval_timeout`), as the pipeline does.
async fn start(sfn_timeout: u64, approval_timeout: u64) -> Run {
    start_with(sfn_timeout, approval_timeout, false).await
}

/// A model-quality report as evaluate-model writes it (the parts the page reads).
fn report(matrix: Value, accuracy: f64) -> Vec<u8> {
    json!({
        "version": 0.0,
        "dataset": {"item_count": 30},
        "multiclass_classification_metrics": {"confusion_matrix": matrix, "accuracy": {"value": accuracy}}
    })
    .to_string()
    .into_bytes()
}

/// The same, with the endpoint already serving a version (the champion) when
/// `champion` is set, as record-metadata records a deploy.
async fn start_with(sfn_timeout: u64, approval_timeout: u64, champion: bool) -> Run {
    start_for(sfn_timeout, approval_timeout, champion, &[], 1)
        .await
        .0
}

/// The same with named approvers, `required` of whom must approve: each
/// approver's own link id, by address.
async fn start_for(
    sfn_timeout: u64,
    approval_timeout: u64,
    champion: bool,
    approvers: &[&str],
    required: usize,
) -> (Run, BTreeMap<String, String>) {
    let requested = request(sfn_timeout, approval_timeout, champion, approvers, required).await;
    (requested.run, requested.links)
}

/// What requesting an approval left: the run, the approvers' links by
/// address, the emails as SNS sent them (each with its `approver`
/// attribute, which the subscriptions filter on), the task token, and
/// request-approval's answer.
struct Requested {
    run: Run,
    links: BTreeMap<String, String>,
    emails: Vec<Value>,
    token: String,
    answer: shared::contract::RequestApprovalOutput,
}

/// A waiting execution, the evidence the page reads, optionally a champion,
/// and request-approval called with exactly what the state machine sends.
async fn request(
    sfn_timeout: u64,
    approval_timeout: u64,
    champion: bool,
    approvers: &[&str],
    required: usize,
) -> Requested {
    let moto = Moto::from_env();
    moto.execute_state_machines().unwrap();
    let sdk = moto.sdk_config().await;
    let table = testkit::create_table(&sdk).await.unwrap();
    let inbox = Inbox::create(&sdk).await.unwrap();
    let bucket = put_evidence(&sdk).await;
    let (execution_arn, name, token) = waiting_execution(&sdk, sfn_timeout).await;
    if champion {
        put_champion(&sdk, &table, &bucket).await;
    }
    let state = request_approval::State::new(
        request_approval::Config {
            table_name: table.clone(),
            topic_arn: inbox.topic_arn.clone(),
            approval_base_url: "https://api.example.com".into(),
            reminder: None,
            approvers: approvers.iter().map(|a| (*a).to_owned()).collect(),
            required,
            production_approvers: Vec::new(),
            production_required: 1,
        },
        &sdk,
    );
    let input = request_input(&token, &execution_arn, name, &bucket, approval_timeout);
    let answer = request_approval::handle(&state, LambdaEvent::new(input, Context::default()))
        .await
        .unwrap();
    let emails = inbox.read(&sdk).await.unwrap();
    let links: BTreeMap<String, String> = emails
        .iter()
        .filter_map(|email| {
            let to = email["MessageAttributes"]["approver"]["Value"].as_str()?;
            Some((to.to_owned(), link_of(email)))
        })
        .collect();
    let approval_id = emails.first().map(link_of).unwrap_or_default();
    Requested {
        run: Run {
            sdk,
            table,
            inbox,
            execution_arn,
            approval_id,
        },
        links,
        emails,
        token,
        answer,
    }
}

/// The approval link's id in an email.
fn link_of(email: &Value) -> String {
    email["Message"]
        .as_str()
        .unwrap()
        .split_whitespace()
        .find_map(|w| w.strip_prefix("https://api.example.com/approvals/"))
        .expect("the email has the approval link")
        .to_owned()
}

/// The batch transform's output, which the page samples, and the
/// model-quality reports of the new version and the champion, in a fresh
/// bucket: its name.
async fn put_evidence(sdk: &shared::aws::SdkConfig) -> String {
    let bucket = unique("artifacts");
    let s3 = aws_sdk_s3::Client::new(sdk);
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    // The held-out rows, sorted by label as the test file is, each with its
    // prediction joined last: one versicolor taken for a virginica.
    let held_out =
        std::fs::read_to_string(testkit::workspace_root().join("data/iris-test.csv")).unwrap();
    let output: String = held_out
        .lines()
        .enumerate()
        .map(|(i, row)| {
            let label = row.split(',').next().unwrap();
            let prediction = if i == 15 { "virginica" } else { label };
            format!("{row},{prediction}\n")
        })
        .collect();
    let one_wrong = json!({"setosa": {"setosa": 10, "versicolor": 0, "virginica": 0},
                           "versicolor": {"setosa": 0, "versicolor": 9, "virginica": 1},
                           "virginica": {"setosa": 0, "versicolor": 0, "virginica": 10}});
    let all_right = json!({"setosa": {"setosa": 10, "versicolor": 0, "virginica": 0},
                           "versicolor": {"setosa": 0, "versicolor": 10, "virginica": 0},
                           "virginica": {"setosa": 0, "versicolor": 0, "virginica": 10}});
    for (key, body) in [
        ("transform/run/iris-test.csv.out", output.into_bytes()),
        (
            "transform/run/model-quality.json",
            report(one_wrong, 0.9667),
        ),
        (
            "transform/champion/model-quality.json",
            report(all_right, 1.0),
        ),
    ] {
        s3.put_object()
            .bucket(&bucket)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
    }
    bucket
}

/// A state machine whose one state waits on a task token (state timeout
/// `sfn_timeout`), handing it out through SQS: the execution's ARN, its
/// name and the token.
async fn waiting_execution(
    sdk: &shared::aws::SdkConfig,
    sfn_timeout: u64,
) -> (String, String, String) {
    let sqs = aws_sdk_sqs::Client::new(sdk);
    let queue = sqs
        .create_queue()
        .queue_name(unique("tokens"))
        .send()
        .await
        .unwrap();
    let queue_url = queue.queue_url().unwrap().to_owned();
    let definition = json!({
        "StartAt": "Approval",
        "States": {
            "Approval": {
                "Type": "Task",
                "Resource": "arn:aws:states:::sqs:sendMessage.waitForTaskToken",
                "Parameters": {"QueueUrl": queue_url, "MessageBody": {"taskToken.$": "$$.Task.Token"}},
                "TimeoutSeconds": sfn_timeout,
                "Catch": [
                    {"ErrorEquals": ["ApprovalRejected"], "Next": "Rejected"},
                    {"ErrorEquals": ["States.Timeout"], "Next": "TimedOut"}
                ],
                "Next": "Approved"
            },
            "Approved": {"Type": "Succeed"},
            "Rejected": {"Type": "Fail", "Error": "CaughtApprovalRejected", "Cause": "the Catch on ApprovalRejected fired"},
            "TimedOut": {"Type": "Fail", "Error": "CaughtTimeout"}
        }
    });
    let sfn = aws_sdk_sfn::Client::new(sdk);
    let machine = sfn
        .create_state_machine()
        .name(unique("approval"))
        .definition(definition.to_string())
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .unwrap();
    let name = unique("run");
    let execution = sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .name(&name)
        .send()
        .await
        .unwrap();
    for _ in 0..150 {
        let got = sqs
            .receive_message()
            .queue_url(&queue_url)
            .send()
            .await
            .unwrap();
        if let Some(m) = got.messages().first() {
            let body: Value = serde_json::from_str(m.body().unwrap()).unwrap();
            let token = body["taskToken"].as_str().unwrap().to_owned();
            return (execution.execution_arn().to_owned(), name, token);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the state machine did not hand out a task token");
}

/// The endpoint already serves a version, as record-metadata records a deploy.
async fn put_champion(sdk: &shared::aws::SdkConfig, table: &str, bucket: &str) {
    let mut champion = ChampionItem::new("iris-model", "run-champion", "2026-11-20T10:00:00Z");
    champion.model_package_arn =
        Some("arn:aws:sagemaker:us-east-1:123456789012:model-package/models/1".into());
    champion.model_quality_uri = Some(format!(
        "s3://{bucket}/transform/champion/model-quality.json"
    ));
    champion.held_out_metrics =
        Some([("accuracy".to_owned(), 1.0), ("macroF1".to_owned(), 1.0)].into());
    aws_sdk_dynamodb::Client::new(sdk)
        .put_item()
        .table_name(table)
        .set_item(Some(items::to_item(&champion).unwrap()))
        .send()
        .await
        .unwrap();
}

/// What the state machine sends request-approval for this run.
fn request_input(
    token: &str,
    execution_arn: &str,
    execution_name: String,
    bucket: &str,
    approval_timeout: u64,
) -> RequestApprovalInput {
    RequestApprovalInput {
        task_token: token.to_owned().into(),
        execution_arn: execution_arn.to_owned(),
        entered_time: None,
        execution_name,
        commit_id: "0123abc".into(),
        model_name: "model-run-1".into(),
        training_job_name: "train-run-1".into(),
        metrics: [
            ("accuracy".to_owned(), 0.9667),
            ("macroF1".to_owned(), 0.9666),
        ]
        .into(),
        transform_output_uri: format!("s3://{bucket}/transform/run/"),
        data_version_id: Some("v1".into()),
        training_data_uri: Some("s3://data/training/iris.csv".into()),
        test_data_uri: Some("s3://data/test/".into()),
        test_data_version_id: Some("t1".into()),
        data_manifest_uri: Some("s3://artifacts/runs/run/data-manifest.json".into()),
        timeout_seconds: approval_timeout,
        model_quality_uri: Some(format!("s3://{bucket}/transform/run/model-quality.json")),
        endpoint_name: Some("iris-model".into()),
        deploy_stage: None,
        staging_report_uri: None,
        staging: None,
    }
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn each_email_carries_its_own_link_and_neither_id_nor_token_is_kept() {
    for approvers in [&[][..], &["ana@example.com", "bob@example.com"][..]] {
        let r = request(600, 600, false, approvers, 1).await;
        assert_eq!(r.emails.len(), approvers.len().max(1));
        for (to, link) in &r.links {
            let email = r.emails.iter().find(|e| link_of(e) == *link).unwrap();
            assert!(
                email["Message"]
                    .as_str()
                    .unwrap()
                    .contains(&format!("This link is yours ({to})"))
            );
        }
        assert_eq!(
            r.links.len(),
            approvers.len(),
            "one link per approver, each to them alone"
        );
        if approvers.is_empty() {
            // The id is only in the email's link; the answer holds its hash.
            assert_eq!(
                r.answer.approval_hash,
                shared::ApprovalId::parse(&r.run.approval_id)
                    .unwrap()
                    .hash()
            );
        } else {
            // The approvers share one approval, whose own id was never sent.
            assert!(
                r.links
                    .values()
                    .all(|l| shared::ApprovalId::parse(l).unwrap().hash() != r.answer.approval_hash)
            );
        }
        let stored = aws_sdk_dynamodb::Client::new(&r.run.sdk)
            .scan()
            .table_name(&r.run.table)
            .send()
            .await
            .unwrap();
        let stored = format!("{:?}", stored.items());
        for id in r.links.values().chain([&r.run.approval_id]) {
            assert!(
                !stored.contains(id.as_str()),
                "the table never holds an approval id"
            );
        }
        for email in &r.emails {
            assert!(
                !email["Message"].as_str().unwrap().contains(&r.token),
                "the email must not carry the task token"
            );
        }
    }
}

fn http(file: &str, id: &str) -> Value {
    let text = testkit::event_text("handle-approval", file)
        .replace("6f1c0e0b9a4d4c2e8f7a3b5d1e9c2a40", id);
    serde_json::from_str(&text).unwrap()
}

fn page(runtime: &LambdaRuntime, f: &testkit::Function, file: &str, id: &str) -> (u64, String) {
    let out = runtime.invoke(f, &http(file, id)).output();
    (
        out["statusCode"].as_u64().unwrap(),
        out["body"].as_str().unwrap_or_default().to_owned(),
    )
}

/// The execution's status at once, without waiting for it to end.
async fn status_now(run: &Run) -> String {
    aws_sdk_sfn::Client::new(&run.sdk)
        .describe_execution()
        .execution_arn(&run.execution_arn)
        .send()
        .await
        .unwrap()
        .status()
        .as_str()
        .to_owned()
}

async fn status(run: &Run) -> (String, Option<String>, Option<String>) {
    let sfn = aws_sdk_sfn::Client::new(&run.sdk);
    for _ in 0..150 {
        let d = sfn
            .describe_execution()
            .execution_arn(&run.execution_arn)
            .send()
            .await
            .unwrap();
        if d.status().as_str() != "RUNNING" {
            return (
                d.status().as_str().to_owned(),
                d.error().map(str::to_owned),
                d.output().map(str::to_owned),
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    ("RUNNING".into(), None, None)
}

fn handler(runtime: &mut LambdaRuntime, run: &Run) -> testkit::Function {
    runtime.function(
        env!("CARGO_BIN_EXE_handle-approval"),
        &[("TABLE_NAME", run.table.as_str())],
    )
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn five_gets_then_two_posts_tell_step_functions_exactly_once() {
    let run = start(600, 600).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    for _ in 0..5 {
        let (code, body) = page(&runtime, &f, "get.json", &run.approval_id);
        assert_eq!(code, 200);
        assert!(body.contains("Approve this model") && body.contains("0.9667"));
        // What the version learned from and was judged on, as request-approval stored it.
        assert!(body.contains("<th>Trained on</th><td>s3://data/training/iris.csv</td>"));
        assert!(body.contains(
            "<th>Held-out data</th><td>s3://data/test/ <span class=\"note\">(S3 version t1)</span></td>"
        ));
        assert!(
            body.contains("<th>Data manifest</th><td>s3://artifacts/runs/run/data-manifest.json ")
        );
        // Rows of every label, though the output is sorted by label.
        for label in ["setosa", "versicolor", "virginica"] {
            assert!(
                body.contains(&format!("<h3>{label}</h3>")),
                "the sample: {body}"
            );
        }
    }
    assert_eq!(
        status_now(&run).await,
        "RUNNING",
        "a GET must decide nothing"
    );

    let (code, body) = page(&runtime, &f, "approve.json", &run.approval_id);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Approved") && body.contains("Ana Lima"));
    let (code, body) = page(&runtime, &f, "approve.json", &run.approval_id);
    assert_eq!(code, 409, "{body}");
    assert!(body.contains("Already decided"));

    let (status, _, output) = status(&run).await;
    assert_eq!(status, "SUCCEEDED");
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output["decision"], "approved");
    assert_eq!(output["approver"], "Ana Lima");
    assert!(
        run.inbox.read(&run.sdk).await.unwrap().is_empty(),
        "no second email"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_rejection_fires_the_catch_on_approval_rejected() {
    let run = start(600, 600).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    let (code, body) = page(&runtime, &f, "reject.json", &run.approval_id);
    assert_eq!(code, 200, "{body}");
    assert!(body.contains("Rejected"));
    let (status, error, _) = status(&run).await;
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("CaughtApprovalRejected"))
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_decision_after_the_timeout_gets_the_expired_page() {
    // Step Functions times the task out first: SendTaskSuccess is refused.
    let run = start(1, 600).await;
    let (ended, error, _) = status(&run).await;
    assert_eq!(
        (ended.as_str(), error.as_deref()),
        ("FAILED", Some("CaughtTimeout"))
    );
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    let (code, body) = page(&runtime, &f, "approve.json", &run.approval_id);
    assert_eq!(code, 410, "{body}");
    assert!(body.contains("expired"));
    // The record is marked expired: the page says so from now on.
    let (code, _) = page(&runtime, &f, "get.json", &run.approval_id);
    assert_eq!(code, 410);

    // The approval's own expiry is enforced in code too, before Step Functions.
    let run = start(600, 1).await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    let (code, _) = page(&runtime, &f, "get.json", &run.approval_id);
    assert_eq!(code, 410);
    let (code, _) = page(&runtime, &f, "approve.json", &run.approval_id);
    assert_eq!(code, 410);
    assert_eq!(
        status_now(&run).await,
        "RUNNING",
        "an expired approval must not reach Step Functions"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn unknown_ids_and_bad_forms_get_clear_pages() {
    let run = start(600, 600).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    let (code, body) = page(&runtime, &f, "get.json", "0123456789abcdef0123456789abcdef");
    assert_eq!(code, 404);
    assert!(body.contains("Approval not found"));
    let (code, _) = page(&runtime, &f, "get.json", "not-an-id");
    assert_eq!(code, 404);
    let mut bad = http("approve.json", &run.approval_id);
    bad["body"] = json!("decision=maybe");
    let out = runtime.invoke(&f, &bad).output();
    assert_eq!(out["statusCode"], 400);
    // API Gateway's REST answer: lambda_http puts every header in multiValueHeaders.
    assert_eq!(out["multiValueHeaders"]["x-frame-options"][0], "DENY");
    assert!(
        out["multiValueHeaders"]["content-security-policy"][0]
            .as_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

/// Every page state in Debian's Chromium, each audited with axe-core and kept
/// as a screenshot in artifacts/browser: pending beside a deployed version,
/// approved, already decided (one approval); pending on a first run, rejected
/// (another); expired; and an id nobody issued.
#[tokio::test]
#[ignore = "needs the moto server and Debian's chromium: run `make test`"]
async fn every_page_state_in_a_real_browser_with_no_accessibility_violations() {
    let approved = start_with(600, 600, true).await;
    let rejected = start(600, 600).await;
    let expired = start(600, 1).await;
    // One runtime per run: each run has its own table.
    let mut runtimes = Vec::new();
    let mut flows = Vec::new();
    for (kind, run) in [
        ("approve:champion", &approved),
        ("reject:first", &rejected),
        ("expired", &expired),
    ] {
        let mut runtime = LambdaRuntime::start();
        let f = handler(&mut runtime, run);
        // The pages as approvers reach them: the template's REST API stage.
        let pages = testkit::gateway::approval_pages(&runtime, &f).unwrap();
        flows.push(format!("{kind}={}/{}", pages.url(), run.approval_id));
        if kind == "expired" {
            flows.push(format!(
                "not-found={}/0123456789abcdef0123456789abcdef",
                pages.url()
            ));
        }
        runtimes.push((pages, runtime, f));
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let root = testkit::workspace_root();
    let out = std::process::Command::new("node")
        .current_dir(root)
        .arg("tests/browser/pages.mjs")
        .arg("artifacts/browser")
        .args(&flows)
        .output()
        .expect("node is needed for the browser test (scripts/setup installs playwright-core and axe-core)");
    let said = format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "the browser test failed:\n{said}");
    for state in [
        "pending-with-champion",
        "approved",
        "already-decided",
        "pending-first-run",
        "rejected",
        "expired",
        "not-found",
    ] {
        assert!(
            said.contains(&format!("{state} (0 violations)")),
            "{state} not audited:\n{said}"
        );
    }
    let (ended, _, output) = status(&approved).await;
    assert_eq!(ended, "SUCCEEDED");
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output["approver"], "Browser Test");
    let (ended, error, _) = status(&rejected).await;
    assert_eq!(
        (ended.as_str(), error.as_deref()),
        ("FAILED", Some("CaughtApprovalRejected"))
    );
}

/// The first approver's Lambda died after claiming the approval (Ana
/// approved; the item is left `deciding` for longer than the takeover time).
/// A later POST, a rejection by someone else, finishes Ana's approval: Step
/// Functions hears approve, the item keeps Ana's decision, and this
/// requester is told it was already decided.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_stale_claim_is_finished_with_the_first_decision() {
    use aws_sdk_dynamodb::types::AttributeValue;
    let run = start(600, 600).await;
    let key = shared::keys::approval(&shared::ApprovalId::parse(&run.approval_id).unwrap());
    let s = |v: &str| AttributeValue::S(v.to_owned());
    aws_sdk_dynamodb::Client::new(&run.sdk)
        .update_item()
        .table_name(&run.table)
        .key("pk", s(&key.pk))
        .key("sk", s(&key.sk))
        .update_expression(
            "SET #status = :deciding, decision = :approved, approver = :ana, #comment = :c, decidedAt = :at, decisionId = :dead, decidingSince = :long_ago",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_names("#comment", "comment")
        .expression_attribute_values(":deciding", s("deciding"))
        .expression_attribute_values(":approved", s("approved"))
        .expression_attribute_values(":ana", s("Ana Lima"))
        .expression_attribute_values(":c", s("fine by me"))
        .expression_attribute_values(":at", s("2026-11-21T10:00:00Z"))
        .expression_attribute_values(":dead", s("a-lambda-that-died"))
        .expression_attribute_values(":long_ago", AttributeValue::N("1000".into()))
        .send()
        .await
        .unwrap();
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    let (code, body) = page(&runtime, &f, "reject.json", &run.approval_id);
    assert_eq!(code, 409, "{body}");
    assert!(
        body.contains("Already decided") && body.contains("Ana Lima"),
        "{body}"
    );
    let (status, _, output) = status(&run).await;
    assert_eq!(
        status, "SUCCEEDED",
        "the first decision, approve, reached Step Functions"
    );
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(
        (output["decision"].as_str(), output["approver"].as_str()),
        (Some("approved"), Some("Ana Lima"))
    );
    let item = aws_sdk_dynamodb::Client::new(&run.sdk)
        .get_item()
        .table_name(&run.table)
        .key("pk", s(&key.pk))
        .key("sk", s(&key.sk))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item["status"].as_s().unwrap(), "approved");
    assert_eq!(item["approver"].as_s().unwrap(), "Ana Lima");
}

fn post(runtime: &LambdaRuntime, f: &testkit::Function, id: &str, form: &str) -> (u64, String) {
    let mut event = http("approve.json", id);
    event["body"] = json!(form);
    let out = runtime.invoke(f, &event).output();
    (
        out["statusCode"].as_u64().unwrap(),
        out["body"].as_str().unwrap_or_default().to_owned(),
    )
}

/// Two approvers press Approve at the same moment: exactly one decision
/// reaches Step Functions, the other is told who decided.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn two_approvers_at_once_make_exactly_one_decision() {
    let (run, links) = start_for(600, 600, false, &["ana@example.com", "bob@example.com"], 1).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    // Two instances of the function, as Lambda runs two concurrent requests:
    // each takes one of the POSTs.
    let _second = handler(&mut runtime, &run);
    let answers: Vec<(u64, String)> = std::thread::scope(|scope| {
        let runs: Vec<_> = links
            .values()
            .map(|id| {
                let (runtime, f) = (&runtime, &f);
                scope.spawn(move || post(runtime, f, id, "decision=approve"))
            })
            .collect();
        runs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let decided: Vec<_> = answers.iter().filter(|(code, _)| *code == 200).collect();
    assert_eq!(decided.len(), 1, "{answers:?}");
    assert!(answers.iter().any(|(code, _)| *code == 409), "{answers:?}");
    let (ended, _, output) = status(&run).await;
    assert_eq!(ended, "SUCCEEDED");
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    let approver = output["approver"].as_str().unwrap();
    assert!(
        links.contains_key(approver),
        "the bound address, alone: {approver}"
    );
    // Every link now shows who decided, what and when.
    for id in links.values() {
        let (code, page) = page(&runtime, &f, "get.json", id);
        assert_eq!(code, 200);
        assert!(
            page.contains("Already decided") && page.contains(approver),
            "{page}"
        );
    }
}

/// A link forwarded to someone else still records the address it was made
/// for; the name they type is kept only in the comment.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_forwarded_link_records_the_address_it_was_bound_to() {
    let (run, links) = start_for(600, 600, false, &["ana@example.com", "bob@example.com"], 1).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    let (code, page_text) = page(&runtime, &f, "get.json", &links["ana@example.com"]);
    assert_eq!(code, 200);
    assert!(
        page_text.contains("This link is <strong>ana@example.com</strong>"),
        "{page_text}"
    );
    let (code, body) = post(
        &runtime,
        &f,
        &links["ana@example.com"],
        "decision=approve&approver=Bob+Forwarded&comment=looks+fine",
    );
    assert_eq!(code, 200, "{body}");
    let (ended, _, output) = status(&run).await;
    assert_eq!(ended, "SUCCEEDED");
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    assert_eq!(output["approver"], "ana@example.com");
    assert_eq!(output["comment"], "(typed name: Bob Forwarded) looks fine");
    // The approval's own id was never sent: nothing reaches it but the links.
    let (code, _) = page(&runtime, &f, "get.json", "0123456789abcdef0123456789abcdef");
    assert_eq!(code, 404);
}

/// Two of three approvers are required: the run waits for the second; a
/// rejection by any one of them ends it.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn two_of_three_wait_for_the_second_and_a_rejection_ends_it() {
    let three = ["ana@example.com", "bob@example.com", "cy@example.com"];
    let (run, links) = start_for(600, 600, false, &three, 2).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    let (code, body) = post(&runtime, &f, &links["ana@example.com"], "decision=approve");
    assert_eq!(code, 200);
    assert!(
        body.contains("Your approval is recorded") && body.contains("1 of 2"),
        "{body}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        status_now(&run).await,
        "RUNNING",
        "one approval is not enough"
    );
    let (_, again) = post(&runtime, &f, &links["ana@example.com"], "decision=approve");
    assert!(again.contains("You have already approved"), "{again}");
    assert_eq!(
        status_now(&run).await,
        "RUNNING",
        "the same approver twice is still one"
    );
    let (code, body) = post(&runtime, &f, &links["bob@example.com"], "decision=approve");
    assert_eq!(code, 200, "{body}");
    let (ended, _, output) = status(&run).await;
    assert_eq!(ended, "SUCCEEDED");
    let output: Value = serde_json::from_str(&output.unwrap()).unwrap();
    let approver = output["approver"].as_str().unwrap();
    assert!(
        approver.contains("ana@example.com") && approver.contains("bob@example.com"),
        "{approver}"
    );

    // Another run: one approval, then a rejection by a third approver.
    let (run, links) = start_for(600, 600, false, &three, 2).await;
    let mut runtime = LambdaRuntime::start();
    let f = handler(&mut runtime, &run);
    post(&runtime, &f, &links["ana@example.com"], "decision=approve");
    let (code, body) = post(
        &runtime,
        &f,
        &links["cy@example.com"],
        "decision=reject&comment=not+yet",
    );
    assert_eq!(code, 200, "{body}");
    let (ended, error, _) = status(&run).await;
    assert_eq!(
        (ended.as_str(), error.as_deref()),
        ("FAILED", Some("CaughtApprovalRejected"))
    );
}
