//! What both benchmarks share: the handler's state with the model answered in
//! process by a fixed reply, and the API Gateway event they send.

use aws_sdk_sagemakerruntime::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::test_util::infallible_client_fn;
use invoke_endpoint::request::Limits;
use invoke_endpoint::{Config, State};

/// An HTTP API (v2) `POST /predict` event, as the API sends it.
pub const EVENT: &str = include_str!("../../../events/invoke-endpoint/predict.json");

/// The handler's state; the SDK runs in full (endpoint resolution, SigV4
/// signing, serialization, retries' bookkeeping, deserialization), only the
/// socket is replaced by a fixed `setosa` reply.
pub fn state() -> State {
    let http = infallible_client_fn(|_request| {
        lambda_http::http::Response::builder()
            .status(200)
            .header("content-type", "text/csv")
            .body("setosa\n")
            .unwrap_or_default()
    });
    let sdk = aws_sdk_sagemakerruntime::config::Builder::new()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "bench",
            "bench",
            Some("bench".into()),
            None,
            "bench",
        ))
        .http_client(http)
        .build();
    State {
        config: Config {
            endpoint_name: "iris-classifier".into(),
            staging_endpoint_name: None,
            limits: Limits {
                feature_count: Some(4),
                ..Limits::default()
            },
            invoke_timeout: std::time::Duration::from_secs(12),
        },
        runtime: aws_sdk_sagemakerruntime::Client::from_conf(sdk),
    }
}

/// One request through the whole handler: the event's JSON → `Request` (what
/// lambda_http does per invocation) → validation → InvokeEndpoint → the answer.
pub async fn one(state: &State) -> u16 {
    let request = match lambda_http::request::from_str(EVENT) {
        Ok(request) => request,
        Err(err) => panic!("events/invoke-endpoint/predict.json is not an API event: {err}"),
    };
    match invoke_endpoint::handle(state, request).await {
        Ok(response) => response.status().as_u16(),
        Err(never) => match never {},
    }
}
