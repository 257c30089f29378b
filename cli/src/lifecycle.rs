//! The model lifecycle for people: the registry's versions, deploy-only and
//! rollback runs, and redriving a failed run from its failed state.

use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelPackageSortBy, SortOrder};
use aws_sdk_sfn::types::{ExecutionRedriveStatus, ExecutionStatus};
use shared::contract::{DeployInput, DeployStage};

/// One version of the model package group, as `mlops models` prints it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub arn: String,
    pub version: i32,
    pub status: String,
    pub created: String,
    pub description: String,
    /// Where the version is in its life cycle (the registry's
    /// `ModelLifeCycle`): `staging: Approved`, or empty when it has none.
    pub stage: String,
}

impl Version {
    pub fn is_approved(&self) -> bool {
        self.status == ModelApprovalStatus::Approved.as_str()
    }
}

/// Every version of `group`, newest first.
pub async fn versions(
    sagemaker: &aws_sdk_sagemaker::Client,
    group: &str,
) -> Result<Vec<Version>, String> {
    let mut out = Vec::new();
    let mut pages = sagemaker
        .list_model_packages()
        .model_package_group_name(group)
        .sort_by(ModelPackageSortBy::CreationTime)
        .sort_order(SortOrder::Descending)
        .into_paginator()
        .send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| shared::aws::failure("ListModelPackages", &e).to_string())?;
        for summary in page.model_package_summary_list() {
            out.push(Version {
                arn: summary.model_package_arn().unwrap_or_default().to_owned(),
                version: summary.model_package_version().unwrap_or_default(),
                status: summary
                    .model_approval_status()
                    .map(|s| s.as_str().to_owned())
                    .unwrap_or_default(),
                created: summary
                    .creation_time()
                    .map(|t| t.to_string())
                    .unwrap_or_default(),
                description: summary
                    .model_package_description()
                    .unwrap_or_default()
                    .to_owned(),
                stage: summary
                    .model_life_cycle()
                    .map(|l| {
                        format!(
                            "{}: {}",
                            l.stage().unwrap_or_default(),
                            l.stage_status().unwrap_or_default()
                        )
                    })
                    .unwrap_or_default(),
            });
        }
    }
    out.sort_by_key(|v| std::cmp::Reverse(v.version));
    Ok(out)
}

/// A version by number (`3`) or ARN.
pub async fn find(
    sagemaker: &aws_sdk_sagemaker::Client,
    group: &str,
    spec: &str,
) -> Result<Version, String> {
    let all = versions(sagemaker, group).await?;
    let found = match spec.parse::<i32>() {
        Ok(number) => all.into_iter().find(|v| v.version == number),
        Err(_) => all.into_iter().find(|v| v.arn == spec),
    };
    found.ok_or_else(|| format!("no version {spec:?} in {group}; `mlops models` lists them"))
}

/// Starts a deploy-only run of an Approved version; a rollback is not asked
/// for approval again (see docs/how-to/operations.md, Model lifecycle). With
/// two stages, `stage` names one: a rollback of that stage alone, or (not a
/// rollback) a promotion to production of a version that passed staging's
/// test, which the state machine checks in the trail. Returns the execution ARN.
pub async fn start_deploy(
    sfn: &aws_sdk_sfn::Client,
    state_machine_arn: &str,
    version: &Version,
    rollback: bool,
    stage: Option<DeployStage>,
    now_unix: u64,
) -> Result<String, String> {
    if !version.is_approved() {
        return Err(format!(
            "version {} is {}: only an Approved version can be deployed",
            version.version, version.status
        ));
    }
    let input = DeployInput {
        model_package_arn: version.arn.clone(),
        rollback,
        stage,
    };
    input.validate().map_err(|e| e.to_string())?;
    let kind = match (rollback, stage) {
        (true, _) => "rollback",
        (false, Some(DeployStage::Production)) => "promote",
        (false, _) => "deploy",
    };
    let name = format!("{kind}-v{}-{now_unix}", version.version);
    let started = sfn
        .start_execution()
        .state_machine_arn(state_machine_arn)
        .name(&name)
        .input(serde_json::to_string(&input).map_err(|e| e.to_string())?)
        .send()
        .await
        .map_err(|e| shared::aws::failure("StartExecution", &e).to_string())?;
    Ok(started.execution_arn)
}

/// `arn:…:stateMachine:<machine>` and `<execution>` → `arn:…:execution:<machine>:<execution>`.
/// An ARN passes through.
pub fn execution_arn(state_machine_arn: &str, execution: &str) -> Result<String, String> {
    let Some((prefix, machine)) = state_machine_arn.rsplit_once(":stateMachine:") else {
        return Err(format!(
            "{state_machine_arn:?} is not a state machine ARN (…:stateMachine:<name>)"
        ));
    };
    let own = format!("{prefix}:execution:{machine}:");
    if execution.starts_with("arn:") {
        // An ARN must be a run of this stack's state machine, not of another.
        let name = execution.strip_prefix(&own).unwrap_or_default();
        if name.is_empty() || name.contains(':') {
            return Err(format!(
                "{execution} is not a run of {state_machine_arn}; pass one of its runs, or its name"
            ));
        }
        return Ok(execution.to_owned());
    }
    if execution.is_empty() || execution.contains(':') {
        return Err(format!("{execution:?} is not an execution name"));
    }
    Ok(format!("{own}{execution}"))
}

/// Resumes a failed, timed-out or aborted run from the state that failed.
/// Returns when Step Functions redrove it. The redriven states name their
/// SageMaker jobs with the new redrive count, so nothing collides.
pub async fn redrive(sfn: &aws_sdk_sfn::Client, execution_arn: &str) -> Result<String, String> {
    let run = sfn
        .describe_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(|e| shared::aws::failure("DescribeExecution", &e).to_string())?;
    let status = run.status();
    if !matches!(
        status,
        ExecutionStatus::Failed | ExecutionStatus::TimedOut | ExecutionStatus::Aborted
    ) {
        return Err(format!(
            "{execution_arn} is {}: only a failed, timed-out or aborted run can be redriven",
            status.as_str()
        ));
    }
    if run.redrive_status() == Some(&ExecutionRedriveStatus::NotRedrivable) {
        return Err(format!(
            "{execution_arn} cannot be redriven: {}",
            run.redrive_status_reason()
                .unwrap_or("Step Functions gave no reason")
        ));
    }
    let redriven = sfn
        .redrive_execution()
        .execution_arn(execution_arn)
        .send()
        .await
        .map_err(|e| shared::aws::failure("RedriveExecution", &e).to_string())?;
    Ok(redriven.redrive_date().to_string())
}

#[cfg(test)]
mod tests {
    #![allow(
        clippy::unwrap_used,
        reason = "in a test a failed unwrap is a failed test"
    )]

    use super::*;
    use aws_sdk_sfn::operation::describe_execution::DescribeExecutionOutput;
    use aws_sdk_sfn::operation::redrive_execution::RedriveExecutionOutput;
    use aws_sdk_sfn::operation::start_execution::StartExecutionOutput;
    use aws_smithy_mocks::{RuleMode, mock, mock_client};
    use aws_smithy_types::DateTime;

    const MACHINE: &str = "arn:aws:states:eu-west-1:123456789012:stateMachine:pipeline";

    fn version(status: &str) -> Version {
        Version {
            arn: "arn:aws:sagemaker:eu-west-1:123456789012:model-package/stack-models/3".into(),
            version: 3,
            status: status.into(),
            created: String::new(),
            description: String::new(),
            stage: String::new(),
        }
    }

    fn execution(
        status: ExecutionStatus,
        redrive: Option<ExecutionRedriveStatus>,
    ) -> DescribeExecutionOutput {
        DescribeExecutionOutput::builder()
            .execution_arn(format!("{MACHINE}:run-1").replace(":stateMachine:", ":execution:"))
            .state_machine_arn(MACHINE)
            .status(status)
            .start_date(DateTime::from_secs(0))
            .set_redrive_status(redrive)
            .redrive_status_reason("Execution history event limit exceeded")
            .build()
            .unwrap()
    }

    #[test]
    fn an_execution_name_becomes_its_arn() {
        assert_eq!(
            execution_arn(MACHINE, "run-1").unwrap(),
            "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-1"
        );
        let arn = "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-2";
        assert_eq!(execution_arn(MACHINE, arn).unwrap(), arn);
        assert!(execution_arn("pipeline", "run-1").is_err());
    }

    #[test]
    fn an_execution_of_another_state_machine_is_refused() {
        for other in [
            "arn:aws:states:eu-west-1:123456789012:execution:other-pipeline:run-2",
            "arn:aws:states:eu-west-1:999999999999:execution:pipeline:run-2",
            "arn:aws:states:us-east-1:123456789012:execution:pipeline:run-2",
            "arn:aws:states:eu-west-1:123456789012:execution:pipeline:",
            "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-2:extra",
        ] {
            let refused = execution_arn(MACHINE, other);
            assert!(refused.is_err(), "{other} gave {refused:?}");
        }
        assert!(execution_arn(MACHINE, "").is_err());
    }

    #[tokio::test]
    async fn a_rollback_starts_a_run_whose_input_is_the_version_and_the_rollback_flag() {
        let start = mock!(aws_sdk_sfn::Client::start_execution)
            .match_requests(|r| {
                let input: serde_json::Value = serde_json::from_str(r.input().unwrap()).unwrap();
                r.state_machine_arn() == Some(MACHINE)
                    && r.name() == Some("rollback-v3-1700000000")
                    && input
                        == serde_json::json!({
                            "modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/stack-models/3",
                            "rollback": true
                        })
            })
            .then_output(|| {
                StartExecutionOutput::builder()
                    .execution_arn("arn:aws:states:eu-west-1:123456789012:execution:pipeline:rollback-v3-1700000000")
                    .start_date(DateTime::from_secs(0))
                    .build()
                    .unwrap()
            });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&start]);
        let arn = start_deploy(
            &sfn,
            MACHINE,
            &version("Approved"),
            true,
            None,
            1_700_000_000,
        )
        .await
        .unwrap();
        assert!(arn.ends_with(":rollback-v3-1700000000"));
        assert_eq!(start.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_promotion_names_production_and_a_stage_rollback_its_stage() {
        for (rollback, stage, name, wanted) in [
            (
                false,
                DeployStage::Production,
                "promote-v3-5",
                serde_json::json!({"modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/stack-models/3", "rollback": false, "stage": "production"}),
            ),
            (
                true,
                DeployStage::Staging,
                "rollback-v3-5",
                serde_json::json!({"modelPackageArn": "arn:aws:sagemaker:eu-west-1:123456789012:model-package/stack-models/3", "rollback": true, "stage": "staging"}),
            ),
        ] {
            let start = mock!(aws_sdk_sfn::Client::start_execution)
                .match_requests(move |r| {
                    let input: serde_json::Value =
                        serde_json::from_str(r.input().unwrap_or("{}")).unwrap();
                    r.name() == Some(name) && input == wanted
                })
                .then_output(|| {
                    StartExecutionOutput::builder()
                        .execution_arn("arn:aws:states:eu-west-1:123456789012:execution:pipeline:x")
                        .start_date(DateTime::from_secs(0))
                        .build()
                        .unwrap()
                });
            let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&start]);
            start_deploy(
                &sfn,
                MACHINE,
                &version("Approved"),
                rollback,
                Some(stage),
                5,
            )
            .await
            .unwrap();
            assert_eq!(start.num_calls(), 1, "{name}");
        }
    }

    #[tokio::test]
    async fn a_version_nobody_approved_is_refused_before_any_run_starts() {
        let start = mock!(aws_sdk_sfn::Client::start_execution).then_output(|| {
            StartExecutionOutput::builder()
                .execution_arn("x")
                .start_date(DateTime::from_secs(0))
                .build()
                .unwrap()
        });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&start]);
        for status in ["PendingManualApproval", "Rejected"] {
            let err = start_deploy(&sfn, MACHINE, &version(status), true, None, 0)
                .await
                .unwrap_err();
            assert!(err.contains(status), "{err}");
        }
        assert_eq!(start.num_calls(), 0);
    }

    #[tokio::test]
    async fn a_failed_run_is_redriven() {
        let describe = mock!(aws_sdk_sfn::Client::describe_execution).then_output(|| {
            execution(
                ExecutionStatus::Failed,
                Some(ExecutionRedriveStatus::Redrivable),
            )
        });
        let redrive_call = mock!(aws_sdk_sfn::Client::redrive_execution)
            .match_requests(|r| {
                r.execution_arn()
                    == Some("arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-1")
            })
            .then_output(|| {
                RedriveExecutionOutput::builder()
                    .redrive_date(DateTime::from_secs(1_700_000_000))
                    .build()
                    .unwrap()
            });
        let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&describe, &redrive_call]);
        let arn = execution_arn(MACHINE, "run-1").unwrap();
        let date = redrive(&sfn, &arn).await.unwrap();
        assert!(date.starts_with("2023-11-14"), "{date}");
        assert_eq!(redrive_call.num_calls(), 1);
    }

    #[tokio::test]
    async fn a_run_that_succeeded_or_cannot_be_redriven_is_left_alone() {
        for (status, redrivable, expect) in [
            (ExecutionStatus::Succeeded, None, "SUCCEEDED"),
            (ExecutionStatus::Running, None, "RUNNING"),
            (
                ExecutionStatus::Failed,
                Some(ExecutionRedriveStatus::NotRedrivable),
                "history event limit",
            ),
        ] {
            let describe = mock!(aws_sdk_sfn::Client::describe_execution)
                .then_output(move || execution(status.clone(), redrivable.clone()));
            let redrive_call = mock!(aws_sdk_sfn::Client::redrive_execution).then_output(|| {
                RedriveExecutionOutput::builder()
                    .redrive_date(DateTime::from_secs(0))
                    .build()
                    .unwrap()
            });
            let sfn = mock_client!(aws_sdk_sfn, RuleMode::MatchAny, [&describe, &redrive_call]);
            let err = redrive(
                &sfn,
                "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-1",
            )
            .await
            .unwrap_err();
            assert!(err.contains(expect), "{err}");
            assert_eq!(redrive_call.num_calls(), 0);
        }
    }
}
