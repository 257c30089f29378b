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

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let config = shared::config::load(snapshot_data::Config::from_env)?;
    let state = snapshot_data::State::new(config, &shared::aws::sdk_config().await);
    shared::lambda::serve(|event| snapshot_data::handle(&state, event)).await
}
