//! The approval item, read from DynamoDB.

use shared::TaskToken;
use shared::contract::{Decision, DeployStage, StagingFigures};
use shared::items::ApprovalItem;

/// An approval's lifecycle, as the table stores it.
pub use shared::items::ApprovalStatus as Status;

/// What the page and the decision need. `task_token` never leaves this crate's
/// calls to Step Functions (and its `Debug` shows nothing of it).
#[derive(Debug, Clone, PartialEq)]
pub struct Approval {
    pub status: Status,
    pub task_token: TaskToken,
    /// The run that waits (to ask whether it still runs, never logged with the token).
    pub execution_arn: String,
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
    /// Production's approval (`Stages`): what the staging test measured.
    pub deploy_stage: Option<DeployStage>,
    pub staging: Option<StagingFigures>,
    pub staging_report_uri: Option<String>,
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

/// Reads one figure of a staging test.
type Figure = fn(&StagingFigures) -> f64;

impl Approval {
    /// Whether production's approvers decide this one (after staging passed).
    pub fn for_production(&self) -> bool {
        self.deploy_stage == Some(DeployStage::Production)
    }

    /// A staging test's figures beside production's champion's own (from
    /// its staging report, when it had one), with the difference. Empty
    /// without a staging test.
    pub fn staging_comparison(
        now: Option<&StagingFigures>,
        champion: Option<&StagingFigures>,
    ) -> Vec<MetricRow> {
        let Some(now) = now else {
            return Vec::new();
        };
        let share = |f: &StagingFigures| {
            if f.compared == 0 {
                0.0
            } else {
                100.0 * f.agreed as f64 / f.compared as f64
            }
        };
        // (name, this version, the champion's, higher is better)
        let figures: [(&str, Figure, bool); 5] = [
            ("Held-out rows as the batch transform (%)", share, true),
            (
                "Examples answered as published",
                |f| f.examples_passed as f64,
                true,
            ),
            ("Errors (%)", |f| f.error_percent, false),
            ("p50 latency (ms)", |f| f.p50_ms, false),
            ("p99 latency (ms)", |f| f.p99_ms, false),
        ];
        figures
            .iter()
            .map(|(name, read, higher_is_better)| {
                let value = read(now);
                let (champion, difference, worse) = match champion {
                    Some(c) => {
                        let before = read(c);
                        let worse = if *higher_is_better {
                            value < before
                        } else {
                            value > before
                        };
                        (
                            format!("{before:.1}"),
                            format!("{:+.1}", value - before),
                            worse,
                        )
                    }
                    None => ("not tested".into(), String::new(), false),
                };
                MetricRow {
                    name: (*name).to_owned(),
                    value: format!("{value:.1}"),
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
            execution_arn: item.execution_arn,
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
            deploy_stage: item.deploy_stage,
            staging: item.staging,
            staging_report_uri: item.staging_report_uri,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use askama::Template;

    fn production_approval() -> Approval {
        let item: ApprovalItem = serde_json::from_value(serde_json::json!({
            "pk": "APPROVAL#x", "sk": "APPROVAL", "status": "pending", "taskToken": "t",
            "deadline": 100, "modelName": "model-2", "metrics": {"accuracy": 0.97},
            "championKnown": true, "championMetrics": {"accuracy": 0.93},
            "deployStage": "production",
            "stagingReportUri": "s3://artifacts/transform/run-2/staging-report.json",
            "staging": {"requests": 60, "errors": 0, "errorPercent": 0.0, "p50Ms": 4.0,
                        "p99Ms": 30.0, "agreed": 9, "compared": 9, "examplesPassed": 2, "examples": 2}
        }))
        .unwrap();
        Approval::from(item)
    }

    #[test]
    fn the_production_page_shows_staging_beside_production_and_the_held_out_figures() {
        let a = production_approval();
        assert!(a.for_production());
        let champion = StagingFigures {
            requests: 60,
            p50_ms: 5.0,
            p99_ms: 12.0,
            agreed: 8,
            compared: 9,
            examples_passed: 2,
            examples: 2,
            ..StagingFigures::default()
        };
        let rows = Approval::staging_comparison(a.staging.as_ref(), Some(&champion));
        let row = |name: &str| rows.iter().find(|r| r.name.starts_with(name)).unwrap();
        let agree = row("Held-out rows");
        assert_eq!(
            (agree.value.as_str(), agree.champion.as_str()),
            ("100.0", "88.9")
        );
        assert!(!agree.worse && agree.difference == "+11.1");
        let p99 = row("p99");
        assert!(p99.worse, "a slower p99 is worse: {p99:?}");
        assert_eq!(p99.difference, "+18.0");
        assert!(!row("p50").worse);
        let page = crate::page::ApprovalPage {
            bound: None,
            a: &a,
            rows: a.comparison(),
            sample: Vec::new(),
            matrices: Vec::new(),
            expires: "2026-12-04T10:00:00Z".into(),
            staging_rows: rows,
        }
        .render()
        .unwrap();
        for needed in [
            "Approve this model for production?",
            "On the staging endpoint",
            "staging-report.json",
            "Production now",
            "(worse)",
            "0.93",
        ] {
            assert!(page.contains(needed), "{needed} missing from the page");
        }
        // Without a champion's staging report: the figures, and "not tested".
        let alone = Approval::staging_comparison(a.staging.as_ref(), None);
        assert!(alone.iter().all(|r| r.champion == "not tested" && !r.worse));
    }

    #[test]
    fn a_first_stage_approval_has_no_staging_rows() {
        let mut a = production_approval();
        a.staging = None;
        a.deploy_stage = None;
        assert!(
            Approval::staging_comparison(a.staging.as_ref(), None).is_empty()
                && !a.for_production()
        );
    }
}
