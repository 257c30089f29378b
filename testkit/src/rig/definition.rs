//! The real definition as the rig runs it: filled with the template's
//! `DefinitionSubstitutions`, each Lambda and `.sync` Task handed to an SQS
//! queue the rig answers.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use crate::template::Resolver;

pub const DEFINITION: &str = "statemachine/pipeline.asl.json";

/// What moto's context object lacks: `$$.Execution.RedriveCount` (moto has no
/// redrive). In the test copy it reads as `0`, a first attempt's count, so job
/// names look as they do on AWS before any redrive.
pub const MOTO_REDRIVE_COUNT: &str = "0";

/// The parameters a path may set: features it is about, and timers it shortens.
pub const PATH_PARAMETERS: [&str; 18] = [
    "ApproverEmails",
    "RequiredApprovals",
    "RetrainQuietSeconds",
    "EndpointPollSeconds",
    "EndpointMaxPolls",
    "DeploymentWaitSeconds",
    "ApprovalTimeoutSeconds",
    "TrainingMaxSeconds",
    "ProcessingImageUri",
    "TuningMaxJobs",
    "DeploymentStrategy",
    "EndpointInstanceCount",
    "EndpointMaxInstances",
    "EndpointHosting",
    "DataCaptureSamplingPercent",
    "Stages",
    "StagingRequests",
    "StagingExamples",
];

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

/// Turns every Lambda and `.sync` Task into an SQS `waitForTaskToken` on
/// `queue_url`, keeping everything else of the state. Returns the states handed.
pub fn hand_tasks_to(definition: &mut Value, queue_url: &str) -> Vec<String> {
    let mut handed = Vec::new();
    let Some(states) = definition["States"].as_object_mut() else {
        return handed;
    };
    for (name, state) in states.iter_mut() {
        if state["Type"] != "Task" {
            continue;
        }
        let resource = state["Resource"].as_str().unwrap_or_default().to_owned();
        let body = if resource.contains(":lambda:invoke") {
            let params = state["Parameters"].take();
            if resource.ends_with(".waitForTaskToken") {
                // Its payload carries the token (taskToken.$ = $$.Task.Token); handle-approval answers.
                json!({"state": name, "kind": "callback", "function": params["FunctionName"], "payload": params["Payload"]})
            } else {
                json!({"state": name, "kind": "lambda", "function": params["FunctionName"], "payload": params["Payload"], "taskToken.$": "$$.Task.Token"})
            }
        } else if resource.ends_with(".sync") {
            let request = state["Parameters"].take();
            json!({"state": name, "kind": "sync", "request": request, "taskToken.$": "$$.Task.Token"})
        } else {
            continue;
        };
        state["Resource"] = json!("arn:aws:states:::sqs:sendMessage.waitForTaskToken");
        state["Parameters"] = json!({"QueueUrl": queue_url, "MessageBody": body});
        handed.push(name.clone());
    }
    handed
}

/// A function ARN without its qualifier, a version or an alias
/// (`…:function:name:3`, `…:function:name:live` → `…:function:name`).
pub fn unqualified(arn: &str) -> &str {
    match arn.rsplit_once(':') {
        Some((function, _)) if arn.split(':').count() == 8 && arn.contains(":function:") => {
            function
        }
        _ => arn,
    }
}

/// What Lambda reports as `ExecutedVersion`: the version a qualified ARN names.
pub(crate) fn executed_version(arn: &str) -> &str {
    match arn.rsplit(':').next() {
        Some(v) if unqualified(arn) != arn && v.bytes().all(|b| b.is_ascii_digit()) => v,
        _ => "$LATEST",
    }
}

/// The definition as the rig runs it: filled from `resolver`, every Lambda and
/// `.sync` task handed to the rig's queue.
pub(crate) fn rig_definition(resolver: &Resolver<'_>, queue_url: &str) -> Result<Value, String> {
    let substitutions = resolver.substitutions("StateMachine")?;
    let text = std::fs::read_to_string(crate::workspace_root().join(DEFINITION))
        .map_err(|e| format!("{DEFINITION}: {e}"))?;
    let mut definition: Value =
        serde_json::from_str(&fill(&text, &substitutions)?).map_err(|e| e.to_string())?;
    let handed = hand_tasks_to(&mut definition, queue_url);
    if handed.len() < 10 {
        return Err(format!(
            "expected every Lambda and .sync task, handed {handed:?}"
        ));
    }
    Ok(definition)
}
