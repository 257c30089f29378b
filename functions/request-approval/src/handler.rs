use lambda_runtime::LambdaEvent;
use shared::contract::{RequestApprovalInput, RequestApprovalOutput};
use shared::{ConfigError, Env, Failure};

#[derive(Debug, Clone)]
#[allow(dead_code, reason = "read once the function's own issue lands")]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    /// The API's base URL; the email links to `<base>/approvals/<id>`.
    pub approval_base_url: String,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let approval_base_url = env.required("APPROVAL_BASE_URL")?;
        if !approval_base_url.starts_with("https://")
            && !approval_base_url.starts_with("http://127.0.0.1")
        {
            return Err(ConfigError::Invalid {
                name: "APPROVAL_BASE_URL".into(),
                value: approval_base_url,
                reason: "must be an https:// URL (or http://127.0.0.1 for the local run)".into(),
            });
        }
        Ok(Config {
            table_name: env.resource_name("TABLE_NAME")?,
            topic_arn: env.resource_name("APPROVAL_TOPIC_ARN")?,
            approval_base_url: approval_base_url.trim_end_matches('/').to_owned(),
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
    event: LambdaEvent<RequestApprovalInput>,
) -> Result<RequestApprovalOutput, Failure> {
    tracing::info!(
        execution = %event.payload.execution_name,
        table = %state.config.table_name,
        "request-approval called"
    );
    Err(Failure::not_implemented("request-approval"))
}
