//! The approval form: what a person posts, made safe for the registry's
//! description and the trail.

use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, Response};
use shared::contract::Decision;

use crate::page;

const MAX_FORM_BYTES: usize = 16 * 1024;

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
pub(crate) fn field(value: &str, max: usize) -> Option<String> {
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

/// A form posted through a named approver's link: the link's address is the
/// approver, whoever opened it; a typed name is kept only as part of the comment.
pub(crate) fn bind(form: &mut Form, email: &str) {
    let typed = form.approver.take();
    form.comment = match (typed, form.comment.take()) {
        (Some(name), Some(comment)) => {
            field(&format!("(typed name: {name}) {comment}"), MAX_COMMENT)
        }
        (Some(name), None) => field(&format!("(typed name: {name})"), MAX_COMMENT),
        (None, comment) => comment,
    };
    form.approver = Some(email.to_owned());
}

/// The approval form from the request, or the 400 page saying what is wrong
/// (boxed: a page is large, and this is the rare path).
pub(crate) fn read_form(request: &Request) -> Result<Form, Box<Response<Body>>> {
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
