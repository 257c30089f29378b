//! Test helpers for the emulator tests: the SDK pointed at the moto server that
//! `scripts/with-moto` started, unique names, and the resources tests need.
//!
//! Emulator tests are `#[ignore]`d with a reason, so a bare `cargo test` runs
//! only the unit tests; `make test` starts moto and runs them all with
//! `--include-ignored`. Without a moto server [`Moto::from_env`] fails loudly:
//! an emulator test never passes by skipping its work.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType,
    TimeToLiveSpecification,
};

/// Why an emulator test is ignored by a bare `cargo test`.
pub const NEEDS_MOTO: &str = "needs the moto server: run `make test`";

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

    /// Queues results for SageMaker Runtime `InvokeEndpoint` (taken in order, once each).
    pub fn queue_endpoint_results(&self, bodies: &[&str]) -> Result<(), String> {
        let results: Vec<_> = bodies
            .iter()
            .map(|b| serde_json::json!({"Body": b, "ContentType": "text/csv"}))
            .collect();
        self.control(
            "/moto-api/static/sagemaker/endpoint-results",
            &serde_json::json!({ "results": results }),
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
    let client = aws_sdk_dynamodb::Client::new(sdk);
    let name = unique("table");
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
        .table_name(&name)
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
        .table_name(&name)
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
    Ok(name)
}

/// Creates an IAM role that `service` (e.g. `codepipeline.amazonaws.com`) may
/// assume, as moto checks, and returns its ARN.
pub async fn create_service_role(sdk: &SdkConfig, service: &str) -> Result<String, String> {
    let trust = serde_json::json!({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}]
    });
    let role = aws_sdk_iam::Client::new(sdk)
        .create_role()
        .role_name(unique("role"))
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
    let output = child.wait_with_output().unwrap_or_else(|e| panic!("{binary}: {e}"));
    assert!(!status.success(), "{binary} accepted a bad configuration");
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}
