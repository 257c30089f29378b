//! The door: every event-driven function decodes its payload here, so that a
//! missing or mistyped field is `InvalidInput` naming the field's path
//! (`details.metrics.validation:accuracy`), never the runtime's own error
//! with a Rust type name in `errorType`.

use lambda_runtime::LambdaEvent;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Failure;

/// A payload before the door decodes it.
pub type Payload = Value;

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

/// The invocation's span, inside lambda_runtime's own (which carries
/// `requestId`): `execution` from the payload's `executionName` (a
/// state-machine task) or `detail.name` (a status-change event), and an
/// `approval` field the function may fill with the approval's hash. Every log
/// line of the invocation carries them (`span`/`spans` in the JSON lines).
pub fn span_for(payload: &Value) -> tracing::Span {
    let reminder = payload.get("approvalReminder");
    let field = |value: Option<&Value>| {
        value
            .and_then(Value::as_str)
            .map(|text| text.chars().take(256).collect::<String>())
    };
    let execution = field(
        payload
            .get("executionName")
            .or_else(|| payload.get("detail").and_then(|d| d.get("name")))
            .or_else(|| reminder.and_then(|r| r.get("executionName"))),
    );
    let span = tracing::info_span!(
        "run",
        execution = tracing::field::Empty,
        approval = tracing::field::Empty
    );
    if let Some(execution) = execution {
        span.record("execution", execution.as_str());
    }
    if let Some(hash) = field(reminder.and_then(|r| r.get("approvalHash"))) {
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
    fn the_span_names_the_execution_from_a_task_or_a_status_change() {
        let task = span_for(&serde_json::json!({"executionName": "run-1"}));
        let change = span_for(&serde_json::json!({"detail": {"name": "run-2"}}));
        let neither = span_for(&serde_json::json!({"Records": []}));
        let reminder = span_for(
            &serde_json::json!({"approvalReminder": {"executionName": "run-3", "approvalHash": "ab"}}),
        );
        for span in [task, change, neither, reminder] {
            // Without a subscriber spans are disabled; the fields are declared either way.
            let fields = span
                .metadata()
                .map(|m| m.fields().iter().map(|f| f.name()).collect::<Vec<_>>());
            assert_eq!(fields.unwrap_or_default(), ["execution", "approval"]);
        }
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
