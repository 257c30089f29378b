//! mlops: read the pipeline's audit trail.
//!
//!     mlops runs [--limit N]            recent runs, newest first
//!     mlops runs show <execution>       one run's events, oldest first, and its summary
//!
//! The table comes from `--table` or `TABLE_NAME`; AWS credentials, region and
//! `AWS_ENDPOINT_URL` as for any AWS tool.

use std::collections::HashMap;
use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use clap::{Parser, Subcommand};
use shared::keys;

#[derive(Debug, Parser)]
#[command(name = "mlops", about = "Read the MLOps pipeline's audit trail")]
struct Cli {
    /// The pipeline's DynamoDB table (default: $TABLE_NAME)
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List recent runs, or show one run's trail
    Runs {
        #[command(subcommand)]
        show: Option<Show>,
        /// How many runs to list
        #[arg(long, default_value_t = 20)]
        limit: usize,
    },
}

#[derive(Debug, Subcommand)]
enum Show {
    /// One run's events, oldest first, then its summary
    Show { execution: String },
}

type Item = HashMap<String, AttributeValue>;

fn text(item: &Item, name: &str) -> String {
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
async fn list(
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
async fn trail(
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

const FACTS: [&str; 18] = [
    "status",
    "commitId",
    "imageUri",
    "trainingDataUri",
    "dataVersionId",
    "dataEtag",
    "trainingJobName",
    "metrics",
    "modelName",
    "transformOutputUri",
    "approvalDecision",
    "approvedBy",
    "approvalComment",
    "endpointName",
    "endpointConfigName",
    "error",
    "cause",
    "truncated",
];

fn print_item(item: &Item, heading: &str) {
    println!("{heading}");
    for name in FACTS {
        let value = text(item, name);
        if !value.is_empty() {
            println!("    {name:<20} {value}");
        }
    }
}

async fn run(cli: Cli) -> Result<(), String> {
    let table = cli
        .table
        .ok_or("no table: pass --table or set TABLE_NAME")?;
    let sdk = shared::aws::sdk_config().await;
    let ddb = aws_sdk_dynamodb::Client::new(&sdk);
    match cli.command {
        Command::Runs { show: None, limit } => {
            let runs = list(&ddb, &table, limit).await?;
            if runs.is_empty() {
                println!("no runs in {table}");
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
        }
        Command::Runs {
            show: Some(Show::Show { execution }),
            ..
        } => {
            let items = trail(&ddb, &table, &execution).await?;
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
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    match run(Cli::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("mlops: {message}");
            ExitCode::FAILURE
        }
    }
}
