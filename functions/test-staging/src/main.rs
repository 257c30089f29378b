//! test-staging: sends the run's held-out sample, the published examples and
//! a short load to the staging endpoint, through the API's own path; writes
//! the staging report; fails the promotion when staging does not hold up.
//!
//! - Trigger: the state machine, after the staging endpoint is InService (`Stages`).
//! - Input: `shared::contract::TestStagingInput`. Output: `shared::contract::TestStagingOutput`.
//! - Environment: `ENDPOINT_NAME` (staging's), `ARTIFACT_BUCKET`, `FEATURE_COUNT`,
//!   `STAGING_REQUESTS`, `STAGING_MAX_ERROR_PERCENT`, `STAGING_MAX_P99_MS`, `STAGING_EXAMPLES`.
//! - Errors: `StagingTestFailed` (the report says why), `InvalidInput`, and
//!   the AWS names of `shared::ErrorName`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(test_staging::Config::from_env)?;
    let state = test_staging::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| test_staging::handle(&state, event)).await
}
