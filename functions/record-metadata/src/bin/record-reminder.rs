//! record-reminder: an approval close to its deadline, still undecided, is
//! counted (`ApprovalsNearDeadline`, which an alarm notifies).
//!
//! - Trigger: the one-time EventBridge Scheduler schedule request-approval
//!   makes, as `ReminderRole`, which may invoke this function only.
//! - Input: `shared::contract::ApprovalReminderEvent`; anything else is
//!   `InvalidInput`. Output: `shared::contract::RecordOutput` (nothing recorded).
//! - Environment: `TABLE_NAME`.
//! - Errors: `InvalidInput`, and the AWS names of `shared::ErrorName`.
//!
//! A binary of its own, in record-metadata's crate: its role may read
//! approvals and nothing else, so a schedule made by whoever may pass
//! ReminderRole cannot write the audit trail.

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::logging::init();
    let table_name = shared::config::load(record_metadata::reminder::Reader::from_env)?;
    let sdk = shared::aws::sdk_config().await;
    let reader = record_metadata::reminder::Reader {
        table_name,
        dynamodb: aws_sdk_dynamodb::Client::new(&sdk),
    };
    shared::lambda::serve(|event| record_metadata::reminder::handle_only(&reader, event)).await
}
