//! The door: every event-driven function decodes its payload here, so that a
//! missing or mistyped field is `InvalidInput` naming the field's path
//! (`details.metrics.validation:accuracy`), never the runtime's own error
//! with a Rust type name in `errorType`.

use lambda_runtime::LambdaEvent;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::Failure;

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

/// [`decode`] for a whole event, keeping its context.
pub fn event<T: DeserializeOwned>(event: LambdaEvent<Value>) -> Result<LambdaEvent<T>, Failure> {
    let (payload, context) = event.into_parts();
    Ok(LambdaEvent::new(decode(payload)?, context))
}

#[cfg(test)]
mod tests {
    use super::*;
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
