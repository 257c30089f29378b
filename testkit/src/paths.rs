//! Path tests of the real state machine definition on moto's executing Step
//! Functions mode.
//!
//! The definition is `statemachine/pipeline.asl.json` with its substitutions
//! filled in, and one rewrite: moto cannot run SageMaker's `.sync`
//! integrations, so each `.sync` Task becomes an SQS `sendMessage.waitForTaskToken`
//! that carries the original request (`{"taskToken", "state", "request"}`).
//! The test plays SageMaker: it reads the request, then completes the task
//! with a Describe*Job output or fails it as `.sync` does (`States.TaskFailed`).
//! Everything else (Parameters, ResultSelector, Retry, Catch, Choice, Wait,
//! intrinsics) runs as written.
//!
//! Lambda tasks get moto's queued results, one per call in call order, per
//! account and region. Every path test uses its own region, so parallel tests
//! never take each other's results.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use serde_json::{Value, json};

use crate::Moto;

pub const ACCOUNT: &str = "123456789012";
pub const DEFINITION: &str = "statemachine/pipeline.asl.json";

/// The Lambda tasks' functions, by the substitution that names them.
pub const FUNCTIONS: [(&str, &str); 4] = [
    ("RecordMetadataFunctionArn", "record-metadata"),
    ("CheckEndpointFunctionArn", "check-endpoint"),
    ("DeployEndpointFunctionArn", "deploy-endpoint"),
    ("RequestApprovalFunctionArn", "request-approval"),
];

/// Substitution values for a test: the template's defaults where they are
/// fine, quick polls and a short approval timeout otherwise.
pub fn substitutions(region: &str) -> BTreeMap<String, String> {
    let mut s: BTreeMap<String, String> = [
        ("Partition", "aws".to_owned()),
        (
            "SageMakerRoleArn",
            format!("arn:aws:iam::{ACCOUNT}:role/stack-SageMakerRole"),
        ),
        ("ArtifactBucket", "stack-artifacts".to_owned()),
        ("QualityMetricName", "validation:accuracy".to_owned()),
        (
            "QualityMetricRegex",
            "validation:accuracy=([0-9.]+)".to_owned(),
        ),
        ("QualityThreshold", "0.9".to_owned()),
        ("TrainingInstanceType", "ml.m5.large".to_owned()),
        ("TrainingInstanceCount", "1".to_owned()),
        ("TrainingVolumeGb", "5".to_owned()),
        ("TrainingMaxSeconds", "3600".to_owned()),
        ("TransformInstanceType", "ml.m5.large".to_owned()),
        ("TransformInstanceCount", "1".to_owned()),
        ("TransformMaxSeconds", "3600".to_owned()),
        ("ApprovalTimeoutSeconds", "120".to_owned()),
        ("EndpointName", "iris-model".to_owned()),
        ("EndpointInstanceType", "ml.t2.medium".to_owned()),
        ("EndpointInstanceCount", "1".to_owned()),
        ("DeploymentStrategy", "canary".to_owned()),
        ("DeploymentTrafficPercent", "10".to_owned()),
        ("DeploymentWaitSeconds", "300".to_owned()),
        (
            "EndpointRollbackAlarmName",
            "stack-EndpointErrorsAlarm".to_owned(),
        ),
        ("DataCaptureSamplingPercent", "10".to_owned()),
        ("EndpointPollSeconds", "1".to_owned()),
        ("EndpointMaxPolls", "5".to_owned()),
        ("ModelPackageGroupName", MODEL_PACKAGE_GROUP.to_owned()),
        ("ProcessingImageUri", String::new()),
        ("ProcessingInstanceType", "ml.m5.large".to_owned()),
        ("ProcessingMaxSeconds", "1800".to_owned()),
        ("TuningMaxJobs", "0".to_owned()),
        ("TuningParallelJobs", "2".to_owned()),
        ("TuningMaxSeconds", "7200".to_owned()),
        ("TuningParameterName", "max_depth".to_owned()),
        ("TuningMinValue", "1".to_owned()),
        ("TuningMaxValue", "6".to_owned()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v))
    .collect();
    for (key, name) in FUNCTIONS {
        s.insert(key.to_owned(), function_arn(region, name));
    }
    s
}

pub fn function_arn(region: &str, name: &str) -> String {
    format!("arn:aws:lambda:{region}:{ACCOUNT}:function:{name}")
}

/// The model package group the path tests' state machines register into.
pub const MODEL_PACKAGE_GROUP: &str = "stack-models";

/// What moto's context object lacks: `$$.Execution.RedriveCount` (moto has no
/// redrive). In the test copy it reads as `0`, a first attempt's count, so job
/// names look as they do on AWS before any redrive.
pub const MOTO_REDRIVE_COUNT: &str = "0";

/// The definition with `${Name}` filled in from `values`; every placeholder must
/// have a value. `$$.Execution.RedriveCount` becomes [`MOTO_REDRIVE_COUNT`].
pub fn fill(definition: &str, values: &BTreeMap<String, String>) -> Result<String, String> {
    let definition = definition.replace("$$.Execution.RedriveCount", MOTO_REDRIVE_COUNT);
    let definition = definition.as_str();
    let mut out = String::with_capacity(definition.len());
    let mut rest = definition;
    while let Some(start) = rest.find("${") {
        out.push_str(&rest[..start]);
        let end = rest[start..]
            .find('}')
            .ok_or("unterminated ${ in the definition")?;
        let name = &rest[start + 2..start + end];
        let value = values
            .get(name)
            .ok_or_else(|| format!("no value for ${{{name}}}"))?;
        out.push_str(value);
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

/// Rewrites every `.sync` Task into an SQS `waitForTaskToken` on `queue_url`,
/// keeping its Parameters (as `request`), ResultSelector, ResultPath, Retry and Catch.
pub fn rewrite_sync(definition: &mut Value, queue_url: &str) -> Vec<String> {
    let mut rewritten = Vec::new();
    let Some(states) = definition["States"].as_object_mut() else {
        return rewritten;
    };
    for (name, state) in states.iter_mut() {
        let is_sync = state["Type"] == "Task"
            && state["Resource"]
                .as_str()
                .is_some_and(|r| r.ends_with(".sync"));
        if !is_sync {
            continue;
        }
        let request = state["Parameters"].take();
        state["Resource"] = json!("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
        state["Parameters"] = json!({
            "QueueUrl": queue_url,
            "MessageBody": {"taskToken.$": "$$.Task.Token", "state": name, "request": request}
        });
        rewritten.push(name.clone());
    }
    rewritten
}

/// One Lambda call the state machine made: which function, with what payload.
#[derive(Clone)]
pub struct LambdaCall {
    pub function: String,
    pub payload: Value,
    pub wait_for_token: bool,
}

// By hand, so that a failing test's message never prints a task token.
impl std::fmt::Debug for LambdaCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut payload = self.payload.clone();
        if let Some(token) = payload.get_mut("taskToken") {
            *token = json!("<redacted>");
        }
        f.debug_struct("LambdaCall")
            .field("function", &self.function)
            .field("payload", &payload)
            .field("wait_for_token", &self.wait_for_token)
            .finish()
    }
}

/// A `.sync` task waiting for the test to play SageMaker.
pub struct SyncTask {
    pub state: String,
    pub request: Value,
    token: String,
}

impl std::fmt::Debug for SyncTask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncTask")
            .field("state", &self.state)
            .field("request", &self.request)
            .finish_non_exhaustive()
    }
}

/// One state machine, in its own region, with a queue standing in for `.sync`.
#[derive(Debug)]
pub struct PathRig {
    pub moto: Moto,
    pub region: String,
    pub sfn: aws_sdk_sfn::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub state_machine_arn: String,
    queue_url: String,
}

fn in_region(sdk: &SdkConfig, region: &str) -> SdkConfig {
    sdk.to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

impl PathRig {
    /// Creates the state machine from the real definition, with `overrides` on
    /// top of [`substitutions`].
    pub async fn new(region: &str, overrides: &[(&str, &str)]) -> Result<PathRig, String> {
        let moto = Moto::from_env();
        moto.execute_state_machines()?;
        let sdk = in_region(&moto.sdk_config().await, region);
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let sagemaker = aws_sdk_sagemaker::Client::new(&sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(crate::unique("sync"))
            .send()
            .await
            .map_err(|e| format!("CreateQueue: {e:?}"))?
            .queue_url
            .ok_or("no queue url")?;

        let text = std::fs::read_to_string(crate::workspace_root().join(DEFINITION))
            .map_err(|e| format!("{DEFINITION}: {e}"))?;
        let mut values = substitutions(region);
        for (k, v) in overrides {
            values.insert((*k).to_owned(), (*v).to_owned());
        }
        let mut definition: Value =
            serde_json::from_str(&fill(&text, &values)?).map_err(|e| e.to_string())?;
        let rewritten = rewrite_sync(&mut definition, &queue_url);
        assert_eq!(
            rewritten.len(),
            4,
            "expected the processing, training, tuning and transform .sync tasks, rewrote {rewritten:?}"
        );
        // The group the template creates; moto keeps one per region.
        if let Err(err) = sagemaker
            .create_model_package_group()
            .model_package_group_name(MODEL_PACKAGE_GROUP)
            .send()
            .await
        {
            let text = format!("{err:?}");
            if !text.contains("already exists") && !text.contains("AlreadyExists") {
                return Err(format!("CreateModelPackageGroup: {text}"));
            }
        }

        let role = crate::create_service_role(&sdk, "states").await?;
        let state_machine_arn = sfn
            .create_state_machine()
            .name(crate::unique("pipeline"))
            .definition(definition.to_string())
            .role_arn(role)
            .send()
            .await
            .map_err(|e| format!("CreateStateMachine: {e:?}"))?
            .state_machine_arn;
        Ok(PathRig {
            moto,
            region: region.to_owned(),
            sfn,
            sqs,
            sagemaker,
            state_machine_arn,
            queue_url,
        })
    }

    /// Queues the Lambda results, in the order the calls will come.
    pub fn queue_lambda_results(&self, results: &[Value]) -> Result<(), String> {
        let results: Vec<String> = results.iter().map(Value::to_string).collect();
        self.moto.control(
            "/moto-api/static/lambda-simple/response",
            &json!({"account_id": ACCOUNT, "region": self.region, "results": results}),
        )
    }

    pub async fn start(&self, name: &str, input: &Value) -> Result<String, String> {
        self.sfn
            .start_execution()
            .state_machine_arn(&self.state_machine_arn)
            .name(name)
            .input(input.to_string())
            .send()
            .await
            .map(|o| o.execution_arn)
            .map_err(|e| format!("StartExecution: {e:?}"))
    }

    /// The next `.sync` request, which must be for `state`.
    pub async fn next_sync(&self, state: &str) -> Result<SyncTask, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            let got = self
                .sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .wait_time_seconds(1)
                .send()
                .await
                .map_err(|e| format!("ReceiveMessage: {e:?}"))?;
            if let Some(m) = got.messages().first() {
                if let Some(handle) = m.receipt_handle() {
                    self.sqs
                        .delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| format!("DeleteMessage: {e:?}"))?;
                }
                let body: Value = serde_json::from_str(m.body().unwrap_or("{}"))
                    .map_err(|e| format!("message body: {e}"))?;
                let task = SyncTask {
                    state: body["state"].as_str().unwrap_or_default().to_owned(),
                    request: body["request"].clone(),
                    token: body["taskToken"].as_str().unwrap_or_default().to_owned(),
                };
                if task.state != state {
                    return Err(format!("expected the {state} task, got {}", task.state));
                }
                return Ok(task);
            }
        }
        Err(format!("the {state} task never started"))
    }

    /// Completes a `.sync` task as SageMaker's Describe*Job would.
    pub async fn complete(&self, task: &SyncTask, describe_output: &Value) -> Result<(), String> {
        self.sfn
            .send_task_success()
            .task_token(&task.token)
            .output(describe_output.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("SendTaskSuccess ({}): {e:?}", task.state))
    }

    /// Fails a `.sync` task as a failed job does: `States.TaskFailed`.
    pub async fn fail(&self, task: &SyncTask, cause: &str) -> Result<(), String> {
        self.sfn
            .send_task_failure()
            .task_token(&task.token)
            .error("States.TaskFailed")
            .cause(cause)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("SendTaskFailure ({}): {e:?}", task.state))
    }

    pub async fn history(
        &self,
        execution_arn: &str,
    ) -> Result<Vec<aws_sdk_sfn::types::HistoryEvent>, String> {
        let mut events = Vec::new();
        let mut token = None;
        loop {
            let page = self
                .sfn
                .get_execution_history()
                .execution_arn(execution_arn)
                .set_next_token(token)
                .send()
                .await
                .map_err(|e| format!("GetExecutionHistory: {e:?}"))?;
            events.extend(page.events().iter().cloned());
            token = page.next_token().map(str::to_owned);
            if token.is_none() {
                return Ok(events);
            }
        }
    }

    /// Every Lambda call so far, in order, with the function's name (not ARN).
    pub async fn lambda_calls(&self, execution_arn: &str) -> Result<Vec<LambdaCall>, String> {
        let mut calls = Vec::new();
        for event in self.history(execution_arn).await? {
            let Some(d) = event.task_scheduled_event_details() else {
                continue;
            };
            if d.resource_type() != "lambda" {
                continue;
            }
            let parameters: Value =
                serde_json::from_str(d.parameters()).map_err(|e| format!("parameters: {e}"))?;
            let arn = parameters["FunctionName"].as_str().unwrap_or_default();
            calls.push(LambdaCall {
                function: arn.rsplit(':').next().unwrap_or_default().to_owned(),
                payload: parameters["Payload"].clone(),
                wait_for_token: d.resource().ends_with("waitForTaskToken"),
            });
        }
        Ok(calls)
    }

    /// Waits until `function` has been called `count` times in all.
    pub async fn wait_for_calls(
        &self,
        execution_arn: &str,
        function: &str,
        count: usize,
    ) -> Result<Vec<LambdaCall>, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let calls = self.lambda_calls(execution_arn).await?;
            if calls.iter().filter(|c| c.function == function).count() >= count {
                return Ok(calls);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{function} was not called {count} times: {calls:#?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// Waits for the execution to end; returns (status, error, cause).
    pub async fn finish(
        &self,
        execution_arn: &str,
    ) -> Result<(String, Option<String>, Option<String>), String> {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let d = self
                .sfn
                .describe_execution()
                .execution_arn(execution_arn)
                .send()
                .await
                .map_err(|e| format!("DescribeExecution: {e:?}"))?;
            let status = d.status().as_str().to_owned();
            if status != "RUNNING" {
                return Ok((
                    status,
                    d.error().map(str::to_owned),
                    d.cause().map(str::to_owned),
                ));
            }
            if Instant::now() > deadline {
                return Err(format!("{execution_arn} still RUNNING after 60 s"));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_tests_message_never_shows_a_task_token() {
        let call = LambdaCall {
            function: "request-approval".into(),
            payload: json!({"taskToken": "AQCEAAAAKgAAAA-secret", "executionName": "run-1"}),
            wait_for_token: true,
        };
        let task = SyncTask {
            state: "Train".into(),
            request: json!({}),
            token: "AQCEAAAAKgAAAA-secret".into(),
        };
        let shown = format!("{call:?} {task:?}");
        assert!(!shown.contains("secret"), "{shown}");
        assert!(shown.contains("run-1") && shown.contains("Train"));
    }
}
