use super::*;
use crate::form::field;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sfn::error::ErrorMetadata as SfnMeta;
use aws_sdk_sfn::operation::send_task_success::{SendTaskSuccessError, SendTaskSuccessOutput};
use aws_sdk_sfn::types::error::TaskTimedOut;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_http::Context;
use shared::contract::Decision;
use shared::items::s;
use std::collections::HashMap;

const ID: &str = "0123456789abcdef0123456789abcdef";
const TOKEN: &str = "secret-task-token";

fn item(status: &str, deadline: u64) -> HashMap<String, AttributeValue> {
    HashMap::from([
        ("status".to_owned(), s(status)),
        ("taskToken".to_owned(), s(TOKEN)),
        ("executionName".to_owned(), s("run-1")),
        ("modelName".to_owned(), s("<script>alert(1)</script>")),
        (
            "transformOutputUri".to_owned(),
            s("s3://artifacts/transform/run-1/"),
        ),
        (
            "deadline".to_owned(),
            AttributeValue::N(deadline.to_string()),
        ),
        ("approver".to_owned(), s("Ana")),
        ("decidedAt".to_owned(), s("2026-11-21T10:00:00Z")),
    ])
}

fn state(ddb: &[&Rule], sfn: &[&Rule], s3: &[&Rule]) -> State {
    State {
        config: Config {
            table_name: "runs".into(),
            sample_bytes: 64,
        },
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, ddb, |c| c
            .retry_config(RetryConfig::disabled())),
        sfn: mock_client!(aws_sdk_sfn, RuleMode::Sequential, sfn, |c| c
            .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())),
        s3: mock_client!(aws_sdk_s3, RuleMode::Sequential, s3, |c| c
            .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())),
    }
}

fn request(file: &str) -> Request {
    let text = testkit::event_text("handle-approval", file)
        .replace("6f1c0e0b9a4d4c2e8f7a3b5d1e9c2a40", ID);
    let mut context = Context::default();
    context.request_id = "req-7".into();
    lambda_http::request::from_str(&text)
        .unwrap()
        .with_lambda_context(context)
}

/// The link's own read (an unbound approval: the link is the approval).
fn link() -> Rule {
    get("pending", u64::MAX / 2)
}

fn get(status: &'static str, deadline: u64) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(item(status, deadline)))
            .build()
    })
}

/// The claim's conditional write misses (the approval is no longer pending, or
/// its deadline has passed, by the condition's own clock).
fn claim_missed() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item).then_error(|| {
        aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
            aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder().build(),
        )
    })
}

fn claim() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.condition_expression()
                .is_some_and(|c| c.contains("#status = :pending"))
                && r.expression_attribute_values()
                    .is_some_and(|v| v[":rid"].as_s().is_ok_and(|id| id == "req-7"))
        })
        .then_output(|| {
            UpdateItemOutput::builder()
                .set_attributes(Some(item("deciding", u64::MAX / 2)))
                .build()
        })
}

fn update_to(status: &'static str) -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |r| {
            r.expression_attribute_values().is_some_and(|v| {
                v.get(":status")
                    .and_then(|a| a.as_s().ok())
                    .is_some_and(|x| x == status)
            }) && r.condition_expression() == Some("decisionId = :rid")
        })
        .then_output(|| UpdateItemOutput::builder().build())
}

/// DescribeExecution's answer: the run is in `status`.
fn run_is(status: aws_sdk_sfn::types::ExecutionStatus) -> Rule {
    mock!(aws_sdk_sfn::Client::describe_execution).then_output(move || {
        aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput::builder()
            .execution_arn("arn:aws:states:us-east-1:123456789012:execution:m:run")
            .state_machine_arn("arn:aws:states:us-east-1:123456789012:stateMachine:m")
            .status(status.clone())
            .start_date(aws_sdk_sfn::primitives::DateTime::from_secs(0))
            .build()
            .unwrap()
    })
}

fn body(response: &Response<Body>) -> String {
    match response.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    }
}

#[tokio::test]
async fn a_get_shows_the_page_escaped_with_security_headers_and_calls_no_step_functions() {
    let listed = mock!(aws_sdk_s3::Client::list_objects_v2).then_output(|| {
        aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Output::builder()
            .contents(
                aws_sdk_s3::types::Object::builder()
                    .key("transform/run-1/iris-test.csv.out")
                    .build(),
            )
            .build()
    });
    // Sorted by label, as the held-out file is: the first lines would be setosa only.
    let object = mock!(aws_sdk_s3::Client::get_object).then_output(|| {
        aws_sdk_s3::operation::get_object::GetObjectOutput::builder()
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                b"setosa,1,setosa\nsetosa,2,setosa\nsetosa,3,setosa\nsetosa,4,setosa\nversicolor,5,virginica\nvirginica,6,virginica\n",
            ))
            .build()
    });
    let s = state(&[&get("pending", u64::MAX / 2)], &[], &[&listed, &object]);
    let response = handle(&s, request("get.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    let html = body(&response);
    assert!(
        html.contains("&#60;script&#62;") && !html.contains("<script>"),
        "untrusted text is escaped"
    );
    for label in ["setosa", "versicolor", "virginica"] {
        assert!(
            html.contains(&format!("<h3>{label}</h3>")),
            "every label: {html}"
        );
    }
    assert!(
        html.contains("setosa,3,setosa") && !html.contains("setosa,4,setosa"),
        "three rows a label"
    );
    assert!(!html.contains(TOKEN));
    for (name, value) in [
        ("x-frame-options", "DENY"),
        ("referrer-policy", "no-referrer"),
        ("cache-control", "no-store"),
        (
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        ),
        ("cross-origin-opener-policy", "same-origin"),
        ("cross-origin-resource-policy", "same-origin"),
    ] {
        assert_eq!(response.headers()[name], value);
    }
    assert!(
        response.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("default-src 'none'")
    );
}

#[tokio::test]
async fn a_transient_step_functions_failure_reopens_the_approval() {
    // Every try: handle-approval tries the call three times, then gives up.
    let unavailable = mock!(aws_sdk_sfn::Client::send_task_success)
        .sequence()
        .error(|| {
            SendTaskSuccessError::generic(SfnMeta::builder().code("ServiceUnavailable").build())
        })
        .times(3)
        .build();
    let (c, reopened) = (claim(), update_to("pending"));
    let s = state(&[&link(), &c, &reopened], &[&unavailable], &[]);
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(body(&response).contains("Nothing was decided"));
    assert_eq!(
        reopened.num_calls(),
        1,
        "back to pending: the person may press again"
    );
}

#[tokio::test]
async fn a_timed_out_task_marks_the_approval_expired() {
    let timed_out = mock!(aws_sdk_sfn::Client::send_task_success).then_error(|| {
        SendTaskSuccessError::TaskTimedOut(
            TaskTimedOut::builder()
                .meta(SfnMeta::builder().code("TaskTimedOut").build())
                .build(),
        )
    });
    let (c, expired) = (claim(), update_to("expired"));
    let ended = run_is(aws_sdk_sfn::types::ExecutionStatus::Aborted);
    let s = state(&[&link(), &c, &expired], &[&timed_out, &ended], &[]);
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 410);
    assert_eq!(expired.num_calls(), 1);
}

/// The task is gone before the deadline while the run still runs: its
/// request was retried under a new token (the first answer lost), which the
/// retry moves the approval to. The decision cannot reach it yet, so the
/// approval reopens and the page says to decide again, never "expired".
#[tokio::test]
async fn a_task_gone_while_its_run_still_runs_reopens_the_approval() {
    let gone = mock!(aws_sdk_sfn::Client::send_task_success).then_error(|| gone("InvalidToken"));
    let running = run_is(aws_sdk_sfn::types::ExecutionStatus::Running);
    let (c, reopened) = (claim(), update_to("pending"));
    let s = state(&[&link(), &c, &reopened], &[&gone, &running], &[]);
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 503);
    assert!(
        body(&response).contains("decide again"),
        "{}",
        body(&response)
    );
    assert_eq!((running.num_calls(), reopened.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_approval_sends_the_decision_with_the_token_then_records_it() {
    let told = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| {
            let output: serde_json::Value =
                serde_json::from_str(r.output().unwrap_or("{}")).unwrap();
            r.task_token() == Some(TOKEN)
                && output["decision"] == "approved"
                && output["approver"] == "Ana Lima"
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    let (c, recorded) = (claim(), update_to("approved"));
    let s = state(&[&link(), &c, &recorded], &[&told], &[]);
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!((told.num_calls(), recorded.num_calls()), (1, 1));
}

#[test]
fn the_form_is_parsed_strictly_and_bounded() {
    let ct = Some("application/x-www-form-urlencoded");
    let form = parse_form(
        ct,
        b"decision=reject&approver=Ana+Lima&comment=too+low&extra=1",
    )
    .unwrap();
    assert_eq!(form.decision, Decision::Rejected);
    assert_eq!(form.approver.as_deref(), Some("Ana Lima"));
    assert!(parse_form(ct, b"approver=x").is_err());
    assert!(parse_form(ct, b"decision=yes").is_err());
    assert!(parse_form(Some("application/json"), b"decision=approve").is_err());
    let long = format!("decision=approve&comment={}", "a".repeat(5000));
    assert_eq!(
        parse_form(ct, long.as_bytes())
            .unwrap()
            .comment
            .unwrap()
            .len(),
        MAX_COMMENT
    );
}

#[tokio::test]
async fn a_rejection_fails_the_task_with_approval_rejected_and_the_comment_as_cause() {
    let told = mock!(aws_sdk_sfn::Client::send_task_failure)
        .match_requests(|r| {
            r.task_token() == Some(TOKEN)
                && r.error() == Some("ApprovalRejected")
                && r.cause().is_some_and(|c| {
                    c.contains("Ana Lima") && c.contains("Recall on virginica dropped")
                })
        })
        .then_output(|| {
            aws_sdk_sfn::operation::send_task_failure::SendTaskFailureOutput::builder().build()
        });
    let (c, recorded) = (claim(), update_to("rejected"));
    let s = state(&[&link(), &c, &recorded], &[&told], &[]);
    let response = handle(&s, request("reject.json")).await.unwrap();
    assert_eq!(response.status(), 200);
    assert!(body(&response).contains("Rejected"));
    assert_eq!((told.num_calls(), recorded.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_second_decision_gets_already_decided_and_no_call_to_step_functions() {
    let refused = claim_missed();
    let s = state(
        &[&link(), &refused, &get("approved", u64::MAX / 2)],
        &[],
        &[],
    );
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 409);
    let html = body(&response);
    assert!(html.contains("Already decided") && html.contains("Ana"));
}

/// A claim that misses while the approval is still pending before its
/// deadline (it changed under the request and back) is never "expired":
/// nothing is marked, and the approver is asked to reload.
#[tokio::test]
async fn a_missed_claim_on_a_pending_approval_before_its_deadline_is_not_expired() {
    let refused = claim_missed();
    let s = state(
        &[&link(), &refused, &get("pending", u64::MAX / 2)],
        &[],
        &[],
    );
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 409);
    assert!(body(&response).contains("not recorded"));
    assert_eq!(refused.num_calls(), 1, "nothing marked it expired");
}

#[tokio::test]
async fn a_get_after_the_deadline_is_expired_without_any_write() {
    let s = state(&[&get("pending", 1)], &[], &[]);
    let response = handle(&s, request("get.json")).await.unwrap();
    assert_eq!(response.status(), 410);
}

#[test]
fn the_csp_allows_exactly_the_pages_own_stylesheet() {
    use base64::Engine;
    use sha2::Digest;
    let response = page::not_found();
    let csp = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!csp.contains("unsafe-inline"), "{csp}");
    assert!(
        csp.starts_with("default-src 'none'"),
        "no script source at all: {csp}"
    );
    let html = body(&response);
    let style = html
        .split("<style>")
        .nth(1)
        .unwrap()
        .split("</style>")
        .next()
        .unwrap();
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(style.as_bytes()));
    assert!(csp.contains(&format!("style-src 'sha256-{hash}'")), "{csp}");
}

/// The first decider's Lambda died after claiming (approve, by Ana) and before
/// settling. A later POST (reject, by someone else) takes over the stale
/// claim to finish *Ana's* approval: Step Functions hears approve, the record
/// keeps Ana's decision, and this requester is told it was already decided.
#[tokio::test]
async fn a_stale_claim_is_finished_with_the_first_decision_not_overwritten() {
    let refused = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| r.condition_expression() == Some("#status = :pending AND deadline > :now"))
        .then_error(|| {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder().build(),
            )
        });
    let stale = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        let mut i = item("deciding", u64::MAX / 2);
        i.insert("decision".into(), s("approved"));
        i.insert("comment".into(), s("fine by me"));
        i.insert("decidingSince".into(), AttributeValue::N("1000".into()));
        GetItemOutput::builder().set_item(Some(i)).build()
    });
    let taken = mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.update_expression() == Some("SET decisionId = :rid, decidingSince = :now")
                && r.condition_expression()
                    .is_some_and(|c| c.contains("decidingSince < :stale"))
        })
        .then_output(|| UpdateItemOutput::builder().build());
    let settled = update_to("approved");
    let told = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| {
            r.task_token() == Some(TOKEN)
                && r.output().is_some_and(|o| {
                    o.contains("approved") && o.contains("Ana") && o.contains("fine by me")
                })
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    let s = state(
        &[&link(), &refused, &stale, &taken, &settled],
        &[&told],
        &[],
    );
    let response = handle(&s, request("reject.json")).await.unwrap();
    assert_eq!(response.status(), 409);
    let html = body(&response);
    assert!(
        html.contains("Already decided") && html.contains("Ana"),
        "{html}"
    );
    assert_eq!(
        (taken.num_calls(), told.num_calls(), settled.num_calls()),
        (1, 1, 1)
    );
}

#[test]
fn a_comment_becomes_one_line_that_fits_the_registrys_description() {
    let form = parse_form(
        Some("application/x-www-form-urlencoded"),
        format!(
            "decision=approve&approver={}&comment={}",
            "n".repeat(400),
            "two%0Alines%0D%0Aand%09a%20tab%20".repeat(200)
        )
        .as_bytes(),
    )
    .unwrap();
    let comment = form.comment.unwrap();
    assert!(!comment.contains(['\n', '\r', '\t']), "{comment}");
    assert!(comment.starts_with("two lines and a tab two"), "{comment}");
    assert_eq!(comment.chars().count(), MAX_COMMENT);
    assert_eq!(form.approver.unwrap().chars().count(), MAX_APPROVER);
    // The longest description the state machine writes (a rejection's) fits SageMaker's 1024.
    assert!(
        "ApprovalRejected: rejected by ".len() + MAX_APPROVER + ": ".len() + MAX_COMMENT <= 1024
    );
}

#[test]
fn a_decision_counts_its_kind_and_the_time_it_took() {
    let values = |decision, created_at, now| {
        shared::metrics::check(&decision_metrics(decision, created_at, now).to_json(1))
            .unwrap_or_default()
    };
    let v = |name: &str, value: f64| (name.to_owned(), value);
    assert_eq!(
        values(Status::Approved, 1_000, 1_450),
        [v("ApprovalsApproved", 1.0), v("TimeToDecide", 450.0)]
    );
    assert_eq!(
        values(Status::Rejected, 1_000, 1_060),
        [v("ApprovalsRejected", 1.0), v("TimeToDecide", 60.0)]
    );
    // An item written before createdAt existed: no time, not a huge one.
    assert_eq!(
        values(Status::Approved, 0, 1_450),
        [v("ApprovalsApproved", 1.0)]
    );
}

/// The report's own sample (evaluate-model kept rows of every label while it
/// read the whole output) is shown, and the output is not read again.
#[tokio::test]
async fn the_page_shows_the_reports_sample_and_its_confusion_matrix() {
    let with_report = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        let mut approval = item("pending", u64::MAX / 2);
        approval.insert(
            "modelQualityUri".into(),
            s("s3://artifacts/transform/run-1/model-quality.json"),
        );
        aws_sdk_dynamodb::operation::get_item::GetItemOutput::builder()
            .set_item(Some(approval))
            .build()
    });
    let report = mock!(aws_sdk_s3::Client::get_object)
        .match_requests(|r| r.key() == Some("transform/run-1/model-quality.json"))
        .then_output(|| {
            aws_sdk_s3::operation::get_object::GetObjectOutput::builder()
                .body(aws_sdk_s3::primitives::ByteStream::from_static(
                    br#"{"multiclass_classification_metrics": {"confusion_matrix": {"a": {"a": 4, "b": 1}, "b": {"a": 0, "b": 5}}},
                        "sample": [{"label": "a", "rows": ["a,1,a"]}, {"label": "b", "rows": ["b,9,b"]}]}"#,
                ))
                .build()
        });
    // Only the report: a read of the output would find no rule and fail the test.
    let s = state(&[&with_report], &[], &[&report]);
    let response = handle(&s, request("get.json")).await.unwrap();
    let html = body(&response);
    assert!(
        html.contains("<h3>b</h3>") && html.contains("b,9,b"),
        "{html}"
    );
    assert!(
        html.contains("This version: rows are the true labels"),
        "{html}"
    );
    assert!(html.contains("<td>5</td>"), "{html}");
    assert_eq!(report.num_calls(), 1);
}

/// approve.json with these headers added.
fn approve_with(headers: &[(&'static str, &'static str)]) -> Request {
    let mut r = request("approve.json");
    for (name, value) in headers {
        r.headers_mut()
            .insert(*name, lambda_http::http::HeaderValue::from_static(value));
    }
    r
}

#[tokio::test]
async fn a_post_from_another_site_is_refused_before_anything_is_read() {
    for headers in [
        &[("sec-fetch-site", "cross-site")][..],
        &[("sec-fetch-site", "same-site")][..],
        &[("origin", "https://evil.example")][..],
        &[
            ("sec-fetch-site", "same-origin"),
            (
                "origin",
                "https://abcdef1234.execute-api.us-east-1.amazonaws.com.evil.example",
            ),
        ][..],
    ] {
        // No DynamoDB, Step Functions or S3 call may happen: the mocks have no rules.
        let s = state(&[], &[], &[]);
        let response = handle(&s, approve_with(headers)).await.unwrap();
        assert_eq!(response.status(), 403, "{headers:?}");
        assert!(body(&response).contains("Nothing was decided"));
    }
}

#[test]
fn the_pages_own_form_is_same_origin_and_passes() {
    for headers in [
        &[("sec-fetch-site", "same-origin"), ("origin", "null")][..],
        &[
            ("sec-fetch-site", "same-origin"),
            (
                "origin",
                "https://abcdef1234.execute-api.us-east-1.amazonaws.com",
            ),
        ][..],
        // An old browser or curl: neither header, as the emulator tests send.
        &[][..],
    ] {
        assert!(!crate::cross_site(&approve_with(headers)), "{headers:?}");
    }
    assert!(
        crate::page::html(200, String::new()).headers()["permissions-policy"]
            .to_str()
            .unwrap()
            .contains("camera=()")
    );
}

#[test]
fn every_approvers_address_is_kept_whole_and_the_comment_gives_way_to_the_registrys_limit() {
    // Five named approvers with long addresses, as ApproverEmails allows (1,000 characters).
    let addresses: Vec<String> = (0..5)
        .map(|i| format!("{}{i}@example.com", "a".repeat(180)))
        .collect();
    let joined = addresses.join(" and ");
    let approver = field(&joined, crate::MAX_APPROVERS);
    assert_eq!(
        approver.as_deref(),
        Some(joined.as_str()),
        "cut mid-address"
    );
    let comment = crate::within_registry(Some("x".repeat(850)), approver.as_deref());
    let description = format!(
        "ApprovalRejected: rejected by {}: {}",
        approver.unwrap_or_default(),
        comment.clone().unwrap_or_default()
    );
    assert!(description.chars().count() <= 1024, "{}", description.len());
    assert!(comment.is_some_and(|c| !c.is_empty()));
    // One short address: the comment keeps its own limit.
    let short = crate::within_registry(Some("y".repeat(900)), Some("ana@example.com"));
    assert_eq!(short.map(|c| c.len()), Some(crate::MAX_COMMENT));
}

/// A named approver's link: the group's hash and the address it is bound to.
fn bound_link(email: &'static str) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_output(move || {
        GetItemOutput::builder()
            .set_item(Some(HashMap::from([
                ("groupHash".to_owned(), s("a".repeat(64))),
                ("approverEmail".to_owned(), s(email)),
            ])))
            .build()
    })
}

/// The approval of named approvers, pending, with these votes in already.
fn pending_with(votes: &'static [&'static str], required: u32) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_output(move || {
        let mut approval = item("pending", u64::MAX / 2);
        approval.insert(
            "approvals".to_owned(),
            AttributeValue::Ss(votes.iter().map(|v| (*v).to_owned()).collect()),
        );
        approval.insert(
            "required".to_owned(),
            AttributeValue::N(required.to_string()),
        );
        GetItemOutput::builder().set_item(Some(approval)).build()
    })
}

fn vote_already_counted() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.update_expression() == Some("ADD approvals :me")
        })
        .then_error(|| {
            aws_sdk_dynamodb::operation::update_item::UpdateItemError::ConditionalCheckFailedException(
                aws_sdk_dynamodb::types::error::ConditionalCheckFailedException::builder()
                    .message("The conditional request failed")
                    .build(),
            )
        })
}

#[tokio::test]
async fn a_named_approver_decides_again_after_a_transient_failure_reopened_the_approval() {
    // Ana's first press counted her vote, then Step Functions failed and the
    // approval went back to pending. Her second press must reach the claim.
    let told = mock!(aws_sdk_sfn::Client::send_task_success)
        .match_requests(|r| {
            let output: serde_json::Value =
                serde_json::from_str(r.output().unwrap_or("{}")).unwrap();
            r.task_token() == Some(TOKEN) && output["approver"] == "ana@example.com"
        })
        .then_output(|| SendTaskSuccessOutput::builder().build());
    let (link, voted, loaded) = (
        bound_link("ana@example.com"),
        vote_already_counted(),
        pending_with(&["ana@example.com"], 1),
    );
    let (c, recorded) = (claim(), update_to("approved"));
    let s = state(&[&link, &voted, &loaded, &c, &recorded], &[&told], &[]);
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 200, "{}", body(&response));
    assert_eq!((told.num_calls(), recorded.num_calls()), (1, 1));
}

#[tokio::test]
async fn a_named_approver_who_already_voted_still_waits_while_votes_are_missing() {
    let (link, voted, loaded) = (
        bound_link("ana@example.com"),
        vote_already_counted(),
        pending_with(&["ana@example.com"], 2),
    );
    let s = state(&[&link, &voted, &loaded], &[], &[]);
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert!(body(&response).contains("1 more"), "{}", body(&response));
}

/// Step Functions' answer for a task that no longer waits, as the SDK parses it.
fn gone(code: &str) -> SendTaskSuccessError {
    use aws_sdk_sfn::types::error::{InvalidToken, TaskDoesNotExist};
    let meta = SfnMeta::builder().code(code).build();
    match code {
        "TaskTimedOut" => {
            SendTaskSuccessError::TaskTimedOut(TaskTimedOut::builder().meta(meta).build())
        }
        "InvalidToken" => {
            SendTaskSuccessError::InvalidToken(InvalidToken::builder().meta(meta).build())
        }
        _ => SendTaskSuccessError::TaskDoesNotExist(TaskDoesNotExist::builder().meta(meta).build()),
    }
}

#[tokio::test]
async fn a_decision_whose_answer_was_lost_and_whose_retry_finds_the_task_gone_stands() {
    // The first try reached Step Functions, but its answer did not come back
    // (a 5xx here); the second finds the task gone, because the first told it.
    for code in ["TaskTimedOut", "InvalidToken", "TaskDoesNotExist"] {
        let told = mock!(aws_sdk_sfn::Client::send_task_success)
            .sequence()
            .http_status(503, None)
            .error(move || gone(code))
            .build();
        let (c, recorded) = (claim(), update_to("approved"));
        let s = state(&[&link(), &c, &recorded], &[&told], &[]);
        let response = handle(&s, request("approve.json")).await.unwrap();
        assert_eq!(response.status(), 200, "{code}: {}", body(&response));
        assert!(body(&response).contains("Approved"), "{code}");
        assert_eq!((told.num_calls(), recorded.num_calls()), (2, 1), "{code}");
    }
}

#[tokio::test]
async fn a_task_gone_at_the_first_try_is_expired() {
    let gone =
        mock!(aws_sdk_sfn::Client::send_task_success).then_error(|| gone("TaskDoesNotExist"));
    let (c, expired) = (claim(), update_to("expired"));
    let ended = run_is(aws_sdk_sfn::types::ExecutionStatus::Succeeded);
    let s = state(&[&link(), &c, &expired], &[&gone, &ended], &[]);
    let response = handle(&s, request("approve.json")).await.unwrap();
    assert_eq!(response.status(), 410);
    assert_eq!((gone.num_calls(), expired.num_calls()), (1, 1));
}

proptest::proptest! {
    /// Whatever a client POSTs, the form parser never panics, and a form it
    /// accepts is one of the two decisions with fields bounded and free of
    /// control characters (they go on one line into the registry).
    #[test]
    fn any_body_parses_or_is_refused_and_what_is_accepted_is_bounded(
        body in proptest::collection::vec(proptest::num::u8::ANY, 0..4096),
        text in "(decision=(approve|reject|x)&)?(approver=\\PC{0,300}&)?(comment=\\PC{0,1200})?",
        form_type in proptest::bool::ANY,
    ) {
        let ct = form_type.then_some("application/x-www-form-urlencoded; charset=utf-8");
        for input in [body.as_slice(), text.as_bytes()] {
            if let Ok(form) = parse_form(ct, input) {
                proptest::prop_assert!(matches!(form.decision, Decision::Approved | Decision::Rejected));
                for (value, max) in [(&form.approver, MAX_APPROVER), (&form.comment, MAX_COMMENT)] {
                    if let Some(v) = value {
                        proptest::prop_assert!(v.chars().count() <= max);
                        proptest::prop_assert!(!v.chars().any(char::is_control));
                        proptest::prop_assert!(!v.is_empty());
                    }
                }
            }
        }
    }
}
