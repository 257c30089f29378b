//! check-endpoint's handler, as a library (the same shape as every function):
//! does the endpoint exist, and what is its status.

use lambda_runtime::LambdaEvent;
use shared::contract::{CheckEndpointInput, CheckEndpointOutput, EndpointStatus};
use shared::naming::{SAGEMAKER_NAME_MAX, is_valid_sagemaker_name};
use shared::{ConfigError, Env, Failure, aws};

#[derive(Debug, Clone)]
pub struct Config;

impl Config {
    pub fn from_env(_env: &Env) -> Result<Self, ConfigError> {
        Ok(Config)
    }
}

#[derive(Debug)]
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

/// Describes the endpoint. A missing endpoint is an answer, not an error.
pub async fn handle(
    state: &State,
    event: LambdaEvent<CheckEndpointInput>,
) -> Result<CheckEndpointOutput, Failure> {
    let name = event.payload.endpoint_name;
    if !is_valid_sagemaker_name(&name, SAGEMAKER_NAME_MAX) {
        return Err(Failure::invalid_input(format!(
            "endpointName {name:?} is not a valid SageMaker endpoint name"
        )));
    }
    let answer = match state
        .sagemaker
        .describe_endpoint()
        .endpoint_name(&name)
        .send()
        .await
    {
        Ok(endpoint) => CheckEndpointOutput {
            exists: true,
            status: endpoint
                .endpoint_status()
                .map(|s| EndpointStatus::from_sagemaker(s.as_str())),
            endpoint_config_name: endpoint.endpoint_config_name().map(str::to_owned),
            failure_reason: endpoint.failure_reason().map(str::to_owned),
            endpoint_name: name,
        },
        Err(err) if aws::is_sagemaker_not_found(&err) => CheckEndpointOutput {
            exists: false,
            status: None,
            endpoint_config_name: None,
            failure_reason: None,
            endpoint_name: name,
        },
        Err(err) => {
            let failure = aws::failure("DescribeEndpoint", &err);
            tracing::error!(endpoint = %name, error = %failure, "check failed");
            return Err(failure);
        }
    };
    tracing::info!(
        endpoint = %answer.endpoint_name,
        exists = answer.exists,
        status = ?answer.status,
        "checked"
    );
    Ok(answer)
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_sagemaker::operation::describe_endpoint::{
        DescribeEndpointError, DescribeEndpointOutput,
    };
    use aws_sdk_sagemaker::types::EndpointStatus as SmStatus;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use lambda_runtime::Context;

    fn event(name: &str) -> LambdaEvent<CheckEndpointInput> {
        LambdaEvent::new(
            CheckEndpointInput {
                endpoint_name: name.into(),
                execution_name: None,
            },
            Context::default(),
        )
    }

    fn state(client: aws_sdk_sagemaker::Client) -> State {
        State { sagemaker: client }
    }

    #[tokio::test]
    async fn reports_status_config_and_reason_of_an_existing_endpoint() {
        let describe = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
            .match_requests(|r| r.endpoint_name() == Some("iris"))
            .then_output(|| {
                DescribeEndpointOutput::builder()
                    .endpoint_name("iris")
                    .endpoint_status(SmStatus::Failed)
                    .endpoint_config_name("config-a")
                    .failure_reason("image not found")
                    .build()
            });
        let client = mock_client!(aws_sdk_sagemaker, [&describe]);
        let out = handle(&state(client), event("iris")).await.unwrap();
        assert!(out.exists);
        assert_eq!(out.status, Some(EndpointStatus::Failed));
        assert_eq!(out.endpoint_config_name.as_deref(), Some("config-a"));
        assert_eq!(out.failure_reason.as_deref(), Some("image not found"));
        assert_eq!(describe.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_missing_endpoint_is_an_answer_not_an_error() {
        let describe = mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_error(|| {
            DescribeEndpointError::generic(
                aws_sdk_sagemaker::error::ErrorMetadata::builder()
                    .code("ValidationException")
                    .message("Could not find endpoint \"iris\".")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_sagemaker, [&describe]);
        let out = handle(&state(client), event("iris")).await.unwrap();
        assert!(!out.exists);
        assert_eq!(out.status, None);
    }

    #[tokio::test]
    async fn throttling_is_a_named_transient_error() {
        let describe = mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_error(|| {
            DescribeEndpointError::generic(
                aws_sdk_sagemaker::error::ErrorMetadata::builder()
                    .code("ThrottlingException")
                    .message("Rate exceeded")
                    .build(),
            )
        });
        let client = mock_client!(aws_sdk_sagemaker, RuleMode::MatchAny, [&describe]);
        let err = handle(&state(client), event("iris")).await.unwrap_err();
        assert_eq!(err.name, shared::ErrorName::Throttled);
        assert!(err.is_transient());
    }

    #[tokio::test]
    async fn an_invalid_name_is_refused_before_any_call() {
        let describe = mock!(aws_sdk_sagemaker::Client::describe_endpoint)
            .then_output(|| DescribeEndpointOutput::builder().build());
        let client = mock_client!(aws_sdk_sagemaker, [&describe]);
        let err = handle(&state(client), event("not valid!"))
            .await
            .unwrap_err();
        assert_eq!(err.name, shared::ErrorName::InvalidInput);
        assert_eq!(describe.num_calls(), 0);
    }
}
