use lambda_runtime::LambdaEvent;
use shared::contract::{RecordInput, RecordOutput};
use shared::{ConfigError, Env, Failure};

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.resource_name("TABLE_NAME")?,
            topic_arn: env.resource_name("NOTIFICATION_TOPIC_ARN")?,
        })
    }
}

#[derive(Debug)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct State {
    pub config: Config,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
        }
    }
}

pub async fn handle(
    state: &State,
    event: LambdaEvent<RecordInput>,
) -> Result<RecordOutput, Failure> {
    tracing::info!(
        execution = %event.payload.execution_name,
        stage = event.payload.stage.as_str(),
        table = %state.config.table_name,
        "record-metadata called"
    );
    Err(Failure::not_implemented("record-metadata"))
}
