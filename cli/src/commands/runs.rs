//! `mlops runs`: list the runs, show one run's trail, redrive a failed run.

use shared::keys;

use crate::cli::{Output, StatusFilter};
use crate::lifecycle;
use crate::trail::{Item, item_json, list, print_item, text, trail};

#[derive(Debug)]
pub(crate) struct RunsQuery {
    pub(crate) limit: usize,
    pub(crate) status: Option<StatusFilter>,
    pub(crate) since: Option<String>,
    pub(crate) output: Output,
}

/// Whether a run's summary passes the filters.
pub(crate) fn wanted(run: &Item, q: &RunsQuery) -> bool {
    let status_ok = q
        .status
        .is_none_or(|s| text(run, "status") == s.status().as_str());
    let since_ok = q.since.as_deref().is_none_or(|since| {
        let started = Some(text(run, "startedAt"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| text(run, "lastEventTime"));
        // Both RFC 3339 UTC: compare to the second.
        started.get(..19).unwrap_or_default() >= since.get(..19).unwrap_or_default()
    });
    status_ok && since_ok
}

pub(crate) async fn list_runs(
    sdk: &shared::aws::SdkConfig,
    table: &str,
    q: &RunsQuery,
) -> Result<(), String> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let mut runs = list(&ddb, table, usize::MAX).await?;
    runs.retain(|r| wanted(r, q));
    runs.truncate(q.limit);
    if q.output == Output::Json {
        let all: Vec<_> = runs.iter().map(item_json).collect();
        println!("{}", serde_json::Value::Array(all));
        return Ok(());
    }
    if runs.is_empty() {
        println!(
            "no runs in {table}{}",
            if q.status.is_some() || q.since.is_some() {
                " match"
            } else {
                ""
            }
        );
    }
    println!(
        "{:<44} {:<10} {:<18} {:<10} LAST EVENT",
        "EXECUTION", "STATUS", "STAGE", "COMMIT"
    );
    for r in runs {
        println!(
            "{:<44} {:<10} {:<18} {:<10} {}",
            text(&r, "executionName"),
            text(&r, "status"),
            text(&r, "stage"),
            text(&r, "commitId"),
            text(&r, "lastEventTime")
        );
    }
    Ok(())
}

pub(crate) async fn show_run(
    sdk: &shared::aws::SdkConfig,
    table: &str,
    execution: &str,
) -> Result<(), String> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let items = trail(&ddb, table, execution).await?;
    if items.is_empty() {
        return Err(format!("no run {execution:?} in {table}"));
    }
    for item in &items {
        let sk = text(item, "sk");
        if sk == keys::SUMMARY_SK {
            print_item(item, "summary");
        } else {
            print_item(
                item,
                &format!("{}  {}", text(item, "enteredTime"), text(item, "stage")),
            );
        }
    }
    Ok(())
}

pub(crate) async fn redrive(
    sdk: &shared::aws::SdkConfig,
    machine: &str,
    execution: &str,
) -> Result<(), String> {
    let sfn = aws_sdk_sfn::Client::new(sdk);
    let arn = lifecycle::execution_arn(machine, execution)?;
    let when = lifecycle::redrive(&sfn, &arn).await?;
    println!("redriven at {when}: {arn} resumes from the state that failed");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::types::AttributeValue;
    use std::collections::HashMap;

    #[test]
    fn the_filters_keep_runs_of_the_status_started_since() {
        let run = |status: &str, started: &str| -> Item {
            HashMap::from([
                ("status".to_owned(), AttributeValue::S(status.into())),
                ("startedAt".to_owned(), AttributeValue::S(started.into())),
            ])
        };
        let q = RunsQuery {
            limit: 20,
            status: Some(StatusFilter::Failed),
            since: Some("2026-11-20T00:00:00Z".into()),
            output: Output::Table,
        };
        assert!(wanted(&run("failed", "2026-11-20T10:00:00.123Z"), &q));
        assert!(!wanted(&run("succeeded", "2026-11-20T10:00:00Z"), &q));
        assert!(!wanted(&run("failed", "2026-11-19T23:59:59Z"), &q));
        let json = item_json(&run("failed", "t"));
        assert_eq!(
            json,
            serde_json::json!({"status": "failed", "startedAt": "t"})
        );
    }
}
