//! check-endpoint: does the endpoint exist, and what is its status.
//!
//! - Trigger: the state machine (to choose create or update, and in the wait loop).
//! - Input: `shared::contract::CheckEndpointInput`. Output: `shared::contract::CheckEndpointOutput`.
//! - Environment: none of its own.
//! - Errors: `InvalidInput`, and the AWS names of `shared::ErrorName`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(check_endpoint::Config::from_env)?;
    let state = check_endpoint::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| check_endpoint::handle(&state, event)).await
}
