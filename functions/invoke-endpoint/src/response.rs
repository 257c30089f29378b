//! Shaping answers and errors, with no I/O. Every response is JSON and carries
//! the request id (`x-request-id`); errors are `{"error": {"code", "message"},
//! "requestId"}` with a message that is safe to show a caller.

use aws_sdk_sagemakerruntime::error::SdkError;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::InvokeEndpointError;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;
use lambda_http::{Body, Response};
use serde::Serialize;

use crate::request::Prediction;

/// Everything that can go wrong, each with its status and a stable code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    BadRequest {
        code: &'static str,
        message: String,
    },
    Unprocessable {
        code: &'static str,
        message: String,
    },
    MethodNotAllowed,
    UnsupportedMediaType,
    TooLarge(usize),
    /// The model raised an error on this input.
    ModelError,
    /// The model answered something we cannot map to the rows.
    BadModelAnswer(String),
    /// The endpoint does not exist or is not in service.
    NotDeployed,
    /// `/staging/predict` on a stack with one stage.
    NoStaging,
    Throttled,
    Unavailable,
    Timeout,
    /// Any other fault between us and SageMaker.
    Upstream,
}

impl ApiError {
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::BadRequest {
            code,
            message: message.into(),
        }
    }

    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        ApiError::Unprocessable {
            code,
            message: message.into(),
        }
    }

    pub fn status(&self) -> u16 {
        match self {
            ApiError::BadRequest { .. } => 400,
            ApiError::NoStaging => 404,
            ApiError::MethodNotAllowed => 405,
            ApiError::TooLarge(_) => 413,
            ApiError::UnsupportedMediaType => 415,
            ApiError::Unprocessable { .. } => 422,
            ApiError::Throttled => 429,
            ApiError::ModelError | ApiError::BadModelAnswer(_) | ApiError::Upstream => 502,
            ApiError::NotDeployed | ApiError::Unavailable => 503,
            ApiError::Timeout => 504,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            ApiError::BadRequest { code, .. } | ApiError::Unprocessable { code, .. } => code,
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::TooLarge(_) => "body_too_large",
            ApiError::ModelError => "model_error",
            ApiError::BadModelAnswer(_) => "bad_model_answer",
            ApiError::NotDeployed => "model_not_deployed",
            ApiError::NoStaging => "no_staging",
            ApiError::Throttled => "throttled",
            ApiError::Unavailable => "unavailable",
            ApiError::Timeout => "timeout",
            ApiError::Upstream => "upstream_error",
        }
    }

    pub fn message(&self) -> String {
        match self {
            ApiError::BadRequest { message, .. } | ApiError::Unprocessable { message, .. } => {
                message.clone()
            }
            ApiError::MethodNotAllowed => "use POST".into(),
            ApiError::UnsupportedMediaType => "send Content-Type: application/json".into(),
            ApiError::TooLarge(limit) => format!("the body is larger than {limit} bytes"),
            ApiError::ModelError => "the model could not answer this input".into(),
            ApiError::BadModelAnswer(_) => "the model's answer did not match the rows sent".into(),
            ApiError::NotDeployed => "model not deployed".into(),
            ApiError::NoStaging => "this stack has one stage: POST /predict".into(),
            ApiError::Throttled => "too many requests; retry after a second".into(),
            ApiError::Unavailable => "the model is unavailable; retry shortly".into(),
            ApiError::Timeout => "the model did not answer in time".into(),
            ApiError::Upstream => "the model service failed".into(),
        }
    }

    /// Seconds a caller should wait, for the statuses where retrying helps.
    pub fn retry_after(&self) -> Option<u32> {
        match self {
            ApiError::Throttled => Some(1),
            ApiError::Unavailable => Some(5),
            ApiError::NotDeployed => Some(30),
            _ => None,
        }
    }

    /// Maps a failed `InvokeEndpoint` to what the caller sees. Details stay in the log.
    pub fn from_sdk(
        err: &SdkError<InvokeEndpointError, aws_smithy_runtime_api::http::Response>,
    ) -> Self {
        match err {
            SdkError::TimeoutError(_) => ApiError::Timeout,
            SdkError::DispatchFailure(f) if f.is_timeout() => ApiError::Timeout,
            SdkError::DispatchFailure(_) => ApiError::Unavailable,
            SdkError::ServiceError(ctx) => match ctx.err() {
                InvokeEndpointError::ModelError(_) => ApiError::ModelError,
                InvokeEndpointError::ModelNotReadyException(_) => ApiError::NotDeployed,
                InvokeEndpointError::ValidationError(e)
                    if e.message().is_some_and(|m| m.contains("not found")) =>
                {
                    ApiError::NotDeployed
                }
                InvokeEndpointError::ServiceUnavailable(_)
                | InvokeEndpointError::InternalDependencyException(_)
                | InvokeEndpointError::InternalFailure(_) => ApiError::Unavailable,
                other => match shared::aws::classify_code(
                    other.code(),
                    Some(ctx.raw().status().as_u16()),
                ) {
                    shared::ErrorName::Throttled => ApiError::Throttled,
                    shared::ErrorName::AwsUnavailable => ApiError::Unavailable,
                    _ => ApiError::Upstream,
                },
            },
            _ => ApiError::Upstream,
        }
    }
}

#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
    #[serde(rename = "requestId")]
    request_id: &'a str,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    code: &'a str,
    message: &'a str,
}

#[derive(Serialize)]
struct One<'a> {
    result: &'a str,
}

#[derive(Serialize)]
struct Many<'a> {
    results: Vec<&'a str>,
}

fn json(status: u16, request_id: &str, body: String) -> Response<Body> {
    Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("cache-control", "no-store")
        .header("x-request-id", request_id)
        .body(Body::Text(body))
        .unwrap_or_else(|_| Response::new(Body::Empty))
}

pub fn error_response(err: &ApiError, request_id: &str) -> Response<Body> {
    let message = err.message();
    let body = serde_json::to_string(&ErrorBody {
        error: ErrorDetail {
            code: err.code(),
            message: &message,
        },
        request_id,
    })
    .unwrap_or_default();
    let mut response = json(err.status(), request_id, body);
    let headers = response.headers_mut();
    if let Some(seconds) = err.retry_after() {
        headers.insert("retry-after", seconds.into());
    }
    if matches!(err, ApiError::MethodNotAllowed) {
        headers.insert("allow", lambda_http::http::HeaderValue::from_static("POST"));
    }
    response
}

/// The model's `text/csv` answer (one label per line) as `{"result"}` or `{"results"}`.
pub fn answer_body(prediction: &Prediction, answer: &[u8]) -> Result<String, ApiError> {
    let text = std::str::from_utf8(answer)
        .map_err(|_| ApiError::BadModelAnswer("the answer is not UTF-8".into()))?
        .trim();
    let labels: Vec<&str> = text.lines().map(str::trim).collect();
    if text.is_empty() || labels.len() != prediction.rows || labels.iter().any(|l| l.is_empty()) {
        return Err(ApiError::BadModelAnswer(format!(
            "{} rows sent, {} labels answered",
            prediction.rows,
            if text.is_empty() { 0 } else { labels.len() }
        )));
    }
    let body = if prediction.batch {
        serde_json::to_string(&Many { results: labels })
    } else {
        serde_json::to_string(&One { result: labels[0] })
    };
    body.map_err(|e| ApiError::BadModelAnswer(e.to_string()))
}

pub fn ok_response(body: String, request_id: &str) -> Response<Body> {
    json(200, request_id, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prediction(rows: usize, batch: bool) -> Prediction {
        Prediction {
            csv: String::new(),
            rows,
            batch,
        }
    }

    #[test]
    fn one_label_answers_result_and_a_batch_answers_results_in_order() {
        assert_eq!(
            answer_body(&prediction(1, false), b"setosa\n").unwrap(),
            r#"{"result":"setosa"}"#
        );
        assert_eq!(
            answer_body(&prediction(3, true), b"setosa\nversicolor\r\nvirginica").unwrap(),
            r#"{"results":["setosa","versicolor","virginica"]}"#
        );
    }

    #[test]
    fn an_answer_that_does_not_match_the_rows_is_a_bad_gateway() {
        for (rows, answer) in [
            (2, &b"setosa"[..]),
            (1, b""),
            (1, b"a\nb"),
            (2, b"a\n\nb"),
            (1, b"\xff"),
        ] {
            let err = answer_body(&prediction(rows, rows > 1), answer).unwrap_err();
            assert_eq!(err.status(), 502, "{answer:?}");
        }
    }

    #[test]
    fn errors_carry_code_message_request_id_and_retry_after() {
        let response = error_response(&ApiError::Throttled, "req-1");
        assert_eq!(response.status(), 429);
        assert_eq!(response.headers()["retry-after"], "1");
        assert_eq!(response.headers()["x-request-id"], "req-1");
        let Body::Text(body) = response.body() else {
            panic!("not text")
        };
        let value: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(value["error"]["code"], "throttled");
        assert_eq!(value["requestId"], "req-1");
        assert_eq!(
            error_response(&ApiError::MethodNotAllowed, "r").headers()["allow"],
            "POST"
        );
    }

    #[test]
    fn a_model_error_never_leaks_the_models_message() {
        let response = error_response(&ApiError::ModelError, "r");
        let Body::Text(body) = response.body() else {
            panic!("not text")
        };
        assert_eq!(
            body,
            r#"{"error":{"code":"model_error","message":"the model could not answer this input"},"requestId":"r"}"#
        );
    }
}
