//! `mlops models`, `mlops deploy` and `mlops rollback`: the registry's
//! versions, and a deploy-only run of one of them.

use crate::lifecycle;
use crate::output::printable;

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

pub(crate) async fn deploy(
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
