use std::convert::Infallible;

use lambda_http::{Body, Request, RequestExt, Response};
use shared::{ConfigError, Env};

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct Config {
    /// The one endpoint this API serves; never taken from the request.
    pub endpoint_name: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            endpoint_name: env.resource_name("ENDPOINT_NAME")?,
        })
    }
}

#[derive(Debug)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct State {
    pub config: Config,
    pub runtime: aws_sdk_sagemakerruntime::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            runtime: aws_sdk_sagemakerruntime::Client::new(sdk),
        }
    }
}

pub async fn handle(state: &State, request: Request) -> Result<Response<Body>, Infallible> {
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    tracing::info!(request_id = %request_id, endpoint = %state.config.endpoint_name, "predict called");
    let body = serde_json::json!({
        "error": {"code": "NotImplemented", "message": "prediction is not implemented yet"},
        "requestId": request_id,
    });
    Ok(Response::builder()
        .status(501)
        .header("content-type", "application/json")
        .header("x-request-id", request_id)
        .body(Body::from(body.to_string()))
        .unwrap_or_default())
}
