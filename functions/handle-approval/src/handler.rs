use std::convert::Infallible;

use lambda_http::{Body, Request, Response};
use shared::{ConfigError, Env};

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct Config {
    pub table_name: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.resource_name("TABLE_NAME")?,
        })
    }
}

#[derive(Debug)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
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

pub async fn handle(state: &State, request: Request) -> Result<Response<Body>, Infallible> {
    tracing::info!(method = %request.method(), table = %state.config.table_name, "approval page called");
    Ok(Response::builder()
        .status(501)
        .header("content-type", "text/html; charset=utf-8")
        .header("cache-control", "no-store")
        .body(Body::from(
            "<!doctype html><title>Not available</title><p>Approvals are not implemented yet.</p>",
        ))
        .unwrap_or_default())
}
