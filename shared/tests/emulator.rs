//! One real test per AWS service the project uses, against the moto server,
//! through the shared crate's own code: its SDK configuration, key layout,
//! naming rules, contract types and error classification. Where the stack
//! has the resource (its table, data bucket, notification topic, pipeline),
//! the test uses the one testkit's world makes as the template does.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use aws_sdk_dynamodb::types::AttributeValue;
use shared::contract::{ExecutionInput, Trigger, parse_s3_uri};
use shared::keys::{self, PK, SK};
use shared::naming::{self, RunNames};
use shared::{ErrorName, aws};
use std::time::Duration;

use testkit::rig::World;
use testkit::{Moto, NEEDS_MOTO, unique};

fn execution_input(bucket: &str) -> ExecutionInput {
    ExecutionInput {
        commit_id: "0123abc".into(),
        image_uri: "123456789012.dkr.ecr.us-east-1.amazonaws.com/iris:0123abc".into(),
        training_data_uri: format!("s3://{bucket}/training/iris.csv"),
        test_data_uri: format!("s3://{bucket}/test/iris.csv"),
        data_version_id: Some("v1".into()),
        trigger: Trigger::S3,
        hyper_parameters: Default::default(),
    }
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn dynamodb_keeps_one_trigger_per_object_version_and_sorts_events_by_time() {
    let _ = NEEDS_MOTO;
    let world = World::create("us-east-1", &[]).await.unwrap();
    let table = world.name("Table");
    let ddb = aws_sdk_dynamodb::Client::new(&world.sdk);

    let trigger = keys::trigger("data", "training/iris.csv", "v1");
    let put = || {
        ddb.put_item()
            .table_name(&table)
            .item(PK, AttributeValue::S(trigger.pk.clone()))
            .item(SK, AttributeValue::S(trigger.sk.clone()))
            .condition_expression("attribute_not_exists(pk)")
            .send()
    };
    put().await.unwrap();
    let second = put().await.unwrap_err();
    assert_eq!(
        aws::error_code(&second),
        Some("ConditionalCheckFailedException")
    );
    assert_eq!(aws::classify(&second), ErrorName::AwsRequestRejected);

    // Written out of order, read back in time order.
    for (time, stage) in [
        ("2026-11-21T10:00:02.000Z", "trained"),
        ("2026-11-21T10:00:00.000Z", "started"),
        ("2026-11-21T10:00:05.000Z", "deployed"),
    ] {
        let key = keys::run_event("exec-1", time, stage);
        ddb.put_item()
            .table_name(&table)
            .item(PK, AttributeValue::S(key.pk))
            .item(SK, AttributeValue::S(key.sk))
            .send()
            .await
            .unwrap();
    }
    let summary = keys::run_summary("exec-1");
    ddb.put_item()
        .table_name(&table)
        .item(PK, AttributeValue::S(summary.pk))
        .item(SK, AttributeValue::S(summary.sk))
        .send()
        .await
        .unwrap();

    let events = ddb
        .query()
        .table_name(&table)
        .key_condition_expression("pk = :pk AND begins_with(sk, :events)")
        .expression_attribute_values(":pk", AttributeValue::S(keys::run_pk("exec-1")))
        .expression_attribute_values(":events", AttributeValue::S(keys::EVENT_PREFIX.into()))
        .send()
        .await
        .unwrap();
    let stages: Vec<_> = events
        .items()
        .iter()
        .map(|item| {
            item[SK]
                .as_s()
                .unwrap()
                .rsplit('#')
                .next()
                .unwrap()
                .to_owned()
        })
        .collect();
    assert_eq!(stages, ["started", "trained", "deployed"]);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn s3_objects_are_versioned_and_a_missing_key_is_named() {
    // The stack's data bucket, versioned as the template makes it.
    let world = World::create("us-east-1", &[]).await.unwrap();
    let s3 = aws_sdk_s3::Client::new(&world.sdk);
    let bucket = world.name("DataBucket");

    let input = execution_input(&bucket);
    let (b, key) = parse_s3_uri(&input.training_data_uri).unwrap();
    let first = s3
        .put_object()
        .bucket(b)
        .key(key)
        .body(include_bytes!("../../data/iris-train.csv").to_vec().into())
        .send()
        .await
        .unwrap();
    let second = s3
        .put_object()
        .bucket(b)
        .key(key)
        .body(b"x".to_vec().into())
        .send()
        .await
        .unwrap();
    assert_ne!(first.version_id(), second.version_id());

    let old = s3
        .get_object()
        .bucket(b)
        .key(key)
        .set_version_id(first.version_id().map(str::to_owned))
        .send()
        .await
        .unwrap();
    let body = old.body.collect().await.unwrap().into_bytes();
    assert!(body.starts_with(b"setosa,"));

    let missing = s3
        .get_object()
        .bucket(b)
        .key("nope.csv")
        .send()
        .await
        .unwrap_err();
    assert_eq!(aws::classify(&missing), ErrorName::ResourceNotFound);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn sns_delivers_to_a_queue_and_an_unknown_topic_is_named() {
    // The stack's notification topic and a queue subscribed to it.
    let world = World::create("us-east-1", &[]).await.unwrap();
    let sns = aws_sdk_sns::Client::new(&world.sdk);
    sns.publish()
        .topic_arn(world.name("NotificationTopic"))
        .subject("Run exec-1 deployed")
        .message("model-exec-1 is live")
        .send()
        .await
        .unwrap();
    let received = world
        .read_inbox(&world.notifications_inbox, Duration::from_secs(2))
        .await
        .unwrap();
    let bodies: Vec<_> = received
        .iter()
        .filter_map(|m| m["Message"].as_str())
        .collect();
    assert_eq!(bodies, ["model-exec-1 is live"]);

    let unknown = sns
        .publish()
        .topic_arn("arn:aws:sns:us-east-1:123456789012:no-such-topic")
        .message("x")
        .send()
        .await
        .unwrap_err();
    assert_eq!(aws::classify(&unknown), ErrorName::ResourceNotFound);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn step_functions_receives_the_execution_input_contract() {
    let sdk = Moto::from_env().sdk_config().await;
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let machine = sfn
        .create_state_machine()
        .name(unique("pipeline"))
        .definition(r#"{"StartAt":"Done","States":{"Done":{"Type":"Succeed"}}}"#)
        .role_arn("arn:aws:iam::123456789012:role/states")
        .send()
        .await
        .unwrap();
    let input = execution_input("data");
    let name = unique("run");
    let started = sfn
        .start_execution()
        .state_machine_arn(machine.state_machine_arn())
        .name(&name)
        .input(serde_json::to_string(&input).unwrap())
        .send()
        .await
        .unwrap();
    let described = sfn
        .describe_execution()
        .execution_arn(started.execution_arn())
        .send()
        .await
        .unwrap();
    let back: ExecutionInput = serde_json::from_str(described.input().unwrap()).unwrap();
    assert_eq!(back, input);
    assert_eq!(described.name(), Some(name.as_str()));

    let missing = sfn
        .describe_execution()
        .execution_arn("arn:aws:states:us-east-1:123456789012:execution:nope:nope")
        .send()
        .await
        .unwrap_err();
    assert_eq!(aws::classify(&missing), ErrorName::ResourceNotFound);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn codepipeline_starts_with_the_data_object_as_variables() {
    use aws_sdk_codepipeline::types::*;
    // The stack's pipeline, declared as the template declares it.
    let world = World::create("us-east-1", &[]).await.unwrap();
    let cp = aws_sdk_codepipeline::Client::new(&world.sdk);
    let name = world.name("Pipeline");

    let token = naming::client_request_token("data", "training/iris.csv", "v1");
    let started = cp
        .start_pipeline_execution()
        .name(&name)
        .client_request_token(&token)
        .variables(
            PipelineVariable::builder()
                .name("TrainingDataUri")
                .value("s3://data/training/iris.csv")
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    let execution = cp
        .get_pipeline_execution()
        .pipeline_name(&name)
        .pipeline_execution_id(started.pipeline_execution_id().unwrap())
        .send()
        .await
        .unwrap();
    let variables = execution.pipeline_execution().unwrap().variables();
    assert_eq!(variables.len(), 1);
    assert_eq!(
        variables[0].resolved_value(),
        Some("s3://data/training/iris.csv")
    );

    let missing = cp
        .start_pipeline_execution()
        .name("no-such-pipeline")
        .send()
        .await
        .unwrap_err();
    assert_eq!(aws::classify(&missing), ErrorName::ResourceNotFound);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn sagemaker_accepts_the_derived_job_names() {
    use aws_sdk_sagemaker::types::*;
    let sdk = Moto::from_env().sdk_config().await;
    let sm = aws_sdk_sagemaker::Client::new(&sdk);
    let names = RunNames::for_execution(
        &shared::naming::StackToken::parse("5e1f0c70").unwrap(),
        &unique("exec"),
    );
    sm.create_training_job()
        .training_job_name(&names.training_job_name)
        .role_arn("arn:aws:iam::123456789012:role/sagemaker")
        .algorithm_specification(
            AlgorithmSpecification::builder()
                .training_image("123456789012.dkr.ecr.us-east-1.amazonaws.com/iris:0123abc")
                .training_input_mode(TrainingInputMode::File)
                .build(),
        )
        .output_data_config(
            OutputDataConfig::builder()
                .s3_output_path("s3://artifacts/models/")
                .build(),
        )
        .resource_config(
            ResourceConfig::builder()
                .instance_type(TrainingInstanceType::MlM5Large)
                .instance_count(1)
                .volume_size_in_gb(10)
                .build(),
        )
        .stopping_condition(
            StoppingCondition::builder()
                .max_runtime_in_seconds(3600)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let job = sm
        .describe_training_job()
        .training_job_name(&names.training_job_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        job.training_job_name(),
        Some(names.training_job_name.as_str())
    );

    // Real SageMaker and moto both answer a missing endpoint with a ValidationException.
    let missing = sm
        .describe_endpoint()
        .endpoint_name(unique("nope"))
        .send()
        .await
        .unwrap_err();
    assert_eq!(aws::error_code(&missing), Some("ValidationException"));
    assert_eq!(aws::classify(&missing), ErrorName::AwsRequestRejected);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn sagemaker_runtime_answers_with_the_queued_prediction() {
    let moto = Moto::from_env();
    let sdk = moto.sdk_config().await;
    moto.queue_endpoint_results(&["setosa\n"]).unwrap();
    let runtime = aws_sdk_sagemakerruntime::Client::new(&sdk);
    let answer = runtime
        .invoke_endpoint()
        .endpoint_name(unique("endpoint"))
        .content_type("text/csv")
        .body(aws_sdk_sagemakerruntime::primitives::Blob::new(
            "4.5,1.3,0.3,0.3",
        ))
        .send()
        .await
        .unwrap();
    let body = answer
        .body()
        .map(|b| b.as_ref().to_vec())
        .unwrap_or_default();
    assert_eq!(String::from_utf8(body).unwrap().trim(), "setosa");
}
