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
}
