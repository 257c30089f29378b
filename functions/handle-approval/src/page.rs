//! The pages, rendered with askama (HTML auto-escaped: names, comments and
//! metrics are untrusted), with the security headers every page carries.

use askama::Template;
use lambda_http::{Body, Response};

use crate::approval::Approval;

#[derive(Template)]
#[template(path = "approval.html")]
#[allow(
    missing_debug_implementations,
    reason = "holds the approval, whose Debug hides the token"
)]
pub struct ApprovalPage<'a> {
    pub a: &'a Approval,
    pub sample: Option<String>,
    pub expires: String,
}

#[derive(Template)]
#[template(path = "message.html")]
#[derive(Debug)]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub facts: Vec<(&'static str, String)>,
}

/// No script at all; inline style only; forms post back to this page only.
pub const CSP: &str = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

pub fn html(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", CSP)
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

/// A page with a title, a sentence, and facts; rendered, or a plain fallback.
pub fn message(
    status: u16,
    title: &str,
    message: &str,
    facts: Vec<(&'static str, String)>,
) -> Response<Body> {
    let page = MessagePage {
        title,
        message,
        facts,
    };
    html(
        status,
        page.render().unwrap_or_else(|_| {
            "<!doctype html><title>Error</title><p>Something went wrong.</p>".into()
        }),
    )
}

pub fn not_found() -> Response<Body> {
    message(
        404,
        "Approval not found",
        "There is no approval at this address. Check the link in your email.",
        Vec::new(),
    )
}

pub fn expired(a: &Approval) -> Response<Body> {
    message(
        410,
        "This approval has expired",
        "The time to decide ran out, so the run ended without deploying this model. The endpoint still serves the previous model.",
        vec![
            ("Run", a.execution_name.clone()),
            ("Model", a.model_name.clone()),
        ],
    )
}

pub fn decided(status: u16, a: &Approval, title: &str) -> Response<Body> {
    let mut facts = vec![
        ("Decision", a.status.clone()),
        (
            "By",
            a.approver.clone().unwrap_or_else(|| "(unnamed)".into()),
        ),
        ("When", a.decided_at.clone().unwrap_or_default()),
        ("Run", a.execution_name.clone()),
        ("Model", a.model_name.clone()),
    ];
    if let Some(comment) = &a.comment {
        facts.push(("Comment", comment.clone()));
    }
    let sentence = if a.status == "approved" {
        "The model was approved; the pipeline deploys it to the endpoint."
    } else {
        "The model was rejected; the endpoint keeps serving the previous model."
    };
    message(status, title, sentence, facts)
}
