//! evaluate-model: the model's quality on the held-out data, from the batch
//! transform's output, read from S3 as a stream.
//!
//! - Trigger: the state machine, after the batch transform, before the gate.
//! - Input: `shared::contract::EvaluateInput`. Output: `shared::contract::EvaluateOutput`.
//! - Writes the model-quality report (`model-quality.json`) beside the
//!   transform output; the registry version points at it (ModelMetrics).
//! - Environment: none of its own.
//! - Errors: `InvalidInput` (a row that is not label-first, prediction-last;
//!   no output at all; a gate metric it does not compute), and the AWS names
//!   of `shared::ErrorName`.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(evaluate_model::Config::from_env)?;
    let state = evaluate_model::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| evaluate_model::handle(&state, event)).await
}
