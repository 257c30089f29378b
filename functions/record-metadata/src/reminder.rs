//! An approval close to its deadline: the schedule request-approval made
//! fires here. Still pending, it counts `ApprovalsNearDeadline` (which the
//! template's alarm notifies); decided or expired, it does nothing. The
//! deadline itself is Step Functions' `TimeoutSeconds`: this only warns.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::contract::{ApprovalReminder, RecordOutput};
use shared::items::{self, ApprovalDeadline, ApprovalStatus};
use shared::{Failure, aws, keys, metrics};

/// record-reminder's own state: the table to read approvals from, nothing more.
#[derive(Debug)]
pub struct Reader {
    pub table_name: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl Reader {
    pub fn from_env(env: &shared::Env) -> Result<String, shared::ConfigError> {
        env.resource_name("TABLE_NAME")
    }
}

/// record-reminder's handler: an approval reminder, and nothing else. The
/// scheduler's ReminderRole may invoke only this function, so a schedule made
/// by anyone allowed to pass that role cannot write the audit trail: this
/// function only reads an approval and counts a metric.
pub async fn handle_only(
    reader: &Reader,
    event: lambda_runtime::LambdaEvent<serde_json::Value>,
) -> Result<RecordOutput, Failure> {
    let (payload, _) = event.into_parts();
    if payload.get("approvalReminder").is_none() {
        return Err(Failure::invalid_input(
            "record-reminder takes approval reminders only ({\"approvalReminder\": {...}}); the audit trail is record-metadata's",
        ));
    }
    let event: shared::contract::ApprovalReminderEvent = shared::lambda::decode(payload)?;
    handle(reader, event.approval_reminder).await
}

/// Whether an approval in `status` with `deadline` (epoch seconds) is still
/// waiting for a person at `now`.
/// (`None`: the approval is gone.)
pub fn still_waiting(status: Option<ApprovalStatus>, deadline: u64, now: u64) -> bool {
    status == Some(ApprovalStatus::Pending) && now < deadline
}

pub async fn handle(state: &Reader, reminder: ApprovalReminder) -> Result<RecordOutput, Failure> {
    // Only a hash can key an approval: its type refused anything else at decoding.
    let key = keys::approval_by_hash(&reminder.approval_hash);
    let got = state
        .dynamodb
        .get_item()
        .table_name(&state.table_name)
        .key(keys::PK, AttributeValue::S(key.pk))
        .key(keys::SK, AttributeValue::S(key.sk))
        .projection_expression("#status, deadline")
        .expression_attribute_names("#status", "status")
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (approval)", &e))?;
    let approval = got
        .item
        .map(|item| items::from_item::<ApprovalDeadline>(item, "the approval"))
        .transpose()?;
    let status = approval.map(|a| a.status);
    let deadline = approval.map_or(0, |a| a.deadline);
    let now = shared::clock::epoch_seconds();
    if still_waiting(status, deadline, now) {
        let mut emf = metrics::Emf::new();
        emf.put(metrics::APPROVALS_NEAR_DEADLINE, 1.0)
            .property("executionName", reminder.execution_name.as_str())
            .property("approvalHash", reminder.approval_hash.as_str())
            .property("deadline", shared::clock::rfc3339(deadline));
        emf.emit();
        tracing::warn!(
            approval = %reminder.approval_hash,
            deadline = %shared::clock::rfc3339(deadline),
            "approval still undecided close to its deadline"
        );
    } else {
        tracing::info!(approval = %reminder.approval_hash, status = status.map_or("gone", ApprovalStatus::as_str), "reminder: nothing to remind of");
    }
    Ok(RecordOutput {
        recorded: false,
        notified: false,
        names: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_pending_approval_before_its_deadline_is_waiting() {
        let pending = Some(ApprovalStatus::Pending);
        assert!(still_waiting(pending, 2_000, 1_999));
        assert!(!still_waiting(pending, 2_000, 2_000));
        for status in ApprovalStatus::ALL
            .into_iter()
            .filter(|s| *s != ApprovalStatus::Pending)
            .map(Some)
            .chain([None])
        {
            assert!(!still_waiting(status, 2_000, 1_000), "{status:?}");
        }
    }

    #[test]
    fn only_a_hash_keys_an_approval() {
        let refused = |hash: &str| {
            shared::lambda::decode::<shared::contract::ApprovalReminderEvent>(serde_json::json!(
                {"approvalReminder": {"approvalHash": hash, "executionName": "run-1"}}
            ))
            .unwrap_err()
        };
        for bad in [
            "APPROVAL#x",
            &"A".repeat(64),
            "0123456789abcdef0123456789abcdef",
        ] {
            let failure = refused(bad);
            assert_eq!(failure.name, shared::ErrorName::InvalidInput);
            assert!(
                failure.message.starts_with("approvalReminder.approvalHash"),
                "{}",
                failure.message
            );
        }
        let hash = shared::ApprovalId::from_bytes([3; 16]).hash();
        assert!(
            shared::lambda::decode::<shared::contract::ApprovalReminderEvent>(serde_json::json!(
                {"approvalReminder": {"approvalHash": hash, "executionName": "run-1"}}
            ))
            .is_ok()
        );
    }
}
