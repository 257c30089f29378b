//! The fixed set of error names.
//!
//! A failed invocation reports one of these as its `errorType`, so the state
//! machine's `Retry` and `Catch` can name them. The "Error names" table in docs/reference/configuration.md
//! table is this enum; change both together.

use std::fmt;

use lambda_runtime::Diagnostic;
use serde::{Deserialize, Serialize};

/// A stable error name. `as_str` is what reaches Step Functions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum ErrorName {
    /// The event does not match the contract, or a value in it is out of range. Not retried.
    InvalidInput,
    /// AWS throttled the call after the SDK's own retries. Retried with backoff.
    Throttled,
    /// AWS answered 5xx, timed out, or could not be reached, after the SDK's retries. Retried.
    AwsUnavailable,
    /// A named AWS resource (pipeline, table, endpoint, job) does not exist. Not retried.
    ResourceNotFound,
    /// The function's role may not make the call. Not retried: fix the policy.
    AccessDenied,
    /// AWS rejected the request as invalid (any other 4xx). Not retried.
    AwsRequestRejected,
    /// A resource with this name exists with different content. Not retried.
    Conflict,
    /// The endpoint is `Creating`, `Updating` or `RollingBack`: try again later. Retried.
    EndpointBusy,
    /// The endpoint is `Failed`; the message carries SageMaker's reason. Not retried.
    EndpointFailed,
    /// A person rejected the model. Raised through `SendTaskFailure`.
    ApprovalRejected,
    /// The training metric missed the threshold. Raised by the state machine.
    QualityGateFailed,
    /// The staging endpoint disagreed with the batch transform, missed a
    /// published example, erred too often or answered too slowly. Raised by
    /// test-staging; production is left as it was. Not retried.
    StagingTestFailed,
}

impl ErrorName {
    /// Every name, in the order of docs/reference/configuration.md's table.
    pub const ALL: [ErrorName; 12] = [
        ErrorName::InvalidInput,
        ErrorName::Throttled,
        ErrorName::AwsUnavailable,
        ErrorName::ResourceNotFound,
        ErrorName::AccessDenied,
        ErrorName::AwsRequestRejected,
        ErrorName::Conflict,
        ErrorName::EndpointBusy,
        ErrorName::EndpointFailed,
        ErrorName::ApprovalRejected,
        ErrorName::QualityGateFailed,
        ErrorName::StagingTestFailed,
    ];

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorName::InvalidInput => "InvalidInput",
            ErrorName::Throttled => "Throttled",
            ErrorName::AwsUnavailable => "AwsUnavailable",
            ErrorName::ResourceNotFound => "ResourceNotFound",
            ErrorName::AccessDenied => "AccessDenied",
            ErrorName::AwsRequestRejected => "AwsRequestRejected",
            ErrorName::Conflict => "Conflict",
            ErrorName::EndpointBusy => "EndpointBusy",
            ErrorName::EndpointFailed => "EndpointFailed",
            ErrorName::ApprovalRejected => "ApprovalRejected",
            ErrorName::QualityGateFailed => "QualityGateFailed",
            ErrorName::StagingTestFailed => "StagingTestFailed",
        }
    }

    /// Whether trying again later may succeed; the state machine retries exactly these.
    pub const fn is_transient(self) -> bool {
        matches!(
            self,
            ErrorName::Throttled | ErrorName::AwsUnavailable | ErrorName::EndpointBusy
        )
    }
}

impl fmt::Display for ErrorName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A failed invocation: a stable name and a message for people.
///
/// Messages must never carry a task token or any other secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{name}: {message}")]
pub struct Failure {
    pub name: ErrorName,
    pub message: String,
}

impl Failure {
    pub fn new(name: ErrorName, message: impl Into<String>) -> Self {
        Failure {
            name,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Failure::new(ErrorName::InvalidInput, message)
    }

    pub fn is_transient(&self) -> bool {
        self.name.is_transient()
    }
}

impl From<Failure> for Diagnostic {
    fn from(failure: Failure) -> Diagnostic {
        Diagnostic {
            error_type: failure.name.as_str().to_owned(),
            error_message: failure.message,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_their_serialized_form() {
        for name in ErrorName::ALL {
            let json = serde_json::to_string(&name).unwrap();
            assert_eq!(json, format!("\"{}\"", name.as_str()));
        }
    }

    #[test]
    fn a_failure_becomes_a_diagnostic_with_its_name() {
        let d: Diagnostic = Failure::new(ErrorName::EndpointBusy, "endpoint is Updating").into();
        assert_eq!(d.error_type, "EndpointBusy");
        assert_eq!(d.error_message, "endpoint is Updating");
    }

    #[test]
    fn only_throttling_outages_and_busy_endpoints_are_transient() {
        let transient: Vec<_> = ErrorName::ALL
            .into_iter()
            .filter(|n| n.is_transient())
            .collect();
        assert_eq!(
            transient,
            [
                ErrorName::Throttled,
                ErrorName::AwsUnavailable,
                ErrorName::EndpointBusy
            ]
        );
    }
}
