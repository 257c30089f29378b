//! invoke-endpoint: validates a prediction request, calls the one configured endpoint, shapes the answer.
//!
//! - Trigger: the HTTP API, `POST /predict`.
//! - Input: `{"data": "<csv row>"}` or `{"data": ["<row>", ...]}`. Output: `{"result": "<label>"}` or `{"results": [...]}`; errors `{"error": {"code", "message"}}`.
//! - Environment: `ENDPOINT_NAME`.
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
