//! Telling Step Functions a decision: SendTaskSuccess or SendTaskFailure,
//! tried a few times, telling a task that is gone apart from one that could
//! not be reached, and a lost answer from a task that was never told.

use aws_sdk_sfn::operation::send_task_failure::SendTaskFailureError;
use aws_sdk_sfn::operation::send_task_success::SendTaskSuccessError;
use shared::contract::{ApprovalDecision, Decision};
use shared::{Failure, TaskToken, aws};

use crate::State;

/// Why Step Functions was not told.
#[derive(Debug)]
pub(crate) enum Untold {
    /// The task no longer waits: timed out, told already, or its execution ended.
    Gone(Failure),
    /// Step Functions could not be reached, or refused for another reason.
    Failed(Failure),
}

/// Tells Step Functions a decision. Long because it holds the two requests,
/// SendTaskSuccess and SendTaskFailure, side by side.
pub(crate) async fn tell(
    state: &State,
    task_token: &TaskToken,
    decision: Decision,
    approver: Option<String>,
    comment: Option<String>,
    decided_at: &str,
) -> Result<(), Untold> {
    // Our own tries, not the SDK's: only here can a lost answer be told apart
    // from a task that was gone from the start (told_once).
    let no_retries = || {
        aws_sdk_sfn::config::Builder::default()
            .retry_config(aws_sdk_sfn::config::retry::RetryConfig::disabled())
    };
    match decision {
        Decision::Approved => {
            let outcome = ApprovalDecision {
                decision,
                approver,
                comment,
                decided_at: decided_at.to_owned(),
            };
            let output = serde_json::to_string(&outcome).unwrap_or_default();
            told_once("SendTaskSuccess", || {
                state
                    .sfn
                    .send_task_success()
                    .task_token(task_token.reveal())
                    .output(output.clone())
                    .customize()
                    .config_override(no_retries())
                    .send()
            })
            .await
        }
        Decision::Rejected => {
            let cause = format!(
                "rejected by {}: {}",
                approver.as_deref().unwrap_or("(unnamed)"),
                comment.as_deref().unwrap_or("no comment")
            );
            told_once("SendTaskFailure", || {
                state
                    .sfn
                    .send_task_failure()
                    .task_token(task_token.reveal())
                    .error("ApprovalRejected")
                    .cause(cause.clone())
                    .customize()
                    .config_override(no_retries())
                    .send()
            })
            .await
        }
    }
}

/// How many times one SendTask call is tried.
const TELL_TRIES: u32 = 3;

/// One SendTask call, tried up to [`TELL_TRIES`] times. A try that got no
/// answer (it timed out, the connection broke, the answer was a 5xx or
/// unreadable) may still have reached Step Functions. When a later try then
/// hears that the task is gone (`TaskTimedOut`, `InvalidToken`,
/// `TaskDoesNotExist`), that earlier try told it: the call succeeded, and the
/// approver is not shown "expired" while the run goes on. A task gone at the
/// first try is gone.
async fn told_once<O, E, Fut>(doing: &str, mut call: impl FnMut() -> Fut) -> Result<(), Untold>
where
    Fut: std::future::Future<Output = Result<O, aws_sdk_sfn::error::SdkError<E>>>,
    E: TaskGone + aws_sdk_sfn::error::ProvideErrorMetadata + std::error::Error + 'static,
{
    use aws_sdk_sfn::error::SdkError;
    let mut maybe_told = false;
    let mut tried = 0;
    loop {
        tried += 1;
        let err = match call().await {
            Ok(_) => return Ok(()),
            Err(err) => err,
        };
        let gone = err.as_service_error().is_some_and(TaskGone::task_gone);
        if maybe_told && gone {
            tracing::info!(
                doing,
                tried,
                "an earlier try told the task; its answer was lost"
            );
            return Ok(());
        }
        let unanswered = match &err {
            SdkError::TimeoutError(_) | SdkError::ResponseError(_) => true,
            SdkError::DispatchFailure(f) => !f.is_user(),
            SdkError::ServiceError(ctx) => ctx.raw().status().is_server_error(),
            _ => false,
        };
        let transient = matches!(
            aws::classify(&err),
            shared::ErrorName::AwsUnavailable | shared::ErrorName::Throttled
        );
        if gone {
            return Err(Untold::Gone(aws::failure(doing, &err)));
        }
        if !transient || tried >= TELL_TRIES {
            return Err(Untold::Failed(aws::failure(doing, &err)));
        }
        maybe_told |= unanswered;
        tokio::time::sleep(std::time::Duration::from_millis(100 << tried)).await;
    }
}

/// Step Functions' answers for a task that no longer waits: timed out, told
/// already, or its execution ended (the SDK's own variants, not codes).
pub(crate) trait TaskGone {
    fn task_gone(&self) -> bool;
}

impl TaskGone for SendTaskSuccessError {
    fn task_gone(&self) -> bool {
        self.is_task_timed_out() || self.is_invalid_token() || self.is_task_does_not_exist()
    }
}

impl TaskGone for SendTaskFailureError {
    fn task_gone(&self) -> bool {
        self.is_task_timed_out() || self.is_invalid_token() || self.is_task_does_not_exist()
    }
}
