//! `mlops models`, `mlops deploy` and `mlops rollback`: the registry's
//! versions, and a deploy-only run of one of them.

use crate::lifecycle;
use crate::output::printable;
use shared::contract::DeployStage;

pub(crate) async fn list_models(
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
        "{:<8} {:<22} {:<20} {:<26} DESCRIPTION",
        "VERSION", "STATUS", "STAGE", "CREATED"
    );
    for v in shown {
        let stage = if v.stage.is_empty() { "-" } else { &v.stage };
        println!(
            "{:<8} {:<22} {:<20} {:<26} {}",
            v.version,
            printable(&v.status),
            printable(stage),
            v.created,
            printable(&v.description)
        );
    }
    Ok(())
}

/// What a deploy-only run does: deploy (approved again), roll back, or promote.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct How {
    rollback: bool,
    stage: Option<DeployStage>,
}

impl How {
    pub(crate) fn deploy() -> How {
        How {
            rollback: false,
            stage: None,
        }
    }

    pub(crate) fn rollback(stage: Option<DeployStage>) -> How {
        How {
            rollback: true,
            stage,
        }
    }

    pub(crate) fn promote() -> How {
        How {
            rollback: false,
            stage: Some(DeployStage::Production),
        }
    }
}

pub(crate) async fn deploy(
    sdk: &shared::aws::SdkConfig,
    group: &str,
    machine: &str,
    version: &str,
    how: How,
) -> Result<(), String> {
    let sagemaker = aws_sdk_sagemaker::Client::new(sdk);
    let sfn = aws_sdk_sfn::Client::new(sdk);
    let found = lifecycle::find(&sagemaker, group, version).await?;
    let now = shared::clock::epoch_seconds();
    let arn = lifecycle::start_deploy(&sfn, machine, &found, how.rollback, how.stage, now).await?;
    let kind = match (how.rollback, how.stage) {
        (true, Some(stage)) => format!("a rollback of {}", stage.as_str()),
        (true, None) => "a rollback".to_owned(),
        (false, Some(_)) => "a promotion to production".to_owned(),
        (false, None) => "a deploy-only run".to_owned(),
    };
    println!(
        "started {kind} of version {} ({}): {arn}",
        found.version, found.arn
    );
    Ok(())
}
