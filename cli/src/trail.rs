//! The audit trail as the command reads it: a run's events and summary, all
//! runs' summaries (typed as `shared::items` writes them), and their facts as
//! terminal text, control characters escaped. `runs show`, `runs` and
//! `runs watch` share it.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::contract::RunStatus;
use shared::items::{self, RunFacts, RunSummary, Trail};
use shared::keys;

/// A summary as plain JSON for scripts: its attributes, without the keys.
pub(crate) fn json(summary: &RunSummary) -> serde_json::Value {
    let mut value = serde_json::to_value(summary).unwrap_or_default();
    if let Some(fields) = value.as_object_mut() {
        fields.remove(keys::PK);
        fields.remove(keys::SK);
    }
    value
}

/// `s` as one line of terminal text: every control character (an escape
/// sequence in a comment or an approver's address, a newline in a cause)
/// written as its escape (`\u{1b}`, `\n`), never sent to the terminal.
pub(crate) fn printable(s: &str) -> String {
    if !s.chars().any(char::is_control) {
        return s.to_owned();
    }
    s.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// An optional fact as terminal text, empty when absent.
pub(crate) fn shown(value: &Option<String>) -> String {
    value.as_deref().map(printable).unwrap_or_default()
}

/// Summaries of all runs (a scan: the table holds few of them), newest first.
/// A summary of another shape is named on stderr and left out, so one bad
/// item does not hide every run.
pub(crate) async fn list(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    limit: usize,
) -> Result<Vec<RunSummary>, String> {
    let mut runs: Vec<RunSummary> = Vec::new();
    let mut start = None;
    loop {
        let page = ddb
            .scan()
            .table_name(table)
            .filter_expression("sk = :summary")
            .expression_attribute_values(":summary", AttributeValue::S(keys::SUMMARY_SK.into()))
            .set_exclusive_start_key(start)
            .send()
            .await
            .map_err(|e| shared::aws::failure("Scan", &e).to_string())?;
        start = page.last_evaluated_key().cloned();
        for item in page.items.unwrap_or_default() {
            match items::from_item(item, "a run's summary") {
                Ok(summary) => runs.push(summary),
                Err(e) => eprintln!("skipped: {}", printable(&e.message)),
            }
        }
        if start.is_none() {
            break;
        }
    }
    runs.sort_by(|a, b| b.last_event_time.cmp(&a.last_event_time));
    runs.truncate(limit);
    Ok(runs)
}

/// One run's trail: events oldest first, and the summary.
pub(crate) async fn trail(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    execution: &str,
) -> Result<Trail, String> {
    let page = ddb
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(keys::run_pk(execution)))
        .send()
        .await
        .map_err(|e| shared::aws::failure("Query", &e).to_string())?;
    // Sort keys "EVENT#<time>#<stage>" sort before "SUMMARY".
    Trail::from_items(page.items.unwrap_or_default()).map_err(|e| e.message)
}

/// The facts `runs show` lists, in its order, as the trail names them; the
/// absent ones left out.
pub(crate) fn facts(status: RunStatus, f: &RunFacts) -> Vec<(&'static str, String)> {
    let metrics = f.metrics.as_ref().map(|m| {
        m.iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join(" ")
    });
    let truncated = Some(f.truncated.join(",")).filter(|t| !t.is_empty());
    let all = [
        ("status", Some(status.as_str().to_owned())),
        ("commitId", f.commit_id.clone()),
        ("imageUri", f.image_uri.clone()),
        ("trainingDataUri", f.training_data_uri.clone()),
        ("dataVersionId", f.data_version_id.clone()),
        ("dataEtag", f.data_etag.clone()),
        ("testDataUri", f.test_data_uri.clone()),
        ("testDataVersionId", f.test_data_version_id.clone()),
        ("dataManifestUri", f.data_manifest_uri.clone()),
        ("trainingJobName", f.training_job_name.clone()),
        ("metrics", metrics),
        ("modelName", f.model_name.clone()),
        ("transformOutputUri", f.transform_output_uri.clone()),
        (
            "approvalDecision",
            f.approval_decision.map(|d| d.as_str().to_owned()),
        ),
        ("approvedBy", f.approved_by.clone()),
        ("approvalComment", f.approval_comment.clone()),
        ("endpointName", f.endpoint_name.clone()),
        ("endpointConfigName", f.endpoint_config_name.clone()),
        ("modelPackageArn", f.model_package_arn.clone()),
        ("error", f.error.clone()),
        ("cause", f.cause.clone()),
        ("truncated", truncated),
    ];
    all.into_iter()
        .filter_map(|(name, value)| value.map(|v| (name, printable(&v))))
        .filter(|(_, v)| !v.is_empty())
        .collect()
}

pub(crate) fn print_facts(heading: &str, status: RunStatus, f: &RunFacts) {
    println!("{heading}");
    for (name, value) in facts(status, f) {
        println!("    {name:<20} {value}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::contract::Stage;

    #[test]
    fn control_characters_in_a_stored_value_are_shown_escaped() {
        let f = RunFacts {
            approval_comment: Some("ok\u{1b}[2J\u{1b}]0;owned\u{7}\nnext".into()),
            ..RunFacts::default()
        };
        let shown = facts(RunStatus::Succeeded, &f);
        let comment = &shown
            .iter()
            .find(|(n, _)| *n == "approvalComment")
            .unwrap()
            .1;
        assert!(!comment.chars().any(char::is_control), "{comment:?}");
        assert_eq!(comment, "ok\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\nnext");
        assert_eq!(shown[0], ("status", "succeeded".to_owned()));
    }

    #[test]
    fn a_summary_as_json_has_its_attributes_and_not_its_keys() {
        let mut summary = RunSummary::new("run-1", Stage::Failed, RunStatus::Failed, "t1", "t2");
        summary.started_at = Some("t".into());
        summary.facts.gate_value = Some(0.5);
        let json = json(&summary);
        assert_eq!(json["status"], "failed");
        assert_eq!(json["startedAt"], "t");
        assert_eq!(json["gateValue"], 0.5);
        assert!(
            json.get("pk").is_none() && json.get("sk").is_none(),
            "{json}"
        );
    }
}
