//! The DynamoDB single-table key layout (docs/explanation/architecture.md, "The table").
//! Handlers build keys only through these functions.

use crate::{ApprovalHash, ApprovalId, TaskToken};

/// Partition key attribute.
pub const PK: &str = "pk";
/// Sort key attribute.
pub const SK: &str = "sk";
/// The table's TTL attribute (epoch seconds).
pub const TTL: &str = "expiresAt";

pub const SUMMARY_SK: &str = "SUMMARY";
pub const APPROVAL_SK: &str = "APPROVAL";
pub const TRIGGER_SK: &str = "TRIGGER";
pub const CHAMPION_SK: &str = "CHAMPION";

/// The version an endpoint serves now (the champion): written by
/// record-metadata when a run deploys, read by request-approval so the
/// approver sees the new version beside it.
pub fn champion(endpoint_name: &str) -> Key {
    Key {
        pk: format!("ENDPOINT#{endpoint_name}"),
        sk: CHAMPION_SK.to_owned(),
    }
}

/// A primary key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub pk: String,
    pub sk: String,
}

impl Key {
    /// As a request's `Key` (`.set_key(Some(key.attributes()))`).
    pub fn attributes(&self) -> crate::items::Item {
        use aws_sdk_dynamodb::types::AttributeValue;
        crate::items::Item::from([
            (PK.to_owned(), AttributeValue::S(self.pk.clone())),
            (SK.to_owned(), AttributeValue::S(self.sk.clone())),
        ])
    }
}

/// The partition of one run: its events and its summary.
pub fn run_pk(execution_name: &str) -> String {
    format!("RUN#{execution_name}")
}

/// One audit event. `time` is RFC 3339 UTC with fixed-width fraction (as Step
/// Functions' `$$.State.EnteredTime`), so sort order is time order.
pub fn run_event(execution_name: &str, time: &str, stage: &str) -> Key {
    Key {
        pk: run_pk(execution_name),
        sk: format!("EVENT#{time}#{stage}"),
    }
}

/// The sort-key prefix shared by all events of a run, for queries.
pub const EVENT_PREFIX: &str = "EVENT#";

pub fn run_summary(execution_name: &str) -> Key {
    Key {
        pk: run_pk(execution_name),
        sk: SUMMARY_SK.to_owned(),
    }
}

/// The approval item, keyed by the id's hash ([`ApprovalId::hash`]), never
/// the id: the id is a bearer capability that lives only in the link emailed
/// to the approver, so whoever can read the table or the logs cannot decide.
pub fn approval(id: &ApprovalId) -> Key {
    approval_by_hash(&id.hash())
}

/// The approval item with this hash: an approver's link points at its
/// approval (the one the approvers share) by this hash.
pub fn approval_by_hash(hash: &ApprovalHash) -> Key {
    Key {
        pk: format!("APPROVAL#{hash}"),
        sk: APPROVAL_SK.to_owned(),
    }
}

/// The guard that makes request-approval idempotent per entry into the
/// approval state: keyed by a SHA-256 of the execution and the time it entered
/// the state (`$$.State.EnteredTime`), which every retry of the task shares,
/// whatever token each attempt gets. A redrive enters the state again.
pub fn approval_request(execution_arn: &str, entered_time: &str) -> Key {
    Key {
        pk: format!(
            "APPROVALTASK#{}",
            crate::naming::digest(&[execution_arn, entered_time])
        ),
        sk: "APPROVALTASK".to_owned(),
    }
}

/// The guard keyed by a SHA-256 of the task token (the token itself is stored
/// only in the approval): for a caller that does not pass the state's entry
/// time.
pub fn approval_task(task_token: &TaskToken) -> Key {
    Key {
        pk: format!("APPROVALTASK#{}", task_token.digest()),
        sk: "APPROVALTASK".to_owned(),
    }
}

/// One pipeline start per object version (or per event sequencer when unversioned).
pub fn trigger(bucket: &str, key: &str, version_or_sequencer: &str) -> Key {
    Key {
        pk: format!("TRIGGER#{bucket}/{key}#{version_or_sequencer}"),
        sk: TRIGGER_SK.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_follow_the_design() {
        assert_eq!(
            run_event("exec-1", "2026-11-21T10:00:00.000Z", "started"),
            Key {
                pk: "RUN#exec-1".into(),
                sk: "EVENT#2026-11-21T10:00:00.000Z#started".into()
            }
        );
        assert_eq!(run_summary("exec-1").sk, "SUMMARY");
        let id = ApprovalId::from_bytes([1; 16]);
        assert_eq!(approval(&id).pk, format!("APPROVAL#{}", id.hash()));
        assert_eq!(
            trigger("bucket", "training/iris.csv", "v1").pk,
            "TRIGGER#bucket/training/iris.csv#v1"
        );
    }

    #[test]
    fn an_approval_is_keyed_by_the_ids_hash_never_the_id() {
        let id = ApprovalId::from_bytes([0xab; 16]);
        let key = approval(&id);
        assert!(!key.pk.contains(id.reveal()), "{}", key.pk);
        assert_eq!(key.pk.len(), "APPROVAL#".len() + 64);
        assert_ne!(id.hash(), ApprovalId::from_bytes([0xac; 16]).hash());
    }

    #[test]
    fn the_approval_guard_never_holds_the_token() {
        let token = TaskToken::new("AQCEAAAA-secret-token");
        let key = approval_task(&token);
        assert!(!key.pk.contains("secret"));
        assert_eq!(key.pk.len(), "APPROVALTASK#".len() + 64);
        assert_eq!(key, approval_task(&token.clone()));
    }

    #[test]
    fn a_key_is_its_two_attributes() {
        let key = run_summary("e").attributes();
        assert_eq!(key.len(), 2);
        assert_eq!(key[PK].as_s().unwrap(), "RUN#e");
        assert_eq!(key[SK].as_s().unwrap(), SUMMARY_SK);
    }

    #[test]
    fn events_of_a_run_sort_by_time() {
        let a = run_event("e", "2026-11-21T10:00:00.000Z", "trained").sk;
        let b = run_event("e", "2026-11-21T10:00:01.000Z", "approvalRequested").sk;
        assert!(a < b && a.starts_with(EVENT_PREFIX));
    }
}
