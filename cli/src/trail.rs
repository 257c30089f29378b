//! The audit trail as the command reads it: a run's items (its events and
//! summary), all runs' summaries, and their attributes as terminal text,
//! control characters escaped. `runs show`, `runs` and `runs watch` share it.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use shared::keys;

/// A DynamoDB item as plain JSON (numbers as numbers).
pub(crate) fn item_json(item: &Item) -> serde_json::Value {
    fn value(v: &AttributeValue) -> serde_json::Value {
        match v {
            AttributeValue::S(s) => serde_json::Value::String(s.clone()),
            AttributeValue::N(n) => n
                .parse::<f64>()
                .ok()
                .and_then(serde_json::Number::from_f64)
                .map_or_else(
                    || serde_json::Value::String(n.clone()),
                    serde_json::Value::Number,
                ),
            AttributeValue::Bool(b) => serde_json::Value::Bool(*b),
            AttributeValue::L(l) => l.iter().map(value).collect(),
            AttributeValue::M(m) => m.iter().map(|(k, v)| (k.clone(), value(v))).collect(),
            _ => serde_json::Value::Null,
        }
    }
    item.iter()
        .filter(|(k, _)| !matches!(k.as_str(), "pk" | "sk"))
        .map(|(k, v)| (k.clone(), value(v)))
        .collect()
}

pub(crate) type Item = HashMap<String, AttributeValue>;

/// An item's attribute as one line of terminal text. Control characters
/// (an escape sequence in a comment or an approver's address, a newline in a
/// cause) are shown escaped, never sent to the terminal.
pub(crate) fn text(item: &Item, name: &str) -> String {
    printable(&raw_text(item, name))
}

/// `s` with every control character written as its escape (`\u{1b}`, `\n`).
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

pub(crate) fn raw_text(item: &Item, name: &str) -> String {
    match item.get(name) {
        Some(AttributeValue::S(s)) => s.clone(),
        Some(AttributeValue::N(n)) => n.clone(),
        Some(AttributeValue::Bool(b)) => b.to_string(),
        Some(AttributeValue::M(m)) => {
            let mut pairs: Vec<_> = m
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_n().map(String::as_str).unwrap_or("?")))
                .collect();
            pairs.sort();
            pairs.join(" ")
        }
        Some(AttributeValue::L(l)) => l
            .iter()
            .filter_map(|v| v.as_s().ok().cloned())
            .collect::<Vec<_>>()
            .join(","),
        _ => String::new(),
    }
}

/// Summaries of all runs (a scan: the table holds few of them), newest first.
pub(crate) async fn list(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    limit: usize,
) -> Result<Vec<Item>, String> {
    let mut runs = Vec::new();
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
        runs.extend(page.items().iter().cloned());
        start = page.last_evaluated_key().cloned();
        if start.is_none() {
            break;
        }
    }
    runs.sort_by_key(|r| std::cmp::Reverse(text(r, "lastEventTime")));
    runs.truncate(limit);
    Ok(runs)
}

/// One run's items: events oldest first, then the summary.
pub(crate) async fn trail(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    execution: &str,
) -> Result<Vec<Item>, String> {
    let page = ddb
        .query()
        .table_name(table)
        .key_condition_expression("pk = :pk")
        .expression_attribute_values(":pk", AttributeValue::S(keys::run_pk(execution)))
        .send()
        .await
        .map_err(|e| shared::aws::failure("Query", &e).to_string())?;
    // Sort keys "EVENT#<time>#<stage>" sort before "SUMMARY".
    Ok(page.items().to_vec())
}

pub(crate) const FACTS: [&str; 22] = [
    "status",
    "commitId",
    "imageUri",
    "trainingDataUri",
    "dataVersionId",
    "dataEtag",
    "testDataUri",
    "testDataVersionId",
    "dataManifestUri",
    "trainingJobName",
    "metrics",
    "modelName",
    "transformOutputUri",
    "approvalDecision",
    "approvedBy",
    "approvalComment",
    "endpointName",
    "endpointConfigName",
    "modelPackageArn",
    "error",
    "cause",
    "truncated",
];

pub(crate) fn print_item(item: &Item, heading: &str) {
    println!("{heading}");
    for name in FACTS {
        let value = text(item, name);
        if !value.is_empty() {
            println!("    {name:<20} {value}");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_in_a_stored_value_are_shown_escaped() {
        let item: Item = HashMap::from([
            (
                "approvalComment".to_owned(),
                AttributeValue::S("ok\u{1b}[2J\u{1b}]0;owned\u{7}\nnext".into()),
            ),
            ("status".to_owned(), AttributeValue::S("succeeded".into())),
        ]);
        let shown = text(&item, "approvalComment");
        assert!(!shown.chars().any(char::is_control), "{shown:?}");
        assert_eq!(shown, "ok\\u{1b}[2J\\u{1b}]0;owned\\u{7}\\nnext");
        assert_eq!(text(&item, "status"), "succeeded");
    }
}
