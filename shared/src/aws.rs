//! SDK configuration, and the mapping from SDK errors to [`ErrorName`]s.

use aws_config::BehaviorVersion;
pub use aws_config::SdkConfig;
use aws_smithy_http_client::tls;
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::connector_metadata::ConnectorMetadata;
use aws_smithy_runtime_api::client::http::{
    HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_types::config_bag::ConfigBag;
use aws_smithy_types::error::display::DisplayErrorContext;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::error::{ErrorName, Failure};

/// The shared SDK configuration, loaded once per cold start.
///
/// It follows the standard chain, so `AWS_ENDPOINT_URL` (the moto server in
/// tests and the local run) and `AWS_REGION` apply without code here. The SDK's
/// standard retry (exponential backoff with jitter) handles throttling and 5xx.
/// TLS trusts Mozilla's roots, compiled in ([`Roots::Mozilla`]).
pub async fn sdk_config() -> SdkConfig {
    sdk_config_with(Roots::Mozilla).await
}

/// [`sdk_config`] with a choice of trusted roots: the `mlops` command, run by
/// people behind corporate proxies, trusts the system's.
pub async fn sdk_config_with(roots: Roots) -> SdkConfig {
    let mut loader =
        aws_config::defaults(BehaviorVersion::latest()).http_client(https_client(roots));
    match timeouts(std::env::var("SDK_TIMEOUT_SECONDS").ok().as_deref()) {
        Ok(Some(timeouts)) => loader = loader.timeout_config(timeouts),
        Ok(None) => {}
        // Never fatal: a function still answers, with the SDK's defaults.
        Err(reason) => tracing::error!(%reason, "SDK_TIMEOUT_SECONDS ignored"),
    }
    loader.load().await
}

/// The SDK's timeouts from `SDK_TIMEOUT_SECONDS` (template.yaml sets it below
/// each function's own timeout): the whole operation, retries included, within
/// that; each attempt within three quarters of it, so that a quick failure
/// still leaves room for a retry while a slow but sound answer is not cut off;
/// a connection within a quarter. A slow AWS call then ends as a named error (`AwsUnavailable`)
/// the function answers with, not as a Lambda time-out. Unset: the SDK's defaults.
pub fn timeouts(
    seconds: Option<&str>,
) -> Result<Option<aws_config::timeout::TimeoutConfig>, String> {
    let Some(text) = seconds else {
        return Ok(None);
    };
    let whole = crate::clock::seconds_within(text, 0.5, 900.0)?;
    Ok(Some(
        aws_config::timeout::TimeoutConfig::builder()
            .operation_timeout(whole)
            .operation_attempt_timeout(whole * 3 / 4)
            .connect_timeout(whole / 4)
            .build(),
    ))
}

/// Which root certificates TLS trusts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Roots {
    /// Mozilla's, compiled in (webpki-root-certs): no file reads at cold
    /// start, the same on every runtime image. What the Lambdas use.
    Mozilla,
    /// The system's (`/etc/ssl`, `SSL_CERT_FILE`), read and parsed once per
    /// process, at a cost measured in docs/explanation/performance.md (`make bench`).
    System,
}

/// The SDK's HTTPS client (hyper + rustls) with *ring* as the crypto library.
///
/// The SDK's default uses aws-lc, which seeds its random generator on first
/// use, a cost every cold start's first call pays and ring does not (the
/// figures are in docs/explanation/performance.md, measured by `make bench`'s TLS
/// probe). Connections open on the first call, not during init: opening one
/// early only moves the same cost.
pub fn https_client(roots: Roots) -> SharedHttpClient {
    let trust = match roots {
        Roots::System => tls::TrustStore::default(),
        Roots::Mozilla => mozilla_roots(),
    };
    #[cfg(feature = "bench-trust")]
    let trust = bench_trust(trust);
    let builder = aws_smithy_http_client::Builder::new().tls_provider(tls::Provider::Rustls(
        tls::rustls_provider::CryptoMode::Ring,
    ));
    let client = match tls::TlsContext::builder().with_trust_store(trust).build() {
        Ok(context) => builder.tls_context(context).build_https(),
        // Only an invalid extra server name can fail the build; none is set.
        Err(_) => builder.build_https(),
    };
    SharedHttpClient::new(ConnectOnFirstCall(client))
}

/// The SDK's HTTPS client, less its warm-up at client construction.
///
/// The client builds a connector (and so parses every trusted root, ~150)
/// when each SDK client is constructed, and throws it away: the first request
/// builds and caches its own (aws-smithy-http-client, `HyperClient::
/// validate_base_client_config`, meant to load native roots early). A
/// function with three clients parsed the roots four times per cold start.
/// This wrapper skips the warm-up; the one connector is built at the first
/// call, which needed it anyway (`make bench`: docs/explanation/performance.md).
#[derive(Debug)]
struct ConnectOnFirstCall(SharedHttpClient);

impl HttpClient for ConnectOnFirstCall {
    fn http_connector(
        &self,
        settings: &HttpConnectorSettings,
        components: &RuntimeComponents,
    ) -> SharedHttpConnector {
        self.0.http_connector(settings, components)
    }

    fn validate_final_config(
        &self,
        components: &RuntimeComponents,
        cfg: &ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.validate_final_config(components, cfg)
    }

    fn connector_metadata(&self) -> Option<ConnectorMetadata> {
        self.0.connector_metadata()
    }
}

/// `make bench` only (feature `bench-trust`, never in a deployed build): also
/// trust the PEM file named by `MLOPS_BENCH_CA`, the bench's own local TLS
/// endpoints' certificate authority, so that the first AWS call of a cold
/// start is measured over TLS with the deployed roots still loaded.
#[cfg(feature = "bench-trust")]
fn bench_trust(trust: tls::TrustStore) -> tls::TrustStore {
    match std::env::var_os("MLOPS_BENCH_CA").map(std::fs::read) {
        Some(Ok(pem)) => trust.with_pem_certificate(pem),
        _ => trust,
    }
}

/// Mozilla's roots as one PEM bundle, encoded at build time (build.rs).
const MOZILLA_ROOTS_PEM: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/mozilla-roots.pem"));

/// The deployed trust store: Mozilla's roots, compiled in. `make bench`'s
/// experiment `bench-amazon-roots` keeps only Amazon Trust Services' instead
/// ([`amazon_root`]), to measure what a smaller trust store saves.
fn mozilla_roots() -> tls::TrustStore {
    let store = tls::TrustStore::empty().with_native_roots(false);
    if cfg!(feature = "bench-amazon-roots") {
        webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .filter(|cert| amazon_root(cert.as_ref()))
            .fold(store, |trust, cert| {
                trust.with_pem_certificate(crate::pem::pem(cert.as_ref()))
            })
    } else {
        store.with_pem_certificate(MOZILLA_ROOTS_PEM)
    }
}

/// One of the five roots AWS endpoints chain to (Amazon Root CA 1–4 and
/// Starfield Services Root Certificate Authority - G2), by its name's bytes.
fn amazon_root(der: &[u8]) -> bool {
    const NAMES: [&[u8]; 2] = [
        b"Amazon Root CA ",
        b"Starfield Services Root Certificate Authority - G2",
    ];
    NAMES
        .iter()
        .any(|name| der.windows(name.len()).any(|w| w == *name))
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

    #[test]
    fn the_sdks_timeouts_come_from_sdk_timeout_seconds() {
        let t = super::timeouts(Some("4")).unwrap().unwrap();
        assert_eq!(
            t.operation_timeout(),
            Some(std::time::Duration::from_secs(4))
        );
        assert_eq!(
            t.operation_attempt_timeout(),
            Some(std::time::Duration::from_secs(3))
        );
        assert_eq!(t.connect_timeout(), Some(std::time::Duration::from_secs(1)));
        assert!(super::timeouts(None).unwrap().is_none());
        for bad in ["", "four", "0", "1e9", "NaN", "-3"] {
            assert!(super::timeouts(Some(bad)).is_err(), "{bad:?}");
        }
    }

    /// The SDK's warm-up at client construction reaches the HTTPS client's
    /// validate_base_client_config; the wrapper does not pass it on.
    #[test]
    fn constructing_a_client_builds_no_connector() {
        use aws_smithy_runtime_api::client::http::{
            HttpClient, HttpConnectorSettings, SharedHttpClient, SharedHttpConnector,
        };
        use aws_smithy_runtime_api::client::runtime_components::{
            RuntimeComponents, RuntimeComponentsBuilder,
        };
        use aws_smithy_types::config_bag::ConfigBag;
        use std::sync::Arc;
        use std::sync::atomic::{AtomicUsize, Ordering};

        #[derive(Debug, Default)]
        struct WarmUps(Arc<AtomicUsize>);
        impl HttpClient for WarmUps {
            fn http_connector(
                &self,
                _: &HttpConnectorSettings,
                _: &RuntimeComponents,
            ) -> SharedHttpConnector {
                unreachable!("no request is made")
            }
            fn validate_base_client_config(
                &self,
                _: &RuntimeComponentsBuilder,
                _: &ConfigBag,
            ) -> Result<(), aws_smithy_runtime_api::box_error::BoxError> {
                self.0.fetch_add(1, Ordering::SeqCst);
                Ok(())
            }
        }
        let count = Arc::new(AtomicUsize::new(0));
        let inner = SharedHttpClient::new(WarmUps(count.clone()));
        let (components, cfg) = (RuntimeComponentsBuilder::new("test"), ConfigBag::base());
        let wrapped = super::ConnectOnFirstCall(inner.clone());
        assert!(
            wrapped
                .validate_base_client_config(&components, &cfg)
                .is_ok()
        );
        assert_eq!(
            count.load(Ordering::SeqCst),
            0,
            "the wrapper warmed nothing up"
        );
        assert!(inner.validate_base_client_config(&components, &cfg).is_ok());
        assert_eq!(
            count.load(Ordering::SeqCst),
            1,
            "the inner client would have"
        );
    }

    /// The bundle built at build time is every Mozilla root, each encoded as
    /// the runtime encoder would; the trust-store experiment keeps exactly
    /// Amazon Trust Services' five roots.
    #[test]
    fn the_compiled_in_bundle_is_every_mozilla_root_and_the_experiment_five() {
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        let encoded: Vec<u8> = roots
            .iter()
            .flat_map(|c| crate::pem::pem(c.as_ref()))
            .collect();
        assert!(super::MOZILLA_ROOTS_PEM == encoded.as_slice());
        assert!(
            roots.len() > 100,
            "Mozilla's roots, {} of them",
            roots.len()
        );
        let amazon = roots
            .iter()
            .filter(|c| super::amazon_root(c.as_ref()))
            .count();
        assert_eq!(amazon, 5);
    }

    /// The trust store is built when the first HTTPS connection is made: every
    /// compiled-in root must be accepted there (the SDK panics on one it cannot
    /// parse). Port 1 on 127.0.0.1 refuses, after the connector was built.
    #[tokio::test]
    async fn an_https_call_with_the_compiled_in_roots_builds_its_trust_store() {
        use aws_sdk_sagemakerruntime::config::{BehaviorVersion, Credentials, Region};
        let config = aws_sdk_sagemakerruntime::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("a", "b", None, None, "test"))
            .endpoint_url("https://127.0.0.1:1")
            .http_client(https_client(Roots::Mozilla))
            .retry_config(aws_sdk_sagemakerruntime::config::retry::RetryConfig::disabled())
            .build();
        let err = aws_sdk_sagemakerruntime::Client::from_conf(config)
            .invoke_endpoint()
            .endpoint_name("e")
            .body(aws_sdk_sagemakerruntime::primitives::Blob::new("1"))
            .send()
            .await
            .expect_err("nothing listens on port 1");
        assert!(
            format!("{err:?}").contains("onnect"),
            "a connection error, not another failure: {err:?}"
        );
    }

    #[test]
    fn every_compiled_in_root_becomes_pem_that_decodes_to_its_der() {
        use base64::Engine as _;
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS;
        assert!(roots.len() > 100, "Mozilla's store has well over 100 roots");
        for cert in roots {
            let text = String::from_utf8(crate::pem::pem(cert.as_ref())).unwrap();
            let body: String = text
                .strip_prefix("-----BEGIN CERTIFICATE-----\n")
                .and_then(|t| t.strip_suffix("-----END CERTIFICATE-----\n"))
                .expect("PEM armour")
                .lines()
                .inspect(|line| assert!(line.len() <= 64))
                .collect();
            let der = base64::engine::general_purpose::STANDARD
                .decode(body)
                .unwrap();
            assert_eq!(der, cert.as_ref());
        }
    }

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
