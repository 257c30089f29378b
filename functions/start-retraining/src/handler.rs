use aws_lambda_events::s3::S3Event;
use lambda_runtime::LambdaEvent;
use shared::{ConfigError, Env, Failure};

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct Config {
    pub pipeline_name: String,
    pub table_name: String,
    pub prefix: String,
    pub suffix: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            pipeline_name: env.resource_name("PIPELINE_NAME")?,
            table_name: env.resource_name("TABLE_NAME")?,
            prefix: env
                .optional("TRAINING_PREFIX")
                .unwrap_or_else(|| "training/".into()),
            suffix: env
                .optional("TRAINING_SUFFIX")
                .unwrap_or_else(|| ".csv".into()),
        })
    }
}

#[derive(Debug)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct State {
    pub config: Config,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            codepipeline: aws_sdk_codepipeline::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
        }
    }
}

pub async fn handle(
    state: &State,
    event: LambdaEvent<S3Event>,
) -> Result<serde_json::Value, Failure> {
    tracing::info!(
        records = event.payload.records.len(),
        pipeline = %state.config.pipeline_name,
        "start-retraining called"
    );
    Err(Failure::not_implemented("start-retraining"))
}
