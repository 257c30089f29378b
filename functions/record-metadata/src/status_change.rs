//! A run that ended FAILED, TIMED_OUT or ABORTED, as EventBridge reports it.
//!
//! Failures worth resuming are not caught in the definition: the failed task
//! stays the execution's failure point, so `mlops runs redrive` runs it again.
//! They are recorded here instead: which state failed (from the execution's
//! history), a named error, the cause, and a notice saying how to resume.
//! Decided ends (the gate, a rejection, an approval timeout, a version that
//! cannot be deployed) are recorded by the definition itself; for those this
//! records nothing a second time.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::contract::{
    ExecutionInput, ExecutionStatus, ExecutionStatusChange, RecordInput, RecordOutput, RunDetails,
    RunStatus, Stage, StatusChangeDetail,
};
use shared::items::{self, RunSummary};
use shared::naming::RunNames;
use shared::{Failure, aws, keys};

use crate::State;

/// The error a run that failed at `state` is recorded with: the job's own
/// name for SageMaker's jobs, the function's error name for a Lambda task
/// (already one of ours), `StepFailed` for another interpreter error.
pub fn named_error(state: Option<&str>, status: ExecutionStatus, error: Option<&str>) -> String {
    match status {
        ExecutionStatus::Aborted => return "Aborted".into(),
        ExecutionStatus::TimedOut => return "ExecutionTimedOut".into(),
        _ => {}
    }
    let error = error.unwrap_or("StepFailed");
    if !error.starts_with("States.") {
        return error.to_owned();
    }
    match state {
        Some("Train" | "Tune") => "TrainingFailed".into(),
        Some("Transform") => "TransformFailed".into(),
        Some("Process") => "ProcessingFailed".into(),
        _ => "StepFailed".into(),
    }
}

/// The last state the execution entered: where it failed, and where a redrive
/// resumes. Newest events first, a page of up to 1,000: the latest entry is
/// the one with the highest event id (whatever order the page comes in).
async fn failed_state(state: &State, execution_arn: &str) -> Result<Option<String>, Failure> {
    let mut token = None;
    for _ in 0..25 {
        let page = state
            .sfn
            .get_execution_history()
            .execution_arn(execution_arn)
            .reverse_order(true)
            .max_results(1000)
            .set_next_token(token)
            .send()
            .await
            .map_err(|e| aws::failure("GetExecutionHistory", &e))?;
        let latest = page
            .events()
            .iter()
            .filter_map(|e| {
                e.state_entered_event_details()
                    .map(|d| (e.id(), d.name().to_owned()))
            })
            .max_by_key(|(id, _)| *id);
        if let Some((_, name)) = latest {
            return Ok(Some(name));
        }
        token = page.next_token().map(str::to_owned);
        if token.is_none() {
            break;
        }
    }
    Ok(None)
}

/// Whether the definition already recorded this attempt's end (a decided end):
/// the summary is final and no older than the attempt's start.
async fn already_recorded(
    state: &State,
    execution: &str,
    attempt_started: u64,
) -> Result<bool, Failure> {
    let summary = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, AttributeValue::S(keys::run_pk(execution)))
        .key(keys::SK, AttributeValue::S(keys::SUMMARY_SK.into()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (summary)", &e))?;
    let Some(item) = summary.item else {
        return Ok(false);
    };
    let summary: RunSummary = items::from_item(item, "the run's summary")?;
    let started = shared::clock::rfc3339(attempt_started / 1000);
    // Both RFC 3339 UTC: compare to the second.
    let last = &summary.last_event_time;
    Ok(summary.status.is_end()
        && last.get(..19).unwrap_or_default() >= started.get(..19).unwrap_or_default())
}

/// The `failed` stage for a run that ended at `failed_at`: the named error,
/// the cause with how to resume, and the run's lineage from its input.
fn failure_record(
    d: &StatusChangeDetail,
    failed_at: Option<&str>,
    attempt_started: u64,
) -> RecordInput {
    let error = named_error(failed_at, d.status, d.error.as_deref());
    let cause = format!(
        "{} at state {}: {}{}. Resume it from that state with `mlops runs redrive {}` once the cause is fixed.",
        d.error.as_deref().unwrap_or(d.status.as_str()),
        failed_at.unwrap_or("(unknown)"),
        d.cause.as_deref().unwrap_or("no cause given"),
        if d.status == ExecutionStatus::Failed {
            ""
        } else {
            " (the whole execution)"
        },
        d.name
    );
    let input: Option<ExecutionInput> = d
        .input
        .as_deref()
        .and_then(|i| serde_json::from_str(i).ok());
    let stopped = d.stop_date.unwrap_or(attempt_started);
    RecordInput {
        execution_name: d.name.clone(),
        execution_arn: Some(d.execution_arn.clone()),
        stage: Stage::Failed,
        status: if d.status == ExecutionStatus::TimedOut {
            RunStatus::TimedOut
        } else {
            RunStatus::Failed
        },
        entered_time: format!(
            "{}.{:03}Z",
            &shared::clock::rfc3339(stopped / 1000)[..19],
            stopped % 1000
        ),
        details: RunDetails {
            commit_id: input.as_ref().map(|i| i.commit_id.clone()),
            image_uri: input.as_ref().map(|i| i.image_uri.clone()),
            training_data_uri: input.as_ref().map(|i| i.training_data_uri.clone()),
            test_data_uri: input.as_ref().map(|i| i.test_data_uri.clone()),
            data_version_id: input.as_ref().and_then(|i| i.data_version_id.clone()),
            failed_state: failed_at.map(str::to_owned),
            error: Some(error),
            cause: Some(cause),
            ..RunDetails::default()
        },
    }
}

/// Records the end EventBridge reported, once, and notifies.
pub async fn handle(state: &State, change: ExecutionStatusChange) -> Result<RecordOutput, Failure> {
    let d = change.detail;
    if !d.status.is_uncaught_end() {
        return Err(Failure::invalid_input(format!(
            "status {:?}: only FAILED, TIMED_OUT and ABORTED runs are recorded from status changes",
            d.status.as_str()
        )));
    }
    let names = Some(RunNames::for_execution(&state.config.name_token, &d.name));
    let attempt_started = d.redrive_date.unwrap_or(d.start_date);
    if already_recorded(state, &d.name, attempt_started).await? {
        tracing::info!(execution = %d.name, status = d.status.as_str(), "the definition recorded this end; nothing to add");
        return Ok(RecordOutput {
            recorded: false,
            notified: false,
            names,
        });
    }
    let failed_at = failed_state(state, &d.execution_arn).await?;
    let record = failure_record(&d, failed_at.as_deref(), attempt_started);
    crate::handle(
        state,
        lambda_runtime::LambdaEvent::new(record, lambda_runtime::Context::default()),
    )
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_job_is_named_after_its_step_and_a_lambda_error_keeps_its_name() {
        assert_eq!(
            named_error(
                Some("Train"),
                ExecutionStatus::Failed,
                Some("States.TaskFailed")
            ),
            "TrainingFailed"
        );
        assert_eq!(
            named_error(
                Some("Tune"),
                ExecutionStatus::Failed,
                Some("States.Timeout")
            ),
            "TrainingFailed"
        );
        assert_eq!(
            named_error(
                Some("Transform"),
                ExecutionStatus::Failed,
                Some("States.TaskFailed")
            ),
            "TransformFailed"
        );
        assert_eq!(
            named_error(
                Some("Process"),
                ExecutionStatus::Failed,
                Some("States.Timeout")
            ),
            "ProcessingFailed"
        );
        assert_eq!(
            named_error(
                Some("CreateEndpoint"),
                ExecutionStatus::Failed,
                Some("AwsUnavailable")
            ),
            "AwsUnavailable"
        );
        assert_eq!(
            named_error(
                Some("Register"),
                ExecutionStatus::Failed,
                Some("States.Runtime")
            ),
            "StepFailed"
        );
        assert_eq!(named_error(None, ExecutionStatus::Aborted, None), "Aborted");
        assert_eq!(
            named_error(None, ExecutionStatus::TimedOut, None),
            "ExecutionTimedOut"
        );
    }
}
