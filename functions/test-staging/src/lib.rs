//! test-staging's handler, as a library (the same shape as every function):
//! the staging endpoint is asked what the batch transform was asked, and
//! what the README promises, then a short load measures it. The requests go
//! through the inference API's own code (`invoke_endpoint::answer`).

pub mod verdict;

use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use lambda_runtime::LambdaEvent;
use shared::contract::{TestStagingInput, TestStagingOutput, parse_s3_uri};
use shared::report::{ModelQuality, StagingReport};
use shared::{ConfigError, Env, ErrorName, Failure, aws};

use verdict::{Bounds, Example};

/// The model-quality report's name (evaluate-model's) and the staging report's, beside it.
pub const QUALITY_REPORT: &str = "model-quality.json";
pub const STAGING_REPORT: &str = "staging-report.json";
/// The definition's `TimeoutSeconds`, and what production's deploy may take
/// at the template's maxima (288 polls of 300 s, a 3,600 s bake) with a
/// margin for the records after it. The template test checks both.
pub const RUN_TIMEOUT_SECONDS: u64 = 601_200;
pub const DEPLOY_RESERVE_SECONDS: u64 = 86_400 + 3_600 + 1_800;
/// The shortest approval production's approvers get, however late the run.
pub const MIN_APPROVAL_SECONDS: u64 = 60;

/// Production's approval timeout: the template's, or what the run has left
/// once production's deploy is set aside, whichever is shorter.
pub fn approval_timeout(input: &TestStagingInput, now_ms: i64) -> u64 {
    let asked = input.approval_timeout_seconds.unwrap_or(86_400);
    let Some(started) = input
        .execution_start_time
        .as_deref()
        .and_then(shared::clock::parse_rfc3339_ms)
    else {
        return asked;
    };
    let elapsed = u64::try_from((now_ms - started).max(0) / 1000).unwrap_or(0);
    let left = RUN_TIMEOUT_SECONDS
        .saturating_sub(elapsed)
        .saturating_sub(DEPLOY_RESERVE_SECONDS);
    asked.min(left).max(MIN_APPROVAL_SECONDS)
}

/// The most a model-quality report may be for this function to read it.
const MAX_REPORT_BYTES: i64 = 1 << 20;

#[derive(Debug, Clone)]
pub struct Config {
    /// The staging endpoint, and the API's limits (`invoke_endpoint::Config`:
    /// `ENDPOINT_NAME`, `FEATURE_COUNT`, `INVOKE_TIMEOUT_SECONDS`).
    pub invoke: invoke_endpoint::Config,
    pub artifact_bucket: String,
    pub bounds: Bounds,
    pub examples: Vec<Example>,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
            name: name.into(),
            value,
            reason: reason.into(),
        };
        let requests: u32 = env.parsed_or("STAGING_REQUESTS", 50)?;
        if !(1..=1000).contains(&requests) {
            return Err(invalid(
                "STAGING_REQUESTS",
                requests.to_string(),
                "must be 1 to 1000 (the function has 5 minutes)",
            ));
        }
        let max_error_percent: f64 = env.parsed_or("STAGING_MAX_ERROR_PERCENT", 0.0)?;
        if !(0.0..=100.0).contains(&max_error_percent) {
            return Err(invalid(
                "STAGING_MAX_ERROR_PERCENT",
                max_error_percent.to_string(),
                "must be 0 to 100",
            ));
        }
        let max_p99_ms: f64 = env.parsed_or("STAGING_MAX_P99_MS", 1000.0)?;
        if !(max_p99_ms.is_finite() && max_p99_ms > 0.0) {
            return Err(invalid(
                "STAGING_MAX_P99_MS",
                max_p99_ms.to_string(),
                "must be a positive number of milliseconds",
            ));
        }
        let examples = env.optional("STAGING_EXAMPLES").unwrap_or_default();
        Ok(Config {
            invoke: invoke_endpoint::Config::from_env(env)?,
            artifact_bucket: env.resource_name("ARTIFACT_BUCKET")?,
            bounds: Bounds {
                requests,
                max_error_percent,
                max_p99_ms,
            },
            examples: verdict::examples(&examples)
                .map_err(|reason| invalid("STAGING_EXAMPLES", examples.clone(), &reason))?,
        })
    }
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub s3: aws_sdk_s3::Client,
    pub invoke: invoke_endpoint::State,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            s3: aws_sdk_s3::Client::new(sdk),
            invoke: invoke_endpoint::State::new(config.invoke.clone(), sdk),
            config,
        }
    }
}

/// The report's key, if `uri` is a model-quality report of this stack's
/// runs (`s3://<artifact bucket>/transform/<run>/model-quality.json`).
fn report_key<'a>(config: &Config, uri: &'a str) -> Result<&'a str, Failure> {
    let refuse = || {
        Failure::invalid_input(format!(
            "modelQualityUri {uri:?} is not s3://{}/transform/<run>/{QUALITY_REPORT}",
            config.artifact_bucket
        ))
    };
    let (bucket, key) = parse_s3_uri(uri).ok_or_else(refuse)?;
    let run = key
        .strip_prefix("transform/")
        .and_then(|k| k.strip_suffix(&format!("/{QUALITY_REPORT}")))
        .ok_or_else(refuse)?;
    if bucket != config.artifact_bucket || run.is_empty() || run.contains("..") {
        return Err(refuse());
    }
    Ok(key)
}

/// Tests the staging endpoint; writes the report whatever the verdict, then
/// answers its figures or fails `StagingTestFailed` with every reason.
pub async fn handle(
    state: &State,
    event: LambdaEvent<TestStagingInput>,
) -> Result<TestStagingOutput, Failure> {
    let input = event.payload;
    let key = report_key(&state.config, &input.model_quality_uri)?;
    let quality = read_quality(state, key).await?;
    let cases = verdict::cases(&quality, &state.config.examples);
    if cases.iter().all(|c| c.expected_from_batch.is_none()) {
        return Err(Failure::invalid_input(format!(
            "the model-quality report {} has no sample rows to send to staging",
            input.model_quality_uri
        )));
    }
    let (answered, latencies) = ask_all(state, &cases).await;
    let (figures, report_cases, failures) =
        verdict::judge(&cases, &answered, &latencies, &state.config.bounds);
    let report = StagingReport {
        endpoint_name: state.config.invoke.endpoint_name.clone(),
        model_name: input.model_name.clone(),
        execution_name: input.execution_name.clone(),
        tested_at: shared::clock::now_rfc3339(),
        figures,
        max_error_percent: state.config.bounds.max_error_percent,
        max_p99_ms: state.config.bounds.max_p99_ms,
        cases: report_cases,
        passed: failures.is_empty(),
        failures,
    };
    let report_uri = write_report(state, key, &report).await?;
    tracing::info!(
        endpoint = %report.endpoint_name,
        passed = report.passed,
        requests = figures.requests,
        errors = figures.errors,
        p99_ms = figures.p99_ms,
        agreed = figures.agreed,
        compared = figures.compared,
        "tested staging"
    );
    if !report.passed {
        return Err(failed(&input, &report, &report_uri));
    }
    let now_ms = i64::try_from(shared::clock::epoch_seconds()).unwrap_or(0) * 1000;
    Ok(TestStagingOutput {
        report_uri,
        figures,
        approval_timeout_seconds: approval_timeout(&input, now_ms),
    })
}

/// `StagingTestFailed` with every reason and the report, counted as an
/// answer, not a fault (FunctionErrorsAlarm subtracts these).
fn failed(input: &TestStagingInput, report: &StagingReport, report_uri: &str) -> Failure {
    let mut emf = shared::metrics::Emf::new();
    emf.put(shared::metrics::STAGING_TESTS_FAILED, 1.0)
        .property("executionName", input.execution_name.as_str());
    emf.emit();
    Failure::new(
        ErrorName::StagingTestFailed,
        format!(
            "staging endpoint {}: {} (report {report_uri})",
            report.endpoint_name,
            report.failures.join("; ")
        ),
    )
}

/// Each case once, in order, then the load (the cases again, in turn): every
/// answer and its latency, one after another as a client would send them.
async fn ask_all(
    state: &State,
    cases: &[verdict::Case],
) -> (Vec<Result<String, String>>, Vec<f64>) {
    let load = state.config.bounds.requests as usize;
    let rows = cases
        .iter()
        .chain(cases.iter().cycle().take(load))
        .map(|c| c.row.as_str());
    let mut answered = Vec::with_capacity(cases.len() + load);
    let mut latencies = Vec::with_capacity(cases.len() + load);
    for row in rows {
        let (answer, ms) = ask(state, row).await;
        latencies.push(ms);
        answered.push(answer);
    }
    (answered, latencies)
}

/// One request through the API's path: the answer's label (or the API's
/// error code) and how long it took, in milliseconds.
async fn ask(state: &State, row: &str) -> (Result<String, String>, f64) {
    let body = serde_json::json!({ "data": row }).to_string();
    let started = Instant::now();
    let answer = invoke_endpoint::answer(
        &state.invoke,
        &state.config.invoke.endpoint_name,
        "POST",
        Some("application/json"),
        body.as_bytes(),
        "staging-test",
    )
    .await;
    let ms = started.elapsed().as_secs_f64() * 1000.0;
    let label = answer.map_err(|e| e.code().to_owned()).and_then(|body| {
        serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v["result"].as_str().map(str::to_owned))
            .ok_or_else(|| "bad_answer".to_owned())
    });
    (label, ms)
}

async fn read_quality(state: &State, key: &str) -> Result<ModelQuality, Failure> {
    let bucket = &state.config.artifact_bucket;
    let object = state
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .map_err(|e| aws::failure("GetObject (model-quality report)", &e))?;
    if object.content_length().unwrap_or(0) > MAX_REPORT_BYTES {
        return Err(Failure::invalid_input(format!(
            "s3://{bucket}/{key} is over {MAX_REPORT_BYTES} bytes"
        )));
    }
    let bytes = object
        .body
        .collect()
        .await
        .map_err(|e| Failure::new(ErrorName::AwsUnavailable, format!("reading {key}: {e}")))?
        .into_bytes();
    serde_json::from_slice(&bytes).map_err(|e| {
        Failure::invalid_input(format!(
            "s3://{bucket}/{key} is not a model-quality report: {e}"
        ))
    })
}

/// The staging report beside the model-quality report; answers its URI.
async fn write_report(
    state: &State,
    quality_key: &str,
    report: &StagingReport,
) -> Result<String, Failure> {
    let bucket = &state.config.artifact_bucket;
    let prefix = quality_key.trim_end_matches(QUALITY_REPORT);
    let key = format!("{prefix}{STAGING_REPORT}");
    let body = serde_json::to_vec(report)
        .map_err(|e| Failure::invalid_input(format!("the staging report: {e}")))?;
    state
        .s3
        .put_object()
        .bucket(bucket)
        .key(&key)
        .content_type("application/json")
        .body(ByteStream::from(body))
        .send()
        .await
        .map_err(|e| aws::failure("PutObject (staging report)", &e))?;
    Ok(format!("s3://{bucket}/{key}"))
}

#[cfg(test)]
mod tests;
