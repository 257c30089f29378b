//! request-approval: stores the task token and emails a link to the approval page.
//!
//! - Trigger: the state machine, `lambda:invoke.waitForTaskToken`.
//! - Input: `shared::contract::RequestApprovalInput`. Output: `shared::contract::RequestApprovalOutput`.
//! - Environment: `TABLE_NAME`, `APPROVAL_TOPIC_ARN`, `APPROVAL_BASE_URL`.
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
