//! start-retraining: new training data in S3 starts the pipeline, once per
//! object version.
//!
//! - Trigger: S3 `ObjectCreated:*` on the training-data bucket (asynchronous:
//!   Lambda retries a failed invocation, then sends it to the on-failure destination).
//! - Input: `aws_lambda_events::s3::S3Event`, one or more records.
//! - Output: `{"started": [{"dataUri", "version", "pipelineExecutionId"}], "duplicates", "ignored"}`.
//! - Environment: `PIPELINE_NAME`, `TABLE_NAME`, `TRAINING_PREFIX` (default
//!   `training/`), `TRAINING_SUFFIX` (default `.csv`), `RETRAIN_QUIET_SECONDS`
//!   (default 0: a run per upload; otherwise one run per window, through a
//!   one-time schedule) and `SCHEDULER_ROLE_ARN` (required with a window).
//! - Errors: `Throttled`, `AwsUnavailable` (retried), `ResourceNotFound` (no such
//!   pipeline or table), `AccessDenied`, `AwsRequestRejected` (for example a
//!   pipeline variable the pipeline does not declare).

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(start_retraining::Config::from_env)?;
    let state = start_retraining::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| start_retraining::handle(&state, event)).await
}
