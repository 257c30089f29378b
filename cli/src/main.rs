//! mlops: the pipeline's audit trail and model lifecycle, for people.
//!
//!     mlops runs [--limit N] [--status S] [--since 24h] [--output json]
//!                                       recent runs, newest first
//!     mlops runs show <execution>       one run's events, oldest first, and its summary
//!     mlops runs watch <execution>      follow a run stage by stage until it ends
//!     mlops runs redrive <execution>    resume a failed run from the state that failed
//!     mlops models                      the registry's versions, newest first
//!     mlops deploy <version>            deploy an Approved version (asks for approval again)
//!     mlops rollback <version>          put back an Approved version (no new approval)
//!
//! The table, the model package group and the state machine come from the
//! stack's outputs: `--stack NAME` (or `MLOPS_STACK`), else samconfig.toml's
//! `stack_name` when run inside the repository. `--table` / `TABLE_NAME`,
//! `--group` / `MODEL_PACKAGE_GROUP` and `--state-machine` /
//! `STATE_MACHINE_ARN` win when given. AWS credentials, region and
//! `AWS_ENDPOINT_URL` as for any AWS tool.

mod lifecycle;
mod stack;
mod watch;

use std::collections::HashMap;
use std::process::ExitCode;

use aws_sdk_dynamodb::types::AttributeValue;
use clap::{Parser, Subcommand};
use shared::keys;

#[derive(Debug, Parser)]
#[command(
    name = "mlops",
    about = "The MLOps pipeline's audit trail and model lifecycle"
)]
struct Cli {
    /// The stack whose outputs name the table, group and state machine
    /// (default: $MLOPS_STACK, else samconfig.toml's stack_name)
    #[arg(long, env = "MLOPS_STACK", global = true)]
    stack: Option<String>,
    /// The pipeline's DynamoDB table (default: $TABLE_NAME)
    #[arg(long, env = "TABLE_NAME", global = true)]
    table: Option<String>,
    /// The model registry's group (default: $MODEL_PACKAGE_GROUP)
    #[arg(long, env = "MODEL_PACKAGE_GROUP", global = true)]
    group: Option<String>,
    /// The pipeline's state machine (default: $STATE_MACHINE_ARN)
    #[arg(long = "state-machine", env = "STATE_MACHINE_ARN", global = true)]
    state_machine: Option<String>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// List recent runs, show one run's trail, or redrive a failed run
    Runs {
        #[command(subcommand)]
        show: Option<RunCommand>,
        /// How many runs to list
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Only runs with this status
        #[arg(long, value_enum)]
        status: Option<StatusFilter>,
        /// Only runs started since: a duration back from now (30m, 24h, 7d)
        /// or a UTC date or time (2026-11-20, 2026-11-20T10:00:00Z)
        #[arg(long, value_parser = parse_since)]
        since: Option<String>,
        /// table (for people) or json (one array, for scripts)
        #[arg(long, value_enum, default_value_t = Output::Table)]
        output: Output,
    },
    /// The registry's versions, newest first, with their status
    Models {
        /// Only the Approved ones (what deploy and rollback take)
        #[arg(long)]
        approved: bool,
    },
    /// Deploy an Approved version without training; a person approves again
    Deploy {
        /// The version number (from `mlops models`) or its ARN
        version: String,
    },
    /// Put back an Approved version without training and without a new approval
    Rollback {
        /// The version number (from `mlops models`) or its ARN
        version: String,
    },
}

#[derive(Debug, Subcommand)]
enum RunCommand {
    /// One run's events, oldest first, then its summary
    Show { execution: String },
    /// Follow a run stage by stage until it ends, then say what to do next
    Watch {
        execution: String,
        /// Seconds between looks at the trail (0.1 to 3600)
        #[arg(long, default_value = "5", value_parser = watch::interval)]
        interval: std::time::Duration,
    },
    /// Resume a failed, timed-out or aborted run from the state that failed
    Redrive {
        /// The execution's name or ARN
        execution: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum StatusFilter {
    Running,
    Succeeded,
    Failed,
    Rejected,
    #[value(name = "timedOut")]
    TimedOut,
}

impl StatusFilter {
    fn as_str(self) -> &'static str {
        match self {
            StatusFilter::Running => "running",
            StatusFilter::Succeeded => "succeeded",
            StatusFilter::Failed => "failed",
            StatusFilter::Rejected => "rejected",
            StatusFilter::TimedOut => "timedOut",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum Output {
    Table,
    Json,
}

/// `--since` as the RFC 3339 UTC time it means.
fn parse_since(text: &str) -> Result<String, String> {
    since_at(text, shared::clock::epoch_seconds())
}

fn since_at(text: &str, now: u64) -> Result<String, String> {
    let unit = |c: char| match c {
        's' => Some(1),
        'm' => Some(60),
        'h' => Some(3600),
        'd' => Some(86_400),
        _ => None,
    };
    if let Some(last) = text.chars().last().filter(|c| unit(*c).is_some()) {
        let amount: u64 = text[..text.len() - 1]
            .parse()
            .map_err(|_| format!("{text:?}: a duration is a number and s, m, h or d (24h)"))?;
        let back = amount.saturating_mul(unit(last).unwrap_or(1));
        return Ok(shared::clock::rfc3339(now.saturating_sub(back)));
    }
    let full = if text.len() == 10 {
        format!("{text}T00:00:00Z")
    } else {
        text.to_owned()
    };
    shared::clock::parse_rfc3339_ms(&full)
        .map(|_| full)
        .ok_or_else(|| format!("{text:?} is neither a duration (24h, 7d) nor a UTC date or time (2026-11-20, 2026-11-20T10:00:00Z)"))
}

/// A DynamoDB item as plain JSON (numbers as numbers).
fn item_json(item: &Item) -> serde_json::Value {
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

type Item = HashMap<String, AttributeValue>;

/// An item's attribute as one line of terminal text. Control characters
/// (an escape sequence in a comment or an approver's address, a newline in a
/// cause) are shown escaped, never sent to the terminal.
fn text(item: &Item, name: &str) -> String {
    printable(&raw_text(item, name))
}

/// `s` with every control character written as its escape (`\u{1b}`, `\n`).
fn printable(s: &str) -> String {
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

fn raw_text(item: &Item, name: &str) -> String {
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

const FACTS: [&str; 22] = [
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

fn print_item(item: &Item, heading: &str) {
    println!("{heading}");
    for name in FACTS {
        let value = text(item, name);
        if !value.is_empty() {
            println!("    {name:<20} {value}");
        }
    }
}

fn required(value: Option<String>, what: &str, flag: &str, env: &str) -> Result<String, String> {
    value.ok_or_else(|| {
        format!("no {what}: pass --stack (or run inside the repository, whose samconfig.toml names it), {flag}, or set {env}")
    })
}

/// The names the command needs: explicit ones as given, the missing ones from
/// the stack's outputs (read only when one the command needs is missing).
async fn names(cli: &Cli, sdk: &shared::aws::SdkConfig) -> Result<stack::Outputs, String> {
    let mut names = stack::Outputs {
        table: cli.table.clone(),
        group: cli.group.clone(),
        state_machine: cli.state_machine.clone(),
    };
    let (table, group, machine) = match &cli.command {
        Command::Runs {
            show: Some(RunCommand::Redrive { .. }),
            ..
        } => (false, false, true),
        Command::Runs { .. } => (true, false, false),
        Command::Models { .. } => (false, true, false),
        Command::Deploy { .. } | Command::Rollback { .. } => (false, true, true),
    };
    let missing = (table && names.table.is_none())
        || (group && names.group.is_none())
        || (machine && names.state_machine.is_none());
    if !missing {
        return Ok(names);
    }
    let (name, from) = match &cli.stack {
        Some(name) => (name.clone(), "--stack".to_owned()),
        None => match std::env::current_dir()
            .ok()
            .and_then(|d| stack::samconfig_stack(&d))
        {
            Some((name, file)) => (name, format!("stack_name in {}", file.display())),
            None => return Ok(names),
        },
    };
    let hint = [
        (table && names.table.is_none(), "--table or TABLE_NAME"),
        (
            group && names.group.is_none(),
            "--group or MODEL_PACKAGE_GROUP",
        ),
        (
            machine && names.state_machine.is_none(),
            "--state-machine or STATE_MACHINE_ARN",
        ),
    ]
    .iter()
    .filter(|(missing, _)| *missing)
    .map(|(_, h)| *h)
    .collect::<Vec<_>>()
    .join(", ");
    let outputs = stack::outputs(sdk, &name, &from)
        .await
        .map_err(|e| format!("{e}; pass --stack, or name it: {hint}"))?;
    names.table = names.table.or(outputs.table);
    names.group = names.group.or(outputs.group);
    names.state_machine = names.state_machine.or(outputs.state_machine);
    Ok(names)
}

#[derive(Debug)]
struct RunsQuery {
    limit: usize,
    status: Option<StatusFilter>,
    since: Option<String>,
    output: Output,
}

/// Whether a run's summary passes the filters.
fn wanted(run: &Item, q: &RunsQuery) -> bool {
    let status_ok = q.status.is_none_or(|s| text(run, "status") == s.as_str());
    let since_ok = q.since.as_deref().is_none_or(|since| {
        let started = Some(text(run, "startedAt"))
            .filter(|t| !t.is_empty())
            .unwrap_or_else(|| text(run, "lastEventTime"));
        // Both RFC 3339 UTC: compare to the second.
        started.get(..19).unwrap_or_default() >= since.get(..19).unwrap_or_default()
    });
    status_ok && since_ok
}

async fn list_runs(sdk: &shared::aws::SdkConfig, table: &str, q: &RunsQuery) -> Result<(), String> {
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

async fn show_run(
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

async fn list_models(
    sdk: &shared::aws::SdkConfig,
    group: &str,
    approved: bool,
) -> Result<(), String> {
    let sagemaker = aws_sdk_sagemaker::Client::new(sdk);
    let all = lifecycle::versions(&sagemaker, group).await?;
    let shown: Vec<_> = all
        .iter()
        .filter(|v| !approved || v.is_approved())
        .collect();
    if shown.is_empty() {
        println!(
            "no {}versions in {group}",
            if approved { "approved " } else { "" }
        );
        return Ok(());
    }
    println!(
        "{:<8} {:<22} {:<26} DESCRIPTION",
        "VERSION", "STATUS", "CREATED"
    );
    for v in shown {
        println!(
            "{:<8} {:<22} {:<26} {}",
            v.version,
            printable(&v.status),
            v.created,
            printable(&v.description)
        );
    }
    Ok(())
}

async fn deploy(
    sdk: &shared::aws::SdkConfig,
    group: &str,
    machine: &str,
    version: &str,
    rollback: bool,
) -> Result<(), String> {
    let sagemaker = aws_sdk_sagemaker::Client::new(sdk);
    let sfn = aws_sdk_sfn::Client::new(sdk);
    let found = lifecycle::find(&sagemaker, group, version).await?;
    let now = shared::clock::epoch_seconds();
    let arn = lifecycle::start_deploy(&sfn, machine, &found, rollback, now).await?;
    let kind = if rollback {
        "a rollback"
    } else {
        "a deploy-only run"
    };
    println!(
        "started {kind} of version {} ({}): {arn}",
        found.version, found.arn
    );
    Ok(())
}

async fn redrive(
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

async fn run(cli: Cli) -> Result<(), String> {
    let sdk = shared::aws::sdk_config_with(shared::aws::Roots::System).await;
    let names = names(&cli, &sdk).await?;
    let table = || required(names.table.clone(), "table", "--table", "TABLE_NAME");
    let group = || {
        required(
            names.group.clone(),
            "model package group",
            "--group",
            "MODEL_PACKAGE_GROUP",
        )
    };
    let machine = || {
        required(
            names.state_machine.clone(),
            "state machine",
            "--state-machine",
            "STATE_MACHINE_ARN",
        )
    };
    match &cli.command {
        Command::Runs {
            show: None,
            limit,
            status,
            since,
            output,
        } => {
            let q = RunsQuery {
                limit: *limit,
                status: *status,
                since: since.clone(),
                output: *output,
            };
            list_runs(&sdk, &table()?, &q).await
        }
        Command::Runs {
            show:
                Some(RunCommand::Watch {
                    execution,
                    interval,
                }),
            ..
        } => {
            let ddb = aws_sdk_dynamodb::Client::new(&sdk);
            let tty = std::io::IsTerminal::is_terminal(&std::io::stdout());
            let succeeded = watch::watch(&ddb, &table()?, execution, *interval, tty).await?;
            if !succeeded {
                return Err(format!("run {execution} did not succeed"));
            }
            Ok(())
        }
        Command::Runs {
            show: Some(RunCommand::Show { execution }),
            ..
        } => show_run(&sdk, &table()?, execution).await,
        Command::Runs {
            show: Some(RunCommand::Redrive { execution }),
            ..
        } => redrive(&sdk, &machine()?, execution).await,
        Command::Models { approved } => list_models(&sdk, &group()?, *approved).await,
        Command::Deploy { version } => deploy(&sdk, &group()?, &machine()?, version, false).await,
        Command::Rollback { version } => deploy(&sdk, &group()?, &machine()?, version, true).await,
    }
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

    #[test]
    fn since_takes_a_duration_back_from_now_or_a_utc_date() {
        let now = 1_795_255_200; // 2026-11-21T10:00:00Z
        assert_eq!(since_at("24h", now).as_deref(), Ok("2026-11-20T10:00:00Z"));
        assert_eq!(since_at("30m", now).as_deref(), Ok("2026-11-21T09:30:00Z"));
        assert_eq!(since_at("7d", now).as_deref(), Ok("2026-11-14T10:00:00Z"));
        assert_eq!(
            since_at("2026-11-20", now).as_deref(),
            Ok("2026-11-20T00:00:00Z")
        );
        assert_eq!(
            since_at("2026-11-20T08:00:00Z", now).as_deref(),
            Ok("2026-11-20T08:00:00Z")
        );
        for bad in ["yesterday", "h", "-1d", "2026-13-40"] {
            assert!(since_at(bad, now).is_err(), "{bad}");
        }
    }

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
