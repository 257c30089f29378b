//! handle-approval: the approval page and the decision, once.
//!
//! - Trigger: the approval pages' REST API, stage `approvals`, `GET` and
//!   `POST /{id}` (public by nature: the 128-bit id is the capability; a WAF
//!   limits each address, the stage everyone together). REST proxy events.
//! - Input: the id in the path; on POST, a form `decision=approve|reject`,
//!   `approver`, `comment`.
//! - Output: HTML pages: 200 (page, decision), 400 (bad form), 404 (unknown or
//!   malformed id), 409 (already decided), 410 (expired), 503 (try again).
//! - Environment: `TABLE_NAME`; `SAMPLE_BYTES` (default 1048576: at most how much of the
//!   batch predictions the page shows).
//! - Never shows or logs the task token.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let config = shared::config::load(handle_approval::Config::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let state = handle_approval::State::new(config, &sdk);
    lambda_http::run(lambda_http::service_fn(|request| {
        handle_approval::handle(&state, request)
    }))
    .await
}
