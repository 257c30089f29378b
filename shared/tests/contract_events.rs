//! Every state-machine payload in `events/` is its shared type, field for
//! field: it parses, and serializes back to the same JSON (nothing dropped,
//! nothing renamed).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde::de::DeserializeOwned;
use shared::contract::*;

fn events(dir: &str) -> Vec<PathBuf> {
    let dir = Path::new(
        &std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned()),
    )
    .join("../events")
    .join(dir);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    assert!(!files.is_empty(), "no events in {}", dir.display());
    files
}

fn round_trips<T: DeserializeOwned + Serialize>(dir: &str) -> Vec<T> {
    events(dir)
        .into_iter()
        .filter(|path| !is_status_change(path))
        .map(|path| {
            let raw: serde_json::Value =
                serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
            let typed: T = serde_json::from_value(raw.clone())
                .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(
                serde_json::to_value(&typed).unwrap(),
                raw,
                "{}",
                path.display()
            );
            typed
        })
        .collect()
}

#[test]
fn check_endpoint_events_are_its_input() {
    round_trips::<CheckEndpointInput>("check-endpoint");
}

#[test]
fn deploy_endpoint_events_are_its_input() {
    let inputs = round_trips::<DeployEndpointInput>("deploy-endpoint");
    assert!(inputs.iter().any(|i| i.deployment.is_some()));
}

#[test]
fn evaluate_model_events_are_its_input() {
    for input in round_trips::<EvaluateInput>("evaluate-model") {
        assert!(input.transform_output_uri.ends_with('/'));
    }
}

#[test]
fn request_approval_events_are_its_input() {
    for input in round_trips::<RequestApprovalInput>("request-approval") {
        assert!(input.timeout_seconds > 0);
    }
}

/// EventBridge's status-change events and the approvals' reminders, which
/// record-metadata also takes.
fn is_status_change(path: &Path) -> bool {
    std::fs::read_to_string(path)
        .is_ok_and(|t| t.contains("\"detail-type\"") || t.contains("\"approvalReminder\""))
}

#[test]
fn record_metadata_takes_the_reminder_the_schedule_sends() {
    let reminders: Vec<ApprovalReminderEvent> = events("record-metadata")
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("approvalReminder")
        })
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect();
    assert_eq!(reminders.len(), 1);
    assert_eq!(
        reminders[0].approval_reminder.approval_hash.as_str().len(),
        64
    );
}

#[test]
fn record_metadata_takes_the_execution_status_change_event_eventbridge_sends() {
    let changes: Vec<ExecutionStatusChange> = events("record-metadata")
        .into_iter()
        .filter(|p| {
            let text = std::fs::read_to_string(p).unwrap();
            text.contains("\"detail-type\"") && text.contains("aws.states")
        })
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect();
    assert!(!changes.is_empty());
    for c in changes {
        assert_eq!(c.detail_type, "Step Functions Execution Status Change");
        let input: ExecutionInput =
            serde_json::from_str(c.detail.input.as_deref().unwrap()).unwrap();
        assert!(!input.commit_id.is_empty());
    }
}

/// CodePipeline's action event, as its documentation shows it: a failed
/// Build action, with the page of its log.
#[test]
fn record_metadata_takes_the_pipeline_action_event_eventbridge_sends() {
    let changes: Vec<PipelineActionChange> = events("record-metadata")
        .into_iter()
        .filter(|p| {
            std::fs::read_to_string(p)
                .unwrap()
                .contains("aws.codepipeline")
        })
        .map(|p| serde_json::from_str(&std::fs::read_to_string(&p).unwrap()).unwrap())
        .collect();
    assert_eq!(changes.len(), 1);
    let c = &changes[0];
    assert_eq!(c.detail_type, "CodePipeline Action Execution State Change");
    assert_eq!(
        (c.detail.stage.as_str(), c.detail.state.as_str()),
        ("Build", "FAILED")
    );
    assert!(
        c.detail
            .execution_result
            .as_ref()
            .unwrap()
            .external_execution_url
            .is_some()
    );
}

#[test]
fn record_metadata_events_are_its_input() {
    let inputs = round_trips::<RecordInput>("record-metadata");
    assert!(
        inputs
            .iter()
            .any(|i| i.stage == Stage::Failed && i.details.error.is_some())
    );
}

#[test]
fn the_sample_execution_input_is_valid() {
    for input in round_trips::<ExecutionInput>("pipeline") {
        input.validate().unwrap();
    }
}

#[test]
fn the_sample_rollback_input_is_valid() {
    for input in round_trips::<DeployInput>("rollback") {
        input.validate().unwrap();
        assert!(input.rollback);
    }
}
