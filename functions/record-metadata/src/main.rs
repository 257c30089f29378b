//! record-metadata: appends a run's audit trail and sends status notifications.
//!
//! - Trigger: the state machine, at each stage.
//! - Input: `shared::contract::RecordInput`. Output: `shared::contract::RecordOutput`.
//! - Environment: `TABLE_NAME`, `NOTIFICATION_TOPIC_ARN`.
//! - Errors: `InvalidInput`, `NotImplemented` (until its issue lands), and the AWS names of `shared::ErrorName`.

mod handler;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let config = shared::config::load(handler::Config::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let state = handler::State::new(config, &sdk);
    lambda_runtime::run(lambda_runtime::service_fn(|event| {
        handler::handle(&state, event)
    }))
    .await
}
