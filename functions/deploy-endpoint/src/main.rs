//! deploy-endpoint: creates the endpoint config, then creates or updates the one stable endpoint.
//!
//! - Trigger: the state machine.
//! - Input: `shared::contract::DeployEndpointInput`. Output: `shared::contract::DeployEndpointOutput`.
//! - Environment: none of its own.
//! - Errors: `InvalidInput`, `EndpointBusy` (retried), `EndpointFailed`, `Conflict`, and the AWS names of `shared::ErrorName`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(deploy_endpoint::Config::from_env)?;
    let state = deploy_endpoint::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| deploy_endpoint::handle(&state, event)).await
}
