//! The reminder: a one-time EventBridge Scheduler schedule, shortly before
//! the deadline, that asks record-reminder whether the approval is still
//! undecided. Best effort, like a notice.

use shared::contract::{ApprovalReminder, ApprovalReminderEvent, RequestApprovalInput};
use shared::{ApprovalHash, aws};

use aws_sdk_scheduler::error::BuildError;
use aws_sdk_scheduler::types::{
    DeadLetterConfig, FlexibleTimeWindow, FlexibleTimeWindowMode, Target,
};

use crate::{Reminder, State};

/// A one-time schedule's target is tried for a day (the Scheduler's most),
/// then the event goes to the dead-letter queue: never dropped in silence.
pub fn schedule_retries() -> aws_sdk_scheduler::types::RetryPolicy {
    aws_sdk_scheduler::types::RetryPolicy::builder()
        .maximum_retry_attempts(185)
        .maximum_event_age_in_seconds(86_400)
        .build()
}

/// When the reminder fires (epoch seconds), if the approval lasts longer than
/// the reminder's lead.
pub fn reminder_time(timeout_seconds: u64, seconds_before: u64, now: u64) -> Option<u64> {
    (timeout_seconds > seconds_before).then(|| now + timeout_seconds - seconds_before)
}

/// The schedule's target (record-reminder, with the approval's hash and run,
/// retried then dead-lettered) and its window (none: on time).
fn target(
    reminder: &Reminder,
    input: &RequestApprovalInput,
    hash: &ApprovalHash,
) -> Result<(Target, FlexibleTimeWindow), BuildError> {
    let payload = serde_json::json!(ApprovalReminderEvent {
        approval_reminder: ApprovalReminder {
            approval_hash: hash.clone(),
            execution_name: input.execution_name.clone(),
        },
    });
    let target = Target::builder()
        .arn(&reminder.target_arn)
        .role_arn(&reminder.role_arn)
        .input(payload.to_string())
        .retry_policy(schedule_retries())
        .set_dead_letter_config(
            reminder
                .dead_letter_arn
                .as_ref()
                .map(|arn| DeadLetterConfig::builder().arn(arn).build()),
        )
        .build()?;
    let window = FlexibleTimeWindow::builder()
        .mode(FlexibleTimeWindowMode::Off)
        .build()?;
    Ok((target, window))
}

/// Best effort, like a notice: the deadline itself is Step Functions'
/// `TimeoutSeconds`, so a reminder that cannot be scheduled is logged, never
/// a failed request. A retry finds its schedule there (ConflictException).
/// Long because it is one CreateSchedule request and its three answers.
pub(crate) async fn remind(
    state: &State,
    input: &RequestApprovalInput,
    hash: &ApprovalHash,
    now: u64,
) {
    let Some(reminder) = &state.config.reminder else {
        return;
    };
    let Some(at) = reminder_time(input.timeout_seconds, reminder.seconds_before, now) else {
        return;
    };
    let name = shared::naming::approval_reminder_name(&reminder.name_token, hash);
    let (target, window) = match target(reminder, input, hash) {
        Ok(parts) => parts,
        Err(e) => {
            tracing::warn!(error = %e, "no reminder: the schedule could not be built");
            return;
        }
    };
    let created = state
        .scheduler
        .create_schedule()
        .name(&name)
        .description(
            format!(
                "Reminds of run {}'s approval before its deadline",
                input.execution_name
            )
            .chars()
            .take(512)
            .collect::<String>(),
        )
        // at() takes no zone suffix: the time is UTC.
        .schedule_expression(format!(
            "at({})",
            shared::clock::rfc3339(at).trim_end_matches('Z')
        ))
        .flexible_time_window(window)
        .action_after_completion(aws_sdk_scheduler::types::ActionAfterCompletion::Delete)
        .target(target)
        .send()
        .await;
    match created {
        Ok(_) => {
            tracing::info!(schedule = %name, at = %shared::clock::rfc3339(at), "reminder scheduled")
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) =>
        {
            tracing::info!(schedule = %name, "reminder already scheduled (a retry)");
        }
        Err(err) => {
            tracing::warn!(error = %aws::failure("CreateSchedule (reminder)", &err), "no reminder")
        }
    }
}
