//! An approval close to its deadline: the schedule request-approval made
//! fires here. Still pending, it counts `ApprovalsNearDeadline` (which the
//! template's alarm notifies); decided or expired, it does nothing. The
//! deadline itself is Step Functions' `TimeoutSeconds`: this only warns.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::contract::{ApprovalReminder, RecordOutput};
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
    let event: shared::contract::ApprovalReminderEvent = shared::door::decode(payload)?;
    handle(reader, event.approval_reminder).await
}

/// Whether an approval in `status` with `deadline` (epoch seconds) is still
/// waiting for a person at `now`.
pub fn still_waiting(status: &str, deadline: u64, now: u64) -> bool {
    status == "pending" && now < deadline
}

fn is_hash(text: &str) -> bool {
    text.len() == 64
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

pub async fn handle(state: &Reader, reminder: ApprovalReminder) -> Result<RecordOutput, Failure> {
    // Only a hash can key an approval: anything else is refused, not looked up.
    if !is_hash(&reminder.approval_hash) {
        return Err(Failure::invalid_input(
            "approvalReminder.approvalHash must be 64 lowercase hex characters (an approval's SHA-256)",
        ));
    }
    let got = state
        .dynamodb
        .get_item()
        .table_name(&state.table_name)
        .key(
            keys::PK,
            AttributeValue::S(format!("APPROVAL#{}", reminder.approval_hash)),
        )
        .key(keys::SK, AttributeValue::S(keys::APPROVAL_SK.into()))
        .projection_expression("#status, deadline")
        .expression_attribute_names("#status", "status")
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (approval)", &e))?;
    let item = got.item();
    let status = item
        .and_then(|i| i.get("status"))
        .and_then(|v| v.as_s().ok())
        .map_or("gone", String::as_str);
    let deadline = item
        .and_then(|i| i.get("deadline"))
        .and_then(|v| v.as_n().ok())
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
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
        tracing::info!(approval = %reminder.approval_hash, status, "reminder: nothing to remind of");
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
        assert!(still_waiting("pending", 2_000, 1_999));
        assert!(!still_waiting("pending", 2_000, 2_000));
        for status in ["approved", "rejected", "deciding", "expired", "gone"] {
            assert!(!still_waiting(status, 2_000, 1_000), "{status}");
        }
    }

    #[test]
    fn only_a_hash_keys_an_approval() {
        assert!(is_hash(&keys::approval_hash(
            "0123456789abcdef0123456789abcdef"
        )));
        assert!(!is_hash("APPROVAL#x"));
        assert!(!is_hash(&"A".repeat(64)));
    }
}
