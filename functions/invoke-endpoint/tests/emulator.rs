//! invoke-endpoint's real binary, under cargo-lambda's runtime, against moto's
//! SageMaker Runtime (answers queued through moto's control API).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use serde_json::{Value, json};
use testkit::{LambdaRuntime, Moto, unique};

fn event(file: &str) -> Value {
    serde_json::from_str(&testkit::event_text("invoke-endpoint", file)).unwrap()
}

fn body(response: &Value) -> Value {
    serde_json::from_str(response["body"].as_str().unwrap()).unwrap()
}

// One test: moto's queue of answers is shared by the whole server.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn predicts_through_http_and_rest_events_and_plain_http() {
    let moto = Moto::from_env();
    let endpoint = unique("iris");
    let mut runtime = LambdaRuntime::start();
    let function = runtime.function(
        env!("CARGO_BIN_EXE_invoke-endpoint"),
        &[("ENDPOINT_NAME", endpoint.as_str()), ("FEATURE_COUNT", "4")],
    );

    moto.queue_endpoint_results(&["setosa\n"]).unwrap();
    let v2 = runtime.invoke(&function, &event("predict.json")).output();
    assert_eq!(v2["statusCode"], 200);
    assert_eq!(body(&v2), json!({"result": "setosa"}));
    assert!(
        v2["headers"]["x-request-id"]
            .as_str()
            .is_some_and(|id| !id.is_empty())
    );

    moto.queue_endpoint_results(&["setosa\nversicolor\nvirginica\n"])
        .unwrap();
    let batch = runtime
        .invoke(&function, &event("predict-batch.json"))
        .output();
    assert_eq!(
        body(&batch),
        json!({"results": ["setosa", "versicolor", "virginica"]})
    );

    // REST (v1) event: same row, so moto answers from its cache for this input.
    let v1 = runtime
        .invoke(&function, &event("predict-rest.json"))
        .output();
    assert_eq!(v1["statusCode"], 200);
    assert_eq!(body(&v1), json!({"result": "setosa"}));

    let bad = runtime.invoke(&function, &event("bad-row.json")).output();
    assert_eq!(bad["statusCode"], 422);
    assert_eq!(body(&bad)["error"]["code"], "invalid_number");

    // Plain HTTP, as a client would: curl -X POST the function URL.
    moto.queue_endpoint_results(&["virginica\n"]).unwrap();
    let out = std::process::Command::new("curl")
        .args(["-s", "-X", "POST", "-H", "content-type: application/json"])
        .args([
            "-d",
            r#"{"data": "7.7,3.0,6.1,2.3"}"#,
            "-w",
            "\n%{http_code}",
        ])
        .arg(runtime.function_url(&function, "/predict"))
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let (answer, code) = text.rsplit_once('\n').unwrap();
    assert_eq!(code, "200", "{text}");
    assert_eq!(
        serde_json::from_str::<Value>(answer).unwrap(),
        json!({"result": "virginica"})
    );

    // Each request wrote its metrics (EMF) as CloudWatch would read them.
    let counts = metrics(&runtime.logs(&function));
    let count = |name: &str| counts.iter().filter(|(n, _, _)| n == name).count();
    assert_eq!(
        (
            count("Predict2xx"),
            count("Predict4xx"),
            count("Predict5xx")
        ),
        (4, 1, 0),
        "{counts:?}"
    );
    assert_eq!(count("PredictLatency"), 5);
}

/// `(metric, value, namespace)` of every EMF line in a function's log.
fn metrics(log: &str) -> Vec<(String, f64, String)> {
    log.lines()
        .filter(|l| l.contains("\"_aws\""))
        .flat_map(|line| {
            let doc: Value = serde_json::from_str(line).unwrap();
            let namespace = doc["_aws"]["CloudWatchMetrics"][0]["Namespace"]
                .as_str()
                .unwrap()
                .to_owned();
            shared::metrics::check(&doc)
                .unwrap_or_else(|e| panic!("not EMF CloudWatch takes ({e}): {line}"))
                .into_iter()
                .map(move |(name, value)| (name, value, namespace.clone()))
        })
        .collect()
}

/// The function's environment exactly as template.yaml gives it.
fn template_env() -> std::collections::BTreeMap<String, String> {
    let template = testkit::template::Template::load().unwrap();
    let resolver = testkit::template::Resolver::new(template, "us-east-1");
    resolver.environment("InvokeEndpointFunction").unwrap()
}

fn with_data(data: &str) -> Value {
    let mut e = event("predict.json");
    e["body"] = json!(json!({ "data": data }).to_string());
    e
}

/// With the template's environment a three-field row never reaches the model:
/// 422, not the model's 502.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_row_with_the_wrong_field_count_is_a_422_with_the_templates_environment() {
    let env = template_env();
    assert_eq!(env.get("FEATURE_COUNT").map(String::as_str), Some("4"));
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut runtime = LambdaRuntime::start();
    let function = runtime.function(env!("CARGO_BIN_EXE_invoke-endpoint"), &env);
    let answer = runtime.invoke(&function, &with_data("1,2,3")).output();
    assert_eq!(answer["statusCode"], 422);
    assert_eq!(body(&answer)["error"]["code"], "wrong_field_count");
    // In the namespace the template gives, which the dashboard and alarms read.
    let namespace = env
        .iter()
        .find(|(k, _)| *k == "METRICS_NAMESPACE")
        .unwrap()
        .1;
    let written = metrics(&runtime.logs(&function));
    assert!(
        written
            .iter()
            .any(|(n, v, ns)| n == "Predict4xx" && *v == 1.0 && ns == namespace),
        "{written:?}"
    );
}

/// A model that takes the connection and never answers: the API answers its
/// documented 504 before the function's own timeout would cut it off.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_model_that_never_answers_is_a_504_before_the_functions_timeout() {
    // The template's own figures: the SDK's operation ends before Lambda's timeout.
    let template = testkit::template::Template::load().unwrap();
    let timeout = template.resource("InvokeEndpointFunction").unwrap()["Properties"]["Timeout"]
        .as_u64()
        .unwrap();
    let invoke: u64 = template_env()["INVOKE_TIMEOUT_SECONDS"].parse().unwrap();
    assert!(
        invoke + 2 <= timeout,
        "INVOKE_TIMEOUT_SECONDS {invoke} vs Timeout {timeout}"
    );

    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = silent.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        for stream in silent.incoming().take(8) {
            held.push(stream); // accepted, never answered
        }
        std::thread::sleep(std::time::Duration::from_secs(30));
    });
    let model = format!("http://127.0.0.1:{port}");
    let mut runtime = LambdaRuntime::start();
    let function = runtime.function(
        env!("CARGO_BIN_EXE_invoke-endpoint"),
        &[
            ("ENDPOINT_NAME", "iris-model"),
            ("INVOKE_TIMEOUT_SECONDS", "2"),
            ("AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME", model.as_str()),
        ],
    );
    let started = std::time::Instant::now();
    let answer = runtime
        .invoke(&function, &with_data("5.1,3.5,1.4,0.2"))
        .output();
    let took = started.elapsed();
    assert_eq!(answer["statusCode"], 504, "{answer}");
    assert_eq!(body(&answer)["error"]["code"], "timeout");
    assert!(took < std::time::Duration::from_secs(5), "took {took:?}");
}
