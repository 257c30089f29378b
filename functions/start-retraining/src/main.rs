//! start-retraining: new training data in S3 starts the pipeline, once per object version.
//!
//! - Trigger: S3 `ObjectCreated:*` on the training-data prefix.
//! - Input: `aws_lambda_events::s3::S3Event`. Output: `a summary of what each record did`.
//! - Environment: `PIPELINE_NAME`, `TABLE_NAME`, `TRAINING_PREFIX` (default `training/`), `TRAINING_SUFFIX` (default `.csv`).
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
