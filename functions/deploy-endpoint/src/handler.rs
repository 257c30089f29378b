use lambda_runtime::LambdaEvent;
use shared::contract::{DeployEndpointInput, DeployEndpointOutput};
use shared::{ConfigError, Env, Failure};

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct Config;

impl Config {
    pub fn from_env(_env: &Env) -> Result<Self, ConfigError> {
        Ok(Config)
    }
}

#[derive(Debug)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct State {
    pub sagemaker: aws_sdk_sagemaker::Client,
}

impl State {
    pub fn new(_config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            sagemaker: aws_sdk_sagemaker::Client::new(sdk),
        }
    }
}

pub async fn handle(
    _state: &State,
    event: LambdaEvent<DeployEndpointInput>,
) -> Result<DeployEndpointOutput, Failure> {
    tracing::info!(endpoint = %event.payload.endpoint_name, "deploy-endpoint called");
    Err(Failure::not_implemented("deploy-endpoint"))
}
