//! deploy-endpoint's real binary, under cargo-lambda's runtime, against moto.
//! moto has no UpdateEndpoint: the update path is covered by the unit tests
//! (aws-smithy-mocks) in src/lib.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use serde_json::{Value, json};
use testkit::{LambdaRuntime, Moto, unique};

fn create_event(endpoint: &str, model: &str) -> Value {
    let mut event = testkit::event_json("deploy-endpoint", "create.json");
    event["endpointName"] = json!(endpoint);
    event["modelName"] = json!(model);
    event
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn creates_the_endpoint_once_then_leaves_it_unchanged() {
    let sdk = Moto::from_env().sdk_config().await;
    let model = testkit::create_model(&sdk).await.unwrap();
    let endpoint = unique("iris");
    let mut runtime = LambdaRuntime::start();
    let deploy = runtime.function(env!("CARGO_BIN_EXE_deploy-endpoint"), &[]);

    let first = runtime
        .invoke(&deploy, &create_event(&endpoint, &model))
        .output();
    assert_eq!(first["action"], "created");
    let config = first["endpointConfigName"].as_str().unwrap().to_owned();

    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let described = sm
        .describe_endpoint()
        .endpoint_name(&endpoint)
        .send()
        .await
        .unwrap();
    assert_eq!(described.endpoint_config_name(), Some(config.as_str()));
    let tags = sm
        .list_tags()
        .resource_arn(described.endpoint_arn().unwrap())
        .send()
        .await
        .unwrap();
    let commit = tags.tags().iter().find(|t| t.key() == Some("mlops:commit"));
    assert_eq!(commit.and_then(|t| t.value()), Some("0123abc"));
    let variants = sm
        .describe_endpoint_config()
        .endpoint_config_name(&config)
        .send()
        .await
        .unwrap();
    assert_eq!(
        variants.production_variants()[0].model_name(),
        Some(model.as_str())
    );

    // moto puts the endpoint in service at once: the same deployment again is a no-op.
    let again = runtime
        .invoke(&deploy, &create_event(&endpoint, &model))
        .output();
    assert_eq!(again["action"], "unchanged");
    assert_eq!(again["endpointConfigName"], config.as_str());
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_bad_request_is_a_named_error_and_creates_nothing() {
    let sdk = Moto::from_env().sdk_config().await;
    let endpoint = unique("iris");
    let mut runtime = LambdaRuntime::start();
    let deploy = runtime.function(env!("CARGO_BIN_EXE_deploy-endpoint"), &[]);
    let mut event = create_event(&endpoint, "model-x");
    event["initialInstanceCount"] = json!(0);
    assert_eq!(runtime.invoke(&deploy, &event).error_type(), "InvalidInput");
    let missing = aws_sdk_sagemaker::Client::new(&sdk)
        .describe_endpoint()
        .endpoint_name(&endpoint)
        .send()
        .await
        .unwrap_err();
    assert!(shared::aws::is_sagemaker_not_found(&missing));
}
