//! deploy-endpoint: creates the endpoint config, then creates or updates the one stable endpoint.
//!
//! - Trigger: the state machine.
//! - Input: `shared::contract::DeployEndpointInput`. Output: `shared::contract::DeployEndpointOutput`.
//! - Environment: none of its own.
//! - Errors: `InvalidInput`, `EndpointBusy` (retried), `EndpointFailed`, `Conflict`, and the AWS names of `shared::ErrorName`.

use tracing::Instrument;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(deploy_endpoint::Config::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let state = deploy_endpoint::State::new(config, &sdk);
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<shared::door::Payload>| {
            let state = &state;
            let span = shared::door::span_for(&event.payload);
            async move { deploy_endpoint::handle(state, shared::door::event(event)?).await }
                .instrument(span)
        },
    ))
    .await
}
