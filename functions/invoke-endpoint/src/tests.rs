use super::*;
use aws_sdk_sagemakerruntime::config::retry::RetryConfig;
use aws_sdk_sagemakerruntime::error::ErrorMetadata;
use aws_sdk_sagemakerruntime::operation::invoke_endpoint::{
    InvokeEndpointError, InvokeEndpointOutput,
};
use aws_sdk_sagemakerruntime::types::error::{ModelError, ServiceUnavailable, ValidationError};
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_http::Context;
use proptest::prelude::*;

fn state(rules: &[&Rule]) -> State {
    let runtime = mock_client!(aws_sdk_sagemakerruntime, RuleMode::MatchAny, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    State {
        config: Config {
            endpoint_name: "iris-classifier".into(),
            staging_endpoint_name: None,
            limits: Limits {
                feature_count: Some(4),
                ..Limits::default()
            },
            invoke_timeout: std::time::Duration::from_secs(12),
        },
        runtime,
    }
}

/// A model that answers "setosa" for every row it is sent, and checks what it was sent.
fn model() -> Rule {
    mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint)
        .match_requests(|r| {
            r.endpoint_name() == Some("iris-classifier")
                && r.content_type() == Some("text/csv")
                && r.accept() == Some("text/csv")
        })
        .then_compute_output(|r| {
            let rows = r
                .body()
                .map(|b| b.as_ref().split(|c| *c == b'\n').count())
                .unwrap_or(0);
            InvokeEndpointOutput::builder()
                .body(Blob::new("setosa\n".repeat(rows)))
                .build()
        })
}

fn failing(error: fn() -> InvokeEndpointError) -> Rule {
    mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint).then_error(error)
}

fn event(file: &str) -> Request {
    let request =
        lambda_http::request::from_str(&testkit::event_text("invoke-endpoint", file)).unwrap();
    let mut context = Context::default();
    context.request_id = "req-42".into();
    request.with_lambda_context(context)
}

fn with_body(mut request: Request, body: &str) -> Request {
    *request.body_mut() = Body::Text(body.into());
    request
}

async fn call(state: &State, request: Request) -> (u16, serde_json::Value, Response<Body>) {
    let response = handle(state, request).await.unwrap();
    let body = match response.body() {
        Body::Text(t) => serde_json::from_str(t).unwrap(),
        other => panic!("not a text body: {other:?}"),
    };
    (response.status().as_u16(), body, response)
}

#[tokio::test]
async fn a_row_from_an_http_api_event_is_predicted() {
    let model = model();
    let s = state(&[&model]);
    let (status, body, response) = call(&s, event("predict.json")).await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"result": "setosa"}))
    );
    assert_eq!(response.headers()["x-request-id"], "req-42");
    assert_eq!(model.num_calls(), 1);
}

#[tokio::test]
async fn a_row_from_a_rest_api_event_is_predicted() {
    let model = model();
    let (status, body, _) = call(&state(&[&model]), event("predict-rest.json")).await;
    assert_eq!(
        (status, body),
        (200, serde_json::json!({"result": "setosa"}))
    );
}

#[tokio::test]
async fn a_batch_is_one_call_with_one_line_per_row() {
    let model = model();
    let (status, body, _) = call(&state(&[&model]), event("predict-batch.json")).await;
    assert_eq!(status, 200);
    assert_eq!(body["results"].as_array().unwrap().len(), 3);
    assert_eq!(model.num_calls(), 1);
}

#[tokio::test]
async fn a_bad_row_is_refused_without_calling_the_model() {
    let model = model();
    let (status, body, response) = call(&state(&[&model]), event("bad-row.json")).await;
    assert_eq!(status, 422);
    assert_eq!(body["error"]["code"], "invalid_number");
    assert_eq!(body["requestId"], "req-42");
    assert_eq!(response.headers()["x-request-id"], "req-42");
    assert_eq!(model.num_calls(), 0);
}

#[tokio::test]
async fn sagemaker_faults_map_to_gateway_statuses() {
    type Fault = fn() -> InvokeEndpointError;
    let cases: [(Fault, u16, &str); 4] = [
        (
            || {
                InvokeEndpointError::ModelError(
                    ModelError::builder()
                        .message("Traceback: secret internals")
                        .build(),
                )
            },
            502,
            "model_error",
        ),
        (
            || {
                InvokeEndpointError::ValidationError(
                    ValidationError::builder()
                        .message("Endpoint iris-classifier of account 123456789012 not found.")
                        .build(),
                )
            },
            503,
            "model_not_deployed",
        ),
        (
            || InvokeEndpointError::ServiceUnavailable(ServiceUnavailable::builder().build()),
            503,
            "unavailable",
        ),
        (
            || {
                InvokeEndpointError::generic(
                    ErrorMetadata::builder().code("ThrottlingException").build(),
                )
            },
            429,
            "throttled",
        ),
    ];
    for (error, status, code) in cases {
        let rule = failing(error);
        let (got, body, response) = call(&state(&[&rule]), event("predict.json")).await;
        assert_eq!(
            (got, body["error"]["code"].as_str().unwrap()),
            (status, code)
        );
        assert!(!body.to_string().contains("secret internals"));
        if status != 502 {
            assert!(response.headers().contains_key("retry-after"), "{code}");
        }
    }
}

#[tokio::test]
async fn method_and_content_type_are_checked() {
    let model = model();
    let s = state(&[&model]);
    let mut get = event("predict.json");
    *get.method_mut() = lambda_http::http::Method::GET;
    assert_eq!(call(&s, get).await.0, 405);
    let mut form = event("predict.json");
    form.headers_mut()
        .insert(CONTENT_TYPE, "text/plain".parse().unwrap());
    assert_eq!(call(&s, form).await.0, 415);
    let big = format!(r#"{{"data": "{}"}}"#, "1,".repeat(200_000));
    assert_eq!(
        call(&s, with_body(event("predict.json"), &big)).await.0,
        413
    );
    assert_eq!(model.num_calls(), 0);
}

#[test]
fn configuration_has_safe_defaults_and_names_bad_values() {
    let config = Config::from_env(&Env::from_pairs([("ENDPOINT_NAME", "iris")])).unwrap();
    assert_eq!(config.limits, Limits::default());
    let err = Config::from_env(&Env::from_pairs([
        ("ENDPOINT_NAME", "iris"),
        ("MAX_BODY_BYTES", "9999999"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("MAX_BODY_BYTES"));
    let err = Config::from_env(&Env::from_pairs([
        ("ENDPOINT_NAME", "iris"),
        ("FEATURE_COUNT", "four"),
    ]))
    .unwrap_err();
    assert!(err.to_string().contains("FEATURE_COUNT"));
}

fn bodies() -> impl Strategy<Value = String> {
    let row = prop_oneof![
        "[-0-9., eE+a-z]{0,40}",
        prop::collection::vec(any::<f64>(), 0..6).prop_map(|v| v
            .iter()
            .map(f64::to_string)
            .collect::<Vec<_>>()
            .join(",")),
    ];
    let data = prop_oneof![
        row.clone().prop_map(|r| serde_json::json!(r)),
        prop::collection::vec(row, 0..5).prop_map(|r| serde_json::json!(r)),
        any::<i64>().prop_map(|n| serde_json::json!(n)),
        Just(serde_json::Value::Null),
    ];
    prop_oneof![
        data.prop_map(|d| serde_json::json!({"data": d}).to_string()),
        "\\PC{0,200}",
        any::<Vec<u8>>().prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(400))]

    #[test]
    fn no_input_panics_or_yields_a_server_error(
        body in bodies(),
        method in prop_oneof![Just("POST"), Just("GET"), Just("PUT")],
        content_type in prop_oneof![Just(Some("application/json")), Just(Some("text/csv")), Just(None)],
    ) {
        if let Err(e) = parse(method, content_type, body.as_bytes(), &Limits::default()) {
            prop_assert!((400..500).contains(&e.status()), "{e:?}");
        }
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let model = model();
        let s = state(&[&model]);
        let mut request = with_body(event("predict.json"), &body);
        *request.method_mut() = method.parse().unwrap();
        match content_type {
            Some(ct) => { request.headers_mut().insert(CONTENT_TYPE, ct.parse().unwrap()); }
            None => { request.headers_mut().remove(CONTENT_TYPE); }
        }
        let response = runtime.block_on(handle(&s, request)).unwrap();
        prop_assert!(response.status().as_u16() < 500, "{}", response.status());
    }
}

#[test]
fn each_request_counts_its_latency_its_status_class_and_a_model_error() {
    use std::time::Duration;
    let count = |status, model_error| {
        shared::metrics::check(
            &request_metrics(status, Duration::from_micros(2500), model_error).to_json(1),
        )
        .unwrap_or_default()
    };
    let v = |name: &str, value: f64| (name.to_owned(), value);
    assert_eq!(
        count(200, false),
        [v("PredictLatency", 2.5), v("Predict2xx", 1.0)]
    );
    assert_eq!(
        count(422, false),
        [v("PredictLatency", 2.5), v("Predict4xx", 1.0)]
    );
    assert_eq!(
        count(504, false),
        [v("PredictLatency", 2.5), v("Predict5xx", 1.0)]
    );
    assert_eq!(
        count(502, true),
        [
            v("PredictLatency", 2.5),
            v("Predict5xx", 1.0),
            v("ModelErrors", 1.0)
        ]
    );
}

/// `predict.json` as API Gateway sends it for `POST /staging/predict`.
fn staging_event() -> Request {
    let text = testkit::event_text("invoke-endpoint", "predict.json")
        .replace("\"/predict\"", "\"/staging/predict\"")
        .replace("POST /predict", "POST /staging/predict");
    lambda_http::request::from_str(&text).unwrap()
}

#[tokio::test]
async fn the_staging_route_serves_the_staging_endpoint_and_only_where_there_is_one() {
    let staging = mock!(aws_sdk_sagemakerruntime::Client::invoke_endpoint)
        .match_requests(|r| r.endpoint_name() == Some("iris-classifier-staging"))
        .then_output(|| {
            InvokeEndpointOutput::builder()
                .body(Blob::new("virginica\n"))
                .build()
        });
    let mut two = state(&[&staging]);
    two.config.staging_endpoint_name = Some("iris-classifier-staging".into());
    let response = handle(&two, staging_event()).await.unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(staging.num_calls(), 1);
    // /predict stays production's.
    assert_eq!(
        endpoint_for(&two.config, "/predict").unwrap(),
        "iris-classifier"
    );
    // One stage: the route is not served, and nothing is invoked.
    let model = model();
    let one = state(&[&model]);
    let response = handle(&one, staging_event()).await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(model.num_calls(), 0);
}
