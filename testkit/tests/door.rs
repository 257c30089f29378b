//! The error contract at the door: each event-driven function's real binary,
//! given a payload with a missing or mistyped field, fails with errorType
//! `InvalidInput` and a message naming the field, never the runtime's own
//! error with a Rust type name.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use serde_json::{Value, json};
use testkit::template::{Resolver, Template};
use testkit::{Invocation, LambdaRuntime};

/// Starts `binary` with its environment from template.yaml and sends `payload`.
fn refused(binary: &str, payload: Value) -> (String, String) {
    let template = Template::load().unwrap();
    let resolver = Resolver::new(template, "us-east-1");
    let env = resolver
        .environment(&template.function_id(binary).unwrap())
        .unwrap();
    let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let mut runtime = LambdaRuntime::start();
    let path = testkit::rig::binaries_dir().join(binary);
    let function = runtime.function(&path.display().to_string(), &env);
    match runtime.invoke(&function, &payload) {
        Invocation::Err {
            error_type,
            message,
        } => (error_type, message),
        Invocation::Ok(v) => panic!("{binary} accepted {payload}: {v}"),
    }
}

fn assert_names(binary: &str, payload: Value, field: &str) {
    let (error_type, message) = refused(binary, payload);
    assert_eq!(error_type, "InvalidInput", "{binary}: {message}");
    assert!(
        message.contains(field),
        "{binary}: the message names {field}: {message}"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn check_endpoint_names_a_missing_field() {
    assert_names("check-endpoint", json!({}), "endpointName");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn deploy_endpoint_names_a_mistyped_field() {
    let mut payload = testkit::event_json("deploy-endpoint", "create.json");
    payload["initialInstanceCount"] = json!("two");
    assert_names("deploy-endpoint", payload, "initialInstanceCount");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn request_approval_names_a_missing_field() {
    let mut payload = testkit::event_json("request-approval", "input.json");
    payload.as_object_mut().unwrap().remove("timeoutSeconds");
    assert_names("request-approval", payload, "timeoutSeconds");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn record_metadata_names_a_mistyped_nested_field() {
    let mut payload = testkit::event_json("record-metadata", "started.json");
    payload["details"]["metrics"] = json!({"validation:accuracy": "high"});
    assert_names("record-metadata", payload, "details.metrics");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn start_retraining_names_a_mistyped_field() {
    let mut payload = testkit::event_json("start-retraining", "put.json");
    payload["Records"][0]["s3"]["object"]["size"] = json!("large");
    assert_names("start-retraining", payload, "Records[0].s3.object.size");
}
