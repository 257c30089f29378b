//! start-retraining's real binary, under cargo-lambda's runtime, against moto's
//! DynamoDB and CodePipeline.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use testkit::{LambdaRuntime, Moto, unique};

fn event(file: &str) -> Value {
    serde_json::from_str(&testkit::event_text("start-retraining", file)).unwrap()
}

struct Setup {
    sdk: shared::aws::SdkConfig,
    table: String,
    pipeline: String,
}

impl Setup {
    async fn new(with_pipeline: bool) -> Setup {
        let sdk = Moto::from_env().sdk_config().await;
        let table = testkit::create_table(&sdk).await.unwrap();
        let pipeline = unique("pipeline");
        if with_pipeline {
            testkit::create_pipeline(&sdk, &pipeline).await.unwrap();
        }
        Setup {
            sdk,
            table,
            pipeline,
        }
    }

    fn start(&self, runtime: &mut LambdaRuntime) -> testkit::Function {
        runtime.function(
            env!("CARGO_BIN_EXE_start-retraining"),
            &[
                ("PIPELINE_NAME", self.pipeline.as_str()),
                ("TABLE_NAME", self.table.as_str()),
            ],
        )
    }

    /// Each execution's variables, name → value.
    async fn executions(&self) -> Vec<std::collections::HashMap<String, String>> {
        let cp = aws_sdk_codepipeline::Client::new(&self.sdk);
        let list = cp
            .list_pipeline_executions()
            .pipeline_name(&self.pipeline)
            .send()
            .await
            .unwrap();
        let mut out = Vec::new();
        for summary in list.pipeline_execution_summaries() {
            let execution = cp
                .get_pipeline_execution()
                .pipeline_name(&self.pipeline)
                .pipeline_execution_id(summary.pipeline_execution_id().unwrap())
                .send()
                .await
                .unwrap();
            out.push(
                execution
                    .pipeline_execution()
                    .unwrap()
                    .variables()
                    .iter()
                    .map(|v| {
                        (
                            v.name().unwrap().to_owned(),
                            v.resolved_value().unwrap().to_owned(),
                        )
                    })
                    .collect(),
            );
        }
        out
    }
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn one_upload_delivered_three_times_starts_one_run_with_the_data_version() {
    let setup = Setup::new(true).await;
    let mut runtime = LambdaRuntime::start();
    let function = setup.start(&mut runtime);
    let first = runtime.invoke(&function, &event("put.json")).output();
    assert_eq!(first["started"].as_array().unwrap().len(), 1);
    for _ in 0..2 {
        let again = runtime.invoke(&function, &event("put.json")).output();
        assert_eq!(
            (
                again["started"].as_array().unwrap().len(),
                again["duplicates"].as_u64()
            ),
            (0, Some(1))
        );
    }
    let executions = setup.executions().await;
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0]["TrainingDataUri"],
        "s3://mlops-data/training/iris.csv"
    );
    assert_eq!(
        executions[0]["DataVersionId"],
        "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY"
    );
    assert_eq!(
        executions[0]["DataETag"],
        "b1946ac92492d2347c6235b4d2611184"
    );
    assert_eq!(executions[0]["Trigger"], "s3");

    // The trigger record ties the object version to the run.
    let key = shared::keys::trigger(
        "mlops-data",
        "training/iris.csv",
        "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY",
    );
    let item = aws_sdk_dynamodb::Client::new(&setup.sdk)
        .get_item()
        .table_name(&setup.table)
        .key("pk", AttributeValue::S(key.pk))
        .key("sk", AttributeValue::S(key.sk))
        .send()
        .await
        .unwrap();
    let item = item.item().unwrap();
    assert_eq!(item["state"].as_s().unwrap(), "started");
    assert_eq!(item["size"].as_n().unwrap(), "3716");
    assert_eq!(
        item["pipelineExecutionId"].as_s().unwrap(),
        first["started"][0]["pipelineExecutionId"].as_str().unwrap()
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn three_records_with_a_folder_marker_start_two_runs() {
    let setup = Setup::new(true).await;
    let mut runtime = LambdaRuntime::start();
    let function = setup.start(&mut runtime);
    let out = runtime
        .invoke(&function, &event("several-records.json"))
        .output();
    assert_eq!(out["ignored"], 1);
    let mut uris: Vec<_> = setup
        .executions()
        .await
        .into_iter()
        .map(|v| v["TrainingDataUri"].clone())
        .collect();
    uris.sort();
    assert_eq!(
        uris,
        [
            "s3://mlops-data/training/iris-a.csv",
            "s3://mlops-data/training/iris-b.csv"
        ]
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_start_that_failed_is_started_by_a_later_delivery() {
    // The pipeline does not exist yet: the first delivery fails with its name.
    let setup = Setup::new(false).await;
    let mut runtime = LambdaRuntime::start();
    let function = setup.start(&mut runtime);
    assert_eq!(
        runtime
            .invoke(&function, &event("encoded-key.json"))
            .error_type(),
        "ResourceNotFound"
    );

    testkit::create_pipeline(&setup.sdk, &setup.pipeline)
        .await
        .unwrap();
    let out = runtime
        .invoke(&function, &event("encoded-key.json"))
        .output();
    assert_eq!(out["started"].as_array().unwrap().len(), 1);
    let executions = setup.executions().await;
    assert_eq!(executions.len(), 1);
    assert_eq!(
        executions[0]["TrainingDataUri"],
        "s3://mlops-data/training/new data+v2/irisé.csv"
    );
}

/// A key that would rewrite the pipeline's JSON input (a deploy-only rollback
/// of an older version, with no approval), or break it (`"`, `\`), starts
/// nothing; the record is counted as ignored, never a failure.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_key_that_could_steer_the_run_starts_nothing() {
    let setup = Setup::new(true).await;
    let mut runtime = LambdaRuntime::start();
    let function = setup.start(&mut runtime);
    let mut e = event("put.json");
    e["Records"][0]["s3"]["object"]["key"] = Value::String(
        "training/x%22%2C%22modelPackageArn%22%3A%22arn%3Aaws%3Asagemaker%3Aus-east-1%3A123456789012%3Amodel-package%2Fstack-models%2F3%22%2C%22rollback%22%3Atrue%2C%22z%22%3A%22a.csv".into(),
    );
    let answer = runtime.invoke(&function, &e).output();
    assert_eq!(answer["ignored"], 1, "{answer}");
    assert!(answer["started"].as_array().unwrap().is_empty());
    e["Records"][0]["s3"]["object"]["key"] = Value::String("training/a%5C%22b.csv".into());
    assert_eq!(runtime.invoke(&function, &e).output()["ignored"], 1);
    assert!(setup.executions().await.is_empty(), "no pipeline execution");
}

/// Lambda retries an asynchronous event with the same request id. A retry of
/// an attempt that claimed the upload and then died (or whose PutItem answer
/// was lost) must take its own claim back and start the run; another
/// delivery of the same upload, inside the lease, is still a duplicate. The
/// handler runs in this process (the request id is ours to set), against
/// moto's DynamoDB conditions and CodePipeline.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_retry_of_an_attempt_that_died_after_its_claim_starts_the_run() {
    let setup = Setup::new(true).await;
    let state = start_retraining::State::new(
        start_retraining::Config {
            pipeline_name: setup.pipeline.clone(),
            table_name: setup.table.clone(),
            prefix: "training/".into(),
            suffix: ".csv".into(),
            quiet_seconds: 0,
            scheduler_role_arn: None,
            dead_letter_arn: None,
            name_token: shared::naming::StackToken::parse(testkit::TEST_TOKEN).unwrap(),
        },
        &setup.sdk,
    );
    // What the first attempt left: its claim, lease running, and nothing else.
    let key = shared::keys::trigger(
        "mlops-data",
        "training/new data+v2/irisé.csv",
        "3HL4kqtJlcpXroDTDmJ-rmSpXd3dIbrHY",
    );
    let now = shared::clock::epoch_seconds();
    aws_sdk_dynamodb::Client::new(&setup.sdk)
        .put_item()
        .table_name(&setup.table)
        .item(shared::keys::PK, AttributeValue::S(key.pk))
        .item(shared::keys::SK, AttributeValue::S(key.sk))
        .item("state", AttributeValue::S("starting".into()))
        .item("attempt", AttributeValue::S("req-first".into()))
        .item("leaseUntil", AttributeValue::N((now + 300).to_string()))
        .send()
        .await
        .unwrap();
    let delivery = |request_id: &str| {
        let mut context = lambda_runtime::Context::default();
        context.request_id = request_id.into();
        lambda_runtime::LambdaEvent::new(
            serde_json::from_value(event("encoded-key.json")).unwrap(),
            context,
        )
    };
    // Another delivery of the same upload while the lease runs: a duplicate.
    let other = start_retraining::handle(&state, delivery("req-other"))
        .await
        .unwrap();
    assert_eq!((other.started.len(), other.duplicates), (0, 1));
    assert!(setup.executions().await.is_empty());
    // Lambda's retry of the attempt that died: it starts the run.
    let retry = start_retraining::handle(&state, delivery("req-first"))
        .await
        .unwrap();
    assert_eq!((retry.started.len(), retry.duplicates), (1, 0), "{retry:?}");
    assert_eq!(setup.executions().await.len(), 1);
}
