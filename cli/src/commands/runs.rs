//! `mlops runs`: list the runs, show one run's trail, redrive a failed run.

use shared::items::RunSummary;

use crate::cli::{Output, StatusFilter};
use crate::lifecycle;
use crate::output::{json, print_facts, printable, shown};
use crate::trail::{list, trail};

#[derive(Debug)]
pub(crate) struct RunsQuery {
    pub(crate) limit: usize,
    pub(crate) status: Option<StatusFilter>,
    pub(crate) since: Option<String>,
    pub(crate) output: Output,
}

/// Whether a run's summary passes the filters.
pub(crate) fn wanted(run: &RunSummary, q: &RunsQuery) -> bool {
    let status_ok = q.status.is_none_or(|s| run.status == s.status());
    let since_ok = q.since.as_deref().is_none_or(|since| {
        let started = run
            .started_at
            .as_deref()
            .filter(|t| !t.is_empty())
            .unwrap_or(&run.last_event_time);
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
        let all: Vec<_> = runs.iter().map(json).collect();
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
            printable(&r.execution_name),
            r.status.as_str(),
            r.stage.as_str(),
            shown(&r.facts.commit_id),
            printable(&r.last_event_time)
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
    let trail = trail(&ddb, table, execution).await?;
    if trail.events.is_empty() && trail.summary.is_none() {
        return Err(format!("no run {execution:?} in {table}"));
    }
    for event in &trail.events {
        let heading = format!(
            "{}  {}",
            printable(&event.entered_time),
            event.stage.as_str()
        );
        print_facts(&heading, event.status, &event.facts);
    }
    if let Some(summary) = &trail.summary {
        print_facts("summary", summary.status, &summary.facts);
    }
    Ok(())
}

/// `runs watch`: follows the run until it ends; an error unless it succeeded.
pub(crate) async fn watch_run(
    sdk: &shared::aws::SdkConfig,
    table: &str,
    execution: &str,
    interval: std::time::Duration,
) -> Result<(), String> {
    let ddb = aws_sdk_dynamodb::Client::new(sdk);
    let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
    if crate::watch::watch(&ddb, table, execution, interval, tty).await? {
        Ok(())
    } else {
        Err(format!("run {execution} did not succeed"))
    }
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
    use shared::contract::{RunStatus, Stage};

    #[test]
    fn the_filters_keep_runs_of_the_status_started_since() {
        let run = |status: RunStatus, started: &str| {
            let mut summary = RunSummary::new("run-1", Stage::Failed, status, "t", "t");
            summary.started_at = Some(started.into());
            summary
        };
        let q = RunsQuery {
            limit: 20,
            status: Some(StatusFilter::Failed),
            since: Some("2026-11-20T00:00:00Z".into()),
            output: Output::Table,
        };
        assert!(wanted(
            &run(RunStatus::Failed, "2026-11-20T10:00:00.123Z"),
            &q
        ));
        assert!(!wanted(
            &run(RunStatus::Succeeded, "2026-11-20T10:00:00Z"),
            &q
        ));
        assert!(!wanted(&run(RunStatus::Failed, "2026-11-19T23:59:59Z"), &q));
    }
}
