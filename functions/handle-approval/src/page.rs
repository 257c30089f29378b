//! The pages, rendered with askama (HTML auto-escaped: names, comments and
//! metrics are untrusted), with the security headers every page carries.

use askama::Template;
use lambda_http::{Body, Response};

use shared::report::ModelQuality;

use crate::approval::Approval;

#[derive(Template)]
#[template(path = "approval.html")]
#[allow(
    missing_debug_implementations,
    reason = "holds the approval, whose Debug hides the token"
)]
pub struct ApprovalPage<'a> {
    /// The address this link is bound to, if it was made for one approver.
    pub bound: Option<&'a str>,
    pub a: &'a Approval,
    pub rows: Vec<crate::approval::MetricRow>,
    /// Rows of the batch output grouped by their label, every label shown.
    pub sample: Vec<(String, Vec<String>)>,
    pub matrices: Vec<Matrix>,
    pub expires: String,
    /// Production's approval: the staging figures beside production's champion's.
    pub staging_rows: Vec<crate::approval::MetricRow>,
}

/// A confusion matrix as the page shows it: rows actual, columns predicted.
#[derive(Debug, Clone, PartialEq)]
pub struct Matrix {
    pub title: String,
    pub labels: Vec<String>,
    pub rows: Vec<(String, Vec<u64>)>,
}

/// The rows of every label evaluate-model kept while it read the whole output.
pub fn sample_from_report(report: &ModelQuality) -> Vec<(String, Vec<String>)> {
    report
        .sample
        .iter()
        .map(|group| (group.label.clone(), group.rows.clone()))
        .collect()
}

impl Matrix {
    /// From a model-quality report's confusion matrix (a classification's).
    pub fn from_report(title: &str, report: &ModelQuality) -> Option<Matrix> {
        let matrix = &report
            .multiclass_classification_metrics
            .as_ref()?
            .confusion_matrix;
        let labels: Vec<String> = matrix.keys().take(30).cloned().collect();
        let rows = labels
            .iter()
            .map(|actual| {
                let counts = labels
                    .iter()
                    .map(|p| matrix[actual].get(p).copied().unwrap_or(0))
                    .collect();
                (actual.clone(), counts)
            })
            .collect();
        Some(Matrix {
            title: title.to_owned(),
            labels,
            rows,
        })
    }
}

#[derive(Template)]
#[template(path = "message.html")]
#[derive(Debug)]
pub struct MessagePage<'a> {
    pub title: &'a str,
    pub message: &'a str,
    pub facts: Vec<(&'static str, String)>,
}

/// The pages' one stylesheet, inline (nothing loaded from elsewhere), allowed
/// by the CSP through its hash rather than `'unsafe-inline'`.
pub const STYLE: &str = "body{font-family:system-ui,-apple-system,sans-serif;max-width:42rem;margin:1rem auto;padding:0 1rem;line-height:1.5;color:#111}\nh1{font-size:1.4rem}table{border-collapse:collapse;width:100%;margin:.5rem 0 1rem}\nth,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #ddd;vertical-align:top;overflow-wrap:anywhere}\nth{width:35%;font-weight:600}pre{background:#f4f4f4;padding:.5rem;overflow-x:auto;font-size:.9rem}\nlabel{display:block;margin-top:.75rem;font-weight:600}input,textarea{width:100%;font-size:1rem;box-sizing:border-box;padding:.4rem}\n.actions{margin-top:1rem}button{font-size:1.1rem;padding:.7rem 1.4rem;margin:.3rem .6rem .3rem 0;border-radius:.4rem;border:1px solid #444;cursor:pointer}\n.approve{background:#1a7f37;color:#fff;border-color:#1a7f37}.reject{background:#fff;color:#b42318;border-color:#b42318}\n.note{color:#555;font-size:.9rem}\n.wide{overflow-x:auto}.worse{color:#b42318;font-weight:600}.better{color:#1a7f37}caption{text-align:left;font-weight:600;padding:.3rem 0}\n.grid th{width:auto}.grid td{text-align:right}\n";

/// No script at all; only the page's own stylesheet; forms post back to this page only.
pub static CSP: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    use base64::Engine;
    use sha2::Digest;
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(STYLE.as_bytes()));
    format!(
        "default-src 'none'; style-src 'sha256-{hash}'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    )
});

pub fn html(status: u16, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "text/html; charset=utf-8")
        .header("content-security-policy", CSP.as_str())
        .header("x-frame-options", "DENY")
        .header("referrer-policy", "no-referrer")
        .header("cache-control", "no-store")
        .header("x-content-type-options", "nosniff")
        // HTTPS only, for two years, the API's subdomains too.
        .header(
            "strict-transport-security",
            "max-age=63072000; includeSubDomains",
        )
        // No window another site opened keeps a handle on this one, and no
        // other site may embed its responses.
        .header("cross-origin-opener-policy", "same-origin")
        .header("cross-origin-resource-policy", "same-origin")
        .header(
            "permissions-policy",
            "camera=(), microphone=(), geolocation=(), payment=(), usb=(), interest-cohort=()",
        )
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
        ("Decision", a.status.as_str().to_owned()),
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
    let sentence = if a.status == crate::approval::Status::Approved {
        "The model was approved; the pipeline deploys it to the endpoint."
    } else {
        "The model was rejected; the endpoint keeps serving the previous model."
    };
    message(status, title, sentence, facts)
}

/// Nothing was decided: the table or Step Functions could not be reached.
pub fn unavailable() -> Response<Body> {
    message(
        503,
        "Please try again",
        "The approval service could not be reached just now. Nothing was decided; reload or press the button again in a moment.",
        Vec::new(),
    )
}

/// Someone else's decision is being recorded just now.
pub fn being_recorded() -> Response<Body> {
    message(
        409,
        "A decision is being recorded",
        "Someone has just decided on this model. Reload the page in a moment to see the result.",
        Vec::new(),
    )
}

/// The page for an approval recorded while the run waits for more approvers.
pub fn waiting(a: &Approval, email: &str, again: bool) -> Response<Body> {
    let more = a.required.saturating_sub(a.approvals.len());
    message(
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
