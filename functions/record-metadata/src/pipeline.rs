//! A failed Source or Build action of the pipeline: no run started, so
//! nothing else records it. It becomes the `failed` stage of a trail named
//! after the pipeline execution (`pipeline-<execution id>`), with the stage,
//! the action, CodePipeline's summary and the page of the action's log, and
//! it is notified once like any failed run (RunsFailed, RunsFailedAlarm).

use lambda_runtime::LambdaEvent;
use shared::Failure;
use shared::contract::{
    PipelineActionChange, RecordInput, RecordOutput, RunDetails, RunStatus, Stage,
};

/// An event's text as the trail keeps it: no control characters, at most 512 characters.
fn audit_text(text: &str) -> String {
    text.chars().filter(|c| !c.is_control()).take(512).collect()
}

use crate::State;

/// The trail a failed pipeline execution is recorded under.
pub fn execution_name(execution_id: &str) -> String {
    format!("pipeline-{execution_id}")
}

/// The error name for a failed action of `stage`: `SourceFailed`, `BuildFailed`.
pub fn error_name(stage: &str) -> String {
    let stage: String = stage
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .take(40)
        .collect();
    format!("{stage}Failed")
}

/// What failed and where its log is, every part the event gave cleaned.
fn cause(d: &shared::contract::PipelineActionDetail) -> String {
    let result = d.execution_result.as_ref();
    let summary = result
        .and_then(|r| r.external_execution_summary.as_deref())
        .unwrap_or("no summary");
    let mut cause = format!(
        "The pipeline's {} stage failed at {} ({}), so no run started: {}.",
        audit_text(&d.stage),
        audit_text(&d.action),
        audit_text(
            result
                .and_then(|r| r.error_code.as_deref())
                .unwrap_or("no error code")
        ),
        audit_text(summary)
    );
    if let Some(url) = result.and_then(|r| r.external_execution_url.as_deref()) {
        cause.push_str(&format!(" Its log: {}", audit_text(url)));
    }
    cause
}

/// The record the event makes, or why it is refused.
pub fn record(change: &PipelineActionChange) -> Result<RecordInput, Failure> {
    let d = &change.detail;
    if d.state != "FAILED" {
        return Err(Failure::invalid_input(format!(
            "state {:?}: only FAILED pipeline actions are recorded",
            d.state
        )));
    }
    let id_ok = !d.execution_id.is_empty()
        && d.execution_id.len() <= 100
        && d.execution_id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-');
    if !id_ok {
        return Err(Failure::invalid_input(
            "detail.execution-id must be CodePipeline's execution id (letters, digits and '-')",
        ));
    }
    Ok(RecordInput {
        execution_name: execution_name(&d.execution_id),
        execution_arn: change.resources.first().cloned(),
        stage: Stage::Failed,
        status: RunStatus::Failed,
        entered_time: change.time.clone(),
        details: RunDetails {
            failed_state: Some(format!(
                "{}/{}",
                audit_text(&d.stage),
                audit_text(&d.action)
            )),
            error: Some(error_name(&d.stage)),
            cause: Some(cause(d)),
            ..RunDetails::default()
        },
    })
}

/// Records and notifies a failed pipeline action, once (a redelivery finds
/// its event already recorded).
pub async fn handle(
    state: &State,
    change: PipelineActionChange,
    context: lambda_runtime::Context,
) -> Result<RecordOutput, Failure> {
    let input = record(&change)?;
    crate::handle(state, LambdaEvent::new(input, context)).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event() -> PipelineActionChange {
        serde_json::from_str(&testkit::event_text(
            "record-metadata",
            "pipeline-build-failed.json",
        ))
        .unwrap()
    }

    #[test]
    fn a_failed_build_is_the_failed_stage_of_its_pipeline_executions_trail_with_its_log() {
        let input = record(&event()).unwrap();
        assert_eq!(input.stage, Stage::Failed);
        assert!(input.execution_name.starts_with("pipeline-"));
        assert_eq!(input.details.error.as_deref(), Some("BuildFailed"));
        let cause = input.details.cause.unwrap();
        assert!(
            cause.contains("Build stage failed at BuildModelContainer"),
            "{cause}"
        );
        assert!(cause.contains("https://"), "{cause}");
    }

    #[test]
    fn only_a_failed_action_with_codepipelines_own_id_is_recorded() {
        let mut succeeded = event();
        succeeded.detail.state = "SUCCEEDED".into();
        assert!(record(&succeeded).is_err());
        let mut steered = event();
        steered.detail.execution_id = "x#SUMMARY".into();
        assert!(record(&steered).is_err());
    }
}
