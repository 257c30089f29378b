//! request-approval's configuration, read once at init: the table, the
//! topic, the pages' base URL, the named approvers and the reminder.

use shared::contract::DeployStage;
use shared::{ConfigError, Env};

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    /// The API's base URL; the email links to `<base>/approvals/<id>`.
    pub approval_base_url: String,
    /// A one-time schedule this long before the deadline asks record-metadata
    /// whether the approval is still undecided (`ApprovalsNearDeadline`).
    pub reminder: Option<Reminder>,
    /// The named approvers: each gets a link of their own, bound to their
    /// address. Empty: one link, and the approver is the name typed.
    pub approvers: Vec<String>,
    /// Distinct approvers needed before the run goes on (with named approvers).
    pub required: usize,
    /// Production's approvers (`Stages`: staging-then-production): some or all
    /// of `approvers`, whose subscriptions carry their links, and how many
    /// of them must approve.
    pub production_approvers: Vec<String>,
    pub production_required: usize,
}

impl Config {
    /// Who decides an approval for `stage`, and how many must approve.
    pub fn approvers_for(&self, stage: Option<DeployStage>) -> (&[String], usize) {
        match stage {
            Some(DeployStage::Production) => (&self.production_approvers, self.production_required),
            _ => (&self.approvers, self.required),
        }
    }
}

/// Production's approvers from `PRODUCTION_APPROVERS` (empty: the same as
/// `APPROVERS`) and `PRODUCTION_REQUIRED_APPROVALS` (0 or absent: as many as
/// `REQUIRED_APPROVALS`, at most their number).
fn production_approvers(
    env: &Env,
    approvers: &[String],
    required: usize,
) -> Result<(Vec<String>, usize), ConfigError> {
    let listed = env.optional("PRODUCTION_APPROVERS").unwrap_or_default();
    let named: Vec<String> = listed
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    if let Some(stranger) = named.iter().find(|a| !approvers.contains(a)) {
        return Err(ConfigError::Invalid {
            name: "PRODUCTION_APPROVERS".into(),
            value: stranger.clone(),
            reason: "each production approver must be one of APPROVERS (their email subscriptions carry the links)".into(),
        });
    }
    let chosen = if named.is_empty() {
        approvers.to_vec()
    } else {
        named
    };
    let asked: usize = env.parsed_or("PRODUCTION_REQUIRED_APPROVALS", 0usize)?;
    let needed = if asked == 0 {
        required.min(chosen.len().max(1))
    } else {
        asked
    };
    if needed > chosen.len().max(1) {
        return Err(ConfigError::Invalid {
            name: "PRODUCTION_REQUIRED_APPROVALS".into(),
            value: asked.to_string(),
            reason: "must be at most the number of production approvers (1 without any)".into(),
        });
    }
    Ok((chosen, needed))
}

/// The approvers from `APPROVERS` (comma-separated addresses) and
/// `REQUIRED_APPROVALS` (default 1, at most the number of approvers).
fn approvers(env: &Env) -> Result<(Vec<String>, usize), ConfigError> {
    let listed = env.optional("APPROVERS").unwrap_or_default();
    let approvers: Vec<String> = listed
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
        name: name.into(),
        value,
        reason: reason.into(),
    };
    if let Some(bad) = approvers.iter().find(|a| {
        a.len() > 254 || !a.contains('@') || a.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(invalid(
            "APPROVERS",
            bad.clone(),
            "each approver is an email address",
        ));
    }
    let mut unique = approvers.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != approvers.len() || approvers.len() > 5 {
        return Err(invalid(
            "APPROVERS",
            listed,
            "at most five distinct addresses",
        ));
    }
    let required: usize = env.parsed_or("REQUIRED_APPROVALS", 1usize)?;
    if required == 0 || required > approvers.len().max(1) {
        return Err(invalid(
            "REQUIRED_APPROVALS",
            required.to_string(),
            "must be at least 1 and at most the number of APPROVERS (1 without any)",
        ));
    }
    Ok((approvers, required))
}

#[derive(Debug, Clone)]
pub struct Reminder {
    pub seconds_before: u64,
    /// record-metadata's ARN: the schedule invokes it.
    pub target_arn: String,
    /// The role the schedule invokes it as.
    pub role_arn: String,
    /// Where the Scheduler puts a reminder whose target still fails after its
    /// retries (`SCHEDULE_DLQ_ARN`), so that UnfiredSchedulesAlarm says so.
    pub dead_letter_arn: Option<String>,
    /// This stack's token (`NAME_TOKEN`), in the schedule's name.
    pub name_token: shared::naming::StackToken,
}

impl Reminder {
    fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let seconds_before = env.parsed_or("APPROVAL_REMINDER_SECONDS", 0u64)?;
        if seconds_before == 0 {
            return Ok(None);
        }
        let needed = |name: &str| {
            env.optional(name)
                .filter(|v| v.starts_with("arn:"))
                .ok_or_else(|| ConfigError::Invalid {
                    name: name.into(),
                    value: env.optional(name).unwrap_or_default(),
                    reason: "must be an ARN when APPROVAL_REMINDER_SECONDS is not 0".into(),
                })
        };
        Ok(Some(Reminder {
            seconds_before,
            target_arn: needed("REMINDER_TARGET_ARN")?,
            role_arn: needed("SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: env.optional("SCHEDULE_DLQ_ARN"),
            name_token: env.required_parsed("NAME_TOKEN")?,
        }))
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let approval_base_url = env.required("APPROVAL_BASE_URL")?;
        if !approval_base_url.starts_with("https://")
            && !approval_base_url.starts_with("http://127.0.0.1")
        {
            return Err(ConfigError::Invalid {
                name: "APPROVAL_BASE_URL".into(),
                value: approval_base_url,
                reason: "must be an https:// URL (or http://127.0.0.1 for the local run)".into(),
            });
        }
        let (approvers, required) = approvers(env)?;
        let (production_approvers, production_required) =
            production_approvers(env, &approvers, required)?;
        Ok(Config {
            production_approvers,
            production_required,
            table_name: env.resource_name("TABLE_NAME")?,
            topic_arn: env.resource_name("APPROVAL_TOPIC_ARN")?,
            approval_base_url: approval_base_url.trim_end_matches('/').to_owned(),
            reminder: Reminder::from_env(env)?,
            approvers,
            required,
        })
    }
}
