//! What the path tests share: the rig with the fast timers, the run played
//! up to its approval, and readers of what the run left in AWS.

#![allow(
    dead_code,
    unreachable_pub,
    reason = "each test binary uses some of these"
)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared::contract::{DeployEndpointInput, RecordInput, RequestApprovalInput, RunStatus, Stage};
use shared::naming::RunNames;
use testkit::rig::{LambdaCall, Rig};

/// The endpoint's wait between polls, shortened from the template's 30 s, and
/// the rollout's bake time with it (deploy-endpoint refuses a rollout that
/// bakes longer than the wait for InService: 120 polls of 1 s here).
pub const FAST: [(&str, &str); 2] = [
    ("EndpointPollSeconds", "1"),
    ("DeploymentWaitSeconds", "60"),
];

pub async fn rig(region: &str, parameters: &[(&str, &str)]) -> Rig {
    let mut all = FAST.to_vec();
    all.extend_from_slice(parameters);
    Rig::new(region, &all).await.unwrap()
}

/// Uploads the project's training and held-out rows where a run reads them
/// (`training/iris.csv`, `test/iris-test.csv`); returns their S3 versions.
pub async fn upload_data(rig: &Rig) -> (String, String) {
    let data = rig.world.name("DataBucket");
    let mut versions = Vec::new();
    for (file, key) in [
        ("data/iris-train.csv", "training/iris.csv"),
        ("data/iris-test.csv", "test/iris-test.csv"),
    ] {
        let body = std::fs::read(testkit::workspace_root().join(file)).unwrap();
        let put = rig
            .s3
            .put_object()
            .bucket(&data)
            .key(key)
            .body(body.into())
            .send()
            .await
            .unwrap();
        versions.push(put.version_id().unwrap().to_owned());
    }
    (versions.remove(0), versions.remove(0))
}

/// A run's input as CodePipeline passes it, after the build stage pushed the
/// commit's image into the stack's repository (and the data is in its bucket).
pub async fn execution_input(rig: &Rig, commit: &str) -> Value {
    let data = rig.world.name("DataBucket");
    upload_data(rig).await;
    let image = rig.world.push_image(commit).await.unwrap();
    json!({
        "commitId": commit,
        "imageUri": image,
        "trainingDataUri": format!("s3://{data}/training/iris.csv"),
        "testDataUri": format!("s3://{data}/test/"),
        "dataVersionId": "3HL4kqtJ",
        "trigger": "s3"
    })
}

pub fn training_output(rig: &Rig, names: &RunNames, accuracy: f64) -> Value {
    let artifacts = rig.world.name("ArtifactBucket");
    json!({
        "TrainingJobName": format!("{}-0-0", names.training_job_name),
        "TrainingJobArn": format!("arn:aws:sagemaker:{}:123456789012:training-job/{}-0-0", rig.world.region, names.training_job_name),
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": format!("s3://{artifacts}/models/{}-0-0/output/model.tar.gz", names.training_job_name)},
        "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": accuracy, "Timestamp": "2026-11-21T10:05:00Z"}],
        // What else DescribeTrainingJob answers, at a long job's size: the
        // flow must not carry it (Step Functions caps a payload at 256 KB).
        "HyperParameters": {"max_depth": "5", "eta": "0.2"},
        "AlgorithmSpecification": {"TrainingImage": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/iris-model:0123abc", "TrainingInputMode": "File"},
        "SecondaryStatusTransitions": (0..400).map(|i| json!({
            "Status": "Training",
            "StartTime": "2026-11-21T10:00:00Z",
            "StatusMessage": format!("Training image download completed. Training in progress, epoch {i} of 400; the container wrote its log line and the metric regex read it."),
        })).collect::<Vec<_>>()
    })
}

/// What SageMaker's batch transform leaves, as the job would: each held-out
/// row (data/iris-test.csv, label first) with its prediction joined last, in
/// the run's output prefix, the first `wrong` rows mispredicted; and the
/// job's description.
pub async fn transform_output(rig: &Rig, names: &RunNames, execution: &str, wrong: usize) -> Value {
    let artifacts = rig.world.name("ArtifactBucket");
    let held_out =
        std::fs::read_to_string(testkit::workspace_root().join("data/iris-test.csv")).unwrap();
    let output: String = held_out
        .lines()
        .filter(|l| !l.trim().is_empty())
        .enumerate()
        .map(|(i, row)| {
            let label = row.split(',').next().unwrap();
            let prediction = match (i < wrong, label) {
                (false, _) => label,
                (true, "setosa") => "virginica",
                (true, _) => "setosa",
            };
            format!("{row},{prediction}\n")
        })
        .collect();
    rig.s3
        .put_object()
        .bucket(&artifacts)
        .key(format!("transform/{execution}/iris-test.csv.out"))
        .body(output.into_bytes().into())
        .send()
        .await
        .unwrap();
    json!({
        "TransformJobName": format!("{}-0-0", names.transform_job_name),
        "TransformJobArn": format!("arn:aws:sagemaker:{}:123456789012:transform-job/{}-0-0", rig.world.region, names.transform_job_name),
        "TransformJobStatus": "Completed",
        "TransformOutput": {"S3OutputPath": format!("s3://{artifacts}/transform/{execution}/")}
    })
}

/// Plays the training job (its own figure 0.97) and then the batch transform,
/// which mispredicts the first `wrong` held-out rows.
pub async fn train_and_transform(rig: &Rig, names: &RunNames, execution: &str, wrong: usize) {
    let train = rig.next_sync("Train").await.unwrap();
    rig.complete(&train, &training_output(rig, names, 0.97))
        .await
        .unwrap();
    let transform = rig.next_sync("Transform").await.unwrap();
    rig.complete(
        &transform,
        &transform_output(rig, names, execution, wrong).await,
    )
    .await
    .unwrap();
}

pub fn records(calls: &[LambdaCall]) -> Vec<RecordInput> {
    calls
        .iter()
        .filter(|c| c.function == "record-metadata")
        .map(|c| {
            serde_json::from_value(c.payload.clone())
                .expect("record-metadata's payload is a RecordInput")
        })
        .collect()
}

pub fn stages(calls: &[LambdaCall]) -> Vec<(Stage, RunStatus)> {
    records(calls).iter().map(|r| (r.stage, r.status)).collect()
}

pub fn functions(calls: &[LambdaCall]) -> Vec<&str> {
    calls.iter().map(|c| c.function.as_str()).collect()
}

/// Calls of one execution (the rig records every execution's).
pub fn of(calls: &[LambdaCall], execution: &str) -> Vec<LambdaCall> {
    calls
        .iter()
        .filter(|c| {
            c.payload["executionName"] == execution
                || c.payload["details"]["executionName"] == execution
                || c.payload["executionArn"]
                    .as_str()
                    .is_some_and(|a| a.ends_with(&format!(":{execution}")))
        })
        .cloned()
        .collect()
}

/// Every Lambda call answered without an error (the real binary accepted the payload).
/// What request-approval was asked: the first such call, decoded as its contract.
pub fn approval_request(calls: &[LambdaCall]) -> RequestApprovalInput {
    let call = calls
        .iter()
        .find(|c| c.function == "request-approval")
        .expect("request-approval was called");
    serde_json::from_value(call.payload.clone()).unwrap()
}

pub fn all_answered(calls: &[LambdaCall]) {
    for c in calls {
        assert!(
            matches!(c.answer, testkit::Invocation::Ok(_)),
            "{} refused the state machine's payload: {c:?}",
            c.function
        );
    }
}

pub fn deploy_inputs(calls: &[LambdaCall]) -> Vec<DeployEndpointInput> {
    calls
        .iter()
        .filter(|c| c.function == "deploy-endpoint")
        .map(|c| serde_json::from_value(c.payload.clone()).unwrap())
        .collect()
}

/// Runs a path up to the approval email; returns the execution ARN and the approval link.
pub async fn run_to_approval(rig: &Rig, execution: &str, commit: &str) -> (String, String) {
    run_to_approval_with(rig, execution, commit, 0).await
}

/// The same, the batch transform mispredicting the first `wrong` held-out rows.
pub async fn run_to_approval_with(
    rig: &Rig,
    execution: &str,
    commit: &str,
    wrong: usize,
) -> (String, String) {
    let names = rig.world.run_names(execution);
    let artifacts = rig.world.name("ArtifactBucket");
    let arn = rig
        .start(execution, &execution_input(rig, commit).await)
        .await
        .unwrap();
    let train = rig.next_sync("Train").await.unwrap();
    // What SageMaker was asked: names from record-metadata, data from the input.
    assert_eq!(
        train.request["TrainingJobName"],
        format!("{}-0-0", names.training_job_name)
    );
    assert_eq!(
        train.request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
        format!("s3://{artifacts}/snapshots/{execution}/training/iris.csv"),
        "training reads the run's snapshot of its data, not the data bucket"
    );
    assert_eq!(
        train.request["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"],
        "validation:accuracy"
    );
    assert_eq!(
        train.request["RoleArn"],
        rig.world.attribute("SageMakerRole", "Arn")
    );
    rig.complete(&train, &training_output(rig, &names, 0.97))
        .await
        .unwrap();

    let transform = rig.next_sync("Transform").await.unwrap();
    assert_eq!(transform.request["ModelName"], names.model_name.as_str());
    assert_eq!(
        transform.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        format!("s3://{artifacts}/snapshots/{execution}/test/"),
        "the batch transform runs on the run's snapshot of the held-out data"
    );
    assert_eq!(transform.request["DataProcessing"]["InputFilter"], "$[1:]");
    rig.complete(
        &transform,
        &transform_output(rig, &names, execution, wrong).await,
    )
    .await
    .unwrap();

    // The model was created for real, in moto's SageMaker, from the training output.
    let model = rig
        .sagemaker
        .describe_model()
        .model_name(&names.model_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        model.primary_container().and_then(|c| c.model_data_url()),
        Some(
            format!(
                "s3://{artifacts}/models/{}-0-0/output/model.tar.gz",
                names.training_job_name
            )
            .as_str()
        )
    );
    let calls = rig
        .pump_until("asked for approval", |calls| {
            of(calls, execution)
                .iter()
                .any(|c| c.function == "request-approval")
        })
        .await
        .unwrap();
    let ask = of(&calls, execution)
        .into_iter()
        .find(|c| c.function == "request-approval")
        .unwrap();
    assert!(ask.wait_for_token);
    let input: RequestApprovalInput = serde_json::from_value(ask.payload.clone()).unwrap();
    // The approver sees the held-out figures evaluate-model computed.
    let accuracy = 1.0 - wrong as f64 / 30.0;
    assert!(
        (input.metrics["accuracy"] - accuracy).abs() < 1e-9,
        "{:?}",
        input.metrics
    );
    assert_eq!(
        input.transform_output_uri,
        format!("s3://{artifacts}/transform/{execution}/")
    );
    let link = rig.approval_link().await.unwrap();
    (arn, link)
}

/// A run approved and handed to deploy-endpoint, the endpoint not yet in
/// service: the endpoint's failure paths start here.
pub async fn run_to_deploy(rig: &Rig, execution: &str) -> String {
    let (arn, link) = run_to_approval(rig, execution, "0123abc").await;
    approve(rig, &link);
    rig.pump_until("deployed", |c| {
        c.iter().any(|c| c.function == "deploy-endpoint")
    })
    .await
    .unwrap();
    arn
}

pub fn approve(rig: &Rig, link: &str) {
    let (status, page) = rig.decide(link, "approve", "ana@example.com", "accuracy is fine");
    assert_eq!(status, 200, "{page}");
}

#[derive(Debug)]
pub struct Version {
    pub arn: String,
    pub status: String,
    pub description: Option<String>,
    pub metadata: std::collections::HashMap<String, String>,
}

pub async fn describe_version(rig: &Rig, arn: &str) -> Version {
    let d = rig
        .sagemaker
        .describe_model_package()
        .model_package_name(arn)
        .send()
        .await
        .unwrap();
    Version {
        arn: arn.to_owned(),
        status: d
            .model_approval_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        description: d.approval_description().map(str::to_owned),
        metadata: d
            .customer_metadata_properties()
            .cloned()
            .unwrap_or_default(),
    }
}

pub async fn versions(rig: &Rig) -> Vec<Version> {
    let listed = rig
        .sagemaker
        .list_model_packages()
        .model_package_group_name(rig.world.name("ModelPackageGroup"))
        .send()
        .await
        .unwrap();
    let mut out = Vec::new();
    for summary in listed.model_package_summary_list() {
        out.push(describe_version(rig, summary.model_package_arn().unwrap_or_default()).await);
    }
    out.sort_by(|a, b| a.arn.cmp(&b.arn));
    out
}

pub async fn model_exists(rig: &Rig, names: &RunNames) -> bool {
    rig.sagemaker
        .describe_model()
        .model_name(&names.model_name)
        .send()
        .await
        .is_ok()
}

/// What SageMaker (moto) holds as the model's EnableNetworkIsolation.
pub async fn network_isolation(rig: &Rig, model: &str) -> Option<bool> {
    rig.sagemaker
        .describe_model()
        .model_name(model)
        .send()
        .await
        .unwrap()
        .enable_network_isolation()
}

/// The endpoint as moto's SageMaker holds it: (config, its model, LastDeploymentConfig).
pub async fn endpoint(rig: &Rig) -> (String, String, Option<String>) {
    let name = rig.world.endpoint_name();
    let e = rig
        .sagemaker
        .describe_endpoint()
        .endpoint_name(&name)
        .send()
        .await
        .unwrap();
    let config = e.endpoint_config_name().unwrap_or_default().to_owned();
    let c = rig
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(&config)
        .send()
        .await
        .unwrap();
    let model = c.production_variants()[0]
        .model_name()
        .unwrap_or_default()
        .to_owned();
    let deployment = e.last_deployment_config().map(|d| format!("{d:?}"));
    (config, model, deployment)
}

/// The metrics every function wrote (EMF lines in its log), by function and
/// name, each line checked against the EMF specification as CloudWatch reads it.
pub fn emitted(rig: &Rig) -> BTreeMap<(String, String), Vec<f64>> {
    let mut metrics: BTreeMap<(String, String), Vec<f64>> = BTreeMap::new();
    for (function, text) in rig.logs() {
        for line in text.lines().filter(|l| l.contains("\"_aws\"")) {
            let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("{function} wrote a line that is not JSON ({e}): {line}")
            });
            let values = shared::metrics::check(&doc)
                .unwrap_or_else(|e| panic!("{function}: not EMF CloudWatch takes ({e}): {line}"));
            for (name, value) in values {
                metrics
                    .entry((function.clone(), name))
                    .or_default()
                    .push(value);
            }
        }
    }
    metrics
}

/// The run's items in the table, in key order.
pub async fn run_items(
    rig: &Rig,
    execution: &str,
) -> Vec<std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue>> {
    use aws_sdk_dynamodb::types::AttributeValue;
    aws_sdk_dynamodb::Client::new(&rig.world.sdk)
        .query()
        .table_name(rig.world.name("Table"))
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(shared::keys::run_pk(execution)))
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default()
}

/// The run's trail item of one stage, every attribute.
pub async fn trail_item(
    rig: &Rig,
    execution: &str,
    stage: &str,
) -> std::collections::HashMap<String, aws_sdk_dynamodb::types::AttributeValue> {
    run_items(rig, execution)
        .await
        .into_iter()
        .find(|i| {
            i.get("stage")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some(stage)
        })
        .unwrap_or_else(|| panic!("{execution} has no {stage} item"))
}

/// The run's audit trail as the table holds it: (stage, status, error, cause), in order.
pub async fn trail(rig: &Rig, execution: &str) -> Vec<(String, String, String, String)> {
    use aws_sdk_dynamodb::types::AttributeValue;
    let items = run_items(rig, execution).await;
    let text = |i: &std::collections::HashMap<String, AttributeValue>, k: &str| {
        i.get(k)
            .and_then(|v| v.as_s().ok())
            .cloned()
            .unwrap_or_default()
    };
    items
        .iter()
        .map(|i| {
            (
                text(i, "sk"),
                text(i, "stage"),
                text(i, "status"),
                text(i, "error"),
                text(i, "cause"),
            )
        })
        .filter(|(sk, ..)| sk != "SUMMARY")
        .map(|(_, stage, status, error, cause)| (stage, status, error, cause))
        .collect()
}
