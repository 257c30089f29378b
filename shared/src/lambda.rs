//! The Lambda plumbing every event-driven function shares, written once:
//! [`serve`] runs a handler with its payload decoded here, so that a missing
//! or mistyped field is `InvalidInput` naming the field's path
//! (`details.metrics.validation:accuracy`), never the runtime's own error with
//! a Rust type name in `errorType`; and each invocation runs in a span naming
//! its execution ([`run_fields`]).

use std::future::Future;

use lambda_runtime::LambdaEvent;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use tracing::Instrument;

use crate::Failure;

/// A payload before it is decoded.
pub type Payload = Value;

/// Runs `handler` for every invocation until the runtime stops: the payload
/// decoded into `I` ([`decode`]), inside the invocation's span ([`span_for`]).
/// A handler that reads several payload kinds takes `I = Payload` and decodes
/// each with [`decode`].
pub async fn serve<I, O, F, Fut>(handler: F) -> Result<(), lambda_runtime::Error>
where
    I: DeserializeOwned,
    O: Serialize,
    F: Fn(LambdaEvent<I>) -> Fut,
    Fut: Future<Output = Result<O, Failure>>,
{
    let handler = &handler;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<Payload>| {
            let span = span_for(&event.payload);
            async move { handler(self::event(event)?).await }.instrument(span)
        },
    ))
    .await
}

/// Decodes a payload into `T`; the error names where and what is wrong.
pub fn decode<T: DeserializeOwned>(payload: Value) -> Result<T, Failure> {
    serde_path_to_error::deserialize(payload).map_err(|e| {
        let path = e.path().to_string();
        let inner = e.into_inner();
        if path.is_empty() || path == "." {
            Failure::invalid_input(format!("the input: {inner}"))
        } else {
            Failure::invalid_input(format!("{path}: {inner}"))
        }
    })
}

/// What an invocation's span says of it, read from its payload.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RunFields {
    /// `executionName` (a state-machine task), `detail.name` (a status-change
    /// event) or `approvalReminder.executionName` (a reminder).
    pub execution: Option<String>,
    /// A reminder's `approvalHash`; other functions record it themselves.
    pub approval: Option<String>,
}

/// The longest value a span field takes from a payload (characters).
pub const FIELD_CHARS: usize = 256;

/// The span's fields from a payload: strings only, each cut to [`FIELD_CHARS`].
pub fn run_fields(payload: &Value) -> RunFields {
    let reminder = payload.get("approvalReminder");
    let field = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(|text| text.chars().take(FIELD_CHARS).collect::<String>())
    };
    RunFields {
        execution: field(
            payload
                .get("executionName")
                .or_else(|| payload.get("detail").and_then(|d| d.get("name")))
                .or_else(|| reminder.and_then(|r| r.get("executionName"))),
        ),
        approval: field(reminder.and_then(|r| r.get("approvalHash"))),
    }
}

/// The invocation's span, inside lambda_runtime's own (which carries
/// `requestId`), with [`run_fields`]' `execution` and `approval` (which the
/// function may fill with the approval's hash). Every log line of the
/// invocation carries them (`span`/`spans` in the JSON lines).
pub fn span_for(payload: &Value) -> tracing::Span {
    let fields = run_fields(payload);
    let span = tracing::info_span!(
        "run",
        execution = tracing::field::Empty,
        approval = tracing::field::Empty
    );
    if let Some(execution) = fields.execution {
        span.record("execution", execution.as_str());
    }
    if let Some(hash) = fields.approval {
        span.record("approval", hash.as_str());
    }
    span
}

/// [`decode`] for a whole event, keeping its context.
pub fn event<T: DeserializeOwned>(event: LambdaEvent<Value>) -> Result<LambdaEvent<T>, Failure> {
    let (payload, context) = event.into_parts();
    Ok(LambdaEvent::new(decode(payload)?, context))
}

#[cfg(test)]
mod tests {

    fn json() -> impl proptest::strategy::Strategy<Value = serde_json::Value> {
        use proptest::prelude::*;
        let leaf = prop_oneof![
            Just(serde_json::Value::Null),
            any::<bool>().prop_map(serde_json::Value::from),
            any::<i64>().prop_map(serde_json::Value::from),
            any::<f64>().prop_map(serde_json::Value::from),
            "\\PC{0,40}".prop_map(serde_json::Value::from),
            // The contract's own field names, so that some inputs get deep.
            prop::sample::select(vec![
                "executionName",
                "modelPackageArn",
                "transformOutputUri",
                "s3://b/k"
            ])
            .prop_map(serde_json::Value::from),
        ];
        leaf.prop_recursive(4, 64, 8, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..6).prop_map(serde_json::Value::from),
                prop::collection::btree_map(
                    prop::sample::select(vec![
                        "executionName",
                        "stage",
                        "status",
                        "details",
                        "modelPackageArn",
                        "approval",
                        "rollback",
                        "x"
                    ])
                    .prop_map(str::to_owned),
                    inner,
                    0..6,
                )
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
            ]
        })
    }

    proptest::proptest! {
        /// Any JSON at all, as any contract's input: decoded, or a named
        /// InvalidInput, never a panic.
        #[test]
        fn any_json_decodes_or_is_named_invalid_input(value in json()) {
            for result in [
                decode::<crate::contract::RecordInput>(value.clone()).map(|_| ()),
                decode::<crate::contract::ExecutionInput>(value.clone()).map(|_| ()),
                decode::<crate::contract::DeployEndpointInput>(value).map(|_| ()),
            ] {
                if let Err(failure) = result {
                    proptest::prop_assert_eq!(failure.name, crate::ErrorName::InvalidInput);
                }
            }
        }
    }

    use super::*;

    #[test]
    fn the_span_names_the_execution_from_a_task_a_status_change_or_a_reminder() {
        let fields = |payload| run_fields(&payload);
        assert_eq!(
            fields(serde_json::json!({"executionName": "run-1"})),
            RunFields {
                execution: Some("run-1".into()),
                approval: None
            }
        );
        assert_eq!(
            fields(serde_json::json!({"detail": {"name": "run-2"}})).execution,
            Some("run-2".into())
        );
        assert_eq!(
            fields(
                serde_json::json!({"approvalReminder": {"executionName": "run-3", "approvalHash": "ab"}})
            ),
            RunFields {
                execution: Some("run-3".into()),
                approval: Some("ab".into())
            }
        );
        // A task's own name wins over a nested one; nothing else is read.
        assert_eq!(
            fields(serde_json::json!({"executionName": "run-4", "detail": {"name": "other"}}))
                .execution,
            Some("run-4".into())
        );
        assert_eq!(
            fields(serde_json::json!({"Records": []})),
            RunFields::default()
        );
        assert_eq!(
            fields(serde_json::json!({"executionName": 7, "detail": "x"})),
            RunFields::default()
        );
        let long = fields(serde_json::json!({"executionName": "é".repeat(1000)}));
        assert_eq!(long.execution.map(|e| e.chars().count()), Some(FIELD_CHARS));
    }

    use crate::ErrorName;
    use crate::contract::{DeployEndpointInput, RecordInput};

    #[test]
    fn a_missing_or_mistyped_field_is_invalid_input_naming_its_path() {
        let missing =
            decode::<DeployEndpointInput>(serde_json::json!({"endpointName": "e"})).unwrap_err();
        assert_eq!(missing.name, ErrorName::InvalidInput);
        assert!(missing.message.contains("modelName"), "{}", missing.message);

        let mistyped = decode::<RecordInput>(serde_json::json!({
            "executionName": "run-1", "stage": "started", "status": "running",
            "enteredTime": "2026-11-21T10:00:00Z", "details": {"metrics": {"accuracy": "high"}}
        }))
        .unwrap_err();
        assert_eq!(mistyped.name, ErrorName::InvalidInput);
        assert!(
            mistyped.message.starts_with("details.metrics"),
            "{}",
            mistyped.message
        );

        let not_an_object = decode::<RecordInput>(serde_json::json!("a string")).unwrap_err();
        assert!(
            not_an_object.message.starts_with("the input: "),
            "{}",
            not_an_object.message
        );
    }
}
