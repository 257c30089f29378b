//! Test helpers for the emulator tests: the SDK pointed at the moto server that
//! `scripts/with-moto` started, unique names, and the resources tests need.
//!
//! Emulator tests are `#[ignore]`d with a reason, so a bare `cargo test` runs
//! only the unit tests; `make test` starts moto and runs them all with
//! `--include-ignored`. Without a moto server [`Moto::from_env`] fails loudly:
//! an emulator test never passes by skipping its work.

pub mod gateway;
pub mod iam;
pub mod rig;
pub mod sagemaker;
pub mod template;

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

/// Why an emulator test is ignored by a bare `cargo test`.
pub const NEEDS_MOTO: &str = "needs the moto server: run `make test`";
/// The stack token a function run outside a rig has (`NAME_TOKEN`): the first
/// group of a UUID, as the template derives it from the stack id.
pub const TEST_TOKEN: &str = "5e1f0c70";

/// The moto server of this test run.
#[derive(Debug, Clone)]
pub struct Moto {
    pub endpoint: String,
}

impl Moto {
    /// The moto server named by `AWS_ENDPOINT_URL`, which must be on 127.0.0.1
    /// so that a test can never reach real AWS.
    pub fn from_env() -> Moto {
        let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap_or_default();
        if !endpoint.starts_with("http://127.0.0.1:") {
            panic!(
                "emulator tests need a moto server on 127.0.0.1 in AWS_ENDPOINT_URL \
                 (got {endpoint:?}); run them with `make test` or `scripts/with-moto cargo test -- --include-ignored`"
            );
        }
        Moto { endpoint }
    }

    /// The SDK configuration the Lambdas themselves load (`shared::aws::sdk_config`).
    pub async fn sdk_config(&self) -> SdkConfig {
        shared::aws::sdk_config().await
    }

    /// POSTs JSON to moto's control API (`/moto-api/...`).
    pub fn control(&self, path: &str, body: &serde_json::Value) -> Result<(), String> {
        let url = format!("{}{path}", self.endpoint);
        ureq::post(&url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map(|_| ())
            .map_err(|e| format!("POST {url}: {e}"))
    }

    /// The same, answering the route's JSON.
    pub fn control_answer(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> Result<serde_json::Value, String> {
        let url = format!("{}{path}", self.endpoint);
        let mut answer = ureq::post(&url)
            .header("content-type", "application/json")
            .send(body.to_string())
            .map_err(|e| format!("POST {url}: {e}"))?;
        let text = answer
            .body_mut()
            .read_to_string()
            .map_err(|e| format!("POST {url}: {e}"))?;
        serde_json::from_str(&text).map_err(|e| format!("POST {url}: {e}: {text}"))
    }

    /// Queues results for SageMaker Runtime `InvokeEndpoint` (taken in order, once each).
    pub fn queue_endpoint_results(&self, bodies: &[&str]) -> Result<(), String> {
        self.queue_endpoint_results_in("us-east-1", bodies)
    }

    /// The same, in `region`'s SageMaker Runtime (moto keeps one queue a region).
    pub fn queue_endpoint_results_in(&self, region: &str, bodies: &[&str]) -> Result<(), String> {
        let results: Vec<_> = bodies
            .iter()
            .map(|b| serde_json::json!({"Body": b, "ContentType": "text/csv"}))
            .collect();
        self.control(
            "/moto-api/static/sagemaker/endpoint-results",
            &serde_json::json!({ "region": region, "results": results }),
        )
    }

    /// Turns on moto's executing Step Functions mode (Choice, Wait, Retry, Catch, task tokens).
    pub fn execute_state_machines(&self) -> Result<(), String> {
        self.control(
            "/moto-api/config",
            &serde_json::json!({
                "stepfunctions": {"execute_state_machine": true},
                "lambda": {"use_docker": false}
            }),
        )
    }
}

/// A name no other test in this run uses: `prefix-<pid>-<n>-<nanos>`, lower case.
pub fn unique(prefix: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    format!("{prefix}-{}-{n}-{nanos}", std::process::id())
}

/// Creates the pipeline's table as template.yaml declares it (pk/sk strings,
/// on-demand, TTL on `expiresAt`) under a unique name, and returns the name.
pub async fn create_table(sdk: &SdkConfig) -> Result<String, String> {
    let name = unique("table");
    create_table_named(sdk, &name).await?;
    Ok(name)
}

/// Creates the pipeline's table as template.yaml declares it, named `name`.
pub async fn create_table_named(sdk: &SdkConfig, name: &str) -> Result<(), String> {
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let key = |name: &str, key_type| {
        KeySchemaElement::builder()
            .attribute_name(name)
            .key_type(key_type)
            .build()
    };
    let attr = |name: &str| {
        AttributeDefinition::builder()
            .attribute_name(name)
            .attribute_type(ScalarAttributeType::S)
            .build()
    };
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(key(shared::keys::PK, KeyType::Hash).map_err(|e| e.to_string())?)
        .key_schema(key(shared::keys::SK, KeyType::Range).map_err(|e| e.to_string())?)
        .attribute_definitions(attr(shared::keys::PK).map_err(|e| e.to_string())?)
        .attribute_definitions(attr(shared::keys::SK).map_err(|e| e.to_string())?)
        .send()
        .await
        .map_err(|e| format!("create_table: {e:?}"))?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .enabled(true)
                .attribute_name(shared::keys::TTL)
                .build()
                .map_err(|e| e.to_string())?,
        )
        .send()
        .await
        .map_err(|e| format!("update_time_to_live: {e:?}"))?;
    Ok(())
}

/// Creates an IAM role that `service` (e.g. `codepipeline.amazonaws.com`) may
/// assume, as moto checks, and returns its ARN.
pub async fn create_service_role(sdk: &SdkConfig, service: &str) -> Result<String, String> {
    create_role_named(sdk, &unique("role"), service).await
}

/// Creates an IAM role named `name` that `service` may assume; returns its ARN.
pub async fn create_role_named(
    sdk: &SdkConfig,
    name: &str,
    service: &str,
) -> Result<String, String> {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    });
    let role = aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name(name)
        .assume_role_policy_document(trust.to_string())
        .send()
        .await
        .map_err(|e| format!("create_role: {e:?}"))?;
    role.role()
        .map(|r| r.arn().to_owned())
        .ok_or_else(|| "create_role answered no role".to_owned())
}

/// Runs a function's real binary with only `env` set and returns what it
/// printed, after checking that it exited with a failure within ten seconds.
/// The runtime API address points at a closed port, so a binary whose
/// configuration was accepted would fail differently (and the caller's
/// assertion on the message catches that).
pub fn init_failure_output(binary: &str, env: &[(&str, &str)]) -> String {
    use std::process::{Command, Stdio};
    use std::time::{Duration, Instant};
    let mut child = Command::new(binary)
        .env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", "127.0.0.1:9")
        .env("AWS_REGION", "us-east-1")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .envs(env.iter().copied())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap_or_default() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(10) {
            let _ = child.kill();
            panic!("{binary} did not exit within 10 s of a bad configuration");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let output = child
        .wait_with_output()
        .unwrap_or_else(|e| panic!("{binary}: {e}"));
    assert!(!status.success(), "{binary} accepted a bad configuration");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// cargo-lambda's Lambda runtime API (`cargo lambda watch --only-lambda-apis`)
/// on 127.0.0.1, with function binaries started by the test. Dropping it stops
/// the functions and the runtime by PID.
#[derive(Debug)]
pub struct LambdaRuntime {
    port: u16,
    watch: std::process::Child,
    functions: Vec<std::process::Child>,
    /// Each function's log lines (stdout and stderr), one file per function.
    logs: std::path::PathBuf,
    agent: ureq::Agent,
}

/// A function started under a [`LambdaRuntime`].
#[derive(Debug, Clone)]
pub struct Function {
    url: String,
    pub name: String,
    /// The binary's process.
    pub pid: u32,
}

impl Function {
    /// The process's peak resident memory so far (`VmHWM`), in KiB.
    pub fn peak_rss_kib(&self) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid)).ok()?;
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
    }
}

/// What an invocation answered: the function's output, or its error.
#[derive(Debug, Clone, PartialEq)]
pub enum Invocation {
    Ok(serde_json::Value),
    Err { error_type: String, message: String },
}

impl Invocation {
    #[track_caller]
    pub fn output(self) -> serde_json::Value {
        match self {
            Invocation::Ok(v) => v,
            Invocation::Err {
                error_type,
                message,
            } => panic!("function failed: {error_type}: {message}"),
        }
    }

    #[track_caller]
    pub fn error_type(self) -> String {
        match self {
            Invocation::Err { error_type, .. } => error_type,
            Invocation::Ok(v) => panic!("function succeeded where it should fail: {v}"),
        }
    }
}

/// Where a function's output goes: its log file (which tests read), or the
/// test's own output when `FUNCTION_LOGS=1`.
fn log_to(file: &std::path::Path) -> (std::process::Stdio, std::process::Stdio) {
    if std::env::var("FUNCTION_LOGS").is_ok_and(|v| v == "1") {
        return (
            std::process::Stdio::inherit(),
            std::process::Stdio::inherit(),
        );
    }
    match std::fs::File::create(file).and_then(|f| Ok((f.try_clone()?, f))) {
        Ok((out, err)) => (out.into(), err.into()),
        Err(_) => (log_sink(), log_sink()),
    }
}

fn log_sink() -> std::process::Stdio {
    if std::env::var("FUNCTION_LOGS").is_ok_and(|v| v == "1") {
        std::process::Stdio::inherit()
    } else {
        std::process::Stdio::null()
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .unwrap_or_else(|e| panic!("no free port: {e}"))
}

fn wait_for_port(port: u16, child: &mut std::process::Child, what: &str) {
    use std::time::{Duration, Instant};
    let started = Instant::now();
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited before listening: {status}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "{what} did not listen on {port} within 30 s"
        );
        std::thread::sleep(Duration::from_millis(25));
    }
}

impl LambdaRuntime {
    /// Starts `cargo lambda watch --only-lambda-apis` on 127.0.0.1:<free port>.
    pub fn start() -> LambdaRuntime {
        let cargo_lambda = std::env::var("CARGO_LAMBDA").unwrap_or_else(|_| {
            workspace_root()
                .join(".venv/bin/cargo-lambda")
                .display()
                .to_string()
        });
        let port = free_port();
        let mut watch = std::process::Command::new(&cargo_lambda)
            .args([
                "lambda",
                "watch",
                "--only-lambda-apis",
                "--invoke-address",
                "127.0.0.1",
            ])
            .args(["--invoke-port", &port.to_string()])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cargo_lambda} (run `make setup`): {e}"));
        wait_for_port(port, &mut watch, "cargo lambda watch");
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(std::time::Duration::from_secs(60)))
            .build()
            .into();
        LambdaRuntime {
            port,
            watch,
            functions: Vec::new(),
            logs: {
                let dir = std::env::temp_dir().join(unique("function-logs"));
                let _ = std::fs::create_dir_all(&dir);
                dir
            },
            agent,
        }
    }

    /// Starts a function's real binary (`env!("CARGO_BIN_EXE_<name>")`), with the test's AWS environment (moto) and `env`.
    /// It runs as an IAM user that holds only its policy from template.yaml
    /// ([`iam::function_credentials`]): a call the template does not grant is AccessDenied.
    /// Its logs go to the test's output when `FUNCTION_LOGS=1`.
    pub fn function(&mut self, binary: &str, env: &[(&str, &str)]) -> Function {
        let base = std::path::Path::new(binary)
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "function".into());
        let (key, secret) = iam::function_credentials(&base)
            .unwrap_or_else(|e| panic!("credentials for {base}: {e}"));
        let (out, err) = log_to(&self.logs.join(format!("{base}.log")));
        // cargo-lambda accepts only the workspace's binary names; each test has
        // its own runtime, so the real name cannot collide with another test's.
        let name = base;
        let child = std::process::Command::new(binary)
            .env(
                "AWS_LAMBDA_RUNTIME_API",
                format!("http://127.0.0.1:{}/.rt/{name}", self.port),
            )
            .env("AWS_LAMBDA_FUNCTION_NAME", &name)
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_STREAM_NAME", "test")
            .env("AWS_LAMBDA_LOG_GROUP_NAME", "test")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
            .envs(aws_env())
            .env("AWS_ACCESS_KEY_ID", key)
            .env("AWS_SECRET_ACCESS_KEY", secret)
            .env_remove("AWS_SESSION_TOKEN")
            // Every deployed function has its stack's token (template Globals);
            // a test's own `env` may set another.
            .env("NAME_TOKEN", TEST_TOKEN)
            .envs(env.iter().copied())
            .stdout(out)
            .stderr(err)
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {binary}: {e}"));
        let pid = child.id();
        self.functions.push(child);
        Function {
            pid,
            url: format!(
                "http://127.0.0.1:{}/2015-03-31/functions/{name}/invocations",
                self.port
            ),
            name,
        }
    }

    /// The function's URL (cargo-lambda turns plain HTTP into a function URL event).
    pub fn function_url(&self, function: &Function, path: &str) -> String {
        format!(
            "http://127.0.0.1:{}/lambda-url/{}{path}",
            self.port, function.name
        )
    }

    /// The HTTP agent this runtime invokes with (cheap to clone).
    pub fn agent(&self) -> ureq::Agent {
        self.agent.clone()
    }

    /// Invokes a function as Lambda's Invoke API would, and waits for its answer.
    pub fn invoke(&self, function: &Function, payload: &serde_json::Value) -> Invocation {
        invoke_with(&self.agent, function, payload)
    }
}

/// Invokes a function of a [`LambdaRuntime`] through its Invoke API with
/// `agent`, and waits for its answer (for callers that outlive a borrow of
/// the runtime, such as [`gateway::RestGateway`]'s threads).
pub fn invoke_with(
    agent: &ureq::Agent,
    function: &Function,
    payload: &serde_json::Value,
) -> Invocation {
    // Until the binary has polled the runtime once, cargo-lambda may answer 404.
    let started = std::time::Instant::now();
    let (status, text) = loop {
        let mut response = agent
            .post(&function.url)
            .header("content-type", "application/json")
            .send(payload.to_string())
            .unwrap_or_else(|e| panic!("invoke {}: {e}", function.name));
        let status = response.status().as_u16();
        let text = response.body_mut().read_to_string().unwrap_or_default();
        if status == 404 && started.elapsed() < std::time::Duration::from_secs(15) {
            std::thread::sleep(std::time::Duration::from_millis(20));
            continue;
        }
        break (status, text);
    };
    let body: serde_json::Value =
        serde_json::from_str(&text).unwrap_or(serde_json::Value::String(text));
    if status == 200 {
        Invocation::Ok(body)
    } else {
        Invocation::Err {
            error_type: body["errorType"]
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("<HTTP {status}: {body}>")),
            message: body["errorMessage"].as_str().unwrap_or_default().to_owned(),
        }
    }
}

impl Drop for LambdaRuntime {
    fn drop(&mut self) {
        for child in self
            .functions
            .iter_mut()
            .chain(std::iter::once(&mut self.watch))
        {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.logs);
    }
}

impl LambdaRuntime {
    /// Everything a function printed so far (its JSON log lines), for tests that
    /// check what is logged; empty when `FUNCTION_LOGS=1` sends it to the test's output.
    pub fn logs(&self, function: &Function) -> String {
        std::fs::read_to_string(self.logs.join(format!("{}.log", function.name)))
            .unwrap_or_default()
    }
}

/// The test's AWS environment for a function: moto's endpoint, region, dummy keys.
fn aws_env() -> Vec<(&'static str, String)> {
    [
        "AWS_ENDPOINT_URL",
        "AWS_REGION",
        "AWS_ACCESS_KEY_ID",
        "AWS_SECRET_ACCESS_KEY",
        "AWS_SESSION_TOKEN",
    ]
    .into_iter()
    .filter_map(|k| std::env::var(k).ok().map(|v| (k, v)))
    .collect()
}

/// Creates a SageMaker model in moto (deploy and check tests need one) and returns its name.
pub async fn create_model(sdk: &SdkConfig) -> Result<String, String> {
    let name = unique("model");
    aws_sdk_sagemaker::Client::new(sdk)
        .create_model()
        .model_name(&name)
        .execution_role_arn("arn:aws:iam::123456789012:role/sagemaker")
        .primary_container(
            aws_sdk_sagemaker::types::ContainerDefinition::builder()
                .image("123456789012.dkr.ecr.us-east-1.amazonaws.com/iris-model:0123abc")
                .model_data_url("s3://artifacts/models/model.tar.gz")
                .build(),
        )
        .send()
        .await
        .map_err(|e| format!("create_model: {e:?}"))?;
    Ok(name)
}

/// An SNS topic with an SQS queue subscribed to it, to read what was published.
#[derive(Debug, Clone)]
pub struct Inbox {
    pub topic_arn: String,
    pub queue_url: String,
}

impl Inbox {
    /// Creates the topic and the queue (SNS JSON envelopes, not raw delivery,
    /// so the subject and attributes can be read).
    pub async fn create(sdk: &SdkConfig) -> Result<Inbox, String> {
        Inbox::create_named(sdk, &unique("topic")).await
    }

    /// The same, for a topic named `name`.
    pub async fn create_named(sdk: &SdkConfig, name: &str) -> Result<Inbox, String> {
        let sns = aws_sdk_sns::Client::new(sdk);
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let topic = sns
            .create_topic()
            .name(name)
            .send()
            .await
            .map_err(|e| format!("create_topic: {e:?}"))?;
        let topic_arn = topic.topic_arn().unwrap_or_default().to_owned();
        let queue = sqs
            .create_queue()
            .queue_name(unique("inbox"))
            .send()
            .await
            .map_err(|e| format!("create_queue: {e:?}"))?;
        let queue_url = queue.queue_url().unwrap_or_default().to_owned();
        let arn = aws_sdk_sqs::types::QueueAttributeName::QueueArn;
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(&queue_url)
            .attribute_names(arn.clone())
            .send()
            .await
            .map_err(|e| format!("get_queue_attributes: {e:?}"))?;
        let queue_arn = attrs
            .attributes()
            .and_then(|a| a.get(&arn))
            .cloned()
            .unwrap_or_default();
        sns.subscribe()
            .topic_arn(&topic_arn)
            .protocol("sqs")
            .endpoint(queue_arn)
            .send()
            .await
            .map_err(|e| format!("subscribe: {e:?}"))?;
        Ok(Inbox {
            topic_arn,
            queue_url,
        })
    }

    /// Every SNS envelope waiting in the queue (removed as read).
    pub async fn read(&self, sdk: &SdkConfig) -> Result<Vec<serde_json::Value>, String> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let mut out = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(&self.queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .map_err(|e| format!("receive_message: {e:?}"))?;
            if got.messages().is_empty() {
                return Ok(out);
            }
            for m in got.messages() {
                out.push(
                    serde_json::from_str(m.body().unwrap_or("null")).map_err(|e| e.to_string())?,
                );
                if let Some(handle) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(&self.queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| format!("delete_message: {e:?}"))?;
                }
            }
        }
    }
}

/// Creates the pipeline as template.yaml declares it (its stages' shape and
/// its variables with their defaults), named `name`, with a role moto accepts.
pub async fn create_pipeline(sdk: &SdkConfig, name: &str) -> Result<(), String> {
    let template = template::Template::load()?;
    let resolver = template::Resolver::new(template, "us-east-1");
    rig::create_pipeline(sdk, &resolver, name).await
}

/// The checkout the tests run in, found at run time (cargo sets
/// `CARGO_MANIFEST_DIR` for each test process): a path baked in at compile
/// time goes stale when a target directory is shared between checkouts.
pub fn workspace_root() -> std::path::PathBuf {
    let start = std::env::var_os("CARGO_MANIFEST_DIR")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")));
    start
        .ancestors()
        .find(|dir| dir.join("Cargo.lock").exists())
        .map(std::path::Path::to_path_buf)
        .unwrap_or(start)
}

/// The text of a sample event, `events/<function>/<file>` (the same files
/// `cargo lambda invoke --data-file` and the contract test use).
pub fn event_text(function: &str, file: &str) -> String {
    let path = workspace_root().join("events").join(function).join(file);
    let path = path.display().to_string();
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A sample event as JSON.
pub fn event_json(function: &str, file: &str) -> serde_json::Value {
    serde_json::from_str(&event_text(function, file))
        .unwrap_or_else(|e| panic!("events/{function}/{file}: {e}"))
}
