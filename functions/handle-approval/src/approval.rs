//! The approval item, read from DynamoDB.

use shared::TaskToken;
use shared::contract::Decision;
use shared::items::ApprovalItem;

/// An approval's lifecycle, as the table stores it.
pub use shared::items::ApprovalStatus as Status;

/// What the page and the decision need. `task_token` never leaves this crate's
/// calls to Step Functions (and its `Debug` shows nothing of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub status: Status,
    pub task_token: TaskToken,
    pub execution_name: String,
    pub commit_id: String,
    pub model_name: String,
    pub training_job_name: String,
    pub transform_output_uri: String,
    pub data_version_id: Option<String>,
    /// What the version learned from and was judged on.
    pub training_data_uri: Option<String>,
    pub test_data_uri: Option<String>,
    /// The held-out object's S3 version (one object), and the run's data
    /// manifest (every object with its version).
    pub test_data_version_id: Option<String>,
    pub data_manifest_uri: Option<String>,
    pub metrics: Vec<(String, String)>,
    pub deadline: u64,
    /// The held-out evaluation's report (its confusion matrix).
    pub model_quality_uri: Option<String>,
    /// What the endpoint serves now: `None` when it was not looked up,
    /// `Some(false)` when nothing is deployed yet.
    pub champion_known: Option<bool>,
    pub champion_execution: Option<String>,
    pub champion_version: Option<String>,
    pub champion_metrics: std::collections::BTreeMap<String, f64>,
    pub champion_quality_uri: Option<String>,
    /// Distinct approvers needed (1 unless the template asks for more).
    pub required: usize,
    /// The addresses that approved so far, while more are needed.
    pub approvals: Vec<String>,
    /// When the approval was requested (epoch seconds), or 0.
    pub created_at: u64,
    pub approver: Option<String>,
    pub comment: Option<String>,
    pub decided_at: Option<String>,
    /// What someone decided (kept through `deciding`).
    pub decision: Option<Decision>,
    /// When the current `deciding` claim was made (epoch seconds), or 0.
    pub deciding_since: u64,
}

/// One metric of the page's comparison: this version, the deployed one, the difference.
#[derive(Debug, Clone, PartialEq)]
pub struct MetricRow {
    pub name: String,
    pub value: String,
    pub champion: String,
    pub difference: String,
    /// Lower than the deployed version's (every held-out metric here is higher-is-better).
    pub worse: bool,
}

impl Approval {
    /// The held-out metrics beside the deployed version's, with the difference.
    pub fn comparison(&self) -> Vec<MetricRow> {
        self.metrics
            .iter()
            .map(|(name, value)| {
                let number: Option<f64> = value.parse().ok();
                let before = self.champion_metrics.get(name).copied();
                let (champion, difference, worse) = match (number, before) {
                    (Some(now), Some(before)) => (
                        before.to_string(),
                        format!("{:+.4}", now - before),
                        now < before,
                    ),
                    (_, None) if self.champion_known == Some(true) => {
                        ("not measured".into(), String::new(), false)
                    }
                    _ => (String::new(), String::new(), false),
                };
                MetricRow {
                    name: name.clone(),
                    value: value.clone(),
                    champion,
                    difference,
                    worse,
                }
            })
            .collect()
    }
}

impl From<ApprovalItem> for Approval {
    fn from(item: ApprovalItem) -> Approval {
        Approval {
            status: item.status,
            task_token: item.task_token,
            execution_name: item.execution_name,
            commit_id: item.commit_id,
            model_name: item.model_name,
            training_job_name: item.training_job_name,
            transform_output_uri: item.transform_output_uri,
            data_version_id: item.data_version_id,
            training_data_uri: item.training_data_uri,
            test_data_uri: item.test_data_uri,
            test_data_version_id: item.test_data_version_id,
            data_manifest_uri: item.data_manifest_uri,
            // In name order, as the item's map is.
            metrics: item
                .metrics
                .into_iter()
                .map(|(name, value)| (name, value.to_string()))
                .collect(),
            deadline: item.deadline,
            created_at: item.created_at,
            model_quality_uri: item.model_quality_uri,
            required: item.required.map_or(1, |n| n as usize),
            approvals: item.approvals,
            champion_known: item.champion_known,
            champion_execution: item.champion_execution,
            champion_version: item.champion_version,
            champion_metrics: item.champion_metrics.unwrap_or_default(),
            champion_quality_uri: item.champion_quality_uri,
            approver: item.approver,
            comment: item.comment,
            decided_at: item.decided_at,
            decision: item.decision,
            deciding_since: item.deciding_since.unwrap_or(0),
        }
    }
}
