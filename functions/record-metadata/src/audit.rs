//! The audit trail's item shapes and the notification texts, with no I/O.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use shared::contract::{Metrics, RecordInput, RunStatus, Stage};
use shared::items::{self, Item, RunEvent, RunFacts, RunSummary};
use shared::{Failure, keys};

/// The longest a cause may be in an item (DynamoDB's item limit is 400 KB).
pub const MAX_CAUSE: usize = 8 * 1024;
/// The longest any other text field may be.
pub const MAX_TEXT: usize = 2 * 1024;

/// `text` cut to at most `max` bytes on a character boundary, marked when cut.
pub fn truncate(text: &str, max: usize) -> (String, bool) {
    if text.len() <= max {
        return (text.to_owned(), false);
    }
    let marker = format!(" …[truncated {} bytes]", text.len());
    let mut end = max.saturating_sub(marker.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    (format!("{}{marker}", &text[..end]), true)
}

/// Everything the stage knows, each text field bounded; the names of the cut
/// fields are listed in `truncated`. Long because it is the table of what the
/// trail keeps, one fact a line.
pub fn trail_facts(input: &RecordInput) -> RunFacts {
    let d = &input.details;
    let mut cut = Vec::new();
    let mut text = |name: &str, value: &Option<String>, max: usize| {
        value.as_ref().map(|value| {
            let (value, was_cut) = truncate(value, max);
            if was_cut {
                cut.push(name.to_owned());
            }
            value
        })
    };
    let approval = d.approval.as_ref();
    let gate = d
        .gate
        .as_ref()
        .filter(|g| g.value.is_finite() && g.threshold.is_finite());
    let mut facts = RunFacts {
        execution_arn: text("executionArn", &input.execution_arn, MAX_TEXT),
        commit_id: text("commitId", &d.commit_id, MAX_TEXT),
        image_uri: text("imageUri", &d.image_uri, MAX_TEXT),
        training_data_uri: text("trainingDataUri", &d.training_data_uri, MAX_TEXT),
        test_data_uri: text("testDataUri", &d.test_data_uri, MAX_TEXT),
        data_version_id: text("dataVersionId", &d.data_version_id, MAX_TEXT),
        data_etag: text("dataEtag", &d.data_etag, MAX_TEXT),
        training_job_name: text("trainingJobName", &d.training_job_name, MAX_TEXT),
        training_job_arn: text("trainingJobArn", &d.training_job_arn, MAX_TEXT),
        model_name: text("modelName", &d.model_name, MAX_TEXT),
        transform_job_name: text("transformJobName", &d.transform_job_name, MAX_TEXT),
        transform_output_uri: text("transformOutputUri", &d.transform_output_uri, MAX_TEXT),
        endpoint_name: text("endpointName", &d.endpoint_name, MAX_TEXT),
        endpoint_config_name: text("endpointConfigName", &d.endpoint_config_name, MAX_TEXT),
        model_package_arn: text("modelPackageArn", &d.model_package_arn, MAX_TEXT),
        model_quality_uri: text("modelQualityUri", &d.model_quality_uri, MAX_TEXT),
        model_artifact_sha256: text("modelArtifactSha256", &d.model_artifact_sha256, MAX_TEXT),
        model_artifact_version_id: text(
            "modelArtifactVersionId",
            &d.model_artifact_version_id,
            MAX_TEXT,
        ),
        test_data_version_id: text("testDataVersionId", &d.test_data_version_id, MAX_TEXT),
        data_manifest_uri: text("dataManifestUri", &d.data_manifest_uri, MAX_TEXT),
        deploy_started_time: text("deployStartedTime", &d.deploy_started_time, MAX_TEXT),
        failed_state: text("failedState", &d.failed_state, MAX_TEXT),
        error: text("error", &d.error, MAX_TEXT),
        cause: text("cause", &d.cause, MAX_CAUSE),
        approval_decision: approval.map(|a| a.decision),
        approved_by: text(
            "approvedBy",
            &approval.and_then(|a| a.approver.clone()),
            MAX_TEXT,
        ),
        approval_comment: text(
            "approvalComment",
            &approval.and_then(|a| a.comment.clone()),
            MAX_TEXT,
        ),
        decided_at: text(
            "decidedAt",
            &approval.map(|a| a.decided_at.clone()),
            MAX_TEXT,
        ),
        gate_metric: text("gateMetric", &gate.map(|g| g.metric_name.clone()), MAX_TEXT),
        gate_value: gate.map(|g| g.value),
        gate_threshold: gate.map(|g| g.threshold),
        held_out_metrics: d.held_out_metrics.as_ref().map(bounded),
        metrics: d.metrics.as_ref().map(bounded),
        deploy_stage: d.deploy_stage,
        staging_report_uri: text("stagingReportUri", &d.staging_report_uri, MAX_TEXT),
        staging: d.staging.filter(finite_figures),
        truncated: Vec::new(),
    };
    facts.truncated = cut;
    facts
}

/// Staging figures are kept only when every one is a number DynamoDB takes.
fn finite_figures(f: &shared::contract::StagingFigures) -> bool {
    [f.error_percent, f.p50_ms, f.p99_ms]
        .iter()
        .all(|v| v.is_finite())
}

/// At most 50 finite metrics, their names cut to 256 bytes.
fn bounded(metrics: &Metrics) -> BTreeMap<String, f64> {
    metrics
        .iter()
        .filter(|(_, v)| v.is_finite())
        .take(50)
        .map(|(k, v)| (truncate(k, 256).0, *v))
        .collect()
}

/// The event item: keyed by the stage and the state's entered time, so a retry
/// of the same call lands on the same key.
pub fn event_item(input: &RecordInput, recorded_at: &str) -> Result<Item, Failure> {
    let mut event = RunEvent::new(
        &input.execution_name,
        input.stage,
        input.status,
        &input.entered_time,
        recorded_at,
    );
    event.facts = trail_facts(input);
    items::to_item(&event)
}

/// The summary update: `SET` every known field, only if this event is not older
/// than the one the summary shows.
#[derive(Debug)]
pub struct SummaryUpdate {
    pub expression: String,
    pub condition: &'static str,
    pub names: HashMap<String, String>,
    pub values: HashMap<String, AttributeValue>,
}

pub fn summary_update(input: &RecordInput, recorded_at: &str) -> Result<SummaryUpdate, Failure> {
    let mut summary = RunSummary::new(
        &input.execution_name,
        input.stage,
        input.status,
        &input.entered_time,
        recorded_at,
    );
    summary.facts = trail_facts(input);
    let mut fields = items::to_item(&summary)?;
    // The key is not set; `startedAt` is set once, below.
    fields.remove(keys::PK);
    fields.remove(keys::SK);
    let mut names = HashMap::new();
    let mut values = HashMap::new();
    let mut sets = Vec::new();
    let mut sorted: Vec<_> = fields.into_iter().collect();
    sorted.sort_by(|a, b| a.0.cmp(&b.0));
    for (i, (name, value)) in sorted.into_iter().enumerate() {
        names.insert(format!("#f{i}"), name);
        values.insert(format!(":v{i}"), value);
        sets.push(format!("#f{i} = :v{i}"));
    }
    if input.stage == Stage::Started {
        names.insert("#startedAt".into(), "startedAt".into());
        values.insert(
            ":startedAt".into(),
            AttributeValue::S(input.entered_time.clone()),
        );
        sets.push("#startedAt = if_not_exists(#startedAt, :startedAt)".into());
    }
    names.insert("#last".into(), "lastEventTime".into());
    values.insert(
        ":entered".into(),
        AttributeValue::S(input.entered_time.clone()),
    );
    Ok(SummaryUpdate {
        expression: format!("SET {}", sets.join(", ")),
        condition: "attribute_not_exists(#last) OR #last <= :entered",
        names,
        values,
    })
}

/// A notification for people: a subject line, a body, and attributes to filter on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Notification {
    pub subject: String,
    pub body: String,
    pub status: &'static str,
    pub stage: &'static str,
}

/// The notification for this stage, if people should hear of it: when approval
/// is requested, and on every end (deployed, failed, rejected, timed out, gate).
/// Long on purpose: it is the table of what each end says and what to do
/// next, read best in one place.
pub fn notification(input: &RecordInput) -> Option<Notification> {
    let (headline, next) = headline(input)?;
    let exec = &input.execution_name;
    // SNS subjects: at most 100 characters, no line breaks.
    let subject: String = format!("[mlops] {headline}: {exec}")
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let mut lines = vec![
        format!("{headline}."),
        String::new(),
        format!("Run: {exec}"),
    ];
    lines.extend(facts(input));
    lines.push(String::new());
    lines.push(format!("What next: {next}"));
    Some(Notification {
        subject,
        body: lines.join("\n"),
        status: input.status.as_str(),
        stage: input.stage.as_str(),
    })
}

/// What happened and what to do next, for the stages that notify.
fn headline(input: &RecordInput) -> Option<(String, &'static str)> {
    let d = &input.details;
    let exec = &input.execution_name;
    let error = d.error.as_deref().unwrap_or("");
    let timed_out = input.status == RunStatus::TimedOut || error == "States.Timeout";
    Some(match (input.stage, input.status) {
        (Stage::ApprovalRequested, _) => (
            "Approval requested".to_owned(),
            "An approver has been emailed a link to the approval page. The run waits for a decision until the approval expires.",
        ),
        // Staging's deploy: the run goes on to the staging test and
        // production's approval, whose request is the next notice.
        (Stage::Deployed, RunStatus::Running) => return None,
        (Stage::Deployed, _) => (
            "Deployed".to_owned(),
            "The endpoint serves the new model; clients need change nothing. To put the previous model back, deploy its model again.",
        ),
        (Stage::Rejected, _) => (
            "Rejected".to_owned(),
            "The endpoint still serves the previous model. Push a fix or new data to train again.",
        ),
        (Stage::Failed, _) if timed_out => (
            "Approval timed out".to_owned(),
            "Nobody decided before the approval expired; the endpoint still serves the previous model. Start the run again to ask again.",
        ),
        (Stage::Failed, _) if error == "QualityGateFailed" => (
            "Quality gate failed".to_owned(),
            "The model missed the metric threshold and was not deployed; the endpoint still serves the previous model. Check the training data and the metric.",
        ),
        (Stage::Failed, _) if exec.starts_with("pipeline-") && error.ends_with("Failed") => (
            format!("Pipeline failed before a run ({error})"),
            "No run started: the pipeline stopped at the stage named below. Read its log (the link below: CodeBuild's build for Build, the source action for Source), fix the cause, then release a change again (a push, an upload, or aws codepipeline start-pipeline-execution). The endpoint still serves the previous model.",
        ),
        (Stage::Failed, _) => (
            format!(
                "Failed{}",
                if error.is_empty() {
                    String::new()
                } else {
                    format!(" ({error})")
                }
            ),
            "Read the cause below, fix it, then redrive the execution from the Step Functions console or start a new run. The endpoint still serves the previous model.",
        ),
        _ => return None,
    })
}

/// The run's facts the notice lists, each on its line, long values cut. Long
/// because it is the notice's list, in the order people read it.
fn facts(input: &RecordInput) -> Vec<String> {
    let d = &input.details;
    let mut lines = Vec::new();
    let facts = [
        ("Execution", &input.execution_arn),
        ("Commit", &d.commit_id),
        ("Data", &d.training_data_uri),
        ("Data version", &d.data_version_id),
        ("Data manifest", &d.data_manifest_uri),
        ("Held-out data", &d.test_data_uri),
        ("Held-out data version", &d.test_data_version_id),
        ("Training job", &d.training_job_name),
        ("Model", &d.model_name),
        ("Endpoint", &d.endpoint_name),
        ("Endpoint config", &d.endpoint_config_name),
        ("Model version", &d.model_package_arn),
    ];
    for (label, value) in facts {
        if let Some(v) = value {
            lines.push(format!("{label}: {}", truncate(v, 512).0));
        }
    }
    if let Some(uri) = &d.model_quality_uri {
        lines.push(format!("Model-quality report: {}", truncate(uri, 512).0));
    }
    if let Some(digest) = &d.model_artifact_sha256 {
        lines.push(format!(
            "Model archive SHA-256: {}",
            truncate(digest, 128).0
        ));
    }
    if let Some(gate) = &d.gate {
        lines.push(format!(
            "Gate: {} = {} (threshold {})",
            gate.metric_name, gate.value, gate.threshold
        ));
    }
    if let Some(metrics) = &d.metrics {
        for (name, value) in metrics {
            lines.push(format!("Metric {name}: {value}"));
        }
    }
    if let Some(approval) = &d.approval {
        lines.push(format!(
            "Decision: {} by {} at {}",
            approval.decision.as_str(),
            approval.approver.as_deref().unwrap_or("(unnamed)"),
            approval.decided_at
        ));
        if let Some(comment) = &approval.comment {
            lines.push(format!("Comment: {}", truncate(comment, 512).0));
        }
    }
    if let Some(error) = &d.error {
        lines.push(format!("Error: {}", truncate(error, 512).0));
    }
    if let Some(cause) = &d.cause {
        lines.push(format!("Cause: {}", truncate(cause, 4096).0));
    }
    lines
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::contract::RunDetails;

    fn input(stage: Stage, status: RunStatus, details: RunDetails) -> RecordInput {
        RecordInput {
            execution_name: "run-1".into(),
            execution_arn: Some("arn:aws:states:us-east-1:123456789012:execution:p:run-1".into()),
            stage,
            status,
            entered_time: "2026-11-21T10:00:00.123Z".into(),
            details,
        }
    }

    #[test]
    fn truncation_is_marked_and_respects_characters() {
        let (short, cut) = truncate("abc", 10);
        assert_eq!((short.as_str(), cut), ("abc", false));
        let long = "é".repeat(5000);
        let (text, cut) = truncate(&long, 1000);
        assert!(cut && text.len() <= 1000 && text.ends_with("[truncated 10000 bytes]"));
    }

    #[test]
    fn a_huge_cause_is_cut_and_listed_as_truncated() {
        let details = RunDetails {
            cause: Some("x".repeat(1_000_000)),
            error: Some("States.TaskFailed".into()),
            ..RunDetails::default()
        };
        let item = event_item(&input(Stage::Failed, RunStatus::Failed, details), "now").unwrap();
        let cause = item["cause"].as_s().unwrap();
        assert!(cause.len() <= MAX_CAUSE);
        assert_eq!(
            item["truncated"].as_l().unwrap(),
            &[AttributeValue::S("cause".into())]
        );
        let size: usize = item
            .iter()
            .map(|(k, v)| k.len() + v.as_s().map(String::len).unwrap_or(64))
            .sum();
        assert!(size < 400 * 1024);
    }

    #[test]
    fn the_registered_version_is_on_the_event_and_in_the_notice() {
        let arn = "arn:aws:sagemaker:us-east-1:123456789012:model-package/stack-models/4";
        let record = input(
            Stage::Deployed,
            RunStatus::Succeeded,
            RunDetails {
                model_package_arn: Some(arn.into()),
                ..RunDetails::default()
            },
        );
        assert_eq!(
            event_item(&record, "now").unwrap()["modelPackageArn"]
                .as_s()
                .unwrap(),
            arn
        );
        let notice = notification(&record).expect("a deployment is announced");
        assert!(
            notice.body.contains(&format!("Model version: {arn}")),
            "{}",
            notice.body
        );
    }

    #[test]
    fn the_event_key_is_the_stage_and_entered_time() {
        let item = event_item(
            &input(Stage::Trained, RunStatus::Running, RunDetails::default()),
            "now",
        )
        .unwrap();
        assert_eq!(item["pk"].as_s().unwrap(), "RUN#run-1");
        assert_eq!(
            item["sk"].as_s().unwrap(),
            "EVENT#2026-11-21T10:00:00.123Z#trained"
        );
    }

    #[test]
    fn the_summary_moves_only_forward() {
        let update = summary_update(
            &input(Stage::Started, RunStatus::Running, RunDetails::default()),
            "now",
        )
        .unwrap();
        assert!(update.condition.contains("#last <= :entered"));
        assert!(update.expression.contains("if_not_exists(#startedAt"));
        assert_eq!(
            update.values[":entered"].as_s().unwrap(),
            "2026-11-21T10:00:00.123Z"
        );
    }

    #[test]
    fn only_ends_and_approval_requests_notify() {
        for (stage, status, notifies) in [
            (Stage::Started, RunStatus::Running, false),
            (Stage::Trained, RunStatus::Running, false),
            (Stage::ApprovalRequested, RunStatus::Running, true),
            (Stage::Deployed, RunStatus::Succeeded, true),
            (Stage::Rejected, RunStatus::Rejected, true),
            (Stage::Failed, RunStatus::Failed, true),
        ] {
            let n = notification(&input(stage, status, RunDetails::default()));
            assert_eq!(n.is_some(), notifies, "{stage:?}");
        }
    }

    #[test]
    fn a_timeout_and_a_gate_failure_say_what_happened_and_what_next() {
        let timed_out = RunDetails {
            error: Some("States.Timeout".into()),
            ..RunDetails::default()
        };
        let n = notification(&input(Stage::Failed, RunStatus::TimedOut, timed_out)).unwrap();
        assert_eq!(n.subject, "[mlops] Approval timed out: run-1");
        assert_eq!((n.status, n.stage), ("timedOut", "failed"));
        let gate = RunDetails {
            error: Some("QualityGateFailed".into()),
            cause: Some("accuracy 0.61 < 0.9".into()),
            ..RunDetails::default()
        };
        let n = notification(&input(Stage::Failed, RunStatus::Failed, gate)).unwrap();
        assert!(n.subject.starts_with("[mlops] Quality gate failed"));
        assert!(n.body.contains("Cause: accuracy 0.61 < 0.9"));
        assert!(n.body.contains("What next:"));
    }

    #[test]
    fn subjects_fit_sns_limits() {
        let mut i = input(Stage::Deployed, RunStatus::Succeeded, RunDetails::default());
        i.execution_name = format!("{}\n{}", "a".repeat(80), "b".repeat(80));
        let n = notification(&i).unwrap();
        assert!(n.subject.chars().count() <= 100 && !n.subject.contains('\n'));
    }

    #[test]
    fn every_fact_a_stage_sends_reaches_the_trail() {
        // Every field named, no `..Default`: a field added to RunDetails does
        // not compile here until this test, and so the trail, knows it.
        let text = |name: &str| Some(format!("the {name}"));
        let metrics = || {
            Some(std::collections::BTreeMap::from([(
                "accuracy".to_owned(),
                0.9,
            )]))
        };
        let details = RunDetails {
            commit_id: text("commit"),
            image_uri: text("image"),
            training_data_uri: text("data"),
            test_data_uri: text("test data"),
            data_version_id: text("version"),
            data_etag: text("etag"),
            training_job_name: text("job"),
            training_job_arn: text("job arn"),
            metrics: metrics(),
            model_name: text("model"),
            transform_job_name: text("transform"),
            transform_output_uri: text("output"),
            approval: Some(shared::contract::ApprovalDecision {
                decision: shared::contract::Decision::Approved,
                approver: text("approver"),
                comment: text("comment"),
                decided_at: "2026-11-21T10:05:00Z".into(),
            }),
            endpoint_name: text("endpoint"),
            endpoint_config_name: text("config"),
            model_package_arn: text("version arn"),
            gate: Some(shared::contract::GateReading {
                metric_name: "accuracy".into(),
                value: 0.9,
                threshold: 0.8,
            }),
            model_quality_uri: text("report"),
            model_artifact_sha256: text("digest"),
            model_artifact_version_id: text("archive version"),
            test_data_version_id: text("test version"),
            data_manifest_uri: text("manifest"),
            held_out_metrics: metrics(),
            deploy_started_time: text("deploy start"),
            deploy_stage: Some(shared::contract::DeployStage::Staging),
            staging_report_uri: text("staging report"),
            staging: Some(shared::contract::StagingFigures {
                requests: 10,
                p99_ms: 12.5,
                ..Default::default()
            }),
            failed_state: text("state"),
            error: text("error"),
            cause: text("cause"),
        };
        let sent = serde_json::to_value(&details).unwrap();
        let kept = serde_json::to_value(trail_facts(&input(
            Stage::Deployed,
            RunStatus::Succeeded,
            details,
        )))
        .unwrap();
        for name in sent.as_object().unwrap().keys() {
            let stored: &[&str] = match name.as_str() {
                "approval" => &[
                    "approvalDecision",
                    "approvedBy",
                    "approvalComment",
                    "decidedAt",
                ],
                "gate" => &["gateMetric", "gateValue", "gateThreshold"],
                other => &[other],
            };
            for attribute in stored {
                assert!(
                    kept.get(attribute).is_some_and(|v| !v.is_null()),
                    "{name} is sent but the trail does not keep {attribute}: {kept}"
                );
            }
        }
        assert_eq!(
            kept["executionArn"],
            input(Stage::Started, RunStatus::Running, RunDetails::default())
                .execution_arn
                .unwrap()
                .as_str()
        );
    }
}
