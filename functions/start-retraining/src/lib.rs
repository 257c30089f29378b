//! start-retraining's handler: new training data in S3 starts the pipeline,
//! once per object version, however often S3 delivers the event.

pub mod records;

use aws_lambda_events::s3::S3Event;
use aws_sdk_codepipeline::types::PipelineVariable;
use lambda_runtime::LambdaEvent;
use serde::Serialize;
use shared::clock::epoch_seconds as now;
use shared::conditional::{Lease, written};
use shared::items::{self, TriggerItem, TriggerState, n, s};
use shared::{ConfigError, Env, Failure, aws, keys};
use tracing::Instrument;

use records::{Ignored, NewData};

/// How long a claim on a trigger holds before another delivery may take it over
/// (longer than the function's timeout).
pub const LEASE_SECONDS: u64 = 300;
/// How long trigger records are kept (S3 redelivers within hours, not months).
pub const TRIGGER_TTL_SECONDS: u64 = 90 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct Config {
    pub pipeline_name: String,
    pub table_name: String,
    pub prefix: String,
    pub suffix: String,
    /// 0: each new object version starts a run at once. Otherwise uploads are
    /// gathered in windows of this many seconds, and each window starts one
    /// run when it closes, training on the whole prefix (`RETRAIN_QUIET_SECONDS`).
    pub quiet_seconds: u64,
    /// The role EventBridge Scheduler starts the pipeline with (`SCHEDULER_ROLE_ARN`),
    /// required when `quiet_seconds` is not 0.
    pub scheduler_role_arn: Option<String>,
    /// Where the Scheduler puts a window whose pipeline start still fails
    /// after its retries (`SCHEDULE_DLQ_ARN`), so that UnfiredSchedulesAlarm says so.
    pub dead_letter_arn: Option<String>,
    /// This stack's token (`NAME_TOKEN`), in each window's schedule name.
    pub name_token: shared::naming::StackToken,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            pipeline_name: env.resource_name("PIPELINE_NAME")?,
            name_token: env.required_parsed("NAME_TOKEN")?,
            table_name: env.resource_name("TABLE_NAME")?,
            prefix: env
                .optional("TRAINING_PREFIX")
                .unwrap_or_else(|| "training/".into()),
            suffix: env
                .optional("TRAINING_SUFFIX")
                .unwrap_or_else(|| ".csv".into()),
            quiet_seconds: env.parsed_or("RETRAIN_QUIET_SECONDS", 0u64)?,
            scheduler_role_arn: env.optional("SCHEDULER_ROLE_ARN"),
            dead_letter_arn: env.optional("SCHEDULE_DLQ_ARN"),
        })
        .and_then(|c: Config| {
            if c.quiet_seconds > 0 && c.scheduler_role_arn.is_none() {
                return Err(ConfigError::Invalid {
                    name: "SCHEDULER_ROLE_ARN".into(),
                    value: String::new(),
                    reason: "is required when RETRAIN_QUIET_SECONDS is not 0".into(),
                });
            }
            if c.quiet_seconds > 86_400 {
                return Err(ConfigError::Invalid {
                    name: "RETRAIN_QUIET_SECONDS".into(),
                    value: c.quiet_seconds.to_string(),
                    reason: "must be at most 86400 (a day)".into(),
                });
            }
            Ok(c)
        })
    }
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub codepipeline: aws_sdk_codepipeline::Client,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub scheduler: aws_sdk_scheduler::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            codepipeline: aws_sdk_codepipeline::Client::new(sdk),
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            scheduler: aws_sdk_scheduler::Client::new(sdk),
        }
    }
}

/// What the invocation did, record by record.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Summary {
    pub started: Vec<Started>,
    /// Object versions that had already started the pipeline (a repeat delivery).
    pub duplicates: usize,
    pub ignored: usize,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Started {
    pub data_uri: String,
    pub version: String,
    /// The run this object version started (no quiet window) ...
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pipeline_execution_id: Option<String>,
    /// ... or the window's one-time schedule it joined, which starts one run
    /// for every upload of the window when it closes.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub schedule: Option<String>,
}

/// What this delivery did for its object version.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Outcome {
    Started(String),
    Scheduled(String),
}

/// Claims the object version: true when this delivery must start the pipeline.
/// The claim succeeds when no record exists, when an earlier start failed,
/// when an earlier claim's lease ran out (its Lambda died mid-way), or when
/// the claim is this attempt's own: Lambda's asynchronous retries (about 1 and
/// 3 minutes later, well inside the lease) keep the request id, so a retry
/// after a crash past the claim, or a PutItem retried after its first answer
/// was lost, takes its own claim back instead of counting as a duplicate and
/// dropping the event. The pipeline's clientRequestToken keeps a start that did
/// happen from happening twice.
async fn claim(state: &State, data: &NewData, attempt: &str) -> Result<bool, Failure> {
    let key = keys::trigger(&data.bucket, &data.key, data.version_or_sequencer());
    let now = now();
    let claim = TriggerItem {
        pk: key.pk,
        sk: key.sk,
        state: TriggerState::Starting,
        attempt: attempt.to_owned(),
        lease_until: Some(
            Lease {
                since: now,
                seconds: LEASE_SECONDS,
            }
            .until(),
        ),
        bucket: data.bucket.clone(),
        key: data.key.clone(),
        version_id: data.version_id.clone().unwrap_or_else(|| "none".into()),
        sequencer: data.sequencer.clone(),
        etag: data.etag.clone(),
        size: data.size,
        event_time: data.event_time.clone(),
        expires_at: now + TRIGGER_TTL_SECONDS,
    };
    let put = state
        .dynamodb
        .put_item()
        .table_name(&state.config.table_name)
        .set_item(Some(items::to_item(&claim)?))
        .condition_expression(
            "attribute_not_exists(#pk) OR #state = :failed OR (#state = :starting AND (#lease < :now OR #attempt = :attempt))",
        )
        .expression_attribute_names("#attempt", "attempt")
        .expression_attribute_values(":attempt", s(attempt))
        .expression_attribute_names("#pk", keys::PK)
        .expression_attribute_names("#state", "state")
        .expression_attribute_names("#lease", "leaseUntil")
        .expression_attribute_values(":failed", s(TriggerState::Failed.as_str()))
        .expression_attribute_values(":starting", s(TriggerState::Starting.as_str()))
        .expression_attribute_values(":now", n(now))
        .send()
        .await;
    Ok(written("PutItem (trigger)", put)?.is_done())
}

/// Moves our claim to its outcome; only our own attempt's claim is changed.
async fn settle(state: &State, data: &NewData, attempt: &str, outcome: Result<&Outcome, &Failure>) {
    let key = keys::trigger(&data.bucket, &data.key, data.version_or_sequencer());
    let update = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .condition_expression("attempt = :attempt")
        .expression_attribute_values(":attempt", s(attempt))
        .expression_attribute_names("#state", "state");
    let update = match outcome {
        Ok(Outcome::Started(execution_id)) => update
            .update_expression("SET #state = :started, pipelineExecutionId = :id, startedAt = :at REMOVE leaseUntil")
            .expression_attribute_values(":started", s(TriggerState::Started.as_str()))
            .expression_attribute_values(":id", s(execution_id))
            .expression_attribute_values(":at", n(now())),
        Ok(Outcome::Scheduled(schedule)) => update
            .update_expression("SET #state = :started, schedule = :schedule, startedAt = :at REMOVE leaseUntil")
            .expression_attribute_values(":started", s(TriggerState::Started.as_str()))
            .expression_attribute_values(":schedule", s(schedule))
            .expression_attribute_values(":at", n(now())),
        Err(failure) => update
            .update_expression("SET #state = :failed, lastError = :error REMOVE leaseUntil")
            .expression_attribute_values(":failed", s(TriggerState::Failed.as_str()))
            .expression_attribute_values(":error", s(failure.to_string())),
    };
    if let Err(err) = update.send().await {
        // The claim's lease still lets a later delivery take it over; the
        // pipeline's clientRequestToken keeps that from starting a second run.
        tracing::warn!(error = %aws::failure("UpdateItem (trigger)", &err), "could not record the outcome");
    }
}

/// The Scheduler's universal target for StartPipelineExecution, in the
/// partition of the role it runs as (`aws`, `aws-cn`, `aws-us-gov`…), as the
/// template's own schedule writes it with `${AWS::Partition}`.
pub fn pipeline_target_arn(role_arn: &str) -> String {
    let partition = role_arn
        .strip_prefix("arn:")
        .and_then(|rest| rest.split(':').next())
        .filter(|p| !p.is_empty())
        .unwrap_or("aws");
    format!("arn:{partition}:scheduler:::aws-sdk:codepipeline:startPipelineExecution")
}

/// The window's one run: its schedule's name, when it fires, the prefix its
/// uploads are under, and the pipeline's input (no one upload's version: the
/// run reads the whole prefix as it is when the window closes).
#[derive(Debug, Clone, PartialEq)]
struct Window {
    name: String,
    fires_at: String,
    prefix_uri: String,
    input: serde_json::Value,
}

fn window(config: &Config, bucket: &str, now: u64) -> Window {
    let quiet = config.quiet_seconds;
    let window = now / quiet;
    let name = shared::naming::retrain_window_name(
        &config.name_token,
        &config.pipeline_name,
        &config.prefix,
        window,
    );
    let fires_at = shared::clock::rfc3339((window + 1) * quiet);
    let prefix_uri = format!("s3://{bucket}/{}", config.prefix);
    let input = serde_json::json!({
        "Name": config.pipeline_name,
        "ClientRequestToken": name,
        "Variables": [
            {"Name": "TrainingDataUri", "Value": prefix_uri},
            {"Name": "DataVersionId", "Value": format!("window-{window}")},
            {"Name": "DataETag", "Value": "none"},
            {"Name": "DataSize", "Value": "0"},
            {"Name": "Trigger", "Value": "s3"}
        ]
    });
    Window {
        name,
        fires_at,
        prefix_uri,
        input,
    }
}

/// The schedule's target: CodePipeline's StartPipelineExecution with the
/// window's input, tried for a day, then kept in the dead-letter queue, so
/// a window's run that cannot start is never dropped in silence.
fn window_target(
    config: &Config,
    input: &serde_json::Value,
) -> Result<aws_sdk_scheduler::types::Target, Failure> {
    let role_arn = config.scheduler_role_arn.clone().unwrap_or_default();
    aws_sdk_scheduler::types::Target::builder()
        .arn(pipeline_target_arn(&role_arn))
        .role_arn(role_arn)
        .retry_policy(
            aws_sdk_scheduler::types::RetryPolicy::builder()
                .maximum_retry_attempts(185)
                .maximum_event_age_in_seconds(86_400)
                .build(),
        )
        .set_dead_letter_config(config.dead_letter_arn.as_ref().map(|arn| {
            aws_sdk_scheduler::types::DeadLetterConfig::builder()
                .arn(arn)
                .build()
        }))
        .input(input.to_string())
        .build()
        .map_err(|e| Failure::invalid_input(e.to_string()))
}

/// Joins the object version to its quiet window: the window's one-time
/// schedule (made by the first upload of the window; later ones find it)
/// starts the pipeline once when the window closes, on the whole prefix.
async fn schedule(state: &State, data: &NewData) -> Result<Outcome, Failure> {
    let Window {
        name,
        fires_at,
        prefix_uri,
        input,
    } = window(&state.config, &data.bucket, now());
    let target = window_target(&state.config, &input)?;
    let off = aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
        .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
        .build()
        .map_err(|e| Failure::invalid_input(e.to_string()))?;
    let created = state
        .scheduler
        .create_schedule()
        .name(&name)
        .description(format!(
            "One run for the uploads under {prefix_uri} until {fires_at}"
        ))
        // at() takes no zone suffix: the time is UTC.
        .schedule_expression(format!("at({})", fires_at.trim_end_matches('Z')))
        .flexible_time_window(off)
        .action_after_completion(aws_sdk_scheduler::types::ActionAfterCompletion::Delete)
        .target(target)
        .send()
        .await;
    match created {
        Ok(_) => {
            tracing::info!(schedule = %name, fires_at = %fires_at, "the window's run is scheduled")
        }
        // Another upload of this window made it: this one joins that run.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) =>
        {
            tracing::info!(schedule = %name, "joined the window's scheduled run");
        }
        Err(err) => return Err(aws::failure("CreateSchedule", &err)),
    }
    Ok(Outcome::Scheduled(name))
}

async fn start(state: &State, data: &NewData) -> Result<Outcome, Failure> {
    if state.config.quiet_seconds > 0 {
        return schedule(state, data).await;
    }
    let variables = data
        .pipeline_variables()
        .into_iter()
        .map(|(name, value)| PipelineVariable::builder().name(name).value(value).build())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| Failure::invalid_input(e.to_string()))?;
    let started = state
        .codepipeline
        .start_pipeline_execution()
        .name(&state.config.pipeline_name)
        .client_request_token(data.client_request_token())
        .set_variables(Some(variables))
        .send()
        .await
        .map_err(|e| aws::failure("StartPipelineExecution", &e))?;
    Ok(Outcome::Started(
        started
            .pipeline_execution_id()
            .unwrap_or_default()
            .to_owned(),
    ))
}

/// Handles one new object version: `Some(outcome)` when this delivery started
/// (or scheduled) the pipeline, `None` when an earlier delivery did (or is doing so).
async fn start_once(
    state: &State,
    data: &NewData,
    attempt: &str,
) -> Result<Option<Outcome>, Failure> {
    if !claim(state, data, attempt).await? {
        tracing::info!("already started for this object version; nothing to do");
        return Ok(None);
    }
    match start(state, data).await {
        Ok(outcome) => {
            settle(state, data, attempt, Ok(&outcome)).await;
            tracing::info!(?outcome, "pipeline started or scheduled");
            Ok(Some(outcome))
        }
        Err(failure) => {
            settle(state, data, attempt, Err(&failure)).await;
            tracing::error!(error = %failure, "could not start the pipeline");
            Err(failure)
        }
    }
}

pub async fn handle(state: &State, event: LambdaEvent<S3Event>) -> Result<Summary, Failure> {
    let attempt = event.context.request_id.clone();
    let mut summary = Summary::default();
    let mut failures: Vec<Failure> = Vec::new();
    let (prefix, suffix) = (&state.config.prefix, &state.config.suffix);
    for record in &event.payload.records {
        let data = match records::classify(record, prefix, suffix) {
            Ok(data) => data,
            Err(why) => {
                log_ignored(record, &why);
                summary.ignored += 1;
                continue;
            }
        };
        let span = tracing::info_span!(
            "record",
            bucket = %data.bucket,
            key = %data.key,
            version = %data.version_or_sequencer()
        );
        match start_once(state, &data, &attempt).instrument(span).await {
            Ok(Some(outcome)) => summary.started.push(Started::new(&data, outcome)),
            Ok(None) => summary.duplicates += 1,
            Err(failure) => failures.push(failure),
        }
    }
    if summary.duplicates > 0 {
        let mut emf = shared::metrics::Emf::new();
        #[allow(clippy::cast_precision_loss)]
        emf.put(
            shared::metrics::RUNS_DEDUPLICATED,
            summary.duplicates as f64,
        );
        emf.emit();
    }
    if failures.is_empty() {
        return Ok(summary);
    }
    Err(worst_of(
        &failures,
        event.payload.records.len(),
        summary.started.len(),
    ))
}

impl Started {
    fn new(data: &NewData, outcome: Outcome) -> Started {
        let (pipeline_execution_id, schedule) = match outcome {
            Outcome::Started(id) => (Some(id), None),
            Outcome::Scheduled(name) => (None, Some(name)),
        };
        Started {
            data_uri: data.uri(),
            version: data.version_or_sequencer().to_owned(),
            pipeline_execution_id,
            schedule,
        }
    }
}

/// Why a record starts nothing, in words, on one log line.
fn log_ignored(record: &aws_lambda_events::s3::S3EventRecord, why: &Ignored) {
    tracing::info!(
        bucket = record.s3.bucket.name.as_deref().unwrap_or_default(),
        key = record.s3.object.key.as_deref().unwrap_or_default(),
        version = record.s3.object.version_id.as_deref().unwrap_or_default(),
        reason = ?why,
        "ignored: {}",
        match why {
            Ignored::FolderMarker => "a folder marker",
            Ignored::Empty => "a zero-byte object",
            Ignored::OutsidePrefix => "outside the training-data prefix",
            Ignored::WrongSuffix => "not a training-data file (suffix)",
            Ignored::NotObjectCreated(_) => "not an ObjectCreated event",
            Ignored::Malformed(_) => "a malformed record",
            Ignored::UnsafeKey => "the key has a character other than letters, digits, spaces and _ . / = + - @ : (or is too long): it would reach the pipeline's input and the registry unescaped; rename the object",
        }
    );
}

/// The invocation's error when records could not start: Lambda then retries
/// (and, after its retries, sends the event to the on-failure destination);
/// what was done is not repeated. A misconfiguration (a permanent name) is
/// reported before a passing fault.
fn worst_of(failures: &[Failure], records: usize, started: usize) -> Failure {
    let worst = failures
        .iter()
        .find(|f| !f.is_transient())
        .unwrap_or(&failures[0])
        .name;
    let message = failures
        .iter()
        .map(Failure::to_string)
        .collect::<Vec<_>>()
        .join("; ");
    Failure::new(
        worst,
        format!(
            "{} of {records} records could not start the pipeline ({started} started): {message}",
            failures.len()
        ),
    )
}

#[cfg(test)]
mod tests;
