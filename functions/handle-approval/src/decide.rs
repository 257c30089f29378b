//! What to do, from what the table says and the time: pure, so each rule is
//! tested alone. The handlers read, ask here, then write, tell and render.

use shared::conditional::Lease;

use crate::STALE_DECIDING_SECONDS;
use crate::approval::{Approval, Status};

/// What a GET shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum View {
    /// The page with its buttons: pending, before the deadline.
    Decide,
    Expired,
    /// A decision is being recorded just now.
    Deciding,
    Decided,
}

pub(crate) fn view(a: &Approval, now: u64) -> View {
    match a.status {
        Status::Pending if now < a.deadline => View::Decide,
        Status::Pending | Status::Expired => View::Expired,
        Status::Deciding => View::Deciding,
        Status::Approved | Status::Rejected => View::Decided,
    }
}

/// Who decides, once the approval holds enough votes: the first approver
/// alone when one is required (whoever else approved meanwhile), else every
/// approver so far. `None` while votes are missing.
pub(crate) fn deciders(a: &Approval, email: &str) -> Option<String> {
    if a.required <= 1 {
        Some(email.to_owned())
    } else if a.approvals.len() >= a.required {
        Some(a.approvals.join(" and "))
    } else {
        None
    }
}

/// Why a claim missed, from the approval read after it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Missed {
    Decided,
    /// A `deciding` claim whose Lambda died: finish *its* decision.
    Stale,
    BeingRecorded,
    /// Still pending before its deadline: it changed under this request and
    /// changed back (a claim that failed and was undone). Never expired
    /// before the deadline: this request's decision is simply not recorded.
    ChangedBack,
    /// Pending past its deadline: to be marked expired.
    PastDeadline,
    Expired,
}

/// The lease a `deciding` claim holds: a request whose Lambda died leaves
/// it, and after [`STALE_DECIDING_SECONDS`] another may finish its decision.
fn deciding(a: &Approval) -> Lease {
    Lease {
        since: a.deciding_since,
        seconds: STALE_DECIDING_SECONDS,
    }
}

pub(crate) fn missed(a: &Approval, now: u64) -> Missed {
    match a.status {
        Status::Approved | Status::Rejected => Missed::Decided,
        Status::Deciding if deciding(a).ran_out(now) => Missed::Stale,
        Status::Deciding => Missed::BeingRecorded,
        Status::Pending if now < a.deadline => Missed::ChangedBack,
        Status::Pending => Missed::PastDeadline,
        Status::Expired => Missed::Expired,
    }
}

/// Where a stale decision ends once Step Functions was asked again: `told`
/// (it took the decision now) or `gone` (it no longer knows the token).
/// Before the deadline a gone task cannot have timed out: the first request
/// told it, so the decision stands. `None`: not reached, try later.
pub(crate) fn stale_outcome(a: &Approval, told: bool, gone: bool, now: u64) -> Option<Status> {
    let decision = Status::from(a.decision?);
    match (told, gone) {
        (true, _) => Some(decision),
        (false, true) if now < a.deadline => Some(decision),
        (false, true) => Some(Status::Expired),
        (false, false) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::contract::Decision;
    use shared::items::ApprovalItem;

    fn approval(status: Status, deadline: u64) -> Approval {
        let item: ApprovalItem = serde_json::from_value(serde_json::json!({
            "pk": "APPROVAL#x", "sk": "APPROVAL", "status": status, "taskToken": "t",
            "deadline": deadline,
        }))
        .unwrap();
        Approval::from(item)
    }

    #[test]
    fn a_get_shows_the_buttons_only_while_pending_before_the_deadline() {
        assert_eq!(view(&approval(Status::Pending, 100), 99), View::Decide);
        assert_eq!(view(&approval(Status::Pending, 100), 100), View::Expired);
        assert_eq!(view(&approval(Status::Expired, 100), 1), View::Expired);
        assert_eq!(view(&approval(Status::Deciding, 100), 1), View::Deciding);
        assert_eq!(view(&approval(Status::Rejected, 100), 1), View::Decided);
    }

    #[test]
    fn one_approver_decides_alone_and_more_decide_together_once_enough() {
        let mut a = approval(Status::Pending, 100);
        assert_eq!(deciders(&a, "ana@x.org").as_deref(), Some("ana@x.org"));
        a.required = 2;
        a.approvals = vec!["ana@x.org".into()];
        assert_eq!(deciders(&a, "ana@x.org"), None);
        a.approvals.push("bob@x.org".into());
        assert_eq!(
            deciders(&a, "bob@x.org").as_deref(),
            Some("ana@x.org and bob@x.org")
        );
    }

    #[test]
    fn a_missed_claim_is_named_by_what_the_approval_says_now() {
        let now = 1_000;
        assert_eq!(
            missed(&approval(Status::Approved, 2_000), now),
            Missed::Decided
        );
        let mut deciding = approval(Status::Deciding, 2_000);
        deciding.deciding_since = now - STALE_DECIDING_SECONDS;
        assert_eq!(missed(&deciding, now), Missed::BeingRecorded);
        deciding.deciding_since = now - STALE_DECIDING_SECONDS - 1;
        assert_eq!(missed(&deciding, now), Missed::Stale);
        assert_eq!(
            missed(&approval(Status::Pending, 2_000), now),
            Missed::ChangedBack
        );
        assert_eq!(
            missed(&approval(Status::Pending, now), now),
            Missed::PastDeadline
        );
        assert_eq!(
            missed(&approval(Status::Expired, 2_000), now),
            Missed::Expired
        );
    }

    #[test]
    fn a_stale_decision_stands_unless_its_task_is_gone_after_the_deadline() {
        let mut a = approval(Status::Deciding, 100);
        assert_eq!(stale_outcome(&a, true, false, 50), None, "no decision kept");
        a.decision = Some(Decision::Rejected);
        assert_eq!(stale_outcome(&a, true, false, 500), Some(Status::Rejected));
        assert_eq!(stale_outcome(&a, false, true, 50), Some(Status::Rejected));
        assert_eq!(stale_outcome(&a, false, true, 100), Some(Status::Expired));
        assert_eq!(stale_outcome(&a, false, false, 50), None);
    }
}
