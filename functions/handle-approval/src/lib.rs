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
mod decide;
mod evidence;
mod form;
pub mod page;
mod post;
mod show;
mod store;
mod tell;

use std::convert::Infallible;

use lambda_http::{Body, Request, RequestExt, Response};
use shared::{ApprovalHash, ApprovalId, ConfigError, Env};
use tracing::Instrument;

pub use approval::{Approval, Status};
pub use form::{Form, MAX_APPROVER, MAX_APPROVERS, MAX_COMMENT, parse_form, within_registry};
pub use post::decision_metrics;

/// After this long, a `deciding` approval whose Lambda died may be decided again.
pub const STALE_DECIDING_SECONDS: u64 = 120;

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

/// [`store::resolve`] for a request, or the page that ends it.
pub(crate) async fn target(
    state: &State,
    request: &Request,
) -> Result<store::Reached, Box<Response<Body>>> {
    let Some(link) = approval_id(request) else {
        return Err(Box::new(page::not_found()));
    };
    match store::resolve(state, &link).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(Box::new(page::not_found())),
        Err(failure) => {
            tracing::error!(approval = %link.hash(), error = %failure, "could not read the approval");
            Err(Box::new(page::unavailable()))
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
        "GET" | "HEAD" => show::show(state, &request).await,
        "POST" if cross_site(&request) => page::message(
            403,
            "Not from the approval page",
            "Open the link from your email and press Approve or Reject there. Nothing was decided.",
            Vec::new(),
        ),
        "POST" => post::decide(state, &request, &request_id).await,
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
