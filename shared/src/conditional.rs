//! One primitive for the table's conditional writes, and the lease they
//! share. Every "once" in the pipeline is a conditional write whose miss is
//! an answer, not an error: start-retraining's claim on an object version,
//! handle-approval's claim on an approval (`deciding`), request-approval's
//! guard on an approval request, the champion that a later deploy wins. Each
//! sends its write and reads the result through [`written`]: `Done` with
//! what the write returned, `Missed` when the condition did not hold, or the
//! failure of any other error, named as every AWS error is ([`crate::aws`]).
//!
//! Two words mean the same in every crate that uses them:
//! - to **claim** is to take an item for one attempt, writing that attempt's
//!   id (a Lambda request id) into it, with a [`Lease`] so a claim whose
//!   Lambda died can be taken again;
//! - to **settle** is the claimant's own write that moves the item to its
//!   outcome, conditioned on the id it wrote, so nobody else's claim is ever
//!   settled.
//!
//! A **guard** (request-approval's) is different: a record that one task
//! entry was already served, read back by its retries.

use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::delete_item::DeleteItemError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;

use crate::{Failure, aws};

/// What a conditional write did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Write<T> {
    Done(T),
    /// Its condition did not hold: someone else got there first, or the item
    /// is not in the state the write expects.
    Missed,
}

impl<T> Write<T> {
    pub fn is_done(&self) -> bool {
        matches!(self, Write::Done(_))
    }

    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Write<U> {
        match self {
            Write::Done(value) => Write::Done(f(value)),
            Write::Missed => Write::Missed,
        }
    }
}

/// An error that says the write's condition did not hold. A transaction
/// is cancelled as a whole when any of its conditions fails (or it meets
/// another transaction on the same items): a miss, to be read again.
pub trait ConditionFailed {
    fn condition_failed(&self) -> bool;
}

impl ConditionFailed for PutItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for UpdateItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for DeleteItemError {
    fn condition_failed(&self) -> bool {
        self.is_conditional_check_failed_exception()
    }
}

impl ConditionFailed for TransactWriteItemsError {
    fn condition_failed(&self) -> bool {
        self.is_transaction_canceled_exception()
    }
}

/// A conditional write's result: `doing` names the request in a failure.
pub fn written<O, E>(
    doing: &str,
    result: Result<O, SdkError<E, HttpResponse>>,
) -> Result<Write<O>, Failure>
where
    E: ConditionFailed
        + aws_sdk_dynamodb::error::ProvideErrorMetadata
        + std::error::Error
        + 'static,
{
    match result {
        Ok(out) => Ok(Write::Done(out)),
        Err(err) if err.as_service_error().is_some_and(E::condition_failed) => Ok(Write::Missed),
        Err(err) => Err(aws::failure(doing, &err)),
    }
}

/// A claim's lease: held by `holder` (a request id, an attempt) since
/// `since`, for `seconds`. A holder whose Lambda died leaves it; once it runs
/// out another may take it over, and its holder may always take it back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    pub since: u64,
    pub seconds: u64,
}

impl Lease {
    /// Until when it holds (epoch seconds).
    pub fn until(self) -> u64 {
        self.since.saturating_add(self.seconds)
    }

    /// Whether another holder may take it at `now`.
    pub fn ran_out(self, now: u64) -> bool {
        now > self.until()
    }

    /// The latest start of a lease that has run out at `now`: a condition
    /// `since < stale_before(now)` takes over only those.
    pub fn stale_before(seconds: u64, now: u64) -> u64 {
        now.saturating_sub(seconds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::error::{
        ConditionalCheckFailedException, TransactionCanceledException,
    };
    use aws_smithy_runtime_api::http::StatusCode;
    use aws_smithy_types::body::SdkBody;

    fn service<E>(err: E) -> SdkError<E, HttpResponse> {
        SdkError::service_error(
            err,
            HttpResponse::new(StatusCode::try_from(400).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn a_condition_that_did_not_hold_is_a_miss_and_anything_else_a_named_failure() {
        let done: Result<u8, SdkError<UpdateItemError, HttpResponse>> = Ok(7);
        assert_eq!(written("UpdateItem (x)", done).unwrap(), Write::Done(7));
        let missed: Result<(), _> = Err(service(UpdateItemError::ConditionalCheckFailedException(
            ConditionalCheckFailedException::builder().build(),
        )));
        assert_eq!(written("UpdateItem (x)", missed).unwrap(), Write::Missed);
        let cancelled: Result<(), _> = Err(service(
            TransactWriteItemsError::TransactionCanceledException(
                TransactionCanceledException::builder().build(),
            ),
        ));
        assert_eq!(
            written("TransactWriteItems (x)", cancelled).unwrap(),
            Write::Missed
        );
        let other: Result<(), _> = Err(service(PutItemError::generic(
            aws_sdk_dynamodb::error::ErrorMetadata::builder()
                .code("ThrottlingException")
                .build(),
        )));
        let failure = written("PutItem (trigger)", other).unwrap_err();
        assert_eq!(failure.name, crate::ErrorName::Throttled);
        assert!(
            failure.message.contains("PutItem (trigger)"),
            "{}",
            failure.message
        );
    }

    #[test]
    fn a_lease_runs_out_after_its_seconds_and_not_before() {
        let lease = Lease {
            since: 1_000,
            seconds: 120,
        };
        assert_eq!(lease.until(), 1_120);
        assert!(!lease.ran_out(1_120));
        assert!(lease.ran_out(1_121));
        assert_eq!(Lease::stale_before(120, 1_121), 1_001);
        assert_eq!(Lease::stale_before(120, 5), 0);
        assert_eq!(Write::Done(2).map(|v| v * 2), Write::Done(4));
        assert!(!Write::<()>::Missed.is_done());
    }
}
