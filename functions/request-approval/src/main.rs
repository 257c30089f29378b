//! request-approval: stores the task token and emails a link to the approval page.
//!
//! - Trigger: the state machine, `lambda:invoke.waitForTaskToken` (the state's
//!   `TimeoutSeconds` is passed as `timeoutSeconds`: the approval expires with it).
//! - Input: `shared::contract::RequestApprovalInput`. Output: `{"approvalHash"}` (the id's SHA-256; the id itself is only in the email)
//!   (ignored by the state machine, which waits for the decision instead).
//! - Environment: `TABLE_NAME`, `APPROVAL_TOPIC_ARN`, `APPROVAL_BASE_URL` (https).
//! - Errors: `InvalidInput`, and the AWS names of `shared::ErrorName`.
//! - The task token is stored in the approval item only; it is never logged,
//!   emailed, or put in a URL.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(request_approval::Config::from_env)?;
    let state = request_approval::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| request_approval::handle(&state, event)).await
}
