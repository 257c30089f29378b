//! What a recorded stage counts ([`shared::metrics`]). Only a stage recorded
//! for the first time counts: a retried call finds its event there and adds
//! nothing.

use shared::contract::{RecordInput, RunStatus, Stage};
use shared::metrics::{self, Emf};

/// The states that deploy; an uncaught failure in one is a failed deploy.
const DEPLOY_STATES: [&str; 4] = [
    "CheckEndpoint",
    "CreateEndpoint",
    "UpdateEndpoint",
    "PollEndpoint",
];

/// What a recorded stage counts (a retried stage counts nothing: the caller
/// emits this only for a new event). Long because it is the table of stages
/// and their metrics.
pub fn for_stage(input: &RecordInput) -> Emf {
    let mut emf = Emf::new();
    let d = &input.details;
    match (input.stage, input.status) {
        (Stage::Started, _) => {
            emf.put(metrics::RUNS_STARTED, 1.0);
        }
        (Stage::Transformed, _) => {
            // The held-out reading, before the gate decides on it. A stopped
            // gate counts its 0 with the failure, so that a model whose
            // metric is missing counts too, and each gated run once.
            if let Some(gate) = &d.gate {
                emf.put(metrics::GATE_VALUE, gate.value);
                if gate.passed() {
                    emf.put(metrics::GATE_PASSED, 1.0);
                }
                emf.property("gateMetric", gate.metric_name.as_str());
            }
        }
        (Stage::Deployed, status) => {
            // Staging's deploy (the run goes on) is a deploy, not yet a run that succeeded.
            if status == RunStatus::Succeeded {
                emf.put(metrics::RUNS_SUCCEEDED, 1.0);
            }
            emf.put(metrics::DEPLOYS_SUCCEEDED, 1.0);
            if let Some(seconds) = d
                .deploy_started_time
                .as_deref()
                .and_then(|start| shared::clock::seconds_between(start, &input.entered_time))
            {
                emf.put(metrics::DEPLOY_DURATION, seconds);
            }
        }
        (Stage::Failed, RunStatus::Failed | RunStatus::TimedOut) => {
            let error = d.error.as_deref().unwrap_or_default();
            if input.status == RunStatus::TimedOut && error == "States.Timeout" {
                emf.put(metrics::APPROVALS_EXPIRED, 1.0);
            } else if error == "QualityGateFailed" {
                emf.put(metrics::GATE_PASSED, 0.0);
            } else {
                emf.put(metrics::RUNS_FAILED, 1.0);
            }
            let in_deploy = d
                .failed_state
                .as_deref()
                .is_some_and(|s| DEPLOY_STATES.contains(&s));
            if error == "EndpointFailed" || in_deploy {
                emf.put(metrics::DEPLOYS_FAILED, 1.0);
            }
        }
        _ => {}
    }
    emf.property("executionName", input.execution_name.as_str())
        .property("stage", input.stage.as_str());
    emf
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::contract::{GateReading, RunDetails};

    fn record(stage: Stage, status: RunStatus, details: RunDetails) -> RecordInput {
        RecordInput {
            execution_name: "run-1".into(),
            execution_arn: None,
            stage,
            status,
            entered_time: "2026-11-21T10:10:00.000Z".into(),
            details,
        }
    }

    fn values(input: &RecordInput) -> Vec<(String, f64)> {
        metrics::check(&for_stage(input).to_json(1)).unwrap_or_default()
    }

    fn v(name: &str, value: f64) -> (String, f64) {
        (name.to_owned(), value)
    }

    #[test]
    fn each_stage_counts_what_it_ends() {
        let gate = |value| RunDetails {
            gate: Some(GateReading {
                metric_name: "validation:accuracy".into(),
                value,
                threshold: 0.9,
            }),
            ..RunDetails::default()
        };
        let failed = |error: &str, state: Option<&str>| RunDetails {
            error: Some(error.into()),
            failed_state: state.map(str::to_owned),
            ..RunDetails::default()
        };
        let cases = [
            (
                record(Stage::Started, RunStatus::Running, RunDetails::default()),
                vec![v("RunsStarted", 1.0)],
            ),
            (
                record(Stage::Transformed, RunStatus::Running, gate(0.95)),
                vec![v("GateValue", 0.95), v("GatePassed", 1.0)],
            ),
            (
                record(Stage::Transformed, RunStatus::Running, gate(0.5)),
                vec![v("GateValue", 0.5)],
            ),
            (
                record(
                    Stage::Failed,
                    RunStatus::Failed,
                    failed("QualityGateFailed", None),
                ),
                vec![v("GatePassed", 0.0)],
            ),
            (
                record(
                    Stage::Failed,
                    RunStatus::TimedOut,
                    failed("States.Timeout", None),
                ),
                vec![v("ApprovalsExpired", 1.0)],
            ),
            (
                record(
                    Stage::Failed,
                    RunStatus::TimedOut,
                    failed("ExecutionTimedOut", None),
                ),
                vec![v("RunsFailed", 1.0)],
            ),
            (
                record(
                    Stage::Failed,
                    RunStatus::Failed,
                    failed("TrainingFailed", Some("Train")),
                ),
                vec![v("RunsFailed", 1.0)],
            ),
            (
                record(
                    Stage::Failed,
                    RunStatus::Failed,
                    failed("EndpointFailed", None),
                ),
                vec![v("RunsFailed", 1.0), v("DeploysFailed", 1.0)],
            ),
            (
                record(
                    Stage::Failed,
                    RunStatus::Failed,
                    failed("AwsUnavailable", Some("UpdateEndpoint")),
                ),
                vec![v("RunsFailed", 1.0), v("DeploysFailed", 1.0)],
            ),
            (
                record(Stage::Rejected, RunStatus::Rejected, RunDetails::default()),
                vec![],
            ),
            (
                record(Stage::Trained, RunStatus::Running, RunDetails::default()),
                vec![],
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(
                values(&input),
                expected,
                "{:?} {:?}",
                input.stage,
                input.details
            );
        }
    }

    #[test]
    fn a_deploy_counts_its_duration_from_the_start_of_polling() {
        let input = record(
            Stage::Deployed,
            RunStatus::Succeeded,
            RunDetails {
                deploy_started_time: Some("2026-11-21T10:02:30.000Z".into()),
                ..RunDetails::default()
            },
        );
        assert_eq!(
            values(&input),
            vec![
                v("RunsSucceeded", 1.0),
                v("DeploysSucceeded", 1.0),
                v("DeployDuration", 450.0)
            ]
        );
        let doc = for_stage(&input).to_json(1);
        assert_eq!(doc["executionName"], "run-1");
        assert_eq!(doc["stage"], "deployed");
    }
}
