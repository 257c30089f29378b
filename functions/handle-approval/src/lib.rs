//! handle-approval's handler: the approval page (GET) and the decision (POST).
//!
//! A GET never changes anything and never calls Step Functions. A POST decides
//! once: `pending` → `deciding` (conditional, carrying this request's id) →
//! `SendTaskSuccess` / `SendTaskFailure` → `approved` / `rejected`. If Step
//! Functions cannot be reached, the approval goes back to `pending` (nothing
//! was decided, the person may press again); if it says the task timed out or
//! the token is gone, the approval is marked `expired`. So a decision is never
//! recorded without the execution being told, and never told twice.

pub mod approval;
pub mod page;

use std::convert::Infallible;

use askama::Template;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::clock::{epoch_seconds as now, rfc3339};
use shared::contract::{ApprovalDecision, Decision, parse_s3_uri};
use shared::items::{self, ApprovalItem};
use shared::metrics::{self, Emf};
use shared::{ApprovalHash, ApprovalId, ConfigError, Env, TaskToken, aws, keys};
use tracing::Instrument;

use approval::{Approval, Status};

/// After this long, a `deciding` approval whose Lambda died may be decided again.
pub const STALE_DECIDING_SECONDS: u64 = 120;
const MAX_FORM_BYTES: usize = 16 * 1024;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    /// How much of the batch predictions the page shows.
    pub sample_bytes: usize,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.resource_name("TABLE_NAME")?,
            sample_bytes: env.parsed_or("SAMPLE_BYTES", 1 << 20)?,
        })
    }
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sfn: aws_sdk_sfn::Client,
    pub s3: aws_sdk_s3::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sfn: aws_sdk_sfn::Client::new(sdk),
            s3: aws_sdk_s3::Client::new(sdk),
        }
    }
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

/// What a person submitted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Form {
    pub decision: Decision,
    pub approver: Option<String>,
    pub comment: Option<String>,
}

/// The longest approver name and comment a form may carry. Both go, on one
/// line, into the model registry's approval description, which SageMaker
/// limits to 1024 characters: "ApprovalRejected: rejected by " (30) + the
/// name + ": " + the comment stays within it.
pub const MAX_APPROVER: usize = 100;
pub const MAX_COMMENT: usize = 850;

/// Every named approver's address, whole, joined with " and " (template.yaml's
/// ApproverEmails holds at most 1,000 characters, five addresses): the trail
/// and the decision keep them all. Only the comment gives way to the
/// registry's limit ([`within_registry`]).
pub const MAX_APPROVERS: usize = 1_000 + 4 * " and ".len();

/// The registry's approval description: at most 1,024 characters, of which
/// "ApprovalRejected: rejected by " and ": " take 32.
const REGISTRY_TEXT: usize = 1_024;
const REGISTRY_FRAME: usize = 32;

/// The comment, cut so that the approver (kept whole) and the comment fit
/// the registry's approval description together.
pub fn within_registry(comment: Option<String>, approver: Option<&str>) -> Option<String> {
    let taken = REGISTRY_FRAME + approver.map_or(0, |a| a.chars().count());
    let room = REGISTRY_TEXT.saturating_sub(taken).min(MAX_COMMENT);
    comment.and_then(|c| field(&c, room))
}

/// A form field made safe for the registry: control characters (line breaks
/// included) become spaces, runs of spaces one, cut to `max` characters.
fn field(value: &str, max: usize) -> Option<String> {
    let spaced: String = value
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    let value: String = spaced
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .chars()
        .take(max)
        .collect();
    (!value.is_empty()).then_some(value)
}

/// Parses the approval form; the message says what was wrong.
pub fn parse_form(content_type: Option<&str>, body: &[u8]) -> Result<Form, &'static str> {
    let form_type = content_type
        .and_then(|ct| ct.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        });
    if !form_type {
        return Err("send the form from the approval page");
    }
    if body.len() > MAX_FORM_BYTES {
        return Err("the form is too large");
    }
    let (mut decision, mut approver, mut comment) = (None, None, None);
    for (key, value) in form_urlencoded::parse(body) {
        match key.as_ref() {
            "decision" => {
                decision = match value.as_ref() {
                    "approve" => Some(Decision::Approved),
                    "reject" => Some(Decision::Rejected),
                    _ => return Err("the decision must be approve or reject"),
                }
            }
            "approver" => approver = field(&value, MAX_APPROVER),
            "comment" => comment = field(&value, MAX_COMMENT),
            _ => {}
        }
    }
    Ok(Form {
        decision: decision.ok_or("press Approve or Reject")?,
        approver,
        comment,
    })
}

/// The approval id from the route (`/approvals/{id}`), if it has the right shape.
fn approval_id(request: &Request) -> Option<ApprovalId> {
    let from_route = request
        .path_parameters_ref()
        .and_then(|p| p.first("id"))
        .map(str::to_owned);
    let id = from_route.or_else(|| {
        let path = request.uri().path();
        path.rsplit_once("/approvals/")
            .map(|(_, id)| id.trim_end_matches('/').to_owned())
    })?;
    ApprovalId::parse(&id)
}

/// The approval item (or an approver's link) with this hash, read consistently.
async fn read_item(
    state: &State,
    hash: &ApprovalHash,
) -> Result<Option<items::Item>, shared::Failure> {
    let key = keys::approval_by_hash(hash);
    let got = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (approval)", &e))?;
    Ok(got.item)
}

/// An approval item read back; one of another shape is logged, and shown as
/// no approval at all.
fn approval_of(item: items::Item) -> Option<Approval> {
    match items::from_item::<ApprovalItem>(item, "the approval") {
        Ok(approval) => Some(approval.into()),
        Err(failure) => {
            tracing::error!(error = %failure, "an approval item that cannot be read");
            None
        }
    }
}

async fn load(state: &State, hash: &ApprovalHash) -> Result<Option<Approval>, shared::Failure> {
    Ok(read_item(state, hash).await?.and_then(approval_of))
}

fn unavailable() -> Response<Body> {
    page::message(
        503,
        "Please try again",
        "The approval service could not be reached just now. Nothing was decided; reload or press the button again in a moment.",
        Vec::new(),
    )
}

/// The most a model-quality report may be for the page to read it.
const MAX_REPORT_BYTES: i64 = 1 << 20;

/// A model-quality report (evaluate-model's), if it can be read.
async fn report(state: &State, uri: &str) -> Option<serde_json::Value> {
    let (bucket, key) = parse_s3_uri(uri)?;
    let object = state
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .inspect_err(
            |e| tracing::warn!(error = %aws::failure("GetObject (report)", e), "no report"),
        )
        .ok()?;
    if object.content_length().unwrap_or(0) > MAX_REPORT_BYTES {
        tracing::warn!("the report is too large to show");
        return None;
    }
    let bytes = object.body.collect().await.ok()?.into_bytes();
    serde_json::from_slice(&bytes).ok()
}

/// Rows of every label of the batch output (stratified, not the first lines:
/// a sorted file would show only its first labels), read as a stream until
/// every label the report knows of has its rows, or `SAMPLE_BYTES` were read.
async fn sample(state: &State, uri: &str, labels: &[String]) -> Vec<(String, Vec<String>)> {
    let Some((bucket, prefix)) = parse_s3_uri(uri) else {
        return Vec::new();
    };
    let listed = match state
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(100)
        .send()
        .await
    {
        Ok(listed) => listed,
        Err(e) => {
            tracing::warn!(error = %aws::failure("ListObjectsV2", &e), "no sample");
            return Vec::new();
        }
    };
    let keys: Vec<String> = listed
        .contents()
        .iter()
        .filter_map(|o| o.key())
        .filter(|k| !k.ends_with('/') && !k.ends_with(".json"))
        .map(str::to_owned)
        .collect();
    let mut kept = shared::sample::Stratified::default();
    let mut read = 0usize;
    'objects: for key in keys {
        let Ok(object) = state.s3.get_object().bucket(bucket).key(&key).send().await else {
            continue;
        };
        let mut body = object.body;
        let mut row: Vec<u8> = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len();
            for byte in chunk.iter() {
                if *byte == b'\n' {
                    kept.offer(&String::from_utf8_lossy(&row));
                    row.clear();
                } else if row.len() < 4096 {
                    row.push(*byte);
                }
            }
            if kept.complete(labels) || read >= state.config.sample_bytes {
                break 'objects;
            }
        }
        if !row.is_empty() {
            kept.offer(&String::from_utf8_lossy(&row));
        }
    }
    kept.into_groups()
}

/// What a link reaches: the approval's hash, the address the link is bound
/// to, and the approval itself when the link is its own (one read).
type Reached = (ApprovalHash, Option<String>, Option<Approval>);

/// The approval a link decides, and the address it is bound to: the link's
/// own approval, or (a link request-approval made for one named approver)
/// the approval its approvers share, by that approval's hash.
async fn resolve(state: &State, link_id: &ApprovalId) -> Result<Option<Reached>, shared::Failure> {
    let hash = link_id.hash();
    let Some(item) = read_item(state, &hash).await? else {
        return Ok(None);
    };
    Ok(match items::reached(item) {
        Ok(items::Reached::Link(link)) => Some((link.group_hash, Some(link.approver_email), None)),
        // An approval of named approvers is reached only through their links.
        Ok(items::Reached::Approval(a)) if a.bound_only == Some(true) => None,
        Ok(items::Reached::Approval(a)) => Some((hash, None, Some(Approval::from(*a)))),
        Err(failure) => {
            tracing::error!(error = %failure, "an approval item that cannot be read");
            None
        }
    })
}

/// [`resolve`] for a request, or the page that ends it.
async fn target(state: &State, request: &Request) -> Result<Reached, Box<Response<Body>>> {
    let Some(link) = approval_id(request) else {
        return Err(Box::new(page::not_found()));
    };
    match resolve(state, &link).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(Box::new(page::not_found())),
        Err(failure) => {
            tracing::error!(approval = %link.hash(), error = %failure, "could not read the approval");
            Err(Box::new(unavailable()))
        }
    }
}

async fn show(state: &State, request: &Request) -> Response<Body> {
    let (hash, bound, found) = match target(state, request).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let loaded = match found {
        Some(a) => Ok(Some(a)),
        None => load(state, &hash).await,
    };
    let approval = match loaded {
        Ok(Some(a)) => a,
        Ok(None) => return page::not_found(),
        Err(failure) => {
            tracing::error!(approval = %hash.to_owned(), error = %failure, "could not read the approval");
            return unavailable();
        }
    };
    tracing::Span::current().record("execution", approval.execution_name.as_str());
    match approval.status {
        Status::Pending if now() < approval.deadline => {
            let mut matrices = Vec::new();
            let mut labels = Vec::new();
            let mut sampled = Vec::new();
            for (title, uri) in [
                ("This version", &approval.model_quality_uri),
                ("Deployed now", &approval.champion_quality_uri),
            ] {
                let Some(uri) = uri else { continue };
                let Some(report) = report(state, uri).await else {
                    continue;
                };
                if title == "This version" {
                    // evaluate-model kept rows of every label while it read the whole output.
                    sampled = page::sample_from_report(&report);
                }
                if let Some(m) = page::Matrix::from_report(title, &report) {
                    if labels.is_empty() {
                        labels.clone_from(&m.labels);
                    }
                    matrices.push(m);
                }
            }
            // A report without a sample (an older run): read the output itself.
            let sample = if sampled.is_empty() {
                sample(state, &approval.transform_output_uri, &labels).await
            } else {
                sampled
            };
            let page = page::ApprovalPage {
                bound: bound.as_deref(),
                a: &approval,
                rows: approval.comparison(),
                sample,
                matrices,
                expires: rfc3339(approval.deadline),
            };
            match page.render() {
                Ok(body) => page::html(200, body),
                Err(e) => {
                    tracing::error!(error = %e, "could not render the page");
                    unavailable()
                }
            }
        }
        Status::Pending | Status::Expired => page::expired(&approval),
        Status::Deciding => page::message(
            200,
            "A decision is being recorded",
            "Someone has just decided on this model. Reload this page in a moment to see the result.",
            Vec::new(),
        ),
        Status::Approved | Status::Rejected => page::decided(200, &approval, "Already decided"),
    }
}

/// Moves the approval out of `deciding`, but only if this request put it there.
async fn settle(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    status: Status,
) -> Result<(), shared::Failure> {
    let key = keys::approval_by_hash(hash);
    let mut update = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .condition_expression("decisionId = :rid")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":rid", s(request_id))
        .expression_attribute_values(":status", s(status.as_str()));
    update = if status == Status::Pending {
        update.update_expression(
            "SET #status = :status REMOVE decision, approver, #comment, decidedAt, decisionId, decidingSince",
        )
        .expression_attribute_names("#comment", "comment")
    } else {
        update.update_expression("SET #status = :status")
    };
    update
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws::failure("UpdateItem (settle approval)", &e))
}

/// A POST: read the form, claim the approval, tell Step Functions, record
/// the outcome. Each step answers its own page when it cannot go on.
async fn decide(state: &State, request: &Request, request_id: &str) -> Response<Body> {
    let (hash, bound, _) = match target(state, request).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let mut form = match read_form(request) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    if let Some(email) = &bound {
        // The link's address is the approver, whoever opened it; a typed
        // name is kept only as part of the comment.
        let typed = form.approver.take();
        form.comment = match (typed, form.comment.take()) {
            (Some(name), Some(comment)) => {
                field(&format!("(typed name: {name}) {comment}"), MAX_COMMENT)
            }
            (Some(name), None) => field(&format!("(typed name: {name})"), MAX_COMMENT),
            (None, comment) => comment,
        };
        form.approver = Some(email.clone());
        if form.decision == Decision::Approved {
            match vote(state, &hash, email).await {
                Vote::Decides(approvers) => form.approver = field(&approvers, MAX_APPROVERS),
                Vote::Waits(page) => return *page,
            }
        }
    }
    form.comment = within_registry(form.comment.take(), form.approver.as_deref());
    let decided_at = rfc3339(now());
    let approval = match claim(state, &hash, request_id, &form, &decided_at).await {
        Ok(approval) => approval,
        Err(page) => return *page,
    };
    let told = tell(
        state,
        &approval.task_token,
        form.decision,
        form.approver.clone(),
        form.comment.clone(),
        &decided_at,
    )
    .await;
    conclude(state, &hash, request_id, approval, form, decided_at, told).await
}

#[derive(Debug)]
enum Vote {
    /// Enough distinct approvers: decide, naming them all.
    Decides(String),
    /// Recorded, and the run waits for more (or this page says why not).
    Waits(Box<Response<Body>>),
}

/// An approval that asks for `required` distinct approvers: adds this
/// address to those who approved; the approval is decided only once they
/// are enough. One approver is the usual case and decides at once.
async fn vote(state: &State, hash: &ApprovalHash, email: &str) -> Vote {
    let key = keys::approval_by_hash(hash);
    let voted = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(&key.pk))
        .key(keys::SK, s(&key.sk))
        .update_expression("ADD approvals :me")
        .condition_expression(
            "#status = :pending AND deadline > :now AND NOT contains(approvals, :email)",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":me", AttributeValue::Ss(vec![email.to_owned()]))
        .expression_attribute_values(":email", s(email))
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":now", AttributeValue::N(now().to_string()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    let item = match voted {
        Ok(out) => out.attributes().cloned().unwrap_or_default(),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            // Decided, expired, or this address approved already: read which.
            match load(state, hash).await {
                Ok(Some(a))
                    if a.status == Status::Pending && a.approvals.iter().any(|e| e == email) =>
                {
                    // Enough votes on a pending approval: an earlier press
                    // counted, but its claim or Step Functions failed and the
                    // approval reopened. This press decides again.
                    return decided(&a, email)
                        .unwrap_or_else(|| Vote::Waits(Box::new(waiting(&a, email, true))));
                }
                // Not pending: the claim that follows answers its page.
                _ => return Vote::Decides(email.to_owned()),
            }
        }
        Err(err) => {
            tracing::error!(approval = %hash, error = %aws::failure("UpdateItem (approval vote)", &err), "could not record the vote");
            return Vote::Waits(Box::new(unavailable()));
        }
    };
    let Some(a) = approval_of(item) else {
        return Vote::Waits(Box::new(unavailable()));
    };
    decided(&a, email).unwrap_or_else(|| {
        tracing::info!(
            approvals = a.approvals.len(),
            required = a.required,
            "approval recorded; waiting for more"
        );
        Vote::Waits(Box::new(waiting(&a, email, false)))
    })
}

/// The vote that decides, once the approval holds enough of them: the first
/// approver alone when one is required (whoever else approved meanwhile),
/// else every approver so far. `None` while votes are missing.
fn decided(a: &Approval, email: &str) -> Option<Vote> {
    if a.required <= 1 {
        Some(Vote::Decides(email.to_owned()))
    } else if a.approvals.len() >= a.required {
        Some(Vote::Decides(a.approvals.join(" and ")))
    } else {
        None
    }
}

/// The page for an approval recorded while the run waits for more approvers.
fn waiting(a: &Approval, email: &str, again: bool) -> Response<Body> {
    let more = a.required.saturating_sub(a.approvals.len());
    page::message(
        200,
        if again {
            "You have already approved"
        } else {
            "Your approval is recorded"
        },
        &format!(
            "{} of {} approvals so far; the run waits for {more} more approver{} before the model goes on. A rejection by any approver rejects it.",
            a.approvals.len(),
            a.required,
            if more == 1 { "" } else { "s" }
        ),
        vec![
            ("Approved as", email.to_owned()),
            ("Run", a.execution_name.clone()),
            ("Model", a.model_name.clone()),
        ],
    )
}

/// The approval form from the request, or the 400 page saying what is wrong
/// (boxed: a page is large, and this is the rare path).
fn read_form(request: &Request) -> Result<Form, Box<Response<Body>>> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body: &[u8] = match request.body() {
        Body::Text(t) => t.as_bytes(),
        Body::Binary(b) => b,
        _ => b"",
    };
    parse_form(content_type, body).map_err(|why| {
        Box::new(page::message(
            400,
            "The form was not understood",
            &format!("Nothing was decided: {why}."),
            Vec::new(),
        ))
    })
}

/// One conditional write claims a pending approval and records who decided
/// what, so nothing about the decision is written separately (or lost).
/// Anything but a pending approval before its deadline answers its page.
/// Long because that write is one request, built in one place.
async fn claim(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    form: &Form,
    decided_at: &str,
) -> Result<Approval, Box<Response<Body>>> {
    let key = keys::approval_by_hash(hash);
    let decision = Status::from(form.decision);
    let mut sets = vec![
        "#status = :deciding",
        "decision = :decision",
        "decidedAt = :at",
        "decisionId = :rid",
        "decidingSince = :now",
    ];
    let mut update = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(&key.pk))
        .key(keys::SK, s(&key.sk))
        // Only from pending: a stale `deciding` is finished with its own
        // decision (finish_stale), never overwritten by a later one.
        .condition_expression("#status = :pending AND deadline > :now")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":deciding", s(Status::Deciding.as_str()))
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":decision", s(decision.as_str()))
        .expression_attribute_values(":at", s(decided_at))
        .expression_attribute_values(":rid", s(request_id))
        .expression_attribute_values(":now", AttributeValue::N(now().to_string()))
        .return_values(ReturnValue::AllNew);
    if let Some(approver) = &form.approver {
        sets.push("approver = :approver");
        update = update.expression_attribute_values(":approver", s(approver));
    }
    if let Some(comment) = &form.comment {
        sets.push("#comment = :comment");
        update = update
            .expression_attribute_names("#comment", "comment")
            .expression_attribute_values(":comment", s(comment));
    }
    let claimed = update
        .update_expression(format!("SET {}", sets.join(", ")))
        .send()
        .await;
    match claimed {
        Ok(out) => out
            .attributes()
            .cloned()
            .and_then(approval_of)
            .ok_or_else(|| Box::new(unavailable())),
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Err(Box::new(already(state, hash, request_id).await))
        }
        Err(err) => {
            tracing::error!(approval = %hash.to_owned(), error = %aws::failure("UpdateItem (claim approval)", &err), "could not claim");
            Err(Box::new(unavailable()))
        }
    }
}

/// Records what Step Functions answered and shows it: decided, expired (the
/// task is gone), or back to pending (Step Functions could not be told).
async fn conclude(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    approval: Approval,
    form: Form,
    decided_at: String,
    told: Result<(), (Option<String>, shared::Failure)>,
) -> Response<Body> {
    let decision = Status::from(form.decision);
    match told {
        Ok(()) => {
            if let Err(failure) = settle(state, hash, request_id, decision).await {
                // Step Functions has the decision; a stale `deciding` is shown as such.
                tracing::warn!(approval = %hash, error = %failure, "decision sent but not recorded");
            }
            tracing::Span::current().record("execution", approval.execution_name.as_str());
            tracing::info!(decision = decision.as_str(), "decided");
            decision_metrics(decision, approval.created_at, now())
                .property("executionName", approval.execution_name.as_str())
                .property("approvalHash", hash.as_str())
                .emit();
            let mut shown = approval;
            shown.status = decision;
            shown.approver = form.approver;
            shown.comment = form.comment;
            shown.decided_at = Some(decided_at);
            let title = if decision == Status::Approved {
                "Approved"
            } else {
                "Rejected"
            };
            page::decided(200, &shown, title)
        }
        Err((Some(code), failure)) if task_gone(&code) => {
            tracing::info!(approval = %hash, error = %failure, "the task is gone: approval expired");
            if let Err(e) = settle(state, hash, request_id, Status::Expired).await {
                // The page is right either way; the item stays `deciding` until the next request reads it.
                tracing::warn!(approval = %hash, execution = %approval.execution_name, error = %e, "could not mark the approval expired");
            }
            page::expired(&approval)
        }
        Err((_, failure)) => {
            tracing::error!(approval = %hash, error = %failure, "Step Functions not told; back to pending");
            if let Err(e) = settle(state, hash, request_id, Status::Pending).await {
                tracing::error!(approval = %hash, error = %e, "could not reopen the approval; it reopens after {STALE_DECIDING_SECONDS} s");
            }
            unavailable()
        }
    }
}

/// What a decision counts: approved or rejected, and the time it took.
pub fn decision_metrics(decision: Status, created_at: u64, now: u64) -> Emf {
    let mut emf = Emf::new();
    match decision {
        Status::Approved => emf.put(metrics::APPROVALS_APPROVED, 1.0),
        _ => emf.put(metrics::APPROVALS_REJECTED, 1.0),
    };
    if created_at > 0 && now >= created_at {
        #[allow(clippy::cast_precision_loss)]
        emf.put(metrics::TIME_TO_DECIDE, (now - created_at) as f64);
    }
    emf
}

/// Tells Step Functions a decision: `(error code, failure)` when it could not.
async fn tell(
    state: &State,
    task_token: &TaskToken,
    decision: Decision,
    approver: Option<String>,
    comment: Option<String>,
    decided_at: &str,
) -> Result<(), (Option<String>, shared::Failure)> {
    // Our own tries, not the SDK's: only here can a lost answer be told apart
    // from a task that was gone from the start (told_once).
    let no_retries = || {
        aws_sdk_sfn::config::Builder::default()
            .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
    };
    match decision {
        Decision::Approved => {
            let outcome = ApprovalDecision {
                decision,
                approver,
                comment,
                decided_at: decided_at.to_owned(),
            };
            let output = serde_json::to_string(&outcome).unwrap_or_default();
            told_once("SendTaskSuccess", || {
                state
                    .sfn
                    .send_task_success()
                    .task_token(task_token.reveal())
                    .output(output.clone())
                    .customize()
                    .config_override(no_retries())
                    .send()
            })
            .await
        }
        Decision::Rejected => {
            let cause = format!(
                "rejected by {}: {}",
                approver.as_deref().unwrap_or("(unnamed)"),
                comment.as_deref().unwrap_or("no comment")
            );
            told_once("SendTaskFailure", || {
                state
                    .sfn
                    .send_task_failure()
                    .task_token(task_token.reveal())
                    .error("ApprovalRejected")
                    .cause(cause.clone())
                    .customize()
                    .config_override(no_retries())
                    .send()
            })
            .await
        }
    }
}

/// How many times one SendTask call is tried.
const TELL_TRIES: u32 = 3;

/// One SendTask call, tried up to [`TELL_TRIES`] times. A try that got no
/// answer (it timed out, the connection broke, the answer was a 5xx or
/// unreadable) may still have reached Step Functions. When a later try then
/// hears that the task is gone (`TaskTimedOut`, `InvalidToken`,
/// `TaskDoesNotExist`), that earlier try told it: the call succeeded, and the
/// approver is not shown "expired" while the run goes on. A task gone at the
/// first try is gone.
async fn told_once<O, E, Fut>(
    doing: &str,
    mut call: impl FnMut() -> Fut,
) -> Result<(), (Option<String>, shared::Failure)>
where
    Fut: std::future::Future<Output = Result<O, aws_sdk_sfn::error::SdkError<E>>>,
    E: aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_sfn::error::SdkError;
    let mut maybe_told = false;
    let mut tried = 0;
    loop {
        tried += 1;
        let err = match call().await {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let code = aws::error_code(&err).map(str::to_owned);
        if maybe_told && code.as_deref().is_some_and(task_gone) {
            tracing::info!(
                doing,
                tried,
                "an earlier try told the task; its answer was lost"
            );
            return Ok(());
        }
        let unanswered = match &err {
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            SdkError::DispatchFailure(f) => !f.is_user(),
            SdkError::ServiceError(ctx) => ctx.raw().status().is_server_error(),
            _ => false,
        };
        let transient = matches!(
            aws::classify(&err),
            shared::ErrorName::AwsUnavailable | shared::ErrorName::Throttled
        );
        if !transient || tried >= TELL_TRIES {
            return Err((code, aws::failure(doing, &err)));
        }
        maybe_told |= unanswered;
        tokio::time::sleep(std::time::Duration::from_millis(100 << tried)).await;
    }
}

/// Step Functions' answers for a task that no longer waits: timed out, told
/// already, or its execution ended.
fn task_gone(code: &str) -> bool {
    matches!(code, "TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist")
}

/// A `deciding` claim whose Lambda died before it settled: finish *that*
/// decision (who, what, when, as first recorded), whatever this request
/// asked, and answer "Already decided". Step Functions may already have it;
/// a token it no longer knows before the deadline means it does.
async fn finish_stale(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    first: Approval,
) -> Response<Body> {
    let Some(decision) = first.decision else {
        return unavailable();
    };
    let now = now();
    if !take_over(state, hash, request_id, now).await {
        return being_recorded();
    }
    let decided_at = first.decided_at.clone().unwrap_or_default();
    let told = tell(
        state,
        &first.task_token,
        decision,
        first.approver.clone(),
        first.comment.clone(),
        &decided_at,
    )
    .await;
    let status = match &told {
        Ok(()) => Status::from(decision),
        Err((Some(code), _))
            if matches!(
                code.as_str(),
                "TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist"
            ) && now < first.deadline =>
        {
            // Before the deadline the task cannot have timed out: the first request told it.
            Status::from(decision)
        }
        Err((Some(code), _))
            if matches!(
                code.as_str(),
                "TaskTimedOut" | "InvalidToken" | "TaskDoesNotExist"
            ) =>
        {
            Status::Expired
        }
        Err((_, failure)) => {
            tracing::error!(approval = %hash.to_owned(), error = %failure, "could not finish a stale decision; it is retried later");
            return unavailable();
        }
    };
    if let Err(failure) = settle(state, hash, request_id, status).await {
        tracing::warn!(approval = %hash.to_owned(), error = %failure, "stale decision finished but not recorded");
    }
    tracing::info!(approval = %hash.to_owned(), execution = %first.execution_name, status = status.as_str(), "finished a stale decision");
    let mut shown = first;
    shown.status = status;
    if shown.status == Status::Expired {
        return page::expired(&shown);
    }
    page::decided(409, &shown, "Already decided")
}

/// Takes a stale `deciding` claim over for this request, keeping what it
/// records; false when another request holds it (or took it first).
async fn take_over(state: &State, hash: &ApprovalHash, request_id: &str, now: u64) -> bool {
    let key = keys::approval_by_hash(hash);
    let taken = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(&key.pk))
        .key(keys::SK, s(&key.sk))
        .update_expression("SET decisionId = :rid, decidingSince = :now")
        .condition_expression("#status = :deciding AND decidingSince < :stale")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":rid", s(request_id))
        .expression_attribute_values(":deciding", s(Status::Deciding.as_str()))
        .expression_attribute_values(":now", AttributeValue::N(now.to_string()))
        .expression_attribute_values(
            ":stale",
            AttributeValue::N(now.saturating_sub(STALE_DECIDING_SECONDS).to_string()),
        )
        .send()
        .await;
    match taken {
        Ok(_) => true,
        Err(err) => {
            if !err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception())
            {
                tracing::error!(approval = %hash.to_owned(), error = %aws::failure("UpdateItem (take over a stale claim)", &err), "could not take over");
            }
            false
        }
    }
}

fn being_recorded() -> Response<Body> {
    page::message(
        409,
        "A decision is being recorded",
        "Someone has just decided on this model. Reload the page in a moment to see the result.",
        Vec::new(),
    )
}

/// The page for a POST that found the approval not `pending`.
async fn already(state: &State, hash: &ApprovalHash, request_id: &str) -> Response<Body> {
    match load(state, hash).await {
        Ok(None) => page::not_found(),
        Ok(Some(a)) => match a.status {
            Status::Approved | Status::Rejected => page::decided(409, &a, "Already decided"),
            Status::Deciding if a.deciding_since < now().saturating_sub(STALE_DECIDING_SECONDS) => {
                finish_stale(state, hash, request_id, a).await
            }
            Status::Deciding => page::message(
                409,
                "A decision is being recorded",
                "Someone has just decided on this model. Reload the page in a moment to see the result.",
                Vec::new(),
            ),
            // The claim missed, yet the approval is still pending before its
            // deadline: it changed under this request and changed back (a
            // claim that failed and was undone). Never expired before the
            // deadline: this request's decision is simply not recorded.
            Status::Pending if now() < a.deadline => page::message(
                409,
                "Your decision was not recorded",
                "The approval changed while your decision was being recorded. Reload the page to see where it stands, and decide again if it still waits for a decision.",
                Vec::new(),
            ),
            Status::Pending => {
                // Past its deadline: mark it, so the page and the trail agree.
                let key = keys::approval_by_hash(hash);
                let marked = state
                    .dynamodb
                    .update_item()
                    .table_name(&state.config.table_name)
                    .key(keys::PK, s(key.pk))
                    .key(keys::SK, s(key.sk))
                    .update_expression("SET #status = :expired")
                    .condition_expression("#status = :pending")
                    .expression_attribute_names("#status", "status")
                    .expression_attribute_values(":expired", s(Status::Expired.as_str()))
                    .expression_attribute_values(":pending", s(Status::Pending.as_str()))
                    .send()
                    .await;
                if let Err(err) = marked {
                    // Another request may have marked it first (a conditional miss); anything else is worth a line.
                    if !err
                        .as_service_error()
                        .is_some_and(|e| e.is_conditional_check_failed_exception())
                    {
                        tracing::warn!(approval = %hash.to_owned(), execution = %a.execution_name, error = %aws::failure("UpdateItem (mark expired)", &err), "could not mark the approval expired");
                    }
                }
                page::expired(&a)
            }
            _ => page::expired(&a),
        },
        Err(failure) => {
            tracing::error!(approval = %hash.to_owned(), error = %failure, "could not read the approval");
            unavailable()
        }
    }
}

/// One span per request: the approval's hash (never its id) from the path,
/// the execution once the approval is read. lambda_http's own span above it
/// carries the request id.
pub async fn handle(state: &State, request: Request) -> Result<Response<Body>, Infallible> {
    let hash = approval_id(&request).map(|id| id.hash());
    let span = tracing::info_span!(
        "approval",
        approval = hash.as_ref().map(ApprovalHash::as_str).unwrap_or_default(),
        execution = tracing::field::Empty
    );
    handle_request(state, request).instrument(span).await
}

/// A POST that a browser says came from another site: a replayed or
/// auto-submitted form, or a mail scanner following the form. The page's own
/// form is `same-origin`. Its `Origin` is `null` (the pages send no referrer),
/// so an `Origin` is compared with the host only when it names one.
pub fn cross_site(request: &Request) -> bool {
    let header = |name: &str| {
        request
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::trim)
    };
    if header("sec-fetch-site").is_some_and(|site| !site.eq_ignore_ascii_case("same-origin")) {
        return true;
    }
    match (header("origin"), header("host")) {
        (Some(origin), Some(host)) if !origin.eq_ignore_ascii_case("null") => {
            let named = origin.split_once("://").map_or(origin, |(_, rest)| rest);
            !named.eq_ignore_ascii_case(host)
        }
        _ => false,
    }
}

async fn handle_request(state: &State, request: Request) -> Result<Response<Body>, Infallible> {
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let method = request.method().as_str().to_owned();
    let mut response = match method.as_str() {
        "GET" | "HEAD" => show(state, &request).await,
        "POST" if cross_site(&request) => page::message(
            403,
            "Not from the approval page",
            "Open the link from your email and press Approve or Reject there. Nothing was decided.",
            Vec::new(),
        ),
        "POST" => decide(state, &request, &request_id).await,
        _ => {
            let mut r = page::message(
                405,
                "Not allowed",
                "Use the buttons on the approval page.",
                Vec::new(),
            );
            r.headers_mut().insert(
                "allow",
                lambda_http::http::HeaderValue::from_static("GET, POST"),
            );
            r
        }
    };
    if method == "HEAD" {
        *response.body_mut() = Body::Empty;
    }
    tracing::info!(request_id = %request_id, method = %method, status = response.status().as_u16(), "approval page");
    Ok(response)
}

#[cfg(test)]
mod tests;
