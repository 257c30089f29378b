//! What the command prints: stored text as one line of terminal text
//! (control characters escaped), a run's facts as `runs show` lists them,
//! and a summary as JSON for scripts.

use shared::contract::RunStatus;
use shared::items::{RunFacts, RunSummary};
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
