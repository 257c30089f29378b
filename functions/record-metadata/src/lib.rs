//! record-metadata's handler, as a library: its two binaries
//! (record-metadata and record-reminder) share it, and the `mlops` command's
//! tests write the trail through it, as the deployed function does.

pub mod audit;
pub mod metrics;
pub mod pipeline;
pub mod reminder;

use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_sns::types::MessageAttributeValue;
use lambda_runtime::LambdaEvent;
pub mod status_change;

use shared::conditional::written;
use shared::contract::{ExecutionStatusChange, RecordInput, RecordOutput};
use shared::items::{self, ChampionItem, NoticeMark};
use shared::naming::{RunNames, StackToken};
use shared::{ConfigError, Env, Failure, aws, keys};

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    /// This stack's token (`NAME_TOKEN`), in every name the run's jobs take.
    pub name_token: StackToken,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            table_name: env.resource_name("TABLE_NAME")?,
            topic_arn: env.resource_name("NOTIFICATION_TOPIC_ARN")?,
            name_token: env.required_parsed("NAME_TOKEN")?,
        })
    }
}

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub sfn: aws_sdk_sfn::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            sfn: aws_sdk_sfn::Client::new(sdk),
        }
    }
}

/// The door: a stage from the state machine, EventBridge's status-change
/// event for a run that ended FAILED, TIMED_OUT or ABORTED, or the reminder
/// schedule of an approval close to its deadline. A payload that is
/// neither is `InvalidInput`, naming what is wrong.
pub async fn handle_any(
    state: &State,
    event: LambdaEvent<serde_json::Value>,
) -> Result<RecordOutput, Failure> {
    let (payload, context) = event.into_parts();
    if payload.get("approvalReminder").is_some() {
        return Err(Failure::invalid_input(
            "approval reminders go to record-reminder (ReminderFunction), which may only read approvals",
        ));
    }
    if payload.get("source").and_then(|s| s.as_str()) == Some("aws.codepipeline") {
        let change: shared::contract::PipelineActionChange = shared::lambda::decode(payload)?;
        return pipeline::handle(state, change, context).await;
    }
    if payload.get("detail-type").is_some() {
        let change: ExecutionStatusChange = shared::lambda::decode(payload)?;
        return status_change::handle(state, change).await;
    }
    let input: RecordInput = shared::lambda::decode(payload)?;
    handle(state, LambdaEvent::new(input, context)).await
}

fn validate(input: &RecordInput) -> Result<(), Failure> {
    if input.execution_name.trim().is_empty() || input.execution_name.len() > 256 {
        return Err(Failure::invalid_input(
            "executionName must be 1 to 256 characters",
        ));
    }
    // RFC 3339 UTC, as `$$.State.EnteredTime` (Step Functions writes `Z`; the
    // emulator `+00:00`): the sort key orders by it within a run.
    let t = input.entered_time.as_bytes();
    let shaped = t.len() >= 20
        && t.len() <= 35
        && t[4] == b'-'
        && t[10] == b'T'
        && (t.ends_with(b"Z") || t.ends_with(b"+00:00"))
        && t[..4].iter().all(u8::is_ascii_digit);
    if !shaped {
        return Err(Failure::invalid_input(format!(
            "enteredTime {:?} is not an RFC 3339 UTC time like 2026-11-21T10:00:00.123Z ($$.State.EnteredTime)",
            input.entered_time
        )));
    }
    Ok(())
}

/// Records the stage once, keeps the summary current, notifies once.
pub async fn handle(
    state: &State,
    event: LambdaEvent<RecordInput>,
) -> Result<RecordOutput, Failure> {
    let input = event.payload;
    validate(&input)?;
    let recorded_at = shared::clock::now_rfc3339();
    let exec = input.execution_name.as_str();
    let stage = input.stage.as_str();
    let key = keys::run_event(exec, &input.entered_time, stage);
    let event = record_event(state, &input, &key, &recorded_at).await?;
    let (recorded, already_notified) = match event {
        Event::New => (true, false),
        Event::Repeat { notified } => (false, notified),
    };
    update_summary(state, &input, &recorded_at).await?;
    let mut notified = already_notified;
    if let Some(note) = audit::notification(&input).filter(|_| !already_notified) {
        notified = notify(state, exec, &note).await?;
        mark_notice(state, &key, notified, exec, stage).await?;
    }
    if input.stage == shared::contract::Stage::Deployed {
        record_champion(state, &input).await?;
    }
    if recorded {
        metrics::for_stage(&input).emit();
    }
    tracing::info!(stage, recorded, notified, "recorded");
    Ok(RecordOutput {
        recorded,
        notified,
        names: Some(RunNames::for_execution(&state.config.name_token, exec)),
    })
}

/// The endpoint now serves this run's version: the champion the next
/// approval is compared with. Written on every delivery of `deployed` (a
/// retry writes the same), never over a later deploy's.
async fn record_champion(state: &State, input: &RecordInput) -> Result<(), Failure> {
    let d = &input.details;
    let Some(endpoint) = d.endpoint_name.as_deref() else {
        return Ok(());
    };
    let mut champion = ChampionItem::new(endpoint, &input.execution_name, &input.entered_time);
    champion.model_package_arn = d.model_package_arn.clone();
    champion.model_quality_uri = d.model_quality_uri.clone();
    champion.model_name = d.model_name.clone();
    champion.held_out_metrics = d
        .held_out_metrics
        .as_ref()
        .map(|metrics| items::finite(metrics).into_iter().take(50).collect());
    let item = items::to_item(&champion)?;
    let put = state
        .dynamodb
        .put_item()
        .table_name(&state.config.table_name)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(deployedAt) OR deployedAt <= :entered")
        .expression_attribute_values(":entered", AttributeValue::S(input.entered_time.clone()))
        .send()
        .await;
    // Missed: a later deploy is already the champion.
    written("PutItem (champion)", put).map(|_| ())
}

/// What writing a stage's event found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Event {
    /// Written now: its notice is still to go out.
    New,
    /// A retry of a stage already recorded, and whether its notice went out.
    Repeat { notified: bool },
}

/// Writes the stage's event once. A retry finds the event there and learns
/// whether its notice went out.
async fn record_event(
    state: &State,
    input: &RecordInput,
    key: &keys::Key,
    recorded_at: &str,
) -> Result<Event, Failure> {
    let put = state
        .dynamodb
        .put_item()
        .table_name(&state.config.table_name)
        .set_item(Some(audit::event_item(input, recorded_at)?))
        .condition_expression("attribute_not_exists(#sk)")
        .expression_attribute_names("#sk", keys::SK)
        .send()
        .await;
    if written("PutItem (event)", put)?.is_done() {
        return Ok(Event::New);
    }
    let existing = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, AttributeValue::S(key.pk.clone()))
        .key(keys::SK, AttributeValue::S(key.sk.clone()))
        .projection_expression("notified")
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (event)", &e))?;
    let notified = match existing.item {
        Some(item) => items::from_item::<NoticeMark>(item, "the stage's event")?
            .notified
            .unwrap_or(false),
        None => false,
    };
    Ok(Event::Repeat { notified })
}

/// Moves the run's summary forward; an older event arriving late leaves it.
async fn update_summary(
    state: &State,
    input: &RecordInput,
    recorded_at: &str,
) -> Result<(), Failure> {
    let summary = audit::summary_update(input, recorded_at)?;
    let updated = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(
            keys::PK,
            AttributeValue::S(keys::run_pk(&input.execution_name)),
        )
        .key(keys::SK, AttributeValue::S(keys::SUMMARY_SK.into()))
        .update_expression(summary.expression)
        .condition_expression(summary.condition)
        .set_expression_attribute_names(Some(summary.names))
        .set_expression_attribute_values(Some(summary.values))
        .send()
        .await;
    if !written("UpdateItem (summary)", updated)?.is_done() {
        tracing::info!(execution = %input.execution_name, stage = input.stage.as_str(), "summary already newer; left as is");
    }
    Ok(())
}

/// Marks the event notified, or its notice owed. Marked after publishing: a
/// retry after a failed mark may notify twice (SNS is at-least-once anyway),
/// but never zero times. A notice that could not go out is marked owed: the
/// stage stays recorded and the run goes on; a retry of this call, or an
/// operator, sends it later.
async fn mark_notice(
    state: &State,
    key: &keys::Key,
    notified: bool,
    exec: &str,
    stage: &str,
) -> Result<(), Failure> {
    let mark = if notified {
        "SET notified = :t REMOVE notificationOwed"
    } else {
        "SET notificationOwed = :t"
    };
    let marked = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, AttributeValue::S(key.pk.clone()))
        .key(keys::SK, AttributeValue::S(key.sk.clone()))
        .update_expression(mark)
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await;
    match marked {
        Ok(_) => Ok(()),
        Err(err) if notified => Err(aws::failure("UpdateItem (notified)", &err)),
        Err(err) => {
            let failure = aws::failure("UpdateItem (notificationOwed)", &err);
            tracing::warn!(execution = exec, stage, error = %failure.message, "could not mark the notice as owed");
            Ok(())
        }
    }
}

/// Publishes one notice, best effort: the SDK's own retries run first; a
/// notice that still cannot go out is logged and answered `false`, never an
/// error, so a run is not failed (or a deployed model reported failed)
/// because an email could not be sent.
async fn notify(state: &State, exec: &str, note: &audit::Notification) -> Result<bool, Failure> {
    let attribute = |v: &str| {
        MessageAttributeValue::builder()
            .data_type("String")
            .string_value(v)
            .build()
            .map_err(|e| Failure::invalid_input(e.to_string()))
    };
    let published = state
        .sns
        .publish()
        .topic_arn(&state.config.topic_arn)
        .subject(&note.subject)
        .message(&note.body)
        .message_attributes("status", attribute(note.status)?)
        .message_attributes("stage", attribute(note.stage)?)
        .message_attributes("execution", attribute(exec)?)
        .send()
        .await;
    match published {
        Ok(_) => Ok(true),
        Err(err) => {
            let failure = aws::failure("Publish", &err);
            tracing::warn!(
                execution = exec,
                stage = note.stage,
                error = %failure.name.as_str(),
                message = %failure.message,
                "notification not sent; recorded as owed"
            );
            Ok(false)
        }
    }
}

#[cfg(test)]
mod tests;
