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

mod cli;
mod commands;
mod lifecycle;
mod stack;
mod trail;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, RunCommand};

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
            let q = commands::runs::RunsQuery {
                limit: *limit,
                status: *status,
                since: since.clone(),
                output: *output,
            };
            commands::runs::list_runs(&sdk, &table()?, &q).await
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
        } => commands::runs::show_run(&sdk, &table()?, execution).await,
        Command::Runs {
            show: Some(RunCommand::Redrive { execution }),
            ..
        } => commands::runs::redrive(&sdk, &machine()?, execution).await,
        Command::Models { approved } => {
            commands::models::list_models(&sdk, &group()?, *approved).await
        }
        Command::Deploy { version } => {
            commands::models::deploy(&sdk, &group()?, &machine()?, version, false).await
        }
        Command::Rollback { version } => {
            commands::models::deploy(&sdk, &group()?, &machine()?, version, true).await
        }
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
