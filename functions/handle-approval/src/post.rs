//! A POST decides once: parse the form, resolve the link, (with named
//! approvers) vote, claim the approval in one conditional write, tell Step
//! Functions, settle the claim, render. Each step that cannot go on answers
//! its own page.

use lambda_http::{Body, Request, Response};
use shared::ApprovalHash;
use shared::clock::{epoch_seconds as now, rfc3339};
use shared::contract::Decision;
use shared::metrics::{self, Emf};

use crate::approval::{Approval, Status};
use crate::decide::{self, Missed};
use crate::form::{self, Form, MAX_APPROVERS};
use crate::store;
use crate::tell::{Untold, tell};
use crate::{STALE_DECIDING_SECONDS, State, page, target};
use shared::conditional::Write;

pub(crate) async fn decide(state: &State, request: &Request, request_id: &str) -> Response<Body> {
    let (hash, bound, _) = match target(state, request).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let mut form = match form::read_form(request) {
        Ok(form) => form,
        Err(page) => return *page,
    };
    if let Some(email) = &bound {
        form::bind(&mut form, email);
        if form.decision == Decision::Approved {
            match vote(state, &hash, email).await {
                Ok(approvers) => form.approver = form::field(&approvers, MAX_APPROVERS),
                Err(page) => return *page,
            }
        }
    }
    form.comment = form::within_registry(form.comment.take(), form.approver.as_deref());
    let decided_at = rfc3339(now());
    let approval = match store::claim(state, &hash, request_id, &form, &decided_at).await {
        Ok(Write::Done(approval)) => approval,
        Ok(Write::Missed) => return already(state, &hash, request_id).await,
        Err(failure) => {
            tracing::error!(approval = %hash, error = %failure, "could not claim");
            return page::unavailable();
        }
    };
    let told = tell(
        state,
        &approval.task_token,
        form.decision,
        form.approver.clone(),
        form.comment.clone(),
        &decided_at,
    )
    .await;
    conclude(state, &hash, request_id, approval, form, decided_at, told).await
}

/// An approval that asks for `required` distinct approvers: adds this
/// address to those who approved; answers who decides once they are enough,
/// else the page the approver sees. One approver is the usual case and
/// decides at once.
async fn vote(
    state: &State,
    hash: &ApprovalHash,
    email: &str,
) -> Result<String, Box<Response<Body>>> {
    let a = match store::add_vote(state, hash, email).await {
        Ok(Write::Done(a)) => a,
        // Decided, expired, or this address approved already: read which.
        Ok(Write::Missed) => match store::load(state, hash).await {
            Ok(Some(a))
                if a.status == Status::Pending && a.approvals.iter().any(|e| e == email) =>
            {
                // Enough votes on a pending approval: an earlier press
                // counted, but its claim or Step Functions failed and the
                // approval reopened. This press decides again.
                return decide::deciders(&a, email)
                    .ok_or_else(|| Box::new(page::waiting(&a, email, true)));
            }
            // Not pending: the claim that follows answers its page.
            _ => return Ok(email.to_owned()),
        },
        Err(failure) => {
            tracing::error!(approval = %hash, error = %failure, "could not record the vote");
            return Err(Box::new(page::unavailable()));
        }
    };
    decide::deciders(&a, email).ok_or_else(|| {
        tracing::info!(
            approvals = a.approvals.len(),
            required = a.required,
            "approval recorded; waiting for more"
        );
        Box::new(page::waiting(&a, email, false))
    })
}

/// Step Functions has the decision: settled, counted, and shown.
async fn decided(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    approval: Approval,
    form: Form,
    decided_at: String,
) -> Response<Body> {
    let decision = Status::from(form.decision);
    if let Err(failure) = store::settle(state, hash, request_id, decision).await {
        // Step Functions has the decision; a stale `deciding` is shown as such.
        tracing::warn!(approval = %hash, error = %failure, "decision sent but not recorded");
    }
    tracing::Span::current().record("execution", approval.execution_name.as_str());
    tracing::info!(decision = decision.as_str(), "decided");
    decision_metrics(decision, approval.created_at, now())
        .property("executionName", approval.execution_name.as_str())
        .property("approvalHash", hash.as_str())
        .emit();
    let mut shown = approval;
    shown.status = decision;
    shown.approver = form.approver;
    shown.comment = form.comment;
    shown.decided_at = Some(decided_at);
    let title = if decision == Status::Approved {
        "Approved"
    } else {
        "Rejected"
    };
    page::decided(200, &shown, title)
}

/// Records what Step Functions answered and shows it: decided, expired (the
/// task is gone), or back to pending (Step Functions could not be told).
async fn conclude(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    approval: Approval,
    form: Form,
    decided_at: String,
    told: Result<(), Untold>,
) -> Response<Body> {
    match told {
        Ok(()) => decided(state, hash, request_id, approval, form, decided_at).await,
        Err(Untold::Gone(failure))
            if approval.deadline > now() && still_runs(state, &approval).await =>
        {
            // The approval task failed after request-approval emailed (its
            // answer was lost) and Step Functions is about to ask again under
            // a new token, which the retry moves this approval to. Reopened,
            // the decision is taken then; marked expired, it would be lost.
            tracing::info!(approval = %hash, error = %failure, "the task is being retried: approval reopened");
            if let Err(e) = store::settle(state, hash, request_id, Status::Pending).await {
                tracing::error!(approval = %hash, error = %e, "could not reopen the approval; it reopens after {STALE_DECIDING_SECONDS} s");
            }
            page::message(
                503,
                "Not recorded yet",
                "The run is asking for this approval again (its first request was retried), so your decision could not reach it. Nothing was decided: reload this page in a minute and decide again.",
                vec![("Run", approval.execution_name.clone())],
            )
        }
        Err(Untold::Gone(failure)) => {
            tracing::info!(approval = %hash, error = %failure, "the task is gone: approval expired");
            if let Err(e) = store::settle(state, hash, request_id, Status::Expired).await {
                // The page is right either way; the item stays `deciding` until the next request reads it.
                tracing::warn!(approval = %hash, execution = %approval.execution_name, error = %e, "could not mark the approval expired");
            }
            page::expired(&approval)
        }
        Err(Untold::Failed(failure)) => {
            tracing::error!(approval = %hash, error = %failure, "Step Functions not told; back to pending");
            if let Err(e) = store::settle(state, hash, request_id, Status::Pending).await {
                tracing::error!(approval = %hash, error = %e, "could not reopen the approval; it reopens after {STALE_DECIDING_SECONDS} s");
            }
            page::unavailable()
        }
    }
}

/// Whether the approval's run is still running (its task gone before the
/// deadline means a retry is coming). Not known: no, as before.
async fn still_runs(state: &State, approval: &Approval) -> bool {
    let described = state
        .sfn
        .describe_execution()
        .execution_arn(&approval.execution_arn)
        .send()
        .await;
    match described {
        Ok(d) => d.status() == &aws_sdk_sfn::types::ExecutionStatus::Running,
        Err(e) => {
            tracing::warn!(error = %shared::aws::failure("DescribeExecution", &e), "could not tell whether the run still runs");
            false
        }
    }
}

/// What a decision counts: approved or rejected, and the time it took.
pub fn decision_metrics(decision: Status, created_at: u64, now: u64) -> Emf {
    let mut emf = Emf::new();
    match decision {
        Status::Approved => emf.put(metrics::APPROVALS_APPROVED, 1.0),
        _ => emf.put(metrics::APPROVALS_REJECTED, 1.0),
    };
    if created_at > 0 && now >= created_at {
        #[allow(clippy::cast_precision_loss)]
        emf.put(metrics::TIME_TO_DECIDE, (now - created_at) as f64);
    }
    emf
}

/// A `deciding` claim whose Lambda died before it settled: finish *that*
/// decision (who, what, when, as first recorded), whatever this request
/// asked, and answer "Already decided". Step Functions may already have it;
/// a token it no longer knows before the deadline means it does.
async fn finish_stale(
    state: &State,
    hash: &ApprovalHash,
    request_id: &str,
    first: Approval,
) -> Response<Body> {
    let Some(decision) = first.decision else {
        return page::unavailable();
    };
    let now = now();
    match store::take_over(state, hash, request_id, now).await {
        Ok(Write::Done(())) => {}
        Ok(Write::Missed) => return page::being_recorded(),
        Err(failure) => {
            tracing::error!(approval = %hash, error = %failure, "could not take over");
            return page::being_recorded();
        }
    }
    let decided_at = first.decided_at.clone().unwrap_or_default();
    let told = tell(
        state,
        &first.task_token,
        decision,
        first.approver.clone(),
        first.comment.clone(),
        &decided_at,
    )
    .await;
    let gone = matches!(told, Err(Untold::Gone(_)));
    let Some(status) = decide::stale_outcome(&first, told.is_ok(), gone, now) else {
        if let Err(Untold::Failed(failure)) = &told {
            tracing::error!(approval = %hash, error = %failure, "could not finish a stale decision; it is retried later");
        }
        return page::unavailable();
    };
    if let Err(failure) = store::settle(state, hash, request_id, status).await {
        tracing::warn!(approval = %hash, error = %failure, "stale decision finished but not recorded");
    }
    tracing::info!(approval = %hash, execution = %first.execution_name, status = status.as_str(), "finished a stale decision");
    let mut shown = first;
    shown.status = status;
    if shown.status == Status::Expired {
        return page::expired(&shown);
    }
    page::decided(409, &shown, "Already decided")
}

/// The page for a POST whose claim missed: the approval is not pending
/// before its deadline any more, and [`decide::missed`] says why.
async fn already(state: &State, hash: &ApprovalHash, request_id: &str) -> Response<Body> {
    let a = match store::load(state, hash).await {
        Ok(Some(a)) => a,
        Ok(None) => return page::not_found(),
        Err(failure) => {
            tracing::error!(approval = %hash, error = %failure, "could not read the approval");
            return page::unavailable();
        }
    };
    match decide::missed(&a, now()) {
        Missed::Decided => page::decided(409, &a, "Already decided"),
        Missed::Stale => finish_stale(state, hash, request_id, a).await,
        Missed::BeingRecorded => page::being_recorded(),
        Missed::ChangedBack => page::message(
            409,
            "Your decision was not recorded",
            "The approval changed while your decision was being recorded. Reload the page to see where it stands, and decide again if it still waits for a decision.",
            Vec::new(),
        ),
        Missed::PastDeadline => {
            // Another request may have marked it first (a miss); anything else is worth a line.
            if let Err(failure) = store::mark_expired(state, hash).await {
                tracing::warn!(approval = %hash, execution = %a.execution_name, error = %failure, "could not mark the approval expired");
            }
            page::expired(&a)
        }
        Missed::Expired => page::expired(&a),
    }
}
