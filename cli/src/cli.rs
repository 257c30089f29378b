//! The command line: what `mlops` takes (clap), and `--since`'s durations.

use clap::{Parser, Subcommand};
use shared::contract::RunStatus;

#[derive(Debug, Parser)]
#[command(
    name = "mlops",
    about = "The MLOps pipeline's audit trail and model lifecycle"
)]
pub(crate) struct Cli {
    /// The stack whose outputs name the table, group and state machine
    /// (default: $MLOPS_STACK, else samconfig.toml's stack_name)
    #[arg(long, env = "MLOPS_STACK", global = true)]
    pub(crate) stack: Option<String>,
    /// The pipeline's DynamoDB table (default: $TABLE_NAME)
    #[arg(long, env = "TABLE_NAME", global = true)]
    pub(crate) table: Option<String>,
    /// The model registry's group (default: $MODEL_PACKAGE_GROUP)
    #[arg(long, env = "MODEL_PACKAGE_GROUP", global = true)]
    pub(crate) group: Option<String>,
    /// The pipeline's state machine (default: $STATE_MACHINE_ARN)
    #[arg(long = "state-machine", env = "STATE_MACHINE_ARN", global = true)]
    pub(crate) state_machine: Option<String>,
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
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
        /// With two stages (Stages: staging-then-production): put it back on
        /// this stage alone, to a version approved for it before
        #[arg(long, value_enum)]
        stage: Option<StageArg>,
    },
    /// With two stages: send a version that passed the staging test to
    /// production, without retraining, through production's approval
    Promote {
        /// The version number (from `mlops models`) or its ARN
        version: String,
    },
}

/// A deploy stage, as `--stage` takes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StageArg {
    Staging,
    Production,
}

impl From<StageArg> for shared::contract::DeployStage {
    fn from(stage: StageArg) -> Self {
        match stage {
            StageArg::Staging => shared::contract::DeployStage::Staging,
            StageArg::Production => shared::contract::DeployStage::Production,
        }
    }
}

#[derive(Debug, Subcommand)]
pub(crate) enum RunCommand {
    /// One run's events, oldest first, then its summary
    Show { execution: String },
    /// Follow a run stage by stage until it ends, then say what to do next
    Watch {
        execution: String,
        /// Seconds between looks at the trail (0.1 to 3600)
        #[arg(long, default_value = "5", value_parser = crate::watch::interval)]
        interval: std::time::Duration,
    },
    /// Resume a failed, timed-out or aborted run from the state that failed
    Redrive {
        /// The execution's name or ARN
        execution: String,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum StatusFilter {
    Running,
    Succeeded,
    Failed,
    Rejected,
    #[value(name = "timedOut")]
    TimedOut,
}

impl StatusFilter {
    /// The run status it keeps (the trail's own type; clap's names are its words).
    pub(crate) fn status(self) -> RunStatus {
        match self {
            StatusFilter::Running => RunStatus::Running,
            StatusFilter::Succeeded => RunStatus::Succeeded,
            StatusFilter::Failed => RunStatus::Failed,
            StatusFilter::Rejected => RunStatus::Rejected,
            StatusFilter::TimedOut => RunStatus::TimedOut,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Output {
    Table,
    Json,
}

/// `--since` as the RFC 3339 UTC time it means.
pub(crate) fn parse_since(text: &str) -> Result<String, String> {
    since_at(text, shared::clock::epoch_seconds())
}

pub(crate) fn since_at(text: &str, now: u64) -> Result<String, String> {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
