//! invoke-endpoint: the inference API's handler, as a library so that the
//! fuzz target and the benchmarks reach the same parser the Lambda runs.

pub mod request;
pub mod response;

use std::convert::Infallible;
use std::time::Instant;

use aws_sdk_sagemakerruntime::primitives::Blob;
use aws_smithy_types::error::display::DisplayErrorContext;
use lambda_http::http::header::CONTENT_TYPE;
use lambda_http::{Body, Request, RequestExt, Response};
use shared::metrics::{self, Emf};
use shared::{ConfigError, Env};

use request::{Limits, parse};
use response::{ApiError, answer_body, error_response, ok_response};

#[derive(Debug, Clone)]
pub struct Config {
    /// The endpoint `POST /predict` serves; never taken from the request.
    pub endpoint_name: String,
    /// With two stages: the endpoint `POST /staging/predict` serves
    /// (`STAGING_ENDPOINT_NAME`; unset or empty, that route is not served).
    pub staging_endpoint_name: Option<String>,
    pub limits: Limits,
    /// How long InvokeEndpoint may take in all, retries included. It must end
    /// before the function's own timeout, or the caller gets API Gateway's
    /// 503 instead of this API's 504 (`INVOKE_TIMEOUT_SECONDS`).
    pub invoke_timeout: std::time::Duration,
}

/// The default `INVOKE_TIMEOUT_SECONDS`: template.yaml gives the function 15 s.
pub const DEFAULT_INVOKE_TIMEOUT_SECONDS: u64 = 12;

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let defaults = Limits::default();
        let limits = Limits {
            max_body_bytes: env.parsed_or("MAX_BODY_BYTES", defaults.max_body_bytes)?,
            max_rows: env.parsed_or("MAX_ROWS", defaults.max_rows)?,
            feature_count: env
                .optional("FEATURE_COUNT")
                .map(|_| env.required_parsed("FEATURE_COUNT"))
                .transpose()?,
        };
        // SageMaker refuses payloads over 6 MB; a larger limit would only move the error.
        if limits.max_body_bytes > 5 * 1024 * 1024 {
            return Err(ConfigError::Invalid {
                name: "MAX_BODY_BYTES".into(),
                value: limits.max_body_bytes.to_string(),
                reason: "must be at most 5 MiB (SageMaker's payload limit is 6 MB)".into(),
            });
        }
        let seconds: u64 =
            env.parsed_or("INVOKE_TIMEOUT_SECONDS", DEFAULT_INVOKE_TIMEOUT_SECONDS)?;
        if !(1..=60).contains(&seconds) {
            return Err(ConfigError::Invalid {
                name: "INVOKE_TIMEOUT_SECONDS".into(),
                value: seconds.to_string(),
                reason: "must be 1 to 60 (SageMaker gives a model 60 s)".into(),
            });
        }
        Ok(Config {
            endpoint_name: env.resource_name("ENDPOINT_NAME")?,
            staging_endpoint_name: env
                .optional("STAGING_ENDPOINT_NAME")
                .map(|_| env.resource_name("STAGING_ENDPOINT_NAME"))
                .transpose()?,
            limits,
            invoke_timeout: std::time::Duration::from_secs(seconds),
        })
    }
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub runtime: aws_sdk_sagemakerruntime::Client,
}

impl State {
    /// The client's two attempts (one retry) each get half the operation's time,
    /// so a hung model is a 504 before Lambda's timeout, never a timed-out function.
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
        use aws_sdk_sagemakerruntime::config::timeout::TimeoutConfig;
        let timeouts = TimeoutConfig::builder()
            .operation_timeout(config.invoke_timeout)
            .operation_attempt_timeout(config.invoke_timeout / 2)
            .build();
        let client = aws_sdk_sagemakerruntime::config::Builder::from(sdk)
            .timeout_config(timeouts)
            .retry_config(RetryConfig::standard().with_max_attempts(2))
            .build();
        State {
            config,
            runtime: aws_sdk_sagemakerruntime::Client::from_conf(client),
        }
    }
}

/// Always answers a response: a prediction, or a JSON error with its status.
pub async fn handle(state: &State, request: Request) -> Result<Response<Body>, Infallible> {
    let started = Instant::now();
    let request_id = request
        .lambda_context_ref()
        .map(|c| c.request_id.clone())
        .unwrap_or_default();
    let outcome = predict(state, &request, &request_id).await;
    let model_error = matches!(
        outcome,
        Err(ApiError::ModelError | ApiError::BadModelAnswer(_))
    );
    let response = match outcome {
        Ok(body) => ok_response(body, &request_id),
        Err(err) => error_response(&err, &request_id),
    };
    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let mut emf = request_metrics(status, elapsed, model_error);
    emf.property("requestId", request_id.as_str());
    emf.emit();
    tracing::info!(
        request_id = %request_id,
        status,
        micros = elapsed.as_micros() as u64,
        "predict"
    );
    Ok(response)
}

/// What one request counts: its latency, its status class, a model error.
pub fn request_metrics(status: u16, elapsed: std::time::Duration, model_error: bool) -> Emf {
    let mut emf = Emf::new();
    emf.put(metrics::PREDICT_LATENCY, elapsed.as_secs_f64() * 1000.0);
    match status {
        200..=299 => emf.put(metrics::PREDICT_2XX, 1.0),
        400..=499 => emf.put(metrics::PREDICT_4XX, 1.0),
        _ => emf.put(metrics::PREDICT_5XX, 1.0),
    };
    if model_error {
        emf.put(metrics::MODEL_ERRORS, 1.0);
    }
    emf
}

async fn predict(state: &State, request: &Request, request_id: &str) -> Result<String, ApiError> {
    let content_type = request
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|v| v.to_str().ok());
    let body: &[u8] = match request.body() {
        Body::Empty => b"",
        Body::Text(text) => text.as_bytes(),
        Body::Binary(bytes) => bytes,
        _ => b"",
    };
    let endpoint = endpoint_for(&state.config, request.raw_http_path())?;
    answer(
        state,
        endpoint,
        request.method().as_str(),
        content_type,
        body,
        request_id,
    )
    .await
}

/// The endpoint a route serves: staging's for `/staging/predict` (only where
/// the stack has two stages), else the one `/predict` serves. The route picks
/// one of the configured endpoints; no request names one.
pub fn endpoint_for<'a>(config: &'a Config, path: &str) -> Result<&'a str, ApiError> {
    if path.trim_end_matches('/').ends_with("/staging/predict") {
        return config
            .staging_endpoint_name
            .as_deref()
            .ok_or(ApiError::NoStaging);
    }
    Ok(&config.endpoint_name)
}

/// What the API answers a request's method, content type and body with:
/// parse, InvokeEndpoint, the model's answer as `{"result"}`. Public so that
/// test-staging sends its requests through the same path as the API.
pub async fn answer(
    state: &State,
    endpoint: &str,
    method: &str,
    content_type: Option<&str>,
    body: &[u8],
    request_id: &str,
) -> Result<String, ApiError> {
    let prediction = parse(method, content_type, body, &state.config.limits)
        .inspect_err(|e| tracing::info!(request_id, code = e.code(), "refused: {}", e.message()))?;
    let answer = state
        .runtime
        .invoke_endpoint()
        .endpoint_name(endpoint)
        .content_type("text/csv")
        .accept("text/csv")
        .body(Blob::new(prediction.csv.as_bytes()))
        .send()
        .await
        .map_err(|err| {
            let mapped = ApiError::from_sdk(&err);
            tracing::warn!(request_id, code = mapped.code(), error = %DisplayErrorContext(&err), "InvokeEndpoint failed");
            mapped
        })?;
    let bytes = answer.body().map(|b| b.as_ref()).unwrap_or_default();
    answer_body(&prediction, bytes).inspect_err(|e| {
        tracing::warn!(request_id, rows = prediction.rows, detail = ?e, "unusable model answer");
    })
}

#[cfg(test)]
mod tests;
