//! snapshot-data: what a training run reads, pinned before any job.
//!
//! - Trigger: the state machine, after the image is pinned, before any job.
//! - Input: `shared::contract::SnapshotInput`. Output: `shared::contract::SnapshotOutput`.
//! - Lists the current version of every object under the run's training and
//!   test prefixes, writes them (key, version id, ETag, size) to
//!   `runs/<execution>/data-manifest.json` in the artifact bucket, and copies
//!   exactly those versions to `snapshots/<execution>/`, which the jobs read.
//!   A retry or a redrive reads the manifest back and copies the same versions.
//! - Environment: `DATA_BUCKET`, `ARTIFACT_BUCKET`.
//! - Errors: `InvalidInput` (a prefix outside the data bucket's `training/` or
//!   `test/`, nothing under it, an object too large to copy in one request, too
//!   many objects), `Conflict` (a manifest of this execution names other data),
//!   and the AWS names of `shared::ErrorName`.

use tracing::Instrument;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(snapshot_data::Config::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let state = snapshot_data::State::new(config, &sdk);
    lambda_runtime::run(lambda_runtime::service_fn(
        |event: lambda_runtime::LambdaEvent<shared::door::Payload>| {
            let state = &state;
            let span = shared::door::span_for(&event.payload);
            async move { snapshot_data::handle(state, shared::door::event(event)?).await }
                .instrument(span)
        },
    ))
    .await
}
