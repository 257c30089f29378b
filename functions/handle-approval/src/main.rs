//! handle-approval: shows the approval page and records a person's decision once.
//!
//! - Trigger: the HTTP API, `GET` and `POST /approvals/{id}`.
//! - Input: the approval id in the path; on POST, a form. Output: an HTML page.
//! - Environment: `TABLE_NAME`.
//! - Errors: HTTP status codes with a message body; never a panic or a stack trace.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    lambda_http::tracing::init_default_subscriber();
    let config = shared::config::load(handler::Config::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let state = handler::State::new(config, &sdk);
    lambda_http::run(lambda_http::service_fn(|request| {
        handler::handle(&state, request)
    }))
    .await
}
