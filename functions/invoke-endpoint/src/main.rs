//! invoke-endpoint: validates a prediction request, calls the one configured
//! endpoint, shapes the answer.
//!
//! - Trigger: the HTTP API, `POST /predict` (REST v1 and HTTP v2 events alike).
//! - Input: `{"data": "<csv row>"}` or `{"data": ["<row>", ...]}`.
//! - Output: `{"result": "<label>"}` or `{"results": [...]}`; errors
//!   `{"error": {"code", "message"}, "requestId"}` with 400/405/413/415/422,
//!   429/503 (with `Retry-After`), 502, 504. Every response has `x-request-id`.
//! - Environment: `ENDPOINT_NAME`; `MAX_BODY_BYTES` (default 262144),
//!   `MAX_ROWS` (default 100), `FEATURE_COUNT` (optional), `INVOKE_TIMEOUT_SECONDS`
//!   (default 12, under the function's 15 s timeout).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_http::Error> {
    shared::logging::init();
    let config = shared::config::load(invoke_endpoint::Config::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let state = invoke_endpoint::State::new(config, &sdk);
    lambda_http::run(lambda_http::service_fn(|request| {
        invoke_endpoint::handle(&state, request)
    }))
    .await
}
