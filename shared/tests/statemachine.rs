//! The state machine against the shared contracts, and its paths on moto.
//!
//! - Contract (no emulator): every payload the ASL sends names only fields of
//!   the receiving Lambda's input type, and every path it reads from a Lambda
//!   result exists in that Lambda's output type.
//! - Paths (moto's executing Step Functions, `testkit::paths`): the real
//!   definition, `.sync` played by the test, Lambda results queued from the
//!   shared types. Each asserts the final status, the error name, and which
//!   Lambdas were called with what (each payload is read back into the shared
//!   input type, so a payload the Lambda could not parse fails here).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared::contract::{
    ApprovalDecision, CheckEndpointInput, CheckEndpointOutput, DeployAction, DeployEndpointInput,
    DeployEndpointOutput, DeploymentStrategy, EndpointStatus, RecordInput, RecordOutput,
    RequestApprovalInput, RequestApprovalOutput, RunStatus, Stage,
};
use shared::naming::RunNames;
use testkit::paths::{LambdaCall, MODEL_PACKAGE_GROUP, PathRig};

fn definition() -> Value {
    let text = std::fs::read_to_string(testkit::workspace_root().join(testkit::paths::DEFINITION))
        .expect("the state machine definition");
    serde_json::from_str(&text).expect("the definition is JSON")
}

// ------------------------------------------------------------------ contract

/// Every field name of a type, from a value with every optional field set.
fn field_names(sample: &Value) -> Vec<String> {
    sample
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default()
}

fn full_record_input() -> Value {
    let details = json!({
        "commitId": "c", "imageUri": "i", "trainingDataUri": "s3://b/t", "testDataUri": "s3://b/h",
        "dataVersionId": "v", "dataEtag": "e", "trainingJobName": "t", "trainingJobArn": "a",
        "metrics": {"m": 1.0}, "modelName": "m", "transformJobName": "x", "transformOutputUri": "s3://b/o",
        "approval": {"decision": "approved", "approver": "a", "comment": "c", "decidedAt": "2026-11-21T10:00:00Z"},
        "endpointName": "e", "endpointConfigName": "c", "modelPackageArn": "p", "error": "E", "cause": "C"
    });
    // Round-trip through the type: the sample holds exactly the type's fields.
    let input: RecordInput = serde_json::from_value(json!({
        "executionName": "run", "executionArn": "arn", "stage": "started", "status": "running",
        "enteredTime": "2026-11-21T10:00:00Z", "details": details
    }))
    .unwrap();
    serde_json::to_value(input).unwrap()
}

fn full_deploy_input() -> Value {
    serde_json::to_value(DeployEndpointInput {
        endpoint_name: "e".into(),
        model_name: "m".into(),
        instance_type: "ml.t2.medium".into(),
        initial_instance_count: 1,
        variant_name: "AllTraffic".into(),
        deployment: Some(shared::contract::DeploymentPolicy {
            strategy: DeploymentStrategy::Canary,
            traffic_percent: Some(10),
            wait_interval_seconds: Some(60),
            rollback_alarm_names: vec!["a".into()],
        }),
        data_capture: Some(shared::contract::DataCapture {
            destination_s3_uri: "s3://b/c".into(),
            sampling_percentage: 10,
        }),
        execution_name: "run".into(),
        commit_id: "c".into(),
    })
    .unwrap()
}

fn full_request_approval_input() -> Value {
    serde_json::to_value(RequestApprovalInput {
        task_token: "t".into(),
        execution_arn: "a".into(),
        execution_name: "n".into(),
        commit_id: "c".into(),
        model_name: "m".into(),
        training_job_name: "t".into(),
        metrics: BTreeMap::from([("m".to_owned(), 1.0)]),
        transform_output_uri: "s3://b/o".into(),
        data_version_id: Some("v".into()),
        timeout_seconds: 60,
    })
    .unwrap()
}

fn full_check_output() -> Value {
    serde_json::to_value(CheckEndpointOutput {
        endpoint_name: "e".into(),
        exists: true,
        status: Some(EndpointStatus::InService),
        endpoint_config_name: Some("c".into()),
        failure_reason: Some("r".into()),
    })
    .unwrap()
}

/// Payload keys as the Lambda sees them (`name.$` is `name`), recursively.
fn check_keys(payload: &Value, sample: &Value, at: &str, errors: &mut Vec<String>) {
    let (Some(payload), Some(sample)) = (payload.as_object(), sample.as_object()) else {
        return;
    };
    for (key, value) in payload {
        let field = key.strip_suffix(".$").unwrap_or(key);
        match sample.get(field) {
            None => errors.push(format!(
                "{at}: sends {field:?}, which the type does not have (it has {:?})",
                field_names(&Value::Object(sample.clone()))
            )),
            Some(inner) if !key.ends_with(".$") => {
                check_keys(value, inner, &format!("{at}.{field}"), errors)
            }
            Some(_) => {}
        }
    }
}

/// Whether `$.a.b` exists in `sample` (a path the ASL reads from a result).
fn path_exists(sample: &Value, path: &str) -> bool {
    let mut at = sample;
    for part in path
        .trim_start_matches('$')
        .split('.')
        .filter(|p| !p.is_empty())
    {
        match at.get(part) {
            Some(next) => at = next,
            None => return false,
        }
    }
    true
}

#[test]
fn every_lambda_payload_and_result_path_matches_the_shared_types() {
    let def = definition();
    let inputs: BTreeMap<&str, Value> = [
        ("${RecordMetadataFunctionArn}", full_record_input()),
        (
            "${CheckEndpointFunctionArn}",
            serde_json::to_value(CheckEndpointInput {
                endpoint_name: "e".into(),
            })
            .unwrap(),
        ),
        ("${DeployEndpointFunctionArn}", full_deploy_input()),
        (
            "${RequestApprovalFunctionArn}",
            full_request_approval_input(),
        ),
    ]
    .into();
    let outputs: BTreeMap<&str, Value> = [
        (
            "${RecordMetadataFunctionArn}",
            serde_json::to_value(RecordOutput {
                recorded: true,
                notified: true,
                names: RunNames::for_execution("run"),
            })
            .unwrap(),
        ),
        ("${CheckEndpointFunctionArn}", full_check_output()),
        (
            "${DeployEndpointFunctionArn}",
            serde_json::to_value(DeployEndpointOutput {
                action: DeployAction::Created,
                endpoint_config_name: "c".into(),
            })
            .unwrap(),
        ),
        (
            "${RequestApprovalFunctionArn}",
            serde_json::to_value(RequestApprovalOutput {
                approval_id: "a".into(),
            })
            .unwrap(),
        ),
    ]
    .into();

    let mut errors = Vec::new();
    let mut lambda_tasks = 0;
    for (name, state) in def["States"].as_object().unwrap() {
        let Some(function) = state["Parameters"]["FunctionName"].as_str() else {
            continue;
        };
        lambda_tasks += 1;
        let Some(sample_in) = inputs.get(function) else {
            errors.push(format!("{name}: unknown function {function}"));
            continue;
        };
        check_keys(
            &state["Parameters"]["Payload"],
            sample_in,
            name,
            &mut errors,
        );
        for (key, path) in state["ResultSelector"].as_object().into_iter().flatten() {
            let Some(path) = path.as_str().filter(|_| key.ends_with(".$")) else {
                continue;
            };
            let Some(inner) = path.strip_prefix("$.Payload") else {
                errors.push(format!("{name}: reads {path} outside the Lambda's Payload"));
                continue;
            };
            if !path_exists(&outputs[function], inner) {
                errors.push(format!(
                    "{name}: reads {path}, which the output type does not have"
                ));
            }
        }
    }
    // The endpoint poll keeps check-endpoint's whole output; the Choice reads its fields.
    let check = full_check_output();
    for choice in def["States"]["EndpointReady"]["Choices"]
        .as_array()
        .unwrap()
    {
        let vars: Vec<&Value> = std::iter::once(choice)
            .chain(choice["And"].as_array().into_iter().flatten())
            .chain(choice["Or"].as_array().into_iter().flatten())
            .collect();
        for v in vars {
            let field = v["Variable"]
                .as_str()
                .and_then(|p| p.strip_prefix("$.poll.endpoint"));
            if let Some(field) = field.filter(|f| !path_exists(&check, f)) {
                errors.push(format!(
                    "EndpointReady reads $.poll.endpoint{field}, not in CheckEndpointOutput"
                ));
            }
        }
    }
    assert_eq!(lambda_tasks, 11, "the Lambda tasks this test knows of");
    assert!(errors.is_empty(), "{errors:#?}");
}

#[test]
fn the_contract_check_notices_a_misspelt_field() {
    // The check itself could fail: a payload with a typo is caught.
    let mut errors = Vec::new();
    check_keys(
        &json!({"executionName.$": "$$.Execution.Name", "stagee": "started"}),
        &full_record_input(),
        "Test",
        &mut errors,
    );
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].contains("stagee"));
    assert!(!path_exists(&full_check_output(), ".statuss"));
}

#[test]
fn the_approval_state_waits_for_its_token_and_times_out_from_a_parameter() {
    let def = definition();
    let approval = &def["States"]["RequestApproval"];
    assert!(
        approval["Resource"]
            .as_str()
            .unwrap()
            .ends_with("lambda:invoke.waitForTaskToken")
    );
    assert_eq!(
        approval["Parameters"]["Payload"]["taskToken.$"],
        "$$.Task.Token"
    );
    assert_eq!(
        approval["TimeoutSecondsPath"],
        "$.config.approvalTimeoutSeconds"
    );
    assert_eq!(
        approval["Parameters"]["Payload"]["timeoutSeconds.$"], approval["TimeoutSecondsPath"],
        "the approval item must expire with the state's own timeout"
    );
}

// ------------------------------------------------------------------ paths

fn execution_input() -> Value {
    json!({
        "commitId": "0123abc",
        "imageUri": "123456789012.dkr.ecr.eu-west-1.amazonaws.com/iris-model:0123abc",
        "trainingDataUri": "s3://stack-data/training/iris.csv",
        "testDataUri": "s3://stack-data/test/",
        "dataVersionId": "3HL4kqtJ",
        "trigger": "s3"
    })
}

fn recorded(names: &RunNames) -> Value {
    serde_json::to_value(RecordOutput {
        recorded: true,
        notified: false,
        names: names.clone(),
    })
    .unwrap()
}

fn endpoint(exists: bool, status: Option<EndpointStatus>, config: Option<&str>) -> Value {
    serde_json::to_value(CheckEndpointOutput {
        endpoint_name: "iris-model".into(),
        exists,
        status,
        endpoint_config_name: config.map(str::to_owned),
        failure_reason: (status == Some(EndpointStatus::Failed))
            .then(|| "The primary container for production variant AllTraffic did not pass the ping health check.".to_owned()),
    })
    .unwrap()
}

fn deployed(action: DeployAction, config: &str) -> Value {
    serde_json::to_value(DeployEndpointOutput {
        action,
        endpoint_config_name: config.into(),
    })
    .unwrap()
}

fn approval_requested() -> Value {
    serde_json::to_value(RequestApprovalOutput {
        approval_id: "0123456789abcdef0123456789abcdef".into(),
    })
    .unwrap()
}

fn training_output(names: &RunNames, accuracy: f64) -> Value {
    json!({
        "TrainingJobName": names.training_job_name,
        "TrainingJobArn": format!("arn:aws:sagemaker:eu-west-1:123456789012:training-job/{}", names.training_job_name),
        "TrainingJobStatus": "Completed",
        "ModelArtifacts": {"S3ModelArtifacts": format!("s3://stack-artifacts/models/{}/output/model.tar.gz", names.training_job_name)},
        "FinalMetricDataList": [{"MetricName": "validation:accuracy", "Value": accuracy, "Timestamp": "2026-11-21T10:05:00Z"}]
    })
}

fn transform_output(names: &RunNames, execution: &str) -> Value {
    json!({
        "TransformJobName": names.transform_job_name,
        "TransformJobArn": format!("arn:aws:sagemaker:eu-west-1:123456789012:transform-job/{}", names.transform_job_name),
        "TransformJobStatus": "Completed",
        "TransformOutput": {"S3OutputPath": format!("s3://stack-artifacts/transform/{execution}/")}
    })
}

fn records(calls: &[LambdaCall]) -> Vec<RecordInput> {
    calls
        .iter()
        .filter(|c| c.function == "record-metadata")
        .map(|c| {
            serde_json::from_value(c.payload.clone())
                .expect("record-metadata's payload is a RecordInput")
        })
        .collect()
}

fn stages(calls: &[LambdaCall]) -> Vec<(Stage, RunStatus)> {
    records(calls).iter().map(|r| (r.stage, r.status)).collect()
}

fn functions(calls: &[LambdaCall]) -> Vec<&str> {
    calls.iter().map(|c| c.function.as_str()).collect()
}

/// Runs a path up to the approval request; returns the execution ARN and the token.
async fn run_to_approval(rig: &PathRig, execution: &str, names: &RunNames) -> (String, String) {
    let arn = rig.start(execution, &execution_input()).await.unwrap();
    let train = rig.next_sync("Train").await.unwrap();
    // What SageMaker was asked: names from record-metadata, data from the input.
    // The name carries the redrive count (0 before any redrive; see testkit::paths::fill).
    assert_eq!(
        train.request["TrainingJobName"],
        format!("{}-0", names.training_job_name)
    );
    assert_eq!(
        train.request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
        "s3://stack-data/training/iris.csv"
    );
    assert_eq!(
        train.request["AlgorithmSpecification"]["MetricDefinitions"][0]["Name"],
        "validation:accuracy"
    );
    assert_eq!(
        train.request["RoleArn"],
        "arn:aws:iam::123456789012:role/stack-SageMakerRole"
    );
    rig.complete(&train, &training_output(names, 0.97))
        .await
        .unwrap();

    let transform = rig.next_sync("Transform").await.unwrap();
    assert_eq!(transform.request["ModelName"], names.model_name.as_str());
    assert_eq!(
        transform.request["TransformJobName"],
        format!("{}-0", names.transform_job_name)
    );
    // The trained model is a version in the registry, pending a decision, with its lineage.
    let version = only_version(rig).await;
    assert_eq!(version.status, "PendingManualApproval");
    assert_eq!(version.metadata["commitId"], "0123abc");
    assert_eq!(version.metadata["executionName"], execution);
    assert_eq!(
        version.metadata["trainingDataUri"],
        "s3://stack-data/training/iris.csv"
    );
    assert_eq!(version.metadata["dataVersionId"], "3HL4kqtJ");
    assert_eq!(version.metadata["metricValue"], "0.97");
    assert_eq!(
        version.image,
        execution_input()["imageUri"].as_str().unwrap()
    );
    assert_eq!(
        transform.request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"],
        "s3://stack-data/test/",
        "the batch transform runs on the held-out data"
    );
    assert_eq!(transform.request["DataProcessing"]["InputFilter"], "$[1:]");
    rig.complete(&transform, &transform_output(names, execution))
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
                "s3://stack-artifacts/models/{}/output/model.tar.gz",
                names.training_job_name
            )
            .as_str()
        )
    );

    let input = wait_for_approval_request(rig, &arn).await;
    assert_eq!(input.execution_name, execution);
    assert_eq!(input.metrics["validation:accuracy"], 0.97);
    assert_eq!(
        input.transform_output_uri,
        format!("s3://stack-artifacts/transform/{execution}/")
    );
    assert_eq!(input.data_version_id.as_deref(), Some("3HL4kqtJ"));
    (arn, input.task_token)
}

async fn approve(rig: &PathRig, token: &str) {
    let decision = ApprovalDecision {
        decision: shared::contract::Decision::Approved,
        approver: Some("ana@example.com".into()),
        comment: Some("accuracy is fine".into()),
        decided_at: "2026-11-21T11:00:00Z".into(),
    };
    rig.sfn
        .send_task_success()
        .task_token(token)
        .output(serde_json::to_string(&decision).unwrap())
        .send()
        .await
        .unwrap();
}

/// Whether the run's model was created in moto's SageMaker.
async fn model_exists(rig: &PathRig, names: &RunNames) -> bool {
    rig.sagemaker
        .describe_model()
        .model_name(&names.model_name)
        .send()
        .await
        .is_ok()
}

/// One version of the registry, as the tests read it.
#[derive(Debug)]
struct Version {
    arn: String,
    status: String,
    description: Option<String>,
    image: String,
    metadata: std::collections::HashMap<String, String>,
}

async fn describe_version(rig: &PathRig, arn: &str) -> Version {
    let v = rig
        .sagemaker
        .describe_model_package()
        .model_package_name(arn)
        .send()
        .await
        .unwrap();
    Version {
        arn: v.model_package_arn().unwrap_or_default().to_owned(),
        status: v
            .model_approval_status()
            .map(|s| s.as_str().to_owned())
            .unwrap_or_default(),
        description: v.approval_description().map(str::to_owned),
        image: v
            .inference_specification()
            .and_then(|i| i.containers().first())
            .and_then(|c| c.image())
            .unwrap_or_default()
            .to_owned(),
        metadata: v
            .customer_metadata_properties()
            .cloned()
            .unwrap_or_default(),
    }
}

/// The registry's one version in this rig's region (every path test has its own region).
async fn only_version(rig: &PathRig) -> Version {
    let list = rig
        .sagemaker
        .list_model_packages()
        .model_package_group_name(MODEL_PACKAGE_GROUP)
        .send()
        .await
        .unwrap();
    let summaries = list.model_package_summary_list();
    assert_eq!(summaries.len(), 1, "{summaries:?}");
    describe_version(rig, summaries[0].model_package_arn().unwrap_or_default()).await
}

/// record-metadata and request-approval's answers up to the decision, in call order.
fn results_through_approval(names: &RunNames) -> Vec<Value> {
    vec![
        recorded(names), // started
        recorded(names), // trained
        recorded(names), // transformed
        approval_requested(),
    ]
}

/// Queues the answers up to the decision, then `rest`.
fn queue_through_approval_then(
    rig: &PathRig,
    names: &RunNames,
    rest: &[Value],
) -> Result<(), String> {
    let mut all = results_through_approval(names);
    all.extend_from_slice(rest);
    rig.queue_lambda_results(&all)
}

fn deploy_input(calls: &[LambdaCall]) -> DeployEndpointInput {
    let call = calls
        .iter()
        .find(|c| c.function == "deploy-endpoint")
        .expect("deploy-endpoint was called");
    serde_json::from_value(call.payload.clone())
        .expect("deploy-endpoint's payload is a DeployEndpointInput")
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_first_run_creates_the_endpoint() {
    let rig = PathRig::new("eu-west-1", &[]).await.unwrap();
    let execution = "run-create";
    let names = RunNames::for_execution(execution);
    queue_through_approval_then(
        &rig,
        &names,
        &[
            recorded(&names),            // approved
            endpoint(false, None, None), // check: no endpoint yet
            deployed(DeployAction::Created, "config-new"),
            endpoint(true, Some(EndpointStatus::Creating), Some("config-new")),
            endpoint(true, Some(EndpointStatus::InService), Some("config-new")),
            recorded(&names), // deployed
        ],
    )
    .unwrap();
    let (arn, token) = run_to_approval(&rig, execution, &names).await;
    approve(&rig, &token).await;

    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None));
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(
        functions(&calls),
        [
            "record-metadata",
            "record-metadata",
            "record-metadata",
            "request-approval",
            "record-metadata",
            "check-endpoint",
            "deploy-endpoint",
            "check-endpoint",
            "check-endpoint",
            "record-metadata"
        ]
    );
    assert_eq!(
        stages(&calls),
        [
            (Stage::Started, RunStatus::Running),
            (Stage::Trained, RunStatus::Running),
            (Stage::Transformed, RunStatus::Running),
            (Stage::Approved, RunStatus::Running),
            (Stage::Deployed, RunStatus::Succeeded),
        ]
    );
    let records = records(&calls);
    assert_eq!(
        records[1].details.metrics.as_ref().unwrap()["validation:accuracy"],
        0.97
    );
    assert_eq!(
        records[3]
            .details
            .approval
            .as_ref()
            .unwrap()
            .approver
            .as_deref(),
        Some("ana@example.com")
    );
    assert_eq!(
        records[4].details.endpoint_config_name.as_deref(),
        Some("config-new")
    );
    for c in calls.iter().filter(|c| c.function == "check-endpoint") {
        let input: CheckEndpointInput = serde_json::from_value(c.payload.clone()).unwrap();
        assert_eq!(input.endpoint_name, "iris-model");
    }
    let deploy = deploy_input(&calls);
    assert_eq!(deploy.model_name, names.model_name);
    assert_eq!(deploy.execution_name, execution);
    assert!(
        deploy.deployment.is_none(),
        "a new endpoint has no traffic to shift"
    );
    assert_eq!(
        deploy.data_capture.unwrap().destination_s3_uri,
        "s3://stack-artifacts/data-capture/"
    );
    // The person's decision is on the version, with who and why; the audit trail has its ARN.
    let version = only_version(&rig).await;
    assert_eq!(version.status, "Approved");
    assert_eq!(
        version.description.as_deref(),
        Some("approved by ana@example.com: accuracy is fine")
    );
    assert_eq!(version.metadata["commitId"], "0123abc", "the lineage stays");
    for record in &records[1..] {
        assert_eq!(
            record.details.model_package_arn.as_deref(),
            Some(version.arn.as_str()),
            "{:?}",
            record.stage
        );
    }
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_later_run_updates_the_endpoint_with_the_deployment_guardrails() {
    let rig = PathRig::new("eu-west-2", &[]).await.unwrap();
    let execution = "run-update";
    let names = RunNames::for_execution(execution);
    queue_through_approval_then(
        &rig,
        &names,
        &[
            recorded(&names),
            endpoint(true, Some(EndpointStatus::InService), Some("config-old")),
            deployed(DeployAction::Updated, "config-new"),
            // Mid-update SageMaker still reports the old config; the loop waits for the new one.
            endpoint(true, Some(EndpointStatus::Updating), Some("config-old")),
            endpoint(true, Some(EndpointStatus::InService), Some("config-new")),
            recorded(&names),
        ],
    )
    .unwrap();
    let (arn, token) = run_to_approval(&rig, execution, &names).await;
    approve(&rig, &token).await;

    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None));
    let calls = rig.lambda_calls(&arn).await.unwrap();
    let deploy = deploy_input(&calls);
    let policy = deploy
        .deployment
        .expect("an update carries the deployment policy");
    assert_eq!(policy.strategy, DeploymentStrategy::Canary);
    assert_eq!(policy.traffic_percent, Some(10));
    assert_eq!(policy.rollback_alarm_names, ["stack-EndpointErrorsAlarm"]);
    assert_eq!(
        stages(&calls).last(),
        Some(&(Stage::Deployed, RunStatus::Succeeded))
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_model_below_the_threshold_stops_at_the_quality_gate() {
    let rig = PathRig::new("eu-west-3", &[]).await.unwrap();
    let execution = "run-gate";
    let names = RunNames::for_execution(execution);
    rig.queue_lambda_results(&[recorded(&names), recorded(&names)])
        .unwrap();
    let arn = rig.start(execution, &execution_input()).await.unwrap();
    let train = rig.next_sync("Train").await.unwrap();
    rig.complete(&train, &training_output(&names, 0.5))
        .await
        .unwrap();

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("QualityGateFailed"))
    );
    assert!(cause.unwrap().contains("0.5 is below the threshold 0.9"));
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(functions(&calls), ["record-metadata", "record-metadata"]);
    let failed = &records(&calls)[1];
    assert_eq!(
        (failed.stage, failed.status),
        (Stage::Failed, RunStatus::Failed)
    );
    assert_eq!(failed.details.error.as_deref(), Some("QualityGateFailed"));
    // No model was made from the failed candidate; its version is rejected with the reason.
    assert!(!model_exists(&rig, &names).await);
    let version = only_version(&rig).await;
    assert_eq!(version.status, "Rejected");
    let reason = version.description.unwrap();
    assert!(reason.starts_with("QualityGateFailed: "), "{reason}");
    assert!(
        reason.contains("0.5 is below the threshold 0.9"),
        "{reason}"
    );
}

/// A failed job and an overrun take the same Catch (`States.TaskFailed`,
/// `States.Timeout`). moto refuses `States.` names in SendTaskFailure, so the
/// test lets the job overrun: TrainingMaxSeconds 1, the run waits twice that.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_training_job_that_fails_or_overruns_ends_the_run_as_training_failed() {
    let rig = PathRig::new("eu-central-1", &[("TrainingMaxSeconds", "1")])
        .await
        .unwrap();
    let execution = "run-train-fails";
    let names = RunNames::for_execution(execution);
    rig.queue_lambda_results(&[recorded(&names), recorded(&names)])
        .unwrap();
    let arn = rig.start(execution, &execution_input()).await.unwrap();
    let train = rig.next_sync("Train").await.unwrap();
    assert_eq!(train.request["StoppingCondition"]["MaxRuntimeInSeconds"], 1);
    // SageMaker never reports back.

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("TrainingFailed")),
        "{cause:?}"
    );
    assert!(
        cause.unwrap().contains("States.Timeout"),
        "the cause keeps the original error"
    );
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(
        functions(&calls),
        ["record-metadata", "record-metadata"],
        "nothing ran after training"
    );
    let failed = records(&calls).pop().unwrap();
    assert_eq!(
        (failed.stage, failed.status),
        (Stage::Failed, RunStatus::Failed)
    );
    assert_eq!(failed.details.error.as_deref(), Some("TrainingFailed"));
    assert!(failed.details.cause.unwrap().contains("States.Timeout"));
    assert!(!model_exists(&rig, &names).await);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_rejection_ends_the_run_without_touching_the_endpoint() {
    let rig = PathRig::new("ap-southeast-1", &[]).await.unwrap();
    let execution = "run-rejected";
    let names = RunNames::for_execution(execution);
    queue_through_approval_then(&rig, &names, &[recorded(&names)]).unwrap();
    let (arn, token) = run_to_approval(&rig, execution, &names).await;
    rig.sfn
        .send_task_failure()
        .task_token(&token)
        .error("ApprovalRejected")
        .cause("rejected by ana@example.com: precision on versicolor is too low")
        .send()
        .await
        .unwrap();

    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ApprovalRejected"))
    );
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert!(!functions(&calls).contains(&"check-endpoint"));
    assert!(!functions(&calls).contains(&"deploy-endpoint"));
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Rejected, RunStatus::Rejected)
    );
    assert_eq!(last.details.error.as_deref(), Some("ApprovalRejected"));
    // moto drops SendTaskFailure's cause (its handler reads only the error);
    // Step Functions passes it on, and then it must be the reviewer's comment.
    if let Some(cause) = last.details.cause {
        assert!(cause.contains("precision on versicolor"), "{cause}");
    }
    let version = only_version(&rig).await;
    assert_eq!(version.status, "Rejected");
    let reason = version.description.unwrap();
    assert!(reason.starts_with("ApprovalRejected"), "{reason}");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_approval_nobody_answers_times_out_as_a_rejection_with_its_own_notice() {
    let rig = PathRig::new("ap-northeast-1", &[("ApprovalTimeoutSeconds", "2")])
        .await
        .unwrap();
    let execution = "run-timeout";
    let names = RunNames::for_execution(execution);
    queue_through_approval_then(&rig, &names, &[recorded(&names)]).unwrap();
    let (arn, _token) = run_to_approval(&rig, execution, &names).await;

    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ApprovalTimedOut"))
    );
    let calls = rig.lambda_calls(&arn).await.unwrap();
    let ask: RequestApprovalInput = serde_json::from_value(
        calls
            .iter()
            .find(|c| c.function == "request-approval")
            .unwrap()
            .payload
            .clone(),
    )
    .unwrap();
    assert_eq!(
        ask.timeout_seconds, 2,
        "the approval expires with the state's timeout"
    );
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Failed, RunStatus::TimedOut)
    );
    assert_eq!(last.details.error.as_deref(), Some("States.Timeout"));
    assert!(!functions(&calls).contains(&"deploy-endpoint"));
    let version = only_version(&rig).await;
    assert_eq!(version.status, "Rejected");
    assert_eq!(
        version.description.as_deref(),
        Some("ApprovalTimedOut: no decision within 2 seconds")
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_endpoint_that_fails_to_come_up_fails_the_run_with_sagemakers_reason() {
    let rig = PathRig::new("sa-east-1", &[]).await.unwrap();
    let execution = "run-endpoint-fails";
    let names = RunNames::for_execution(execution);
    queue_through_approval_then(
        &rig,
        &names,
        &[
            recorded(&names),
            endpoint(false, None, None),
            deployed(DeployAction::Created, "config-new"),
            endpoint(true, Some(EndpointStatus::Failed), Some("config-new")),
            recorded(&names),
        ],
    )
    .unwrap();
    let (arn, token) = run_to_approval(&rig, execution, &names).await;
    approve(&rig, &token).await;

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("EndpointFailed"))
    );
    assert!(
        cause
            .unwrap()
            .contains("did not pass the ping health check")
    );
    let calls = rig.lambda_calls(&arn).await.unwrap();
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Failed, RunStatus::Failed)
    );
    assert_eq!(last.details.error.as_deref(), Some("EndpointFailed"));
    assert_eq!(
        functions(&calls)
            .iter()
            .filter(|f| **f == "check-endpoint")
            .count(),
        2,
        "one check to choose create or update, one poll that saw Failed"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_endpoint_that_never_reaches_in_service_fails_after_the_last_poll() {
    let rig = PathRig::new("ca-central-1", &[("EndpointMaxPolls", "3")])
        .await
        .unwrap();
    let execution = "run-endpoint-slow";
    let names = RunNames::for_execution(execution);
    let creating = endpoint(true, Some(EndpointStatus::Creating), Some("config-new"));
    queue_through_approval_then(
        &rig,
        &names,
        &[
            recorded(&names),
            endpoint(false, None, None),
            deployed(DeployAction::Created, "config-new"),
            creating.clone(),
            creating.clone(),
            creating,
            recorded(&names),
        ],
    )
    .unwrap();
    let (arn, token) = run_to_approval(&rig, execution, &names).await;
    approve(&rig, &token).await;

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("EndpointFailed"))
    );
    assert!(cause.unwrap().contains("not InService after 3 checks"));
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(
        functions(&calls)
            .iter()
            .filter(|f| **f == "check-endpoint")
            .count(),
        4
    );
}

// ------------------------------------------------------------------ model lifecycle

/// A version in the registry as the pipeline registers one, with `status`.
async fn registered_version(rig: &PathRig, status: &str) -> String {
    use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelPackageContainerDefinition};
    let metadata = [
        ("commitId", "0ld0c0m"),
        (
            "imageUri",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/iris-model:0ld0c0m",
        ),
        ("trainingDataUri", "s3://stack-data/training/iris-old.csv"),
        ("testDataUri", "s3://stack-data/test/"),
        ("dataVersionId", "null"),
        ("executionName", "run-old"),
        (
            "executionArn",
            "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-old",
        ),
        ("trainingJobName", "train-run-old-0"),
        ("metricName", "validation:accuracy"),
        ("metricValue", "0.96"),
        (
            "transformOutputUri",
            "s3://stack-artifacts/transform/run-old/",
        ),
    ];
    let spec = aws_sdk_sagemaker::types::InferenceSpecification::builder()
        .containers(
            ModelPackageContainerDefinition::builder()
                .image(metadata[1].1)
                .model_data_url("s3://stack-artifacts/models/train-run-old-0/output/model.tar.gz")
                .build(),
        )
        .supported_content_types("text/csv")
        .supported_response_mime_types("text/csv")
        .build();
    let mut create = rig
        .sagemaker
        .create_model_package()
        .model_package_group_name(MODEL_PACKAGE_GROUP)
        .model_package_description("validation:accuracy = 0.96 (commit 0ld0c0m, execution run-old)")
        .inference_specification(spec)
        .model_approval_status(ModelApprovalStatus::from(status));
    for (k, v) in metadata {
        create = create.customer_metadata_properties(k, v);
    }
    let arn = create
        .send()
        .await
        .unwrap()
        .model_package_arn
        .expect("moto answers the version's ARN");
    if status == "Approved" {
        // As the pipeline leaves it: who approved and why.
        rig.sagemaker
            .update_model_package()
            .model_package_arn(&arn)
            .model_approval_status(ModelApprovalStatus::Approved)
            .approval_description("approved by ana@example.com: good enough")
            .set_customer_metadata_properties(Some(
                metadata
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    }
    arn
}

/// Waits for the approval request and reads it back as request-approval's input.
async fn wait_for_approval_request(rig: &PathRig, arn: &str) -> RequestApprovalInput {
    let calls = rig
        .wait_for_calls(arn, "request-approval", 1)
        .await
        .unwrap();
    let ask = calls
        .iter()
        .find(|c| c.function == "request-approval")
        .unwrap();
    assert!(ask.wait_for_token);
    serde_json::from_value(ask.payload.clone())
        .expect("request-approval's payload is a RequestApprovalInput")
}

/// The deploy results after the decision: create a new endpoint, in service at once.
fn deploy_results(names: &RunNames) -> Vec<Value> {
    vec![
        recorded(names), // approved
        endpoint(false, None, None),
        deployed(DeployAction::Created, "config-new"),
        endpoint(true, Some(EndpointStatus::InService), Some("config-new")),
        recorded(names), // deployed
    ]
}

/// No `.sync` task (training, tuning, processing, transform) was started.
async fn no_jobs(rig: &PathRig, arn: &str) {
    let entered: Vec<String> = rig
        .history(arn)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()))
        .collect();
    assert!(
        entered.iter().any(|s| s == "CreateModelFromPackage"),
        "{entered:?}"
    );
    for state in ["Process", "Train", "Tune", "Transform"] {
        assert!(
            !entered.iter().any(|s| s == state),
            "{state} ran in a deploy-only run: {entered:?}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_deploy_only_run_puts_an_approved_version_in_service_after_a_new_approval() {
    let rig = PathRig::new("us-west-1", &[]).await.unwrap();
    let version = registered_version(&rig, "Approved").await;
    let execution = "run-deploy-only";
    let names = RunNames::for_execution(execution);
    let mut results = vec![recorded(&names), approval_requested()];
    results.extend(deploy_results(&names));
    rig.queue_lambda_results(&results).unwrap();
    let arn = rig
        .start(execution, &json!({"modelPackageArn": version}))
        .await
        .unwrap();
    let ask = wait_for_approval_request(&rig, &arn).await;
    // The approver sees the version's own figures and lineage.
    assert_eq!(ask.metrics["validation:accuracy"], 0.96);
    assert_eq!(ask.commit_id, "0ld0c0m");
    assert_eq!(ask.training_job_name, "train-run-old-0");
    assert_eq!(
        ask.transform_output_uri,
        "s3://stack-artifacts/transform/run-old/"
    );
    approve(&rig, &ask.task_token).await;

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    no_jobs(&rig, &arn).await;
    // The model was made from the version itself.
    let model = rig
        .sagemaker
        .describe_model()
        .model_name(&names.model_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        model
            .primary_container()
            .and_then(|c| c.model_package_name()),
        Some(version.as_str())
    );
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(
        stages(&calls),
        [
            (Stage::Started, RunStatus::Running),
            (Stage::Approved, RunStatus::Running),
            (Stage::Deployed, RunStatus::Succeeded),
        ]
    );
    let records = records(&calls);
    assert_eq!(records[0].details.commit_id.as_deref(), Some("0ld0c0m"));
    assert_eq!(
        records[2].details.model_package_arn.as_deref(),
        Some(version.as_str())
    );
    assert_eq!(deploy_input(&calls).model_name, names.model_name);
    // The version keeps its first decision: a deploy-only run does not re-mark it.
    let after = describe_version(&rig, &version).await;
    assert_eq!(after.status, "Approved");
    assert_eq!(
        after.description.as_deref(),
        Some("approved by ana@example.com: good enough")
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_rollback_redeploys_an_approved_version_without_asking_again() {
    let rig = PathRig::new("us-west-2", &[]).await.unwrap();
    let version = registered_version(&rig, "Approved").await;
    let execution = "run-rollback";
    let names = RunNames::for_execution(execution);
    let mut results = vec![recorded(&names)];
    results.extend(deploy_results(&names));
    rig.queue_lambda_results(&results).unwrap();
    let arn = rig
        .start(
            execution,
            &json!({"modelPackageArn": version, "rollback": true}),
        )
        .await
        .unwrap();

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    no_jobs(&rig, &arn).await;
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert!(
        !functions(&calls).contains(&"request-approval"),
        "a rollback is not asked again"
    );
    let approved = records(&calls)
        .into_iter()
        .find(|r| r.stage == Stage::Approved)
        .expect("the rollback's approval is recorded");
    let approval = approved.details.approval.unwrap();
    assert_eq!(approval.approver.as_deref(), Some("rollback"));
    let comment = approval.comment.unwrap();
    assert!(comment.contains(&version), "{comment}");
    assert_eq!(
        stages(&calls).last(),
        Some(&(Stage::Deployed, RunStatus::Succeeded))
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_deploy_only_run_refuses_a_version_nobody_approved() {
    let rig = PathRig::new("us-east-2", &[]).await.unwrap();
    let version = registered_version(&rig, "PendingManualApproval").await;
    let execution = "run-not-approved";
    let names = RunNames::for_execution(execution);
    rig.queue_lambda_results(&[recorded(&names)]).unwrap();
    let arn = rig
        .start(
            execution,
            &json!({"modelPackageArn": version, "rollback": true}),
        )
        .await
        .unwrap();

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ModelNotApproved"))
    );
    assert!(cause.unwrap().contains("PendingManualApproval"));
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(
        functions(&calls),
        ["record-metadata"],
        "only the failure is recorded"
    );
    assert!(!model_exists(&rig, &names).await);
    assert_eq!(
        describe_version(&rig, &version).await.status,
        "PendingManualApproval",
        "a refused version is left as it was"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn processing_on_runs_the_users_container_first_and_trains_on_its_output() {
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-preprocessing:1";
    let rig = PathRig::new("eu-north-1", &[("ProcessingImageUri", image)])
        .await
        .unwrap();
    let execution = "run-processing";
    let names = RunNames::for_execution(execution);
    rig.queue_lambda_results(&[recorded(&names), recorded(&names)])
        .unwrap();
    let arn = rig.start(execution, &execution_input()).await.unwrap();

    let process = rig.next_sync("Process").await.unwrap();
    assert_eq!(
        process.request["ProcessingJobName"],
        format!("{}-0", names.processing_job_name)
    );
    assert_eq!(process.request["AppSpecification"]["ImageUri"], image);
    assert_eq!(
        process.request["ProcessingInputs"][0]["S3Input"]["S3Uri"],
        "s3://stack-data/training/iris.csv",
        "processing reads the new data"
    );
    let processed = format!("s3://stack-artifacts/processed/{execution}/");
    assert_eq!(
        process.request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"],
        processed.as_str()
    );
    rig.complete(
        &process,
        &json!({
            "ProcessingJobName": format!("{}-0", names.processing_job_name),
            "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "training", "S3Output": {
                "S3Uri": processed, "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]}
        }),
    )
    .await
    .unwrap();

    let train = rig.next_sync("Train").await.unwrap();
    assert_eq!(
        train.request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
        processed.as_str(),
        "training reads what processing wrote"
    );
    // The rest is the usual flow; end it at the gate.
    rig.complete(&train, &training_output(&names, 0.1))
        .await
        .unwrap();
    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("QualityGateFailed"))
    );
    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(
        records(&calls)[0].details.training_data_uri.as_deref(),
        Some("s3://stack-data/training/iris.csv"),
        "the started record keeps the original data"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn tuning_on_runs_a_tuning_job_and_the_best_training_job_goes_on() {
    let rig = PathRig::new("ap-south-1", &[("TuningMaxJobs", "4")])
        .await
        .unwrap();
    let execution = "run-tuning";
    let names = RunNames::for_execution(execution);
    queue_through_approval_then(&rig, &names, &deploy_results(&names)).unwrap();
    let arn = rig.start(execution, &execution_input()).await.unwrap();

    let tune = rig.next_sync("Tune").await.unwrap();
    let tuning_name = format!("{}-0", names.tuning_job_name);
    assert_eq!(
        tune.request["HyperParameterTuningJobName"],
        tuning_name.as_str()
    );
    assert!(tuning_name.len() <= shared::naming::TUNING_JOB_NAME_MAX);
    let config = &tune.request["HyperParameterTuningJobConfig"];
    assert_eq!(config["ResourceLimits"]["MaxNumberOfTrainingJobs"], 4);
    assert_eq!(config["ResourceLimits"]["MaxParallelTrainingJobs"], 2);
    assert_eq!(
        config["HyperParameterTuningJobObjective"]["MetricName"],
        "validation:accuracy"
    );
    assert_eq!(
        config["ParameterRanges"]["IntegerParameterRanges"][0]["Name"],
        "max_depth"
    );
    assert_eq!(
        tune.request["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
        "s3://stack-data/training/iris.csv"
    );
    // The best of the tuning job's training jobs, which SageMaker (moto here) describes.
    let best = format!("{tuning_name}-003-1a2b3c4d");
    rig.sagemaker
        .create_training_job()
        .training_job_name(&best)
        .role_arn("arn:aws:iam::123456789012:role/stack-SageMakerRole")
        .algorithm_specification(
            aws_sdk_sagemaker::types::AlgorithmSpecification::builder()
                .training_image(execution_input()["imageUri"].as_str().unwrap())
                .training_input_mode(aws_sdk_sagemaker::types::TrainingInputMode::File)
                .build(),
        )
        .output_data_config(
            aws_sdk_sagemaker::types::OutputDataConfig::builder()
                .s3_output_path("s3://stack-artifacts/models/")
                .build(),
        )
        .resource_config(
            aws_sdk_sagemaker::types::ResourceConfig::builder()
                .instance_type(aws_sdk_sagemaker::types::TrainingInstanceType::MlM5Large)
                .instance_count(1)
                .volume_size_in_gb(5)
                .build(),
        )
        .stopping_condition(
            aws_sdk_sagemaker::types::StoppingCondition::builder()
                .max_runtime_in_seconds(3600)
                .build(),
        )
        .send()
        .await
        .unwrap();
    rig.complete(
        &tune,
        &json!({
            "HyperParameterTuningJobName": tuning_name,
            "HyperParameterTuningJobStatus": "Completed",
            "BestTrainingJob": {"TrainingJobName": best, "TrainingJobStatus": "Completed"}
        }),
    )
    .await
    .unwrap();

    let transform = rig.next_sync("Transform").await.unwrap();
    rig.complete(&transform, &transform_output(&names, execution))
        .await
        .unwrap();
    let ask = wait_for_approval_request(&rig, &arn).await;
    assert_eq!(
        ask.training_job_name, best,
        "the approver sees the best job"
    );
    approve(&rig, &ask.task_token).await;
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");

    let calls = rig.lambda_calls(&arn).await.unwrap();
    assert_eq!(
        records(&calls)[1].details.training_job_name.as_deref(),
        Some(best.as_str())
    );
    let version = only_version(&rig).await;
    assert_eq!(version.metadata["trainingJobName"], best);
    assert_eq!(version.status, "Approved");
    // The model is the best job's.
    let model = rig
        .sagemaker
        .describe_model()
        .model_name(&names.model_name)
        .send()
        .await
        .unwrap();
    assert!(
        model
            .primary_container()
            .and_then(|c| c.model_data_url())
            .is_some_and(|u| u.contains(&best)),
        "{model:?}"
    );
}
