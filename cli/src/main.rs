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
mod output;
mod stack;
mod trail;
mod watch;

use std::process::ExitCode;

use clap::Parser;

use cli::{Cli, Command, RunCommand};

/// Which names a command needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Needs {
    table: bool,
    group: bool,
    machine: bool,
}

impl Needs {
    fn of(command: &Command) -> Needs {
        let (table, group, machine) = match command {
            Command::Runs {
                show: Some(RunCommand::Redrive { .. }),
                ..
            } => (false, false, true),
            Command::Runs { .. } => (true, false, false),
            Command::Models { .. } => (false, true, false),
            Command::Deploy { .. } | Command::Rollback { .. } | Command::Promote { .. } => {
                (false, true, true)
            }
        };
        Needs {
            table,
            group,
            machine,
        }
    }

    /// The flags that would give what is still missing, for an error.
    fn missing(self, names: &stack::Outputs) -> Vec<&'static str> {
        [
            (self.table && names.table.is_none(), "--table or TABLE_NAME"),
            (
                self.group && names.group.is_none(),
                "--group or MODEL_PACKAGE_GROUP",
            ),
            (
                self.machine && names.state_machine.is_none(),
                "--state-machine or STATE_MACHINE_ARN",
            ),
        ]
        .into_iter()
        .filter_map(|(missing, flag)| missing.then_some(flag))
        .collect()
    }
}

/// The names the command needs: explicit ones as given, the missing ones from
/// the stack's outputs (read only when one the command needs is missing).
async fn names(cli: &Cli, sdk: &shared::aws::SdkConfig) -> Result<stack::Outputs, String> {
    let mut names = stack::Outputs {
        table: cli.table.clone(),
        group: cli.group.clone(),
        state_machine: cli.state_machine.clone(),
    };
    let missing = Needs::of(&cli.command).missing(&names);
    if missing.is_empty() {
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
    let outputs = stack::outputs(sdk, &name, &from)
        .await
        .map_err(|e| format!("{e}; pass --stack, or name it: {}", missing.join(", ")))?;
    names.table = names.table.or(outputs.table);
    names.group = names.group.or(outputs.group);
    names.state_machine = names.state_machine.or(outputs.state_machine);
    Ok(names)
}

async fn run(cli: Cli) -> Result<(), String> {
    let sdk = shared::aws::sdk_config_with(shared::aws::Roots::System).await;
    let names = names(&cli, &sdk).await?;
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
            commands::runs::list_runs(&sdk, &names.table()?, &q).await
        }
        Command::Runs {
            show:
                Some(RunCommand::Watch {
                    execution,
                    interval,
                }),
            ..
        } => commands::runs::watch_run(&sdk, &names.table()?, execution, *interval).await,
        Command::Runs {
            show: Some(RunCommand::Show { execution }),
            ..
        } => commands::runs::show_run(&sdk, &names.table()?, execution).await,
        Command::Runs {
            show: Some(RunCommand::Redrive { execution }),
            ..
        } => commands::runs::redrive(&sdk, &names.machine()?, execution).await,
        Command::Models { approved } => {
            commands::models::list_models(&sdk, &names.group()?, *approved).await
        }
        Command::Deploy { version } => {
            let how = commands::models::How::deploy();
            commands::models::deploy(&sdk, &names.group()?, &names.machine()?, version, how).await
        }
        Command::Rollback { version, stage } => {
            let how = commands::models::How::rollback(stage.map(Into::into));
            commands::models::deploy(&sdk, &names.group()?, &names.machine()?, version, how).await
        }
        Command::Promote { version } => {
            let how = commands::models::How::promote();
            commands::models::deploy(&sdk, &names.group()?, &names.machine()?, version, how).await
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

#[cfg(test)]
mod tests {
    use super::*;

    fn needs(args: &[&str]) -> Needs {
        let cli = Cli::try_parse_from([&["mlops"], args].concat()).unwrap();
        Needs::of(&cli.command)
    }

    #[test]
    fn each_command_asks_for_the_names_it_uses_and_only_the_missing_ones() {
        let redrive = needs(&["runs", "redrive", "run-1"]);
        assert_eq!(
            (redrive.table, redrive.group, redrive.machine),
            (false, false, true)
        );
        let rollback = needs(&["rollback", "3"]);
        assert_eq!(
            (rollback.table, rollback.group, rollback.machine),
            (false, true, true)
        );
        let named = stack::Outputs {
            group: Some("models".into()),
            ..stack::Outputs::default()
        };
        assert_eq!(
            rollback.missing(&named),
            ["--state-machine or STATE_MACHINE_ARN"]
        );
        assert!(needs(&["runs"]).missing(&named) == ["--table or TABLE_NAME"]);
    }
}
