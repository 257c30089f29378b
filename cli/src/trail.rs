//! The audit trail as the command reads it: a run's events and summary, and
//! all runs' summaries, typed as `shared::items` writes them. `runs show`,
//! `runs` and `runs watch` share it; [`crate::output`] shows what it reads.

use aws_sdk_dynamodb::types::AttributeValue;
use shared::items::{self, RunSummary, Trail};
use shared::keys;

use crate::output::printable;

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
