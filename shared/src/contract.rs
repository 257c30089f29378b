//! The JSON contracts between the state machine and the Lambdas (camelCase).
//!
//! Every Lambda's input and output is a type here, so the state machine's
//! paths, the sample events in `events/` and the code are checked against one
//! another (see the contract tests).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::error::Failure;
use crate::naming::RunNames;

/// What started a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Trigger {
    S3,
    Git,
    Schedule,
    Manual,
}

/// The state machine's execution input.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExecutionInput {
    pub commit_id: String,
    pub image_uri: String,
    pub training_data_uri: String,
    pub test_data_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version_id: Option<String>,
    pub trigger: Trigger,
    /// The training job's hyperparameters (SageMaker wants string values);
    /// empty: the container's own defaults.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub hyper_parameters: BTreeMap<String, String>,
}

/// The state machine's input for a deploy-only run: an approved model version
/// from the registry instead of training data. Training, the quality gate and
/// the batch transform are skipped; the approval step is kept, except for a
/// rollback (a version a person approved before, put back).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct DeployInput {
    /// A version of this pipeline's model package group, status `Approved`.
    pub model_package_arn: String,
    /// `true`: put back a version approved before, without a new approval.
    #[serde(default)]
    pub rollback: bool,
    /// With `Stages: staging-then-production` only. A rollback of this stage
    /// alone (to a version approved for it before); `production` without
    /// `rollback`: a promotion of a version that passed staging's test,
    /// through production's approval. Absent: staging first, as a new version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stage: Option<DeployStage>,
}

impl DeployInput {
    pub fn validate(&self) -> Result<(), Failure> {
        // arn:<partition>:sagemaker:<region>:<account>:model-package/<group>/<version>
        let parts: Vec<&str> = self.model_package_arn.splitn(6, ':').collect();
        let resource = parts.get(5).copied().unwrap_or_default();
        let versioned = resource
            .strip_prefix("model-package/")
            .and_then(|rest| rest.rsplit_once('/'))
            .is_some_and(|(group, version)| {
                !group.is_empty()
                    && !version.is_empty()
                    && version.bytes().all(|b| b.is_ascii_digit())
            });
        if parts.len() != 6 || parts[0] != "arn" || parts[2] != "sagemaker" || !versioned {
            return Err(Failure::invalid_input(
                "modelPackageArn must be a versioned model package ARN (…:model-package/<group>/<version>)",
            ));
        }
        Ok(())
    }
}

impl ExecutionInput {
    /// Checks what serde cannot: non-empty values, `s3://` URIs, held-out data
    /// that is not the training data.
    pub fn validate(&self) -> Result<(), Failure> {
        non_empty("commitId", &self.commit_id)?;
        non_empty("imageUri", &self.image_uri)?;
        s3_uri("trainingDataUri", &self.training_data_uri)?;
        s3_uri("testDataUri", &self.test_data_uri)?;
        if self.training_data_uri == self.test_data_uri {
            return Err(Failure::invalid_input(
                "testDataUri must be held-out data, not the training data",
            ));
        }
        Ok(())
    }
}

pub(crate) fn non_empty(field: &str, value: &str) -> Result<(), Failure> {
    if value.trim().is_empty() {
        Err(Failure::invalid_input(format!("{field} must not be empty")))
    } else {
        Ok(())
    }
}

/// Splits `s3://bucket/key` into bucket and key (the key may be empty: a prefix).
pub fn parse_s3_uri(uri: &str) -> Option<(&str, &str)> {
    let rest = uri.strip_prefix("s3://")?;
    let (bucket, key) = rest.split_once('/').unwrap_or((rest, ""));
    (!bucket.is_empty()).then_some((bucket, key))
}

fn s3_uri(field: &str, value: &str) -> Result<(), Failure> {
    parse_s3_uri(value).map(|_| ()).ok_or_else(|| {
        Failure::invalid_input(format!(
            "{field} must be an s3://bucket/key URI, got {value:?}"
        ))
    })
}

// ---------------------------------------------------------------- evaluate-model

/// What the model predicts: a class, or a number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ProblemType {
    Classification,
    Regression,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateInput {
    pub execution_name: String,
    /// The batch transform's output prefix (`s3://<artifacts>/transform/<execution>/`):
    /// every `*.out` object under it, each row the held-out input row (label
    /// first) with the prediction joined last.
    pub transform_output_uri: String,
    pub problem_type: ProblemType,
    /// The held-out metric the gate reads (higher is better).
    pub gate_metric: String,
    /// The training job's model archive (`s3://<artifacts>/models/<job>/output/model.tar.gz`):
    /// its SHA-256 and S3 version go to the registry and the trail, so a year
    /// later the bytes served can be proved the bytes evaluated and approved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_artifact_uri: Option<String>,
}

/// The model archive a run evaluated, as read: its S3 version and the SHA-256
/// of its bytes (lower-case hex).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactDigest {
    pub uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
    pub sha256: String,
    pub bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EvaluateOutput {
    /// The model-quality report (JSON), beside the transform output.
    pub report_uri: String,
    pub rows: u64,
    pub metrics: Metrics,
    pub gate_metric: String,
    pub gate_value: f64,
    /// The model archive's digest, when `modelArtifactUri` was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_artifact: Option<ArtifactDigest>,
}

// ---------------------------------------------------------------- snapshot-data

/// What a training run reads, pinned before any job: the state machine's input
/// to snapshot-data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotInput {
    /// The run's execution: the snapshot and the manifest are named after it.
    pub execution_name: String,
    /// Under the data bucket's `training/` (a prefix, as SageMaker reads it).
    pub training_data_uri: String,
    /// Under the data bucket's `test/`.
    pub test_data_uri: String,
}

/// One set of objects as snapshot-data copied it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotSet {
    /// The prefix the run was given.
    pub source_uri: String,
    /// The copy the jobs read: the same prefix under `snapshots/<execution>/`.
    pub uri: String,
    pub objects: u64,
    pub bytes: u64,
    /// The S3 version read, when the set is one object (a test file,
    /// typically); null otherwise, never absent (the state machine reads it).
    #[serde(default)]
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SnapshotOutput {
    /// `s3://<artifacts>/runs/<execution>/data-manifest.json`: every object
    /// read, with its version, ETag and size; kept with the run.
    pub manifest_uri: String,
    pub training: SnapshotSet,
    pub test: SnapshotSet,
}

/// One object of a manifest: exactly which bytes a run read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestObject {
    pub key: String,
    pub version_id: String,
    pub e_tag: String,
    pub size: u64,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ManifestSet {
    pub source_uri: String,
    pub uri: String,
    pub objects: Vec<ManifestObject>,
}

/// The data manifest a run writes before any job and keeps (never expired).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataManifest {
    pub execution_name: String,
    pub created_at: String,
    /// The bucket the objects were read from (their keys are in it).
    pub bucket: String,
    pub training: ManifestSet,
    pub test: ManifestSet,
}

// ---------------------------------------------------------------- check-endpoint

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckEndpointInput {
    pub endpoint_name: String,
    /// For the log lines' span only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_name: Option<String>,
}

// ---------------------------------------------------------------- test-staging

/// Where a deploy goes: the one endpoint of a single-stage stack
/// (`production`), or staging, then production (`Stages`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployStage {
    Staging,
    Production,
}

impl DeployStage {
    /// As the state machine, the registry's `ModelLifeCycle.Stage` and the trail write it.
    pub fn as_str(self) -> &'static str {
        match self {
            DeployStage::Staging => "staging",
            DeployStage::Production => "production",
        }
    }
}

/// test-staging's input: which run's held-out sample to send to the staging
/// endpoint. The endpoint is the function's own (`ENDPOINT_NAME`), never the input's.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestStagingInput {
    pub execution_name: String,
    /// The run's model-quality report: its sample rows carry the batch
    /// transform's prediction last, which the endpoint must repeat.
    pub model_quality_uri: String,
    /// The model the staging endpoint should serve (for the report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    /// `$$.Execution.StartTime` and the template's approval timeout: the
    /// production approval gets what is left of the run's time, less the
    /// production deploy's (see `TestStagingOutput::approval_timeout_seconds`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_timeout_seconds: Option<u64>,
}

/// The staging test's figures: what the report, the trail and the production
/// approver's page show.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagingFigures {
    /// Requests sent in all: the sample, the examples, then the load.
    pub requests: u64,
    /// Requests that got no usable answer.
    pub errors: u64,
    pub error_percent: f64,
    pub p50_ms: f64,
    pub p99_ms: f64,
    /// Held-out sample rows whose answer was the batch transform's prediction.
    pub agreed: u64,
    pub compared: u64,
    /// Published example rows answered with their expected label.
    pub examples_passed: u64,
    pub examples: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestStagingOutput {
    /// The staging report (`staging-report.json` beside the model-quality report).
    pub report_uri: String,
    pub figures: StagingFigures,
    /// How long production's approvers have: the template's approval timeout,
    /// cut so that the run, production's deploy included, still ends within
    /// the definition's own timeout (two approvals at the longest would not).
    pub approval_timeout_seconds: u64,
}

/// SageMaker's endpoint status, spelled as SageMaker spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EndpointStatus {
    OutOfService,
    Creating,
    Updating,
    SystemUpdating,
    RollingBack,
    InService,
    Deleting,
    Failed,
    UpdateRollbackFailed,
    #[serde(other)]
    Unknown,
}

impl EndpointStatus {
    pub fn from_sagemaker(status: &str) -> Self {
        serde_json::from_value(serde_json::Value::String(status.to_owned()))
            .unwrap_or(EndpointStatus::Unknown)
    }
}

/// A missing endpoint is an answer (`exists: false`), not an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckEndpointOutput {
    pub endpoint_name: String,
    pub exists: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<EndpointStatus>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_config_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_reason: Option<String>,
}

// ---------------------------------------------------------------- deploy-endpoint

/// How traffic moves to the new config on an update (SageMaker deployment guardrails).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DeploymentStrategy {
    AllAtOnce,
    Canary,
    Linear,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeploymentPolicy {
    pub strategy: DeploymentStrategy,
    /// Canary size, or linear step, in percent of capacity.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub traffic_percent: Option<u8>,
    /// Bake time between traffic shifts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub wait_interval_seconds: Option<u32>,
    /// CloudWatch alarms that roll the deployment back.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rollback_alarm_names: Vec<String>,
    /// How long the run then waits for InService: one check every
    /// `pollSeconds`, at most `maxPolls` checks. A rollout that bakes longer
    /// is refused before the endpoint changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_seconds: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_polls: Option<u32>,
}

/// A serverless variant's capacity (SageMaker's `ServerlessConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ServerlessHosting {
    /// 1024 to 6144 MB, in steps of 1024; vCPUs scale with it.
    pub memory_size_mb: u32,
    /// At most this many requests at once (1 to 200); more are throttled.
    pub max_concurrency: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DataCapture {
    pub destination_s3_uri: String,
    pub sampling_percentage: u8,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployEndpointInput {
    pub endpoint_name: String,
    pub model_name: String,
    /// The instances that host the model (with `initialInstanceCount`); null
    /// or absent when `serverless` hosts it instead.
    #[serde(default)]
    pub instance_type: Option<String>,
    #[serde(default)]
    pub initial_instance_count: Option<u32>,
    /// Serverless inference instead of instances (`EndpointHosting:
    /// serverless`): no data capture, and an update shifts all traffic at once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serverless: Option<ServerlessHosting>,
    #[serde(default = "default_variant")]
    pub variant_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deployment: Option<DeploymentPolicy>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_capture: Option<DataCapture>,
    /// For tags: the endpoint's history is traceable from SageMaker.
    pub execution_name: String,
    pub commit_id: String,
    /// Staging's deploy (`Stages`): its endpoint configs are its own, so a
    /// config one stage supersedes and deletes is never the other's.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_stage: Option<DeployStage>,
}

fn default_variant() -> String {
    "AllTraffic".to_owned()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DeployAction {
    Created,
    Updated,
    Unchanged,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct DeployEndpointOutput {
    pub action: DeployAction,
    pub endpoint_config_name: String,
}

// ---------------------------------------------------------------- approval

/// Training metrics by name (SageMaker's `FinalMetricDataList`, flattened).
pub type Metrics = BTreeMap<String, f64>;

/// Reads metrics as a map (`{"validation:accuracy": 0.97}`) or as SageMaker's
/// `FinalMetricDataList` (`[{"MetricName", "Value", "Timestamp"}]`), which the
/// state machine passes on as DescribeTrainingJob returned it: ASL has no way
/// to turn a list into a map.
pub mod metrics_format {
    use super::Metrics;
    use serde::{Deserialize, Deserializer};

    #[derive(Deserialize)]
    #[serde(rename_all = "PascalCase")]
    struct MetricData {
        metric_name: String,
        value: f64,
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Shapes {
        Map(Metrics),
        List(Vec<MetricData>),
    }

    fn into_metrics(shape: Shapes) -> Metrics {
        match shape {
            Shapes::Map(map) => map,
            // Later entries win, as the last value reported is the final one.
            Shapes::List(list) => list.into_iter().map(|m| (m.metric_name, m.value)).collect(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Metrics, D::Error> {
        Ok(Option::<Shapes>::deserialize(d)?
            .map(into_metrics)
            .unwrap_or_default())
    }

    pub fn deserialize_option<'de, D: Deserializer<'de>>(
        d: D,
    ) -> Result<Option<Metrics>, D::Error> {
        Ok(Option::<Shapes>::deserialize(d)?.map(into_metrics))
    }
}

/// request-approval's input, sent with `.waitForTaskToken`. Its `Debug`
/// shows no token ([`crate::TaskToken`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestApprovalInput {
    /// `$$.Task.Token`. Stored in the approval item only; never logged.
    pub task_token: crate::TaskToken,
    pub execution_arn: String,
    /// `$$.State.EnteredTime`: the same for every retry of the approval task
    /// (whose token may differ), so the retries share one approval.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entered_time: Option<String>,
    pub execution_name: String,
    pub commit_id: String,
    pub model_name: String,
    pub training_job_name: String,
    #[serde(default, deserialize_with = "metrics_format::deserialize")]
    pub metrics: Metrics,
    pub transform_output_uri: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version_id: Option<String>,
    /// The run's training data and held-out set, shown on the page and in the
    /// email: what the version learned from and was judged on.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_data_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_uri: Option<String>,
    /// The held-out object's S3 version, when the test set is one object
    /// (null otherwise, and for a version registered before manifests).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_version_id: Option<String>,
    /// The run's data manifest: every object it read, with its version.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_manifest_uri: Option<String>,
    /// The approval state's `TimeoutSeconds`: the approval expires with it.
    pub timeout_seconds: u64,
    /// The held-out evaluation's report (its confusion matrix goes on the page).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_quality_uri: Option<String>,
    /// The endpoint the version would go to: its champion is read for comparison.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    /// The stage this approval lets the version into. Absent: the first (or
    /// only) one. `production` after staging: production's approvers decide,
    /// with the staging report beside the held-out figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_stage: Option<DeployStage>,
    /// The staging test's report and figures (`deploy_stage` production only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_report_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<StagingFigures>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RequestApprovalOutput {
    /// The approval id's SHA-256 ([`crate::ApprovalId::hash`]): the answer
    /// is kept in the execution history, and the id is a bearer capability.
    pub approval_hash: crate::ApprovalHash,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Approved,
    Rejected,
}

impl Decision {
    /// As the output and the trail write it.
    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Approved => "approved",
            Decision::Rejected => "rejected",
        }
    }
}

/// What a person decided: the output of the approval task (`SendTaskSuccess`),
/// and what the audit trail records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDecision {
    pub decision: Decision,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    pub decided_at: String,
}

// ---------------------------------------------------------------- record-metadata

/// The stage a record-metadata call reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Stage {
    Started,
    Trained,
    QualityGate,
    Transformed,
    ApprovalRequested,
    Approved,
    Rejected,
    Deployed,
    /// The staging endpoint passed its test (`Stages`: staging-then-production).
    StagingTested,
    Failed,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Started => "started",
            Stage::Trained => "trained",
            Stage::QualityGate => "qualityGate",
            Stage::Transformed => "transformed",
            Stage::ApprovalRequested => "approvalRequested",
            Stage::Approved => "approved",
            Stage::Rejected => "rejected",
            Stage::Deployed => "deployed",
            Stage::StagingTested => "stagingTested",
            Stage::Failed => "failed",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum RunStatus {
    Running,
    Succeeded,
    Failed,
    Rejected,
    TimedOut,
}

impl RunStatus {
    pub const ALL: [RunStatus; 5] = [
        RunStatus::Running,
        RunStatus::Succeeded,
        RunStatus::Failed,
        RunStatus::Rejected,
        RunStatus::TimedOut,
    ];

    /// As the trail stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Succeeded => "succeeded",
            RunStatus::Failed => "failed",
            RunStatus::Rejected => "rejected",
            RunStatus::TimedOut => "timedOut",
        }
    }

    /// Whether a run in this status has ended.
    pub fn is_end(self) -> bool {
        self != RunStatus::Running
    }
}

/// What a stage knows; every field is optional and recorded when present.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunDetails {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_data_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_job_arn: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "metrics_format::deserialize_option"
    )]
    pub metrics: Option<Metrics>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_output_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalDecision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_config_name: Option<String>,
    /// The registered model version (SageMaker model package) of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_package_arn: Option<String>,
    /// The quality gate's reading on the held-out data: recorded with
    /// `transformed`, before the gate decides.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate: Option<GateReading>,
    /// The held-out evaluation's report (`transformed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_quality_uri: Option<String>,
    /// The SHA-256 (hex) of the model archive evaluate-model read (`transformed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_artifact_sha256: Option<String>,
    /// The S3 version of that archive (`transformed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_artifact_version_id: Option<String>,
    /// The held-out object's S3 version, when the test set is one object
    /// (`trained`, `transformed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_version_id: Option<String>,
    /// The run's data manifest: every training and test object, with its
    /// version (`trained`, `transformed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_manifest_uri: Option<String>,
    /// The held-out metrics (`transformed`); `metrics` stays the training job's own.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        deserialize_with = "metrics_format::deserialize_option"
    )]
    pub held_out_metrics: Option<Metrics>,
    /// Which stage's endpoint a stage concerns (`approved`, `deployed`,
    /// `stagingTested`, and the failures after the first deploy).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_stage: Option<DeployStage>,
    /// The staging test's report and figures (`stagingTested`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_report_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<StagingFigures>,
    /// When the endpoint's create or update was sent (`deployed` only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_time: Option<String>,
    /// The state an uncaught failure happened in (from the execution's history).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_state: Option<String>,
    /// The error name of a failure (`States.Timeout`, `QualityGateFailed`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
}

/// What the reminder schedule sends record-metadata shortly before an
/// approval's deadline (`{"approvalReminder": {...}}`): the approval's hash,
/// never its id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalReminder {
    pub approval_hash: crate::ApprovalHash,
    pub execution_name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalReminderEvent {
    pub approval_reminder: ApprovalReminder,
}

/// The gated metric of a trained model, and the threshold it must reach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GateReading {
    pub metric_name: String,
    pub value: f64,
    pub threshold: f64,
}

impl GateReading {
    /// The state machine's `QualityGate`: `NumericGreaterThanEqualsPath`.
    pub fn passed(&self) -> bool {
        self.value >= self.threshold
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordInput {
    pub execution_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    pub stage: Stage,
    pub status: RunStatus,
    /// `$$.State.EnteredTime`: with the stage, it makes a retried call land on
    /// the same event instead of a second one.
    pub entered_time: String,
    #[serde(default)]
    pub details: RunDetails,
}

/// EventBridge's "Step Functions Execution Status Change" event, as the
/// template's rule delivers it to record-metadata when a run ends FAILED,
/// TIMED_OUT or ABORTED. A failure at a task worth resuming is not caught in
/// the definition (so a redrive runs that task again); this is how it is
/// recorded and notified.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExecutionStatusChange {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    pub detail: StatusChangeDetail,
}

/// An execution's status, as Step Functions writes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionStatus {
    Running,
    Succeeded,
    Failed,
    TimedOut,
    Aborted,
    PendingRedrive,
}

impl ExecutionStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            ExecutionStatus::Running => "RUNNING",
            ExecutionStatus::Succeeded => "SUCCEEDED",
            ExecutionStatus::Failed => "FAILED",
            ExecutionStatus::TimedOut => "TIMED_OUT",
            ExecutionStatus::Aborted => "ABORTED",
            ExecutionStatus::PendingRedrive => "PENDING_REDRIVE",
        }
    }

    /// An end the definition did not catch: what a status-change event records.
    pub fn is_uncaught_end(self) -> bool {
        matches!(
            self,
            ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
        )
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StatusChangeDetail {
    pub execution_arn: String,
    pub name: String,
    /// `FAILED`, `TIMED_OUT` or `ABORTED` (the rule passes only these).
    pub status: ExecutionStatus,
    /// Epoch milliseconds.
    pub start_date: u64,
    #[serde(default)]
    pub stop_date: Option<u64>,
    /// The execution's input, as JSON text.
    #[serde(default)]
    pub input: Option<String>,
    #[serde(default)]
    pub error: Option<String>,
    #[serde(default)]
    pub cause: Option<String>,
    /// Set when the execution was redriven (epoch milliseconds).
    #[serde(default)]
    pub redrive_date: Option<u64>,
}

/// EventBridge's "CodePipeline Action Execution State Change" event, as the
/// template's rule delivers it to record-metadata when an action of the
/// Source or Build stage fails: no run started, so the definition records
/// nothing, and this is the only record and notice.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PipelineActionChange {
    #[serde(rename = "detail-type")]
    pub detail_type: String,
    /// RFC 3339, UTC.
    pub time: String,
    #[serde(default)]
    pub resources: Vec<String>,
    pub detail: PipelineActionDetail,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PipelineActionDetail {
    pub pipeline: String,
    pub execution_id: String,
    pub stage: String,
    pub action: String,
    /// `FAILED` (the rule passes only these).
    pub state: String,
    #[serde(default)]
    pub execution_result: Option<PipelineActionResult>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub struct PipelineActionResult {
    /// The action's own page: CodeBuild's build and its log, for Build.
    #[serde(default)]
    pub external_execution_url: Option<String>,
    #[serde(default)]
    pub external_execution_summary: Option<String>,
    #[serde(default)]
    pub error_code: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RecordOutput {
    /// False when this stage was already recorded (a retry).
    pub recorded: bool,
    pub notified: bool,
    /// The run's SageMaker names, derived from the stack's token and the
    /// execution name, so the state machine takes them from the first step
    /// instead of building them itself. A reminder, which no state reads, has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub names: Option<RunNames>,
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_deploy_input_names_a_versioned_package_and_is_not_a_rollback_by_default() {
        let arn = "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/3";
        let input: DeployInput =
            serde_json::from_value(serde_json::json!({"modelPackageArn": arn})).unwrap();
        assert!(!input.rollback);
        assert!(input.validate().is_ok());
        for bad in [
            "",
            "iris/3",
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package-group/iris",
            "arn:aws:sagemaker:eu-west-1:123456789012:model-package/iris/latest",
            "arn:aws:s3:::bucket/model-package/iris/3",
        ] {
            let input = DeployInput {
                model_package_arn: bad.into(),
                rollback: true,
                stage: None,
            };
            assert!(input.validate().is_err(), "{bad} was accepted");
        }
        // A typo is refused, not ignored.
        assert!(
            serde_json::from_value::<DeployInput>(
                serde_json::json!({"modelPackageArn": arn, "rollbak": true})
            )
            .is_err()
        );
    }

    use super::*;
    use serde_json::json;

    fn input() -> ExecutionInput {
        serde_json::from_value(json!({
            "commitId": "abc123",
            "imageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/model:abc123",
            "trainingDataUri": "s3://data/training/iris.csv",
            "testDataUri": "s3://data/test/iris.csv",
            "trigger": "s3"
        }))
        .unwrap()
    }

    #[test]
    fn the_execution_input_is_camel_case() {
        let value = serde_json::to_value(input()).unwrap();
        assert_eq!(value["commitId"], "abc123");
        assert_eq!(value["trigger"], "s3");
        assert!(value.get("dataVersionId").is_none());
        assert!(input().validate().is_ok());
    }

    #[test]
    fn metrics_arrive_as_a_map_or_as_sagemakers_list() {
        let from_list: RecordInput = serde_json::from_value(json!({
            "executionName": "run-1", "stage": "trained", "status": "running",
            "enteredTime": "2026-11-21T10:00:00Z",
            "details": {"metrics": [
                {"MetricName": "validation:accuracy", "Value": 0.9, "Timestamp": "2026-11-21T10:00:00Z"},
                {"MetricName": "train:loss", "Value": 0.1, "Timestamp": 1.7e9}
            ]}
        }))
        .unwrap();
        let metrics = from_list.details.metrics.unwrap();
        assert_eq!(metrics["validation:accuracy"], 0.9);
        assert_eq!(metrics["train:loss"], 0.1);

        let from_map: RecordInput = serde_json::from_value(json!({
            "executionName": "run-1", "stage": "trained", "status": "running",
            "enteredTime": "2026-11-21T10:00:00Z",
            "details": {"metrics": {"validation:accuracy": 0.9}}
        }))
        .unwrap();
        assert_eq!(
            from_map.details.metrics.unwrap()["validation:accuracy"],
            0.9
        );

        // A metric without a numeric value is refused, not read as zero.
        let bad = serde_json::from_value::<RecordInput>(json!({
            "executionName": "run-1", "stage": "trained", "status": "running",
            "enteredTime": "2026-11-21T10:00:00Z",
            "details": {"metrics": [{"MetricName": "validation:accuracy", "Value": "high"}]}
        }));
        assert!(bad.is_err());
    }

    #[test]
    fn unknown_fields_in_the_execution_input_are_refused() {
        let mut value = serde_json::to_value(input()).unwrap();
        value["commitID"] = json!("typo");
        assert!(serde_json::from_value::<ExecutionInput>(value).is_err());
    }

    #[test]
    fn held_out_data_must_differ_from_training_data() {
        let mut i = input();
        i.test_data_uri = i.training_data_uri.clone();
        let err = i.validate().unwrap_err();
        assert_eq!(err.name, crate::ErrorName::InvalidInput);
    }

    #[test]
    fn uris_must_be_s3() {
        let mut i = input();
        i.training_data_uri = "https://example.com/iris.csv".into();
        assert!(
            i.validate()
                .unwrap_err()
                .message
                .contains("trainingDataUri")
        );
        assert_eq!(parse_s3_uri("s3://b/k/x.csv"), Some(("b", "k/x.csv")));
        assert_eq!(parse_s3_uri("s3:///k"), None);
    }

    #[test]
    fn endpoint_statuses_are_spelled_as_sagemaker_spells_them() {
        assert_eq!(
            EndpointStatus::from_sagemaker("InService"),
            EndpointStatus::InService
        );
        assert_eq!(
            EndpointStatus::from_sagemaker("Brand-new"),
            EndpointStatus::Unknown
        );
        assert_eq!(
            serde_json::to_value(EndpointStatus::RollingBack).unwrap(),
            "RollingBack"
        );
    }

    #[test]
    fn the_task_token_never_shows_in_debug_output() {
        let input = RequestApprovalInput {
            task_token: "secret-token-value".into(),
            execution_arn: "arn".into(),
            entered_time: None,
            execution_name: "e".into(),
            commit_id: "c".into(),
            model_name: "m".into(),
            training_job_name: "t".into(),
            metrics: Metrics::new(),
            transform_output_uri: "s3://b/o".into(),
            data_version_id: None,
            training_data_uri: None,
            test_data_uri: None,
            test_data_version_id: None,
            data_manifest_uri: None,
            timeout_seconds: 60,
            model_quality_uri: None,
            endpoint_name: None,
            deploy_stage: None,
            staging_report_uri: None,
            staging: None,
        };
        assert!(!format!("{input:?}").contains("secret-token-value"));
    }

    #[test]
    fn stage_names_match_their_serialized_form() {
        for stage in [
            Stage::Started,
            Stage::Trained,
            Stage::QualityGate,
            Stage::Transformed,
            Stage::ApprovalRequested,
            Stage::Approved,
            Stage::Rejected,
            Stage::Deployed,
            Stage::StagingTested,
            Stage::Failed,
        ] {
            assert_eq!(serde_json::to_value(stage).unwrap(), stage.as_str());
        }
    }
}
