//! The approval item, read from DynamoDB.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::contract::Decision;

/// An approval's lifecycle: pending → deciding → approved, rejected or expired
/// (deciding back to pending when Step Functions could not be told).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Pending,
    Deciding,
    Approved,
    Rejected,
    Expired,
}

impl Status {
    /// As the table stores it.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Pending => "pending",
            Status::Deciding => "deciding",
            Status::Approved => "approved",
            Status::Rejected => "rejected",
            Status::Expired => "expired",
        }
    }

    pub fn parse(text: &str) -> Option<Status> {
        [
            Status::Pending,
            Status::Deciding,
            Status::Approved,
            Status::Rejected,
            Status::Expired,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

impl From<Decision> for Status {
    fn from(decision: Decision) -> Status {
        match decision {
            Decision::Approved => Status::Approved,
            Decision::Rejected => Status::Rejected,
        }
    }
}

/// What the page and the decision need. `task_token` never leaves this crate's
/// calls to Step Functions.
#[derive(Clone, PartialEq)]
pub struct Approval {
    pub id: String,
    pub status: Status,
    pub task_token: String,
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

impl std::fmt::Debug for Approval {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Approval")
            .field("id", &self.id)
            .field("status", &self.status)
            .field("task_token", &"<redacted>")
            .field("execution_name", &self.execution_name)
            .finish_non_exhaustive()
    }
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

    pub fn from_item(id: &str, item: &HashMap<String, AttributeValue>) -> Option<Approval> {
        let s = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
        let mut metrics: Vec<(String, String)> = item
            .get("metrics")
            .and_then(|v| v.as_m().ok())
            .map(|m| {
                m.iter()
                    .map(|(k, v)| (k.clone(), v.as_n().cloned().unwrap_or_default()))
                    .collect()
            })
            .unwrap_or_default();
        metrics.sort();
        Some(Approval {
            id: id.to_owned(),
            status: Status::parse(&s("status")?)?,
            task_token: s("taskToken")?,
            execution_name: s("executionName").unwrap_or_default(),
            commit_id: s("commitId").unwrap_or_default(),
            model_name: s("modelName").unwrap_or_default(),
            training_job_name: s("trainingJobName").unwrap_or_default(),
            transform_output_uri: s("transformOutputUri").unwrap_or_default(),
            data_version_id: s("dataVersionId"),
            training_data_uri: s("trainingDataUri"),
            test_data_uri: s("testDataUri"),
            test_data_version_id: s("testDataVersionId"),
            data_manifest_uri: s("dataManifestUri"),
            metrics,
            deadline: item
                .get("deadline")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            created_at: item
                .get("createdAt")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
            model_quality_uri: s("modelQualityUri"),
            required: item
                .get("required")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(1),
            approvals: item
                .get("approvals")
                .and_then(|v| v.as_ss().ok())
                .cloned()
                .unwrap_or_default(),
            champion_known: item
                .get("championKnown")
                .and_then(|v| v.as_bool().ok())
                .copied(),
            champion_execution: s("championExecution"),
            champion_version: s("championVersion"),
            champion_metrics: item
                .get("championMetrics")
                .and_then(|v| v.as_m().ok())
                .map(|m| {
                    m.iter()
                        .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                        .collect()
                })
                .unwrap_or_default(),
            champion_quality_uri: s("championQualityUri"),
            approver: s("approver"),
            comment: s("comment"),
            decided_at: s("decidedAt"),
            decision: match s("decision").as_deref() {
                Some("approved") => Some(Decision::Approved),
                Some("rejected") => Some(Decision::Rejected),
                _ => None,
            },
            deciding_since: item
                .get("decidingSince")
                .and_then(|v| v.as_n().ok())
                .and_then(|n| n.parse().ok())
                .unwrap_or(0),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_status_reads_back_as_stored_and_nothing_else_is_one() {
        for s in [
            Status::Pending,
            Status::Deciding,
            Status::Approved,
            Status::Rejected,
            Status::Expired,
        ] {
            assert_eq!(Status::parse(s.as_str()), Some(s));
        }
        assert_eq!(Status::parse("Approved"), None);
        assert_eq!(Status::from(Decision::Rejected), Status::Rejected);
    }
}
