//! The test world and the state machine's paths on it: one rig for the path
//! tests and for `make local`.
//!
//! - [`World`]: what template.yaml creates, made in moto under the names the
//!   template gives them (resolved from the SAM transform's output with the
//!   template's own parameter defaults): the table, the two topics (each with
//!   an SQS inbox standing in for email), the buckets, the pipeline, the
//!   model package group, the roles.
//! - [`Rig`]: the real definition, filled with the template's own
//!   `DefinitionSubstitutions`, run on moto's executing Step Functions. moto
//!   can neither call a real Lambda nor run SageMaker's `.sync`, so the rig's
//!   copy turns each Lambda and `.sync` Task into an SQS `waitForTaskToken`
//!   carrying the original request (everything else, Parameters,
//!   ResultSelector, Retry, Catch, Choice, Wait, timeouts, runs as written).
//!   The rig answers each Lambda task by invoking that function's real binary
//!   (under cargo-lambda's runtime, as an IAM user holding only its template
//!   policy) with exactly the state's payload, and hands each `.sync` task to
//!   the caller, who plays SageMaker.
//!
//! Parameters a caller overrides are only the ones a path is about (a
//! feature switched on, a timer shortened); everything else is the
//! template's default.

mod definition;
mod world;

pub use definition::*;
pub use world::*;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::template::{ACCOUNT, Template};
use crate::{Function, Invocation, LambdaRuntime};

/// An HTTP client as the approver's browser is to the page: every status is an answer.
pub(crate) fn browser() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .timeout_global(Some(Duration::from_secs(60)))
        .build()
        .into()
}

/// A page's (status, HTML).
pub(crate) fn page_answer(
    sent: Result<ureq::http::Response<ureq::Body>, ureq::Error>,
    method: &str,
    link: &str,
) -> (u16, String) {
    let mut response = sent.unwrap_or_else(|e| panic!("{method} {link}: {e}"));
    (
        response.status().as_u16(),
        response.body_mut().read_to_string().unwrap_or_default(),
    )
}

/// A schedule's target must keep what fails at fire time: retried, then put
/// in a dead-letter queue, as EventBridge Scheduler does when told to.
pub(crate) fn keeps_failures(
    name: &str,
    target: &aws_sdk_scheduler::types::Target,
) -> Result<(), String> {
    if target.dead_letter_config().and_then(|d| d.arn()).is_none() {
        return Err(format!(
            "schedule {name} has no dead-letter queue: a target that fails at fire time would be lost"
        ));
    }
    if target
        .retry_policy()
        .and_then(|p| p.maximum_event_age_in_seconds())
        .is_none()
    {
        return Err(format!("schedule {name} has no retry policy"));
    }
    Ok(())
}

/// A schedule and its target, as EventBridge Scheduler would fire it.
pub(crate) async fn scheduled(
    scheduler: &aws_sdk_scheduler::Client,
    name: &str,
) -> Result<
    (
        aws_sdk_scheduler::operation::get_schedule::GetScheduleOutput,
        aws_sdk_scheduler::types::Target,
    ),
    String,
> {
    let schedule = scheduler
        .get_schedule()
        .name(name)
        .send()
        .await
        .map_err(|e| format!("GetSchedule {name}: {e:?}"))?;
    let target = schedule
        .target()
        .cloned()
        .ok_or("a schedule without a target")?;
    keeps_failures(name, &target)?;
    Ok((schedule, target))
}

/// One Lambda call the state machine made: which function, with what payload,
/// and what its real binary answered.
#[derive(Clone)]
pub struct LambdaCall {
    pub state: String,
    pub function: String,
    /// The function ARN the definition called: qualified by the version it
    /// was published as (the template's AutoPublishAlias).
    pub arn: String,
    pub payload: Value,
    pub wait_for_token: bool,
    pub answer: Invocation,
}

// By hand, so that a failing test's message never prints a task token.
impl std::fmt::Debug for LambdaCall {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mut payload = self.payload.clone();
        if let Some(token) = payload.get_mut("taskToken") {
            *token = json!("<redacted>");
        }
        f.debug_struct("LambdaCall")
            .field("state", &self.state)
            .field("function", &self.function)
            .field("arn", &self.arn)
            .field("payload", &payload)
            .field("answer", &self.answer)
            .finish()
    }
}

/// A `.sync` task waiting for the caller to play SageMaker.
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

/// The state machine on a [`World`], its Lambda tasks answered by the real binaries.
#[derive(Debug)]
pub struct Rig {
    pub world: World,
    pub sfn: aws_sdk_sfn::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub s3: aws_sdk_s3::Client,
    pub state_machine_arn: String,
    queue_url: String,
    runtime: Mutex<LambdaRuntime>,
    started: Mutex<BTreeMap<String, Function>>,
    /// Function ARN (as the definition names it) → binary.
    binaries: BTreeMap<String, String>,
    extra_env: Mutex<BTreeMap<String, Vec<(String, String)>>>,
    calls: Mutex<Vec<LambdaCall>>,
    waiting: Mutex<VecDeque<SyncTask>>,
    /// EventBridge's status-change events delivered, by execution ARN, with the answer.
    deliveries: Mutex<BTreeMap<String, Invocation>>,
    approval_emails: Mutex<Vec<String>>,
    /// States whose next successful answer is lost, with the error Step
    /// Functions sees instead.
    lose_answers: Mutex<BTreeMap<String, String>>,
    /// The approval pages' REST API (the template's ApprovalPagesApi), started
    /// on first use. Declared last: dropped after nothing can call it.
    approval_pages: Mutex<Option<crate::gateway::RestGateway>>,
}

/// The log group SageMaker writes a `.sync` state's job to.
fn job_log_group(state: &str) -> Option<&'static str> {
    match state {
        "Train" | "Tune" => Some("/aws/sagemaker/TrainingJobs"),
        "Transform" => Some("/aws/sagemaker/TransformJobs"),
        "Process" => Some("/aws/sagemaker/ProcessingJobs"),
        _ => None,
    }
}

fn locked<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// The directory holding the workspace's binaries: beside the running test
/// (`target/debug/deps/..`) or the running binary (`target/debug/..`).
pub fn binaries_dir() -> std::path::PathBuf {
    let exe = std::env::current_exe().unwrap_or_default();
    let dir = exe
        .parent()
        .map(std::path::Path::to_path_buf)
        .unwrap_or_default();
    if dir.file_name().is_some_and(|n| n == "deps") {
        dir.parent()
            .map(std::path::Path::to_path_buf)
            .unwrap_or(dir)
    } else {
        dir
    }
}

impl Rig {
    /// A world in `region` and the state machine on it, with `parameters` over the template's defaults.
    pub async fn new(region: &str, parameters: &[(&str, &str)]) -> Result<Rig, String> {
        // moto keeps one SageMaker (and one Lambda result queue) per region:
        // two rigs in one region would see each other's endpoint.
        static REGIONS: Mutex<Vec<String>> = Mutex::new(Vec::new());
        {
            let mut taken = locked(&REGIONS);
            if taken.iter().any(|r| r == region) {
                return Err(format!(
                    "{region} is already used by another rig in this process: give each path its own region"
                ));
            }
            taken.push(region.to_owned());
        }
        let world = World::create(region, parameters).await?;
        world.moto.execute_state_machines()?;
        let sdk = world.sdk.clone();
        let sfn = aws_sdk_sfn::Client::new(&sdk);
        let sqs = aws_sdk_sqs::Client::new(&sdk);
        let queue_url = sqs
            .create_queue()
            .queue_name(crate::unique("tasks"))
            .send()
            .await
            .map_err(|e| format!("CreateQueue: {e:?}"))?
            .queue_url
            .ok_or("no queue url")?;

        let definition = rig_definition(&world.resolver, &queue_url)?;
        let state_machine_arn = sfn
            .create_state_machine()
            .name(world.attribute("StateMachine", "Name"))
            .definition(definition.to_string())
            .role_arn(world.attribute("StateMachineRole", "Arn"))
            .send()
            .await
            .map_err(|e| format!("CreateStateMachine: {e:?}"))?
            .state_machine_arn;

        let template = Template::load()?;
        let binaries = template
            .functions()
            .into_iter()
            .map(|(id, binary)| Ok((world.resolver.attribute(&id, "Arn")?, binary)))
            .collect::<Result<_, String>>()?;
        let runtime = LambdaRuntime::start();
        Ok(Rig {
            sagemaker: aws_sdk_sagemaker::Client::new(&sdk),
            s3: aws_sdk_s3::Client::new(&sdk),
            world,
            sfn,
            sqs,
            state_machine_arn,
            queue_url,
            runtime: Mutex::new(runtime),
            started: Mutex::new(BTreeMap::new()),
            binaries,
            extra_env: Mutex::new(BTreeMap::new()),
            calls: Mutex::new(Vec::new()),
            waiting: Mutex::new(VecDeque::new()),
            deliveries: Mutex::new(BTreeMap::new()),
            approval_emails: Mutex::new(Vec::new()),
            lose_answers: Mutex::new(BTreeMap::new()),
            approval_pages: Mutex::new(None),
        })
    }

    /// What `sam deploy` of changed code does to a running stack: every
    /// function the state machine calls is published as `version`, and the
    /// definition is updated to call those versions. Executions already
    /// running keep the definition they started with.
    pub async fn deploy_new_versions(&self, version: u32) -> Result<(), String> {
        let mut resolver = self.world.resolver.clone();
        resolver.version = version;
        let definition = rig_definition(&resolver, &self.queue_url)?;
        self.sfn
            .update_state_machine()
            .state_machine_arn(&self.state_machine_arn)
            .definition(definition.to_string())
            .send()
            .await
            .map_err(|e| format!("UpdateStateMachine: {e:?}"))?;
        Ok(())
    }

    /// Sets an environment variable for a function before its first call
    /// (for example where a local stand-in replaces an AWS endpoint).
    pub fn set_env(&self, binary: &str, key: &str, value: &str) {
        locked(&self.extra_env)
            .entry(binary.to_owned())
            .or_default()
            .push((key.to_owned(), value.to_owned()));
    }

    /// The function's URL under cargo-lambda's runtime (an HTTP request becomes
    /// an API Gateway event), standing in for the HTTP API's route.
    pub fn function_url(&self, binary: &str, path: &str) -> String {
        let function = self.function(binary);
        locked(&self.runtime).function_url(&function, path)
    }

    /// The approval pages' API URL (links are `<it>/approvals/<id>`): the template's
    /// ApprovalPagesApi served by [`crate::gateway::RestGateway`], its methods
    /// reaching their functions' real binaries as REST proxy events.
    pub fn approval_pages_url(&self) -> String {
        // Held while it starts, so two runs cannot start two (handle-approval,
        // which it starts, has no APPROVAL_BASE_URL).
        let mut pages = locked(&self.approval_pages);
        if let Some(g) = pages.as_ref() {
            return g.origin();
        }
        let agent = locked(&self.runtime).agent();
        let gateway = crate::gateway::start_from_template("ApprovalPagesApi", agent, |binary| {
            Ok(self.function(binary))
        })
        .unwrap_or_else(|e| panic!("the approval pages' API: {e}"));
        let url = gateway.origin();
        *pages = Some(gateway);
        url
    }

    /// The function's real binary, started on first use with its environment
    /// from template.yaml (resolved to this world) and its own IAM user.
    pub fn function(&self, binary: &str) -> Function {
        if let Some(f) = locked(&self.started).get(binary) {
            return f.clone();
        }
        let template = Template::load().unwrap_or_else(|e| panic!("{e}"));
        let id = template
            .function_id(binary)
            .unwrap_or_else(|e| panic!("{e}"));
        let mut env = self
            .world
            .resolver
            .environment(&id)
            .unwrap_or_else(|e| panic!("{binary}'s environment: {e}"));
        env.insert("AWS_REGION".into(), self.world.region.clone());
        if env.contains_key("APPROVAL_BASE_URL") {
            // The links name the template's REST API stage, played on 127.0.0.1.
            env.insert("APPROVAL_BASE_URL".into(), self.approval_pages_url());
        }
        for (k, v) in locked(&self.extra_env)
            .get(binary)
            .cloned()
            .unwrap_or_default()
        {
            env.insert(k, v);
        }
        let path = binaries_dir().join(binary);
        if !path.exists() {
            panic!(
                "{} is not built: run `cargo build --workspace --bins` (make test does)",
                path.display()
            );
        }
        let env: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let function = locked(&self.runtime).function(&path.display().to_string(), &env);
        locked(&self.started).insert(binary.to_owned(), function.clone());
        function
    }

    /// Invokes a function's real binary as Lambda's Invoke API would.
    pub fn invoke(&self, binary: &str, payload: &Value) -> Invocation {
        let function = self.function(binary);
        locked(&self.runtime).invoke(&function, payload)
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

    /// Takes one task from the state machine, if one comes within a second:
    /// a Lambda task is answered by the function's real binary; a `.sync` task
    /// is kept for [`Rig::next_sync`]. Returns whether a task came.
    pub async fn pump(&self) -> Result<bool, String> {
        let got = self
            .sqs
            .receive_message()
            .queue_url(&self.queue_url)
            .wait_time_seconds(1)
            .max_number_of_messages(1)
            .send()
            .await
            .map_err(|e| format!("ReceiveMessage: {e:?}"))?;
        let Some(m) = got.messages().first() else {
            return Ok(false);
        };
        if let Some(handle) = m.receipt_handle() {
            self.sqs
                .delete_message()
                .queue_url(&self.queue_url)
                .receipt_handle(handle)
                .send()
                .await
                .map_err(|e| format!("DeleteMessage: {e:?}"))?;
        }
        let task: Value =
            serde_json::from_str(m.body().unwrap_or("{}")).map_err(|e| format!("task: {e}"))?;
        let state = task["state"].as_str().unwrap_or_default().to_owned();
        let token = task["taskToken"].as_str().unwrap_or_default().to_owned();
        match task["kind"].as_str() {
            Some("sync") => {
                locked(&self.waiting).push_back(SyncTask {
                    state,
                    request: task["request"].clone(),
                    token,
                });
            }
            Some(kind @ ("lambda" | "callback")) => {
                let arn = task["function"].as_str().unwrap_or_default().to_owned();
                let binary = self
                    .binaries
                    .get(unqualified(&arn))
                    .ok_or_else(|| {
                        format!("{state} calls {arn}, which is no function of the template")
                    })?
                    .clone();
                let payload = task["payload"].clone();
                let answer = self.invoke(&binary, &payload);
                let lost = match &answer {
                    Invocation::Ok(_) => locked(&self.lose_answers).remove(&state),
                    Invocation::Err { .. } => None,
                };
                let callback = kind == "callback";
                let token = if callback {
                    payload["taskToken"].as_str().unwrap_or_default().to_owned()
                } else {
                    token
                };
                match (&answer, callback) {
                    // The function did its work; its answer never reached Step Functions.
                    (Invocation::Ok(_), _) if lost.is_some() => {
                        let error = lost.unwrap_or_default();
                        self.sfn
                            .send_task_failure()
                            .task_token(&token)
                            .error(&error)
                            .cause(json!({"errorType": error, "errorMessage": "the answer was lost (fault injected by the test)"}).to_string())
                            .send()
                            .await
                            .map_err(|e| format!("SendTaskFailure ({state}): {e:?}"))?;
                    }
                    (Invocation::Ok(output), false) => {
                        self.sfn
                            .send_task_success()
                            .task_token(&token)
                            .output(json!({"Payload": output, "StatusCode": 200, "ExecutedVersion": executed_version(&arn)}).to_string())
                            .send()
                            .await
                            .map_err(|e| format!("SendTaskSuccess ({state}): {e:?}"))?;
                    }
                    // A callback's function answered: the task now waits for its token.
                    (Invocation::Ok(_), true) => {}
                    (
                        Invocation::Err {
                            error_type,
                            message,
                        },
                        _,
                    ) => {
                        // As Lambda reports a function error to Step Functions.
                        let cause = json!({"errorType": error_type, "errorMessage": message});
                        self.sfn
                            .send_task_failure()
                            .task_token(&token)
                            .error(error_type)
                            .cause(cause.to_string())
                            .send()
                            .await
                            .map_err(|e| format!("SendTaskFailure ({state}): {e:?}"))?;
                    }
                }
                locked(&self.calls).push(LambdaCall {
                    state,
                    function: binary,
                    arn,
                    payload,
                    wait_for_token: callback,
                    answer,
                });
            }
            other => return Err(format!("unknown task kind {other:?}")),
        }
        Ok(true)
    }

    /// Answers Lambda tasks until the next `.sync` task, which must be for `state`.
    pub async fn next_sync(&self, state: &str) -> Result<SyncTask, String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            if let Some(task) = locked(&self.waiting).pop_front() {
                if task.state != state {
                    return Err(format!("expected the {state} task, got {}", task.state));
                }
                return Ok(task);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "the {state} task never started; failed executions: {:?}; calls so far: {:#?}",
                    self.failures().await,
                    self.calls()
                ));
            }
            self.pump().await?;
        }
    }

    /// Every failed execution of the machine: (name, error, cause).
    pub async fn failures(&self) -> Vec<(String, String, String)> {
        let Ok(listed) = self
            .sfn
            .list_executions()
            .state_machine_arn(&self.state_machine_arn)
            .status_filter(aws_sdk_sfn::types::ExecutionStatus::Failed)
            .send()
            .await
        else {
            return Vec::new();
        };
        let mut failed = Vec::new();
        for e in listed.executions() {
            if let Ok(d) = self.describe(e.execution_arn()).await {
                failed.push((
                    e.name().to_owned(),
                    d.error().unwrap_or_default().to_owned(),
                    d.cause().unwrap_or_default().to_owned(),
                ));
            }
        }
        failed
    }

    /// Answers Lambda tasks until `done(calls)` holds.
    pub async fn pump_until(
        &self,
        what: &str,
        done: impl Fn(&[LambdaCall]) -> bool,
    ) -> Result<Vec<LambdaCall>, String> {
        let deadline = Instant::now() + Duration::from_secs(90);
        loop {
            let calls = self.calls();
            if done(&calls) {
                return Ok(calls);
            }
            if Instant::now() > deadline {
                return Err(format!("never {what}; calls: {calls:#?}"));
            }
            if !locked(&self.waiting).is_empty() {
                return Err(format!("a .sync task is waiting while expecting {what}"));
            }
            self.pump().await?;
        }
    }

    /// Every function's log lines so far, by binary.
    pub fn logs(&self) -> BTreeMap<String, String> {
        let started = locked(&self.started).clone();
        let runtime = locked(&self.runtime);
        started
            .iter()
            .map(|(name, f)| (name.clone(), runtime.logs(f)))
            .collect()
    }

    /// Every Lambda call so far, in order.
    pub fn calls(&self) -> Vec<LambdaCall> {
        locked(&self.calls).clone()
    }

    /// Completes a `.sync` task as SageMaker's Describe*Job would.
    pub async fn complete(&self, task: &SyncTask, describe_output: &Value) -> Result<(), String> {
        self.write_model_archive(describe_output).await?;
        if let Some(group) = job_log_group(&task.state) {
            self.sagemaker_log_group(group, true)?;
        }
        self.sfn
            .send_task_success()
            .task_token(&task.token)
            .output(describe_output.to_string())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("SendTaskSuccess ({}): {e:?}", task.state))
    }

    /// SageMaker's account-wide log group for a kind of job, as the test
    /// stack holds it (`create`: made as SageMaker makes it at a job's first
    /// log line, with no retention): whether it exists, and its retention.
    pub fn sagemaker_log_group(
        &self,
        name: &str,
        create: bool,
    ) -> Result<(bool, Option<u64>), String> {
        let answer = self.world.moto.control_answer(
            "/moto-api/extension/logs/sagemaker-group",
            &json!({"account": ACCOUNT, "region": self.world.region, "name": name, "create": create}),
        )?;
        Ok((answer["exists"] == true, answer["retentionInDays"].as_u64()))
    }

    /// What a finished training job leaves, as SageMaker would: its
    /// `model.tar.gz` under the job's output path (a tuning job's best job's),
    /// unless something (the local story's real training) already wrote it.
    async fn write_model_archive(&self, describe_output: &Value) -> Result<(), String> {
        let uri = match (
            describe_output["ModelArtifacts"]["S3ModelArtifacts"].as_str(),
            describe_output["BestTrainingJob"]["TrainingJobName"].as_str(),
        ) {
            (Some(uri), _) => uri.to_owned(),
            (None, Some(best)) => format!(
                "s3://{}/models/{best}/output/model.tar.gz",
                self.world.name("ArtifactBucket")
            ),
            (None, None) => return Ok(()),
        };
        let Some((bucket, key)) = uri
            .strip_prefix("s3://")
            .and_then(|rest| rest.split_once('/'))
        else {
            return Err(format!("not an S3 URI: {uri}"));
        };
        if self
            .s3
            .head_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .is_ok()
        {
            return Ok(());
        }
        self.s3
            .put_object()
            .bucket(bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(
                b"the model archive the test stack's training job wrote",
            ))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("PutObject {uri}: {e:?}"))
    }

    /// A `.sync` task the caller has not taken yet, if one came.
    pub fn take_sync(&self) -> Option<SyncTask> {
        locked(&self.waiting).pop_front()
    }

    /// Fails a `.sync` task as a failed job does. (`.sync` reports
    /// `States.TaskFailed`; moto refuses `States.` names in SendTaskFailure,
    /// so the caller names the error.)
    pub async fn fail(&self, task: &SyncTask, error: &str, cause: &str) -> Result<(), String> {
        self.sfn
            .send_task_failure()
            .task_token(&task.token)
            .error(error)
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

    /// DescribeExecution, with the SDK error as a message.
    pub async fn describe(
        &self,
        execution_arn: &str,
    ) -> Result<aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput, String> {
        self.sfn
            .describe_execution()
            .execution_arn(execution_arn)
            .send()
            .await
            .map_err(|e| format!("DescribeExecution: {e:?}"))
    }

    /// Answers Lambda tasks until the execution ends; returns (status, error, cause).
    /// A `.sync` task that comes meanwhile is an error (the caller must play it).
    pub async fn finish(
        &self,
        execution_arn: &str,
    ) -> Result<(String, Option<String>, Option<String>), String> {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            let d = self.describe(execution_arn).await?;
            let status = d.status().as_str().to_owned();
            if status != "RUNNING" {
                self.deliver_run_end(execution_arn).await?;
                return Ok((
                    status,
                    d.error().map(str::to_owned),
                    d.cause().map(str::to_owned),
                ));
            }
            if let Some(task) = locked(&self.waiting).front() {
                return Err(format!(
                    "the run waits for the {} task, which nobody plays",
                    task.state
                ));
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "{execution_arn} still RUNNING after 120 s; calls: {:#?}",
                    self.calls()
                ));
            }
            self.pump().await?;
        }
    }

    /// Stands in for EventBridge Scheduler: fires the named one-time schedules
    /// (as each would when its window closes) by making its target's
    /// call, CodePipeline's StartPipelineExecution with the schedule's input,
    /// then deletes it (ActionAfterCompletion DELETE). Returns the pipeline
    /// execution ids started.
    pub async fn fire_schedules(&self, names: &[String]) -> Result<Vec<String>, String> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.world.sdk);
        let codepipeline = aws_sdk_codepipeline::Client::new(&self.world.sdk);
        let mut started = Vec::new();
        let mut names: Vec<&String> = names.iter().collect();
        names.sort();
        names.dedup();
        for name in names {
            let (_, target) = scheduled(&scheduler, name).await?;
            if target.arn() != "arn:aws:scheduler:::aws-sdk:codepipeline:startPipelineExecution" {
                return Err(format!(
                    "{name} targets {}, which this stand-in does not play",
                    target.arn()
                ));
            }
            let input: Value =
                serde_json::from_str(target.input().unwrap_or("{}")).map_err(|e| e.to_string())?;
            let mut start = codepipeline
                .start_pipeline_execution()
                .name(input["Name"].as_str().unwrap_or_default())
                .set_client_request_token(input["ClientRequestToken"].as_str().map(str::to_owned));
            for v in input["Variables"].as_array().into_iter().flatten() {
                start = start.variables(
                    aws_sdk_codepipeline::types::PipelineVariable::builder()
                        .name(v["Name"].as_str().unwrap_or_default())
                        .value(v["Value"].as_str().unwrap_or_default())
                        .build()
                        .map_err(|e| e.to_string())?,
                );
            }
            let out = start
                .send()
                .await
                .map_err(|e| format!("StartPipelineExecution: {e:?}"))?;
            started.push(out.pipeline_execution_id().unwrap_or_default().to_owned());
            scheduler
                .delete_schedule()
                .name(name)
                .send()
                .await
                .map_err(|e| format!("DeleteSchedule {name}: {e:?}"))?;
        }
        Ok(started)
    }

    /// Plays EventBridge Scheduler for the approvals' reminder schedules
    /// (`approval-*`): each one's target must be a function of the template,
    /// which is invoked with the schedule's input, as the schedule's role
    /// would; the schedule is then deleted (ActionAfterCompletion DELETE).
    /// Answers each schedule's expression with the function's answer.
    pub async fn fire_reminders(&self) -> Result<Vec<(String, Invocation)>, String> {
        let scheduler = aws_sdk_scheduler::Client::new(&self.world.sdk);
        let listed = scheduler
            .list_schedules()
            .name_prefix("approval-")
            .send()
            .await
            .map_err(|e| format!("ListSchedules: {e:?}"))?;
        let mut fired = Vec::new();
        for summary in listed.schedules() {
            let name = summary.name().unwrap_or_default();
            let (schedule, target) = scheduled(&scheduler, name).await?;
            let binary = self
                .binaries
                .get(unqualified(target.arn()))
                .ok_or_else(|| {
                    format!(
                        "{name} targets {}, no function of the template",
                        target.arn()
                    )
                })?;
            let input: Value =
                serde_json::from_str(target.input().unwrap_or("{}")).map_err(|e| e.to_string())?;
            let answer = self.invoke(binary, &input);
            scheduler
                .delete_schedule()
                .name(name)
                .send()
                .await
                .map_err(|e| format!("DeleteSchedule {name}: {e:?}"))?;
            fired.push((
                schedule
                    .schedule_expression()
                    .unwrap_or_default()
                    .to_owned(),
                answer,
            ));
        }
        Ok(fired)
    }

    /// The state machine's input for a pipeline execution, as the pipeline's
    /// invoke action builds it: template.yaml's Input with the execution's
    /// variables (those its start did not set take their declared defaults, as
    /// in CodePipeline) and the build's exported COMMIT_ID and IMAGE_URI.
    pub async fn pipeline_input(
        &self,
        pipeline_execution_id: &str,
        commit: &str,
    ) -> Result<Value, String> {
        let template = Template::load()?;
        let props = self
            .world
            .resolver
            .resolve(&template.resource("Pipeline")?["Properties"])?;
        let input = props["Stages"]
            .as_array()
            .into_iter()
            .flatten()
            .flat_map(|s| s["Actions"].as_array().cloned().unwrap_or_default())
            .find_map(|a| a["Configuration"]["Input"].as_str().map(str::to_owned))
            .ok_or("the pipeline has no invoke action with an input")?;
        let mut variables: BTreeMap<String, String> = props["Variables"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|v| {
                (
                    v["Name"].as_str().unwrap_or_default().to_owned(),
                    v["DefaultValue"].as_str().unwrap_or_default().to_owned(),
                )
            })
            .collect();
        let execution = aws_sdk_codepipeline::Client::new(&self.world.sdk)
            .get_pipeline_execution()
            .pipeline_name(self.world.name("Pipeline"))
            .pipeline_execution_id(pipeline_execution_id)
            .send()
            .await
            .map_err(|e| format!("GetPipelineExecution: {e:?}"))?;
        for v in execution
            .pipeline_execution()
            .map(|p| p.variables())
            .unwrap_or_default()
        {
            variables.insert(
                v.name().unwrap_or_default().to_owned(),
                v.resolved_value().unwrap_or_default().to_owned(),
            );
        }
        // The build stage's push, then its exported variables.
        let image = self.world.push_image(commit).await?;
        let mut text = input
            .replace("#{BuildVariables.COMMIT_ID}", commit)
            .replace("#{BuildVariables.IMAGE_URI}", &image);
        for (name, value) in &variables {
            text = text.replace(&format!("#{{variables.{name}}}"), value);
        }
        serde_json::from_str(&text)
            .map_err(|e| format!("the invoke action's input is not JSON: {e}: {text}"))
    }

    /// Stands in for EventBridge: when the execution has ended with a status
    /// the template's status-change rule matches, delivers the event to that
    /// rule's target (record-metadata's real binary), once. Returns its answer.
    pub async fn deliver_run_end(&self, execution_arn: &str) -> Result<Option<Invocation>, String> {
        if let Some(done) = locked(&self.deliveries).get(execution_arn) {
            return Ok(Some(done.clone()));
        }
        let d = self.describe(execution_arn).await?;
        let status = d.status().as_str().to_owned();
        let template = Template::load()?;
        let rule = template
            .resources()
            .values()
            .find(|r| {
                r["Type"] == "AWS::Events::Rule"
                    && r["Properties"]["EventPattern"]["detail-type"][0]
                        == "Step Functions Execution Status Change"
            })
            .ok_or("template.yaml has no rule for Step Functions' status changes")?;
        let pattern = &rule["Properties"]["EventPattern"]["detail"]["status"];
        if !pattern
            .as_array()
            .is_some_and(|s| s.iter().any(|x| x == status.as_str()))
        {
            return Ok(None);
        }
        let target = self
            .world
            .resolver
            .text(&rule["Properties"]["Targets"][0]["Arn"])?;
        let binary = self
            .binaries
            .get(unqualified(&target))
            .ok_or_else(|| {
                format!("the status-change rule targets {target}, no function of the template")
            })?
            .clone();
        let millis = |t: Option<&aws_smithy_types::DateTime>| {
            t.map(|t| t.to_millis().unwrap_or(0)).unwrap_or(0)
        };
        let event = json!({
            "version": "0",
            "id": crate::unique("event"),
            "detail-type": "Step Functions Execution Status Change",
            "source": "aws.states",
            "account": ACCOUNT,
            "region": self.world.region,
            "resources": [execution_arn],
            "detail": {
                "executionArn": execution_arn,
                "stateMachineArn": d.state_machine_arn(),
                "name": d.name().unwrap_or_default(),
                "status": status,
                "startDate": millis(Some(d.start_date())),
                "stopDate": millis(d.stop_date()),
                "input": d.input(),
                "error": d.error(),
                "cause": d.cause(),
            }
        });
        let answer = self.invoke(&binary, &event);
        locked(&self.deliveries).insert(execution_arn.to_owned(), answer.clone());
        Ok(Some(answer))
    }

    /// The approval link from the approval email (SNS to the approvers' inbox).
    pub async fn approval_link(&self) -> Result<String, String> {
        let emails = self
            .world
            .read_inbox(&self.world.approvals_inbox, Duration::from_secs(10))
            .await?;
        let bodies: Vec<String> = emails
            .iter()
            .filter_map(|e| e["Message"].as_str().map(str::to_owned))
            .collect();
        locked(&self.approval_emails).extend(bodies.iter().cloned());
        bodies
            .iter()
            .find_map(|m| {
                m.split_whitespace()
                    .find(|w| w.contains("/approvals/"))
                    .map(str::to_owned)
            })
            .ok_or_else(|| format!("no approval link in {emails:?}"))
    }

    /// The next time `state`'s function answers, Step Functions sees `error`
    /// instead (as when Lambda's answer is lost after the function ran).
    pub fn lose_next_answer(&self, state: &str, error: &str) {
        locked(&self.lose_answers).insert(state.to_owned(), error.to_owned());
    }

    /// The next call of `action` (`sagemaker:CreateModelPackage`,
    /// `sagemaker:UpdateModelPackage`) in the test stack is carried out, then
    /// answered with InternalFailure, as when its answer is lost.
    pub fn lose_next_api_answer(&self, action: &str) -> Result<(), String> {
        self.world.moto.control(
            "/moto-api/extension/lose-next-answer",
            &json!({"region": self.world.region, "action": action}),
        )
    }

    /// The first approval email to `approver` fails to publish, and so does
    /// every retry of that same message; another message to them goes out.
    pub fn fail_first_email_to(&self, approver: &str) -> Result<(), String> {
        self.world.moto.control(
            "/moto-api/extension/sns/fail-first-publish",
            &json!({"region": self.world.region, "approver": approver}),
        )
    }

    /// Every approval email read so far (by [`Rig::approval_link`]).
    pub fn approval_emails(&self) -> Vec<String> {
        locked(&self.approval_emails).clone()
    }

    /// GETs the approval page, as the approver's browser does: (status, HTML).
    pub fn page(&self, link: &str) -> (u16, String) {
        page_answer(browser().get(link).call(), "GET", link)
    }

    /// POSTs the approval page's form, as the browser does; returns (status, page).
    pub fn decide(
        &self,
        link: &str,
        decision: &str,
        approver: &str,
        comment: &str,
    ) -> (u16, String) {
        let form = form_urlencoded::Serializer::new(String::new())
            .append_pair("decision", decision)
            .append_pair("approver", approver)
            .append_pair("comment", comment)
            .finish();
        let sent = browser()
            .post(link)
            .header("content-type", "application/x-www-form-urlencoded")
            .send(form);
        page_answer(sent, "POST", link)
    }

    /// Puts the endpoint into a status SageMaker would reach on its own (moto's
    /// never leave InService): scripts/moto_ext.py's control route.
    pub fn set_endpoint_status(
        &self,
        name: &str,
        status: &str,
        reason: Option<&str>,
    ) -> Result<(), String> {
        self.world.moto.control(
            "/moto-api/extension/sagemaker/endpoint-status",
            &json!({"account": ACCOUNT, "region": self.world.region, "endpointName": name, "status": status, "failureReason": reason}),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failing_tests_message_never_shows_a_task_token() {
        let call = LambdaCall {
            state: "RequestApproval".into(),
            function: "request-approval".into(),
            arn: "arn:aws:lambda:us-east-1:123456789012:function:request-approval:1".into(),
            payload: json!({"taskToken": "AQCEAAAAKgAAAA-secret", "executionName": "run-1"}),
            wait_for_token: true,
            answer: Invocation::Ok(json!({})),
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

    #[test]
    fn every_lambda_and_sync_task_is_handed_and_nothing_else() {
        let mut def = json!({"States": {
            "A": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke", "Parameters": {"FunctionName": "f", "Payload": {"x": 1}}, "ResultSelector": {"y.$": "$.Payload.y"}},
            "B": {"Type": "Task", "Resource": "arn:aws:states:::lambda:invoke.waitForTaskToken", "Parameters": {"FunctionName": "g", "Payload": {"taskToken.$": "$$.Task.Token"}}},
            "C": {"Type": "Task", "Resource": "arn:aws:states:::sagemaker:createTrainingJob.sync", "Parameters": {"TrainingJobName": "t"}},
            "D": {"Type": "Task", "Resource": "arn:aws:states:::aws-sdk:sagemaker:describeModelPackage", "Parameters": {}},
            "E": {"Type": "Pass"}
        }});
        let handed = hand_tasks_to(&mut def, "q");
        assert_eq!(handed, ["A", "B", "C"]);
        assert_eq!(
            def["States"]["A"]["Parameters"]["MessageBody"]["kind"],
            "lambda"
        );
        assert_eq!(
            def["States"]["A"]["ResultSelector"]["y.$"], "$.Payload.y",
            "kept"
        );
        assert_eq!(
            def["States"]["B"]["Parameters"]["MessageBody"]["kind"],
            "callback"
        );
        assert_eq!(
            def["States"]["C"]["Parameters"]["MessageBody"]["request"]["TrainingJobName"],
            "t"
        );
        assert!(
            def["States"]["D"]["Resource"]
                .as_str()
                .unwrap_or_default()
                .contains("describeModelPackage")
        );
    }
}
