//! check-endpoint: does the endpoint exist, and what is its status.
//!
//! - Trigger: the state machine (to choose create or update, and in the wait loop).
//! - Input: `shared::contract::CheckEndpointInput`. Output: `shared::contract::CheckEndpointOutput`.
//! - Environment: none of its own.
//! - Errors: `InvalidInput`, and the AWS names of `shared::ErrorName`.

use tracing::Instrument;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(check_endpoint::Config::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let state = check_endpoint::State::new(config, &sdk);
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<shared::door::Payload>| {
            let state = &state;
            let span = shared::door::span_for(&event.payload);
            async move { check_endpoint::handle(state, shared::door::event(event)?).await }
                .instrument(span)
        },
    ))
    .await
}
