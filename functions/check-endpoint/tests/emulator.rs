//! check-endpoint's real binary, under cargo-lambda's runtime, against moto.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use serde_json::json;
use testkit::{LambdaRuntime, Moto, unique};

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn answers_absent_then_in_service_with_its_config() {
    let sdk = Moto::from_env().sdk_config().await;
    let endpoint = unique("iris");
    let mut runtime = LambdaRuntime::start();
    let check = runtime.function(env!("CARGO_BIN_EXE_check-endpoint"), &[]);

    let absent = runtime
        .invoke(&check, &json!({"endpointName": endpoint}))
        .output();
    assert_eq!(absent, json!({"endpointName": endpoint, "exists": false}));

    let model = testkit::create_model(&sdk).await.unwrap();
    let config = unique("config");
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    sm.create_endpoint_config()
        .endpoint_config_name(&config)
        .production_variants(
            aws_sdk_sagemaker::types::ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name(&model)
                .instance_type(aws_sdk_sagemaker::types::ProductionVariantInstanceType::MlM5Large)
                .initial_instance_count(1)
                .build(),
        )
        .send()
        .await
        .unwrap();
    sm.create_endpoint()
        .endpoint_name(&endpoint)
        .endpoint_config_name(&config)
        .send()
        .await
        .unwrap();

    let present = runtime
        .invoke(&check, &json!({"endpointName": endpoint}))
        .output();
    assert_eq!(present["exists"], true);
    assert_eq!(present["status"], "InService");
    assert_eq!(present["endpointConfigName"], config.as_str());
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_name_sagemaker_would_refuse_is_invalid_input() {
    let mut runtime = LambdaRuntime::start();
    let check = runtime.function(env!("CARGO_BIN_EXE_check-endpoint"), &[]);
    let answer = runtime.invoke(&check, &json!({"endpointName": "not a name"}));
    assert_eq!(answer.error_type(), "InvalidInput");
    let missing_field = runtime.invoke(&check, &json!({"name": "iris"}));
    assert!(matches!(missing_field, testkit::Invocation::Err { .. }));
}
