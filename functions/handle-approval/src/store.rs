//! The approval in the table: one consistent read, and the conditional
//! writes of a decision (a vote, the claim, its settling, a stale claim taken
//! over, an expiry), each read through [`shared::conditional::written`]:
//! `Missed` when its condition did not hold, so the caller decides what that
//! means; nothing here chooses a page.

use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use shared::clock::epoch_seconds as now;
use shared::conditional::{Lease, Write, written};
use shared::items::{self, ApprovalItem, n, s};
use shared::{ApprovalHash, ApprovalId, Failure, aws, keys};

use crate::approval::{Approval, Status};
use crate::form::Form;
use crate::{STALE_DECIDING_SECONDS, State};

/// The approval the write returned (`ALL_NEW`).
fn returned(out: UpdateItemOutput) -> Result<Approval, Failure> {
    let item = out.attributes.unwrap_or_default();
    items::from_item::<ApprovalItem>(item, "the approval").map(Approval::from)
}

/// The approval item (or an approver's link) with this hash, read consistently.
async fn read_item(state: &State, hash: &ApprovalHash) -> Result<Option<items::Item>, Failure> {
    let got = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::approval_by_hash(hash).attributes()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (approval)", &e))?;
    Ok(got.item)
}

/// An approval item read back; one of another shape is logged, and shown as
/// no approval at all.
fn approval_of(item: items::Item) -> Option<Approval> {
    match items::from_item::<ApprovalItem>(item, "the approval") {
        Ok(approval) => Some(approval.into()),
        Err(failure) => {
            tracing::error!(error = %failure, "an approval item that cannot be read");
            None
        }
    }
}

pub(crate) async fn load(state: &State, hash: &ApprovalHash) -> Result<Option<Approval>, Failure> {
    Ok(read_item(state, hash).await?.and_then(approval_of))
}

/// What a link reaches: the approval's hash, the address the link is bound
/// to, and the approval itself when the link is its own (one read).
pub(crate) type Reached = (ApprovalHash, Option<String>, Option<Approval>);

/// The approval a link decides, and the address it is bound to: the link's
/// own approval, or (a link request-approval made for one named approver)
/// the approval its approvers share, by that approval's hash.
pub(crate) async fn resolve(
    state: &State,
    link_id: &ApprovalId,
) -> Result<Option<Reached>, Failure> {
    let hash = link_id.hash();
    let Some(item) = read_item(state, &hash).await? else {
        return Ok(None);
    };
    Ok(match items::reached(item) {
        Ok(items::Reached::Link(link)) => Some((link.group_hash, Some(link.approver_email), None)),
        // An approval of named approvers is reached only through their links.
        Ok(items::Reached::Approval(a)) if a.bound_only == Some(true) => None,
        Ok(items::Reached::Approval(a)) => Some((hash, None, Some(Approval::from(*a)))),
        Err(failure) => {
            tracing::error!(error = %failure, "an approval item that cannot be read");
            None
        }
    })
}

/// Adds this address to those who approved a pending approval before its
/// deadline, once; answers the approval with the vote in.
pub(crate) async fn add_vote(
    state: &State,
    hash: &ApprovalHash,
    email: &str,
) -> Result<Write<Approval>, Failure> {
    let voted = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::approval_by_hash(hash).attributes()))
        .update_expression("ADD approvals :me")
        .condition_expression(
            "#status = :pending AND deadline > :now AND NOT contains(approvals, :email)",
        )
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":me", AttributeValue::Ss(vec![email.to_owned()]))
        .expression_attribute_values(":email", s(email))
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":now", n(now()))
        .return_values(ReturnValue::AllNew)
        .send()
        .await;
    match written("UpdateItem (approval vote)", voted)? {
        Write::Done(out) => returned(out).map(Write::Done),
        Write::Missed => Ok(Write::Missed),
    }
}

/// One conditional write claims a pending approval before its deadline and
/// records who decided what, so nothing about the decision is written
/// separately (or lost). Long because that write is one request, built in
/// one place.
pub(crate) async fn claim(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    form: &Form,
    decided_at: &str,
) -> Result<Write<Approval>, Failure> {
    let decision = Status::from(form.decision);
    let mut sets = vec![
        "#status = :deciding",
        "decision = :decision",
        "decidedAt = :at",
        "decisionId = :rid",
        "decidingSince = :now",
    ];
    let mut claim = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::approval_by_hash(hash).attributes()))
        // Only from pending: a stale `deciding` is finished with its own
        // decision (finish_stale), never overwritten by a later one.
        .condition_expression("#status = :pending AND deadline > :now")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":deciding", s(Status::Deciding.as_str()))
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .expression_attribute_values(":decision", s(decision.as_str()))
        .expression_attribute_values(":at", s(decided_at))
        .expression_attribute_values(":rid", s(request_id))
        .expression_attribute_values(":now", n(now()))
        .return_values(ReturnValue::AllNew);
    if let Some(approver) = &form.approver {
        sets.push("approver = :approver");
        claim = claim.expression_attribute_values(":approver", s(approver));
    }
    if let Some(comment) = &form.comment {
        sets.push("#comment = :comment");
        claim = claim
            .expression_attribute_names("#comment", "comment")
            .expression_attribute_values(":comment", s(comment));
    }
    let claimed = claim
        .update_expression(format!("SET {}", sets.join(", ")))
        .send()
        .await;
    match written("UpdateItem (claim approval)", claimed)? {
        Write::Done(out) => returned(out).map(Write::Done),
        Write::Missed => Ok(Write::Missed),
    }
}

/// Moves the approval out of `deciding`, but only if this request put it
/// there; back to `pending` forgets the decision it carried.
pub(crate) async fn settle(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    status: Status,
) -> Result<(), Failure> {
    let mut settle = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::approval_by_hash(hash).attributes()))
        .condition_expression("decisionId = :rid")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":rid", s(request_id))
        .expression_attribute_values(":status", s(status.as_str()));
    settle = if status == Status::Pending {
        settle.update_expression(
            "SET #status = :status REMOVE decision, approver, #comment, decidedAt, decisionId, decidingSince",
        )
        .expression_attribute_names("#comment", "comment")
    } else {
        settle.update_expression("SET #status = :status")
    };
    settle
        .send()
        .await
        .map(|_| ())
        .map_err(|e| aws::failure("UpdateItem (settle approval)", &e))
}

/// Takes a stale `deciding` claim over for this request, keeping what it
/// records; missed when another request holds it (or took it first).
pub(crate) async fn take_over(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    now: u64,
) -> Result<Write<()>, Failure> {
    let taken = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::approval_by_hash(hash).attributes()))
        .update_expression("SET decisionId = :rid, decidingSince = :now")
        .condition_expression("#status = :deciding AND decidingSince < :stale")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":rid", s(request_id))
        .expression_attribute_values(":deciding", s(Status::Deciding.as_str()))
        .expression_attribute_values(":now", n(now))
        .expression_attribute_values(
            ":stale",
            n(Lease::stale_before(STALE_DECIDING_SECONDS, now)),
        )
        .send()
        .await;
    Ok(written("UpdateItem (take over a stale claim)", taken)?.map(|_| ()))
}

/// Marks a pending approval past its deadline expired, so the page and the
/// trail agree; missed when another request marked (or decided) it first.
pub(crate) async fn mark_expired(state: &State, hash: &ApprovalHash) -> Result<Write<()>, Failure> {
    let marked = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::approval_by_hash(hash).attributes()))
        .update_expression("SET #status = :expired")
        .condition_expression("#status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":expired", s(Status::Expired.as_str()))
        .expression_attribute_values(":pending", s(Status::Pending.as_str()))
        .send()
        .await;
    Ok(written("UpdateItem (mark expired)", marked)?.map(|_| ()))
}
