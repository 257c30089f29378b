//! SDK configuration, and the mapping from SDK errors to [`ErrorName`]s.

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::client::http::SharedHttpClient;
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{ErrorName, Failure};

/// The shared SDK configuration, loaded once per cold start.
///
/// It follows the standard chain, so `AWS_ENDPOINT_URL` (the moto server in
/// tests and the local run) and `AWS_REGION` apply without code here. The SDK's
/// standard retry (exponential backoff with jitter) handles throttling and 5xx.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .load()
        .await
}

/// The SDK's HTTPS client (hyper + rustls) with *ring* as the crypto library.
///
/// The SDK's default uses aws-lc, which seeds its random generator on first
/// use: ~30 ms of every cold start's first call, against ~0.001 ms for ring
/// (`make bench`, the TLS section). Connections open on the first call, not
/// during init: opening one early only moves the same cost (see README,
/// Performance).
pub fn https_client() -> SharedHttpClient {
    aws_smithy_http_client::Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https()
}

/// Error codes AWS services use for throttling.
const THROTTLING: &[&str] = &[
    "Throttling",
    "ThrottlingException",
    "ThrottledException",
    "RequestThrottledException",
    "TooManyRequestsException",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "LimitExceededException",
    "RequestThrottled",
    "SlowDown",
];

const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "ResourceNotFound",
    "PipelineNotFoundException",
    "NotFound",
    "NotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
    "StateMachineDoesNotExist",
    "ExecutionDoesNotExist",
];

const ACCESS_DENIED: &[&str] = &[
    "AccessDenied",
    "AccessDeniedException",
    "UnauthorizedOperation",
    "UnrecognizedClientException",
    "InvalidClientTokenId",
    "AuthorizationError",
];

const TRANSIENT: &[&str] = &[
    "InternalError",
    "InternalFailure",
    "InternalServerError",
    "InternalServerException",
    "ServiceUnavailable",
    "ServiceUnavailableException",
    "RequestTimeout",
    "RequestTimeoutException",
];

/// The error name for an error code and HTTP status from AWS.
pub fn classify_code(code: Option<&str>, status: Option<u16>) -> ErrorName {
    let code = code.unwrap_or_default();
    if THROTTLING.contains(&code) || status == Some(429) {
        ErrorName::Throttled
    } else if ACCESS_DENIED.contains(&code) || status == Some(403) {
        ErrorName::AccessDenied
    } else if NOT_FOUND.contains(&code) {
        ErrorName::ResourceNotFound
    } else if TRANSIENT.contains(&code) || status.is_some_and(|s| s >= 500) {
        ErrorName::AwsUnavailable
    } else {
        ErrorName::AwsRequestRejected
    }
}

/// The error name for a failed SDK call.
pub fn classify<E>(err: &SdkError<E, HttpResponse>) -> ErrorName
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(ctx) => {
            classify_code(ctx.err().code(), Some(ctx.raw().status().as_u16()))
        }
        // Timeouts, connection failures and unreadable responses may pass.
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            ErrorName::AwsUnavailable
        }
        // The request could not be built: our input was wrong.
        _ => ErrorName::InvalidInput,
    }
}

/// A [`Failure`] for a failed SDK call, with what was being done: the service's
/// code and message when it answered (not the raw response), else the cause.
pub fn failure<E>(doing: &str, err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = match err {
        SdkError::ServiceError(ctx) => format!(
            "{} (HTTP {}): {}",
            ctx.err().code().unwrap_or("unknown error"),
            ctx.raw().status().as_u16(),
            ctx.err().message().unwrap_or("no message")
        ),
        SdkError::ResponseError(ctx) => {
            format!("unreadable response (HTTP {})", ctx.raw().status().as_u16())
        }
        SdkError::TimeoutError(_) => "timed out".to_owned(),
        SdkError::DispatchFailure(f) if f.is_timeout() => "timed out connecting".to_owned(),
        SdkError::DispatchFailure(_) => "could not reach the service".to_owned(),
        other => DisplayErrorContext(other).to_string(),
    };
    Failure::new(classify(err), format!("{doing}: {detail}"))
}

/// The service's error code, if the call reached the service.
pub fn error_code<E>(err: &SdkError<E, HttpResponse>) -> Option<&str>
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(ctx) => ctx.err().code(),
        _ => None,
    }
}

/// SageMaker reports "already exists" and "not found" as a `ValidationException`
/// told apart only by its message.
fn sagemaker_validation<E>(err: &SdkError<E, HttpResponse>, says: impl Fn(&str) -> bool) -> bool
where
    E: ProvideErrorMetadata,
{
    match err {
        SdkError::ServiceError(ctx) => {
            ctx.err().code() == Some("ValidationException") && ctx.err().message().is_some_and(says)
        }
        _ => false,
    }
}

/// A create of a name in use: "Cannot create already existing ...".
pub fn is_sagemaker_already_existing<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    sagemaker_validation(err, |m| m.contains("already exist"))
}

/// A describe of a missing endpoint, config or model: "Could not find ...".
pub fn is_sagemaker_not_found<E>(err: &SdkError<E, HttpResponse>) -> bool
where
    E: ProvideErrorMetadata,
{
    sagemaker_validation(err, |m| m.starts_with("Could not find"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_is_recognised_by_code_or_status() {
        assert_eq!(
            classify_code(Some("ThrottlingException"), Some(400)),
            ErrorName::Throttled
        );
        assert_eq!(classify_code(None, Some(429)), ErrorName::Throttled);
    }

    #[test]
    fn server_faults_are_transient_and_client_faults_are_not() {
        assert_eq!(
            classify_code(Some("Whatever"), Some(503)),
            ErrorName::AwsUnavailable
        );
        assert!(classify_code(Some("Whatever"), Some(503)).is_transient());
        assert_eq!(
            classify_code(Some("ValidationException"), Some(400)),
            ErrorName::AwsRequestRejected
        );
        assert!(!classify_code(Some("ValidationException"), Some(400)).is_transient());
    }

    #[test]
    fn missing_resources_and_denials_are_named() {
        assert_eq!(
            classify_code(Some("PipelineNotFoundException"), Some(400)),
            ErrorName::ResourceNotFound
        );
        assert_eq!(
            classify_code(Some("AccessDeniedException"), Some(400)),
            ErrorName::AccessDenied
        );
    }
}
