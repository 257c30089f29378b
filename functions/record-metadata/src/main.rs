//! record-metadata: appends a run's audit trail and sends status notifications.
//!
//! - Trigger: the state machine, at each stage; and EventBridge's
//!   "Step Functions Execution Status Change" when a run ends FAILED,
//!   TIMED_OUT or ABORTED (a failure the definition does not catch, so that a
//!   redrive resumes at the failed task).
//! - Input: `shared::contract::RecordInput`, or `ExecutionStatusChange`.
//!   Output: `shared::contract::RecordOutput`
//!   (`recorded: false` for a retry of a stage already recorded; `names`: the
//!   run's SageMaker names, which the state machine takes from the first call).
//! - Environment: `TABLE_NAME`, `NOTIFICATION_TOPIC_ARN`.
//! - Errors: `InvalidInput`, and the AWS names of `shared::ErrorName`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(record_metadata::Config::from_env)?;
    let state = record_metadata::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| record_metadata::handle_any(&state, event)).await
}
