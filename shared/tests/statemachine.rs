//! The state machine against the shared contracts (no emulator): every
//! payload the ASL sends names only fields of the receiving Lambda's input
//! type, and every path it reads from a Lambda result exists in that
//! Lambda's output type; and the definition's own rules (every Task retries,
//! catches or says why not, uses a known integration, names its jobs anew on
//! a redrive or a retry). The paths themselves run in testkit/tests/paths.rs,
//! their Lambda tasks answered by the real binaries.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::collections::BTreeMap;

use serde_json::{Value, json};
use shared::contract::{
    CheckEndpointInput, CheckEndpointOutput, DeployAction, DeployEndpointInput,
    DeployEndpointOutput, DeploymentStrategy, EndpointStatus, EvaluateInput, EvaluateOutput,
    ProblemType, RecordInput, RecordOutput, RequestApprovalInput, RequestApprovalOutput,
    SnapshotInput, SnapshotOutput, SnapshotSet,
};
use shared::naming::RunNames;

fn definition() -> Value {
    let text = std::fs::read_to_string(testkit::workspace_root().join(testkit::rig::DEFINITION))
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
        "endpointName": "e", "endpointConfigName": "c", "modelPackageArn": "p", "error": "E", "cause": "C",
        "gate": {"metricName": "m", "value": 0.9, "threshold": 0.8},
        "deployStartedTime": "2026-11-21T10:00:00Z", "failedState": "Train",
        "modelQualityUri": "s3://b/transform/run/model-quality.json", "heldOutMetrics": {"accuracy": 0.9},
        "modelArtifactSha256": "00", "modelArtifactVersionId": "v",
        "testDataVersionId": "v", "dataManifestUri": "s3://b/runs/run/data-manifest.json",
        "deployStage": "staging", "stagingReportUri": "s3://b/transform/run/staging-report.json",
        "staging": serde_json::to_value(shared::contract::StagingFigures::default()).unwrap()
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
        // Every field, so every key the payload may send is known; the two
        // hostings are exclusive at run time (deploy-endpoint's validate).
        instance_type: Some("ml.t2.medium".into()),
        initial_instance_count: Some(1),
        serverless: Some(shared::contract::ServerlessHosting {
            memory_size_mb: 2048,
            max_concurrency: 5,
        }),
        variant_name: "AllTraffic".into(),
        deployment: Some(shared::contract::DeploymentPolicy {
            strategy: DeploymentStrategy::Canary,
            traffic_percent: Some(10),
            wait_interval_seconds: Some(60),
            rollback_alarm_names: vec!["a".into()],
            poll_seconds: Some(30),
            max_polls: Some(120),
        }),
        data_capture: Some(shared::contract::DataCapture {
            destination_s3_uri: "s3://b/c".into(),
            sampling_percentage: 10,
        }),
        execution_name: "run".into(),
        commit_id: "c".into(),
        deploy_stage: Some(shared::contract::DeployStage::Staging),
    })
    .unwrap()
}

fn full_request_approval_input() -> Value {
    serde_json::to_value(RequestApprovalInput {
        task_token: "t".into(),
        execution_arn: "a".into(),
        entered_time: Some("2026-11-21T10:00:00.000Z".into()),
        execution_name: "n".into(),
        commit_id: "c".into(),
        model_name: "m".into(),
        training_job_name: "t".into(),
        metrics: BTreeMap::from([("m".to_owned(), 1.0)]),
        transform_output_uri: "s3://b/o".into(),
        data_version_id: Some("v".into()),
        training_data_uri: Some("s3://d/training/x.csv".into()),
        test_data_uri: Some("s3://d/test/".into()),
        test_data_version_id: Some("v".into()),
        data_manifest_uri: Some("s3://b/runs/n/data-manifest.json".into()),
        timeout_seconds: 60,
        model_quality_uri: Some("s3://b/o/model-quality.json".into()),
        endpoint_name: Some("e".into()),
        deploy_stage: Some(shared::contract::DeployStage::Production),
        staging_report_uri: Some("s3://b/o/staging-report.json".into()),
        staging: Some(shared::contract::StagingFigures::default()),
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
                execution_name: Some("run-1".into()),
            })
            .unwrap(),
        ),
        ("${DeployEndpointFunctionArn}", full_deploy_input()),
        (
            "${RequestApprovalFunctionArn}",
            full_request_approval_input(),
        ),
        (
            "${EvaluateModelFunctionArn}",
            serde_json::to_value(EvaluateInput {
                execution_name: "run".into(),
                transform_output_uri: "s3://b/transform/run/".into(),
                problem_type: ProblemType::Classification,
                gate_metric: "accuracy".into(),
                model_artifact_uri: Some("s3://b/models/train/output/model.tar.gz".into()),
            })
            .unwrap(),
        ),
        (
            "${TestStagingFunctionArn}",
            serde_json::to_value(shared::contract::TestStagingInput {
                execution_name: "run".into(),
                model_quality_uri: "s3://b/transform/run/model-quality.json".into(),
                model_name: Some("m".into()),
                execution_start_time: Some("2026-11-21T10:00:00Z".into()),
                approval_timeout_seconds: Some(60),
            })
            .unwrap(),
        ),
        (
            "${SnapshotDataFunctionArn}",
            serde_json::to_value(SnapshotInput {
                execution_name: "run".into(),
                training_data_uri: "s3://d/training/".into(),
                test_data_uri: "s3://d/test/".into(),
            })
            .unwrap(),
        ),
    ]
    .into();
    let set = |prefix: &str| SnapshotSet {
        source_uri: format!("s3://d/{prefix}"),
        uri: format!("s3://b/snapshots/run/{prefix}"),
        objects: 1,
        bytes: 1,
        version_id: Some("v".into()),
    };
    let outputs: BTreeMap<&str, Value> = [
        (
            "${RecordMetadataFunctionArn}",
            serde_json::to_value(RecordOutput {
                recorded: true,
                notified: true,
                names: Some(RunNames::for_execution(
                    &shared::naming::StackToken::parse("5e1f0c70").unwrap(),
                    "run",
                )),
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
                approval_hash: shared::ApprovalId::from_bytes([0xa; 16]).hash(),
            })
            .unwrap(),
        ),
        (
            "${EvaluateModelFunctionArn}",
            serde_json::to_value(EvaluateOutput {
                report_uri: "s3://b/transform/run/model-quality.json".into(),
                rows: 30,
                metrics: [("accuracy".to_owned(), 0.9)].into(),
                gate_metric: "accuracy".into(),
                gate_value: 0.9,
                model_artifact: Some(shared::contract::ArtifactDigest {
                    uri: "s3://b/models/train/output/model.tar.gz".into(),
                    version_id: Some("v".into()),
                    sha256: "0".repeat(64),
                    bytes: 1,
                }),
            })
            .unwrap(),
        ),
        (
            "${TestStagingFunctionArn}",
            serde_json::to_value(shared::contract::TestStagingOutput {
                report_uri: "s3://b/transform/run/staging-report.json".into(),
                figures: shared::contract::StagingFigures::default(),
                approval_timeout_seconds: 60,
            })
            .unwrap(),
        ),
        (
            "${SnapshotDataFunctionArn}",
            serde_json::to_value(SnapshotOutput {
                manifest_uri: "s3://b/runs/run/data-manifest.json".into(),
                training: set("training/"),
                test: set("test/"),
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
    assert_eq!(lambda_tasks, 16, "the Lambda tasks this test knows of");
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

/// A Lambda that times out fails its task with `Sandbox.Timedout` (or, from
/// older runtimes, `Lambda.Unknown`); every function the state machine calls
/// is idempotent, so every Lambda task retries both.
#[test]
fn every_lambda_task_retries_a_lambda_timeout() {
    let def = definition();
    let mut missing = Vec::new();
    let mut lambda_tasks = 0;
    for (name, state) in def["States"].as_object().unwrap() {
        let resource = state["Resource"].as_str().unwrap_or_default();
        if !resource.contains(":lambda:invoke") {
            continue;
        }
        lambda_tasks += 1;
        let retried: Vec<&str> = state["Retry"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|r| r["ErrorEquals"].as_array().cloned().unwrap_or_default())
            .filter_map(|e| e.as_str().map(str::to_owned))
            .map(|e| match e.as_str() {
                "Lambda.Unknown" => "Lambda.Unknown",
                "Sandbox.Timedout" => "Sandbox.Timedout",
                _ => "",
            })
            .collect();
        for error in ["Lambda.Unknown", "Sandbox.Timedout"] {
            if !retried.contains(&error) {
                missing.push(format!("{name} does not retry {error}"));
            }
        }
    }
    assert!(lambda_tasks >= 10, "{lambda_tasks}");
    assert!(missing.is_empty(), "{missing:#?}");
}

// ------------------------------------------------- the definition's own rules

/// Every Task state, with its name, in Parallel branches and Map iterators too.
fn tasks(states: &Value) -> Vec<(String, Value)> {
    let mut out = Vec::new();
    for (name, state) in states.as_object().into_iter().flatten() {
        if state["Type"] == "Task" {
            out.push((name.clone(), state.clone()));
        }
        for branch in state["Branches"].as_array().into_iter().flatten() {
            out.extend(tasks(&branch["States"]));
        }
        for nested in ["Iterator", "ItemProcessor"] {
            out.extend(tasks(&state[nested]["States"]));
        }
    }
    out
}

/// The integrations the pipeline uses. A new one is added here on purpose
/// (and granted in template.yaml), not by a typo in a Resource.
const KNOWN_INTEGRATIONS: [&str; 23] = [
    "lambda:invoke",
    "lambda:invoke.waitForTaskToken",
    "sagemaker:createTrainingJob.sync",
    "sagemaker:createTransformJob.sync",
    "sagemaker:createModel",
    "sagemaker:createProcessingJob.sync",
    "sagemaker:createHyperParameterTuningJob.sync",
    "aws-sdk:sagemaker:createModelPackage",
    "aws-sdk:dynamodb:query",
    "aws-sdk:sagemaker:updateModelPackage",
    "aws-sdk:sagemaker:describeModelPackage",
    "aws-sdk:sagemaker:describeTrainingJob",
    "aws-sdk:ecr:batchGetImage",
    "aws-sdk:ecr:putImage",
    "aws-sdk:cloudwatchlogs:putRetentionPolicy",
    "aws-sdk:sagemaker:deleteModel",
    "aws-sdk:s3:putObjectTagging",
    "aws-sdk:sagemaker:deleteEndpointConfig",
    "aws-sdk:sagemaker:describeEndpointConfig",
    "aws-sdk:applicationautoscaling:registerScalableTarget",
    "aws-sdk:applicationautoscaling:deregisterScalableTarget",
    "aws-sdk:applicationautoscaling:putScalingPolicy",
    "aws-sdk:s3:headObject",
];

/// The job-name parameter of each SageMaker job a Task creates.
const JOB_NAMES: [(&str, &str); 4] = [
    ("sagemaker:createTrainingJob.sync", "TrainingJobName.$"),
    ("sagemaker:createTransformJob.sync", "TransformJobName.$"),
    ("sagemaker:createProcessingJob.sync", "ProcessingJobName.$"),
    (
        "sagemaker:createHyperParameterTuningJob.sync",
        "HyperParameterTuningJobName.$",
    ),
];

fn passes_token(value: &Value) -> bool {
    match value {
        Value::Object(o) => o
            .iter()
            .any(|(k, v)| (k.ends_with(".$") && v == "$$.Task.Token") || passes_token(v)),
        Value::Array(a) => a.iter().any(passes_token),
        _ => false,
    }
}

/// What the definition's Tasks break of the project's own rules.
fn task_rule_errors(definition: &Value) -> Vec<String> {
    let mut errors = Vec::new();
    for (name, state) in tasks(&definition["States"]) {
        let resource = state["Resource"].as_str().unwrap_or_default();
        let integration = resource
            .strip_prefix("arn:${Partition}:states:::")
            .unwrap_or(resource);
        if !KNOWN_INTEGRATIONS.contains(&integration) {
            errors.push(format!(
                "{name}: {resource} is not a known integration (arn:${{Partition}}:states:::…)"
            ));
        }
        if integration.ends_with(".waitForTaskToken") && !passes_token(&state["Parameters"]) {
            errors.push(format!(
                "{name}: a .waitForTaskToken task must pass $$.Task.Token"
            ));
        }
        let retries = state["Retry"].as_array().cloned().unwrap_or_default();
        if retries.is_empty() {
            errors.push(format!(
                "{name}: every Task needs a Retry for transient errors"
            ));
        }
        // A Task either catches to a decided end, or says it is left uncaught
        // on purpose (its failure is the execution's failure point, for a redrive).
        let caught = state["Catch"].as_array().is_some_and(|c| !c.is_empty());
        let comment = state["Comment"].as_str().unwrap_or_default();
        if !caught && !comment.contains("Not caught:") {
            errors.push(format!(
                "{name}: a Task needs a Catch, or a Comment saying 'Not caught:' and why"
            ));
        }
        let Some((_, field)) = JOB_NAMES.iter().find(|(job, _)| *job == integration) else {
            continue;
        };
        // Jobs keep their names after failing: a redriven run and a retried
        // create each name their own job anew.
        let given = state["Parameters"][field].as_str().unwrap_or_default();
        for count in ["$$.Execution.RedriveCount", "$$.State.RetryCount"] {
            if !given.contains(count) {
                errors.push(format!("{name}: {field} must include {count}"));
            }
        }
        // The name keeps room for one retry digit (naming::ATTEMPT_SUFFIX_MAX).
        let attempts: u64 = retries
            .iter()
            .map(|r| r["MaxAttempts"].as_u64().unwrap_or(3))
            .sum();
        if attempts > 9 {
            errors.push(format!("{name}: its retriers allow {attempts} attempts; a job name has room for one retry digit"));
        }
    }
    errors
}

#[test]
fn every_task_retries_catches_or_says_why_not_uses_a_known_integration_and_names_its_jobs_anew() {
    let def = definition();
    assert!(tasks(&def["States"]).len() >= 20);
    assert_eq!(task_rule_errors(&def), Vec::<String>::new());
    // `-<redrive count, at most 1,000>-<retry count, one digit>`.
    assert!(shared::naming::ATTEMPT_SUFFIX_MAX >= "-1000-9".len());
}

#[test]
fn the_task_rules_notice_each_kind_of_break() {
    let def = definition();
    let (train, _) = tasks(&def["States"])
        .into_iter()
        .find(|(_, s)| {
            s["Resource"]
                .as_str()
                .unwrap_or_default()
                .ends_with("createTrainingJob.sync")
        })
        .unwrap();
    let broken = |edit: &dyn Fn(&mut Value)| {
        let mut d = def.clone();
        edit(&mut d["States"][train.as_str()]);
        task_rule_errors(&d)
    };
    let said = |errors: Vec<String>, what: &str| {
        assert!(
            errors.iter().any(|e| e.contains(what)),
            "{what}: {errors:?}"
        );
    };
    said(broken(&|s| s["Retry"] = json!([])), "needs a Retry");
    said(
        broken(&|s| {
            s["Catch"] = json!([]);
            s["Comment"] = json!("");
        }),
        "needs a Catch",
    );
    said(
        broken(&|s| s["Resource"] = json!("arn:aws:states:::sagemaker:createTrainingJob.sync")),
        "not a known integration",
    );
    said(
        broken(&|s| {
            s["Parameters"]["TrainingJobName.$"] = json!("States.Format('t-{}', $$.Execution.Name)")
        }),
        "must include $$.Execution.RedriveCount",
    );
    said(
        broken(&|s| s["Retry"] = json!([{"ErrorEquals": ["States.ALL"], "MaxAttempts": 10}])),
        "one retry digit",
    );
    let approval = "RequestApproval";
    let mut d = def.clone();
    d["States"][approval]["Parameters"]["Payload"]
        .as_object_mut()
        .unwrap()
        .remove("taskToken.$");
    said(task_rule_errors(&d), "must pass $$.Task.Token");
}
