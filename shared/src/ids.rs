//! The identifiers an approval is reached by, each a type of its own, so that
//! passing one where another is meant does not compile.
//!
//! - [`ApprovalId`]: the bearer capability in an emailed link. Whoever holds
//!   it may decide, so it is never stored, logged or answered: its `Debug`
//!   shows nothing of it, it has no `Display`, and nothing serializes it.
//! - [`ApprovalHash`]: what the table, the logs and the trail hold of an id
//!   (its SHA-256, hex).
//! - [`TaskToken`]: Step Functions' `$$.Task.Token`, stored in the approval
//!   item only; its `Debug` shows nothing of it either.

use serde::{Deserialize, Serialize};

/// Whether `text` is `len` lowercase hex characters.
fn lower_hex(text: &str, len: usize) -> bool {
    text.len() == len
        && text
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// An approval id: 128 bits, as 32 lowercase hex characters (URL-safe).
#[derive(Clone, PartialEq, Eq)]
pub struct ApprovalId(String);

impl ApprovalId {
    /// The id of 16 random bytes (the caller reads them from the OS).
    pub fn from_bytes(bytes: [u8; 16]) -> ApprovalId {
        ApprovalId(crate::naming::hex(&bytes))
    }

    /// An id from a link, if it has an id's shape (checked before any lookup).
    pub fn parse(text: &str) -> Option<ApprovalId> {
        lower_hex(text, 32).then(|| ApprovalId(text.to_owned()))
    }

    /// The id itself, for the one place it goes: the link in an email.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// What may be kept of it.
    pub fn hash(&self) -> ApprovalHash {
        ApprovalHash(crate::naming::digest(&[&self.0]))
    }
}

impl std::fmt::Debug for ApprovalId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ApprovalId(<redacted>)")
    }
}

/// An approval id's SHA-256, 64 lowercase hex characters: how the table keys
/// an approval and how a log line or the trail names it. Deserializing
/// refuses anything of another shape (a reminder's payload, an item).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ApprovalHash(String);

impl ApprovalHash {
    pub fn parse(text: &str) -> Option<ApprovalHash> {
        lower_hex(text, 64).then(|| ApprovalHash(text.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for ApprovalHash {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        ApprovalHash::parse(&text)
            .ok_or_else(|| "an approval hash is 64 lowercase hex characters".to_owned())
    }
}

impl From<ApprovalHash> for String {
    fn from(hash: ApprovalHash) -> String {
        hash.0
    }
}

impl std::fmt::Display for ApprovalHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// A task token. Serialized as itself (into the approval item, and to Step
/// Functions), but never shown by `Debug`.
#[derive(Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(transparent)]
pub struct TaskToken(String);

impl TaskToken {
    pub fn new(token: impl Into<String>) -> TaskToken {
        TaskToken(token.into())
    }

    /// The token itself, for Step Functions' SendTask* calls.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Its SHA-256: what a guard may be keyed by.
    pub fn digest(&self) -> String {
        crate::naming::digest(&[&self.0])
    }
}

impl From<&str> for TaskToken {
    fn from(token: &str) -> TaskToken {
        TaskToken(token.to_owned())
    }
}

impl From<String> for TaskToken {
    fn from(token: String) -> TaskToken {
        TaskToken(token)
    }
}

impl std::fmt::Debug for TaskToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TaskToken(<redacted>)")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "0123456789abcdef0123456789abcdef";

    #[test]
    fn an_id_has_one_shape_and_neither_it_nor_a_token_is_shown_by_debug() {
        let id = ApprovalId::parse(ID).unwrap();
        assert_eq!(id.reveal(), ID);
        for bad in [
            "",
            "0123456789ABCDEF0123456789ABCDEF",
            "0123456789abcdef0123456789abcde",
            "0123456789abcdef0123456789abcdef0",
            "../../../etc/passwd0123456789abc",
        ] {
            assert_eq!(ApprovalId::parse(bad), None, "{bad}");
        }
        let token = TaskToken::new("AQCEAAAA-secret-token");
        let shown = format!("{id:?} {token:?} {:?}", (id.clone(), token.clone()));
        assert!(!shown.contains(ID) && !shown.contains("secret"), "{shown}");
        assert_eq!(ApprovalId::from_bytes([0xab; 16]).reveal(), "ab".repeat(16));
    }

    #[test]
    fn the_hash_is_the_ids_sha256_and_reads_back_only_in_its_shape() {
        let hash = ApprovalId::parse(ID).unwrap().hash();
        assert_eq!(hash.as_str(), crate::naming::digest(&[ID]));
        assert!(!hash.as_str().contains(ID));
        let json = serde_json::to_value(&hash).unwrap();
        assert_eq!(serde_json::from_value::<ApprovalHash>(json).unwrap(), hash);
        for bad in [
            serde_json::json!(ID),
            serde_json::json!("AB".repeat(32)),
            serde_json::json!(7),
        ] {
            assert!(serde_json::from_value::<ApprovalHash>(bad).is_err());
        }
    }

    #[test]
    fn a_token_serializes_as_itself_for_the_item_and_step_functions() {
        let token: TaskToken = serde_json::from_value(serde_json::json!("tok")).unwrap();
        assert_eq!(token.reveal(), "tok");
        assert_eq!(serde_json::to_value(&token).unwrap(), "tok");
        assert_eq!(token.digest(), crate::naming::digest(&["tok"]));
    }
}
