//! The state machine's paths with staging first (`Stages:
//! staging-then-production`), on the same rig as tests/paths.rs: the real
//! definition and binaries, SageMaker played by the test, and staging's
//! answers queued in moto's SageMaker Runtime (each row's first answer is
//! kept, so the load after it gets the same). A binary of its own, so its
//! rigs have regions to themselves: every region moto's CodePipeline has is
//! taken by tests/paths.rs.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

mod common;

use common::*;
use shared::contract::{RequestApprovalInput, RunStatus, Stage};
use testkit::rig::Rig;

/// Staging first (the template's `Stages`), with a short load.
const TWO_STAGES: [(&str, &str); 2] = [
    ("Stages", "staging-then-production"),
    ("StagingRequests", "5"),
];

fn staging_endpoint(rig: &Rig) -> String {
    format!("{}-staging", rig.world.endpoint_name())
}

/// What moto's SageMaker Runtime answers the staging test, in the order it
/// first asks each row: the held-out sample of the run's model-quality
/// report (the batch transform's prediction, or `wrong` for every one) and
/// then the template's published examples. moto keeps each body's first
/// answer, so the load that follows gets the same ones.
async fn queue_staging_answers(rig: &Rig, execution: &str, wrong: Option<&str>) {
    let artifacts = rig.world.name("ArtifactBucket");
    let report = rig
        .s3
        .get_object()
        .bucket(&artifacts)
        .key(format!("transform/{execution}/model-quality.json"))
        .send()
        .await
        .unwrap();
    let bytes = report.body.collect().await.unwrap().into_bytes();
    let quality: shared::report::ModelQuality = serde_json::from_slice(&bytes).unwrap();
    let mut seen = std::collections::BTreeSet::new();
    let mut answers: Vec<String> = Vec::new();
    for row in quality.sample.iter().flat_map(|g| g.rows.iter()) {
        let fields: Vec<&str> = row.split(',').collect();
        let features = fields[1..fields.len() - 1].join(",");
        if seen.insert(features) {
            answers.push(wrong.unwrap_or(fields[fields.len() - 1]).to_owned());
        }
    }
    assert!(answers.len() >= 3, "a sample of every label: {answers:?}");
    answers.extend(["setosa".to_owned(), "virginica".to_owned()]);
    let bodies: Vec<&str> = answers.iter().map(String::as_str).collect();
    rig.world
        .moto
        .queue_endpoint_results_in(&rig.world.region, &bodies)
        .unwrap();
}

/// Pumps the rig until `n` calls came from the state, or to the function, `name`.
async fn until_called(rig: &Rig, what: &str, name: &str, n: usize) {
    rig.pump_until(what, |calls| {
        calls
            .iter()
            .filter(|c| c.state == name || c.function == name)
            .count()
            == n
    })
    .await
    .unwrap();
}

/// The model an endpoint serves, if it exists.
async fn serves(rig: &Rig, endpoint: &str) -> Option<String> {
    let e = rig
        .sagemaker
        .describe_endpoint()
        .endpoint_name(endpoint)
        .send()
        .await
        .ok()?;
    let c = rig
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(e.endpoint_config_name().unwrap_or_default())
        .send()
        .await
        .unwrap();
    c.production_variants()[0].model_name().map(str::to_owned)
}

/// The registry's ModelLifeCycle of the run's version: (stage, status).
async fn life_cycle(rig: &Rig) -> (String, String) {
    let arn = versions(rig).await.pop().unwrap().arn;
    let d = rig
        .sagemaker
        .describe_model_package()
        .model_package_name(&arn)
        .send()
        .await
        .unwrap();
    let l = d.model_life_cycle().expect("the version has a stage");
    (
        l.stage().unwrap_or_default().to_owned(),
        l.stage_status().unwrap_or_default().to_owned(),
    )
}

/// Approves staging, lets test-staging run against the answers queued, and
/// returns once production's approval is asked (its link), or the run's end.
async fn through_staging(
    rig: &Rig,
    execution: &str,
    wrong: Option<&str>,
) -> (String, Option<String>) {
    let (arn, link) = run_to_approval(rig, execution, "0123abc").await;
    let first = approval_request(&rig.calls());
    assert_eq!(
        first.endpoint_name.as_deref(),
        Some(staging_endpoint(rig).as_str()),
        "the first approval is compared with staging's champion"
    );
    assert_eq!(first.deploy_stage, None);
    queue_staging_answers(rig, execution, wrong).await;
    approve(rig, &link);
    if wrong.is_some() {
        return (arn, None);
    }
    until_called(rig, "asked production's approvers", "request-approval", 2).await;
    let link = rig.approval_link().await.unwrap();
    (arn, Some(link))
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn with_two_stages_staging_is_tested_then_production_is_approved_and_both_serve_the_new_model()
 {
    let rig = rig("ap-east-1", &TWO_STAGES).await;
    let execution = "run-two-stages";
    let names = rig.world.run_names(execution);
    let (arn, link) = through_staging(&rig, execution, None).await;
    let link = link.unwrap();
    // Staging serves the version; production does not exist yet.
    assert_eq!(
        serves(&rig, &staging_endpoint(&rig)).await.as_deref(),
        Some(names.model_name.as_str())
    );
    assert_eq!(serves(&rig, &rig.world.endpoint_name()).await, None);
    assert_eq!(
        life_cycle(&rig).await,
        ("staging".to_owned(), "Tested".to_owned())
    );
    // Production's approval carries the staging figures, and its page shows them.
    let calls = rig.calls();
    let second: RequestApprovalInput = serde_json::from_value(
        calls
            .iter()
            .filter(|c| c.function == "request-approval")
            .nth(1)
            .unwrap()
            .payload
            .clone(),
    )
    .unwrap();
    assert_eq!(
        second.deploy_stage,
        Some(shared::contract::DeployStage::Production)
    );
    assert_eq!(
        second.endpoint_name.as_deref(),
        Some(rig.world.endpoint_name().as_str())
    );
    // Early in the run production's approvers get the template's full timeout.
    assert_eq!(second.timeout_seconds, 86_400);
    let figures = second.staging.unwrap();
    assert_eq!(figures.agreed, figures.compared);
    assert!(figures.compared >= 3, "{figures:?}");
    assert_eq!((figures.examples_passed, figures.examples), (2, 2));
    assert_eq!(figures.errors, 0);
    assert_eq!(figures.requests, figures.compared + 2 + 5);
    let report_uri = second.staging_report_uri.unwrap();
    assert_eq!(
        report_uri,
        format!(
            "s3://{}/transform/{execution}/staging-report.json",
            rig.world.name("ArtifactBucket")
        )
    );
    let (status, page) = rig.page(&link);
    assert_eq!(status, 200);
    for needed in [
        "Approve this model for production?",
        "On the staging endpoint",
        "staging-report.json",
    ] {
        assert!(page.contains(needed), "{needed} not on the page");
    }
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    // Both endpoints serve the run's model; the registry says production.
    assert_eq!(
        serves(&rig, &rig.world.endpoint_name()).await.as_deref(),
        Some(names.model_name.as_str())
    );
    assert_eq!(
        serves(&rig, &staging_endpoint(&rig)).await.as_deref(),
        Some(names.model_name.as_str())
    );
    assert_eq!(
        life_cycle(&rig).await,
        ("production".to_owned(), "Approved".to_owned())
    );
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        stages(&calls),
        [
            (Stage::Started, RunStatus::Running),
            (Stage::Trained, RunStatus::Running),
            (Stage::Transformed, RunStatus::Running),
            (Stage::Approved, RunStatus::Running),
            (Stage::Deployed, RunStatus::Running),
            (Stage::StagingTested, RunStatus::Running),
            (Stage::Approved, RunStatus::Running),
            (Stage::Deployed, RunStatus::Succeeded),
        ]
    );
    let stage_of: Vec<Option<shared::contract::DeployStage>> = records(&calls)
        .iter()
        .filter(|r| {
            matches!(
                r.stage,
                Stage::Approved | Stage::Deployed | Stage::StagingTested
            )
        })
        .map(|r| r.details.deploy_stage)
        .collect();
    use shared::contract::DeployStage::{Production, Staging};
    assert_eq!(
        stage_of,
        [
            Some(Staging),
            Some(Staging),
            Some(Staging),
            Some(Production),
            Some(Production)
        ]
    );
    let tested = trail_item(&rig, execution, "stagingTested").await;
    assert_eq!(
        tested.get("stagingReportUri").and_then(|v| v.as_s().ok()),
        Some(&report_uri)
    );
    // One deploy per stage, each to its own endpoint: nothing doubled.
    let deploys: Vec<String> = deploy_inputs(&calls)
        .into_iter()
        .map(|d| d.endpoint_name)
        .collect();
    assert_eq!(deploys, [staging_endpoint(&rig), rig.world.endpoint_name()]);
    // The staging report is beside the model-quality report.
    let (bucket, key) = testkit::sagemaker::s3_parts(&report_uri).unwrap();
    let report = rig
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let report: shared::report::StagingReport =
        serde_json::from_slice(&report.body.collect().await.unwrap().into_bytes()).unwrap();
    assert!(report.passed, "{:?}", report.failures);
    assert_eq!(report.endpoint_name, staging_endpoint(&rig));
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_staging_endpoint_that_disagrees_with_the_batch_stops_the_promotion_and_production_is_untouched()
 {
    let rig = rig("me-south-1", &TWO_STAGES).await;
    let execution = "run-staging-fails";
    let names = rig.world.run_names(execution);
    let (arn, _) = through_staging(&rig, execution, Some("versicolor")).await;
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("StagingTestFailed")),
        "{cause:?}"
    );
    let cause = cause.unwrap_or_default();
    assert!(
        cause.contains("held-out rows disagree with the batch transform")
            && cause.contains("staging-report.json"),
        "{cause}"
    );
    // Production never changed; staging keeps the version it tested.
    assert_eq!(serves(&rig, &rig.world.endpoint_name()).await, None);
    assert_eq!(
        serves(&rig, &staging_endpoint(&rig)).await.as_deref(),
        Some(names.model_name.as_str())
    );
    assert_eq!(
        life_cycle(&rig).await,
        ("staging".to_owned(), "TestFailed".to_owned())
    );
    let calls = rig.calls();
    // Every function took its payload; test-staging's answer is the named failure.
    all_answered(
        &calls
            .iter()
            .filter(|c| c.function != "test-staging")
            .cloned()
            .collect::<Vec<_>>(),
    );
    assert_eq!(
        calls
            .iter()
            .filter(|c| c.function == "request-approval")
            .count(),
        1,
        "production's approvers were never asked"
    );
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Failed, RunStatus::Failed)
    );
    assert_eq!(last.details.error.as_deref(), Some("StagingTestFailed"));
    assert_eq!(
        last.details.deploy_stage,
        Some(shared::contract::DeployStage::Staging)
    );
    assert_eq!(
        emitted(&rig).get(&("test-staging".into(), "StagingTestsFailed".into())),
        Some(&vec![1.0])
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn production_rejected_leaves_staging_on_the_new_model_and_production_as_it_was() {
    let rig = rig("eu-south-1", &TWO_STAGES).await;
    let execution = "run-production-rejected";
    let names = rig.world.run_names(execution);
    let (arn, link) = through_staging(&rig, execution, None).await;
    let (code, page) = rig.decide(
        &link.unwrap(),
        "reject",
        "ana@example.com",
        "p99 is too close to the bound",
    );
    assert_eq!(code, 200, "{page}");
    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ApprovalRejected"))
    );
    assert_eq!(serves(&rig, &rig.world.endpoint_name()).await, None);
    assert_eq!(
        serves(&rig, &staging_endpoint(&rig)).await.as_deref(),
        Some(names.model_name.as_str()),
        "staging keeps the model, so the run's model is kept too"
    );
    assert!(model_exists(&rig, &names).await);
    assert_eq!(
        life_cycle(&rig).await,
        ("production".to_owned(), "Rejected".to_owned())
    );
    // The version stays approved for staging, where it serves.
    assert_eq!(versions(&rig).await.pop().unwrap().status, "Approved");
    let calls = rig.calls();
    all_answered(&calls);
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Rejected, RunStatus::Rejected)
    );
    assert_eq!(
        last.details.deploy_stage,
        Some(shared::contract::DeployStage::Production)
    );
    assert_eq!(
        deploy_inputs(&calls)
            .into_iter()
            .map(|d| d.endpoint_name)
            .collect::<Vec<_>>(),
        [staging_endpoint(&rig)],
        "production was never deployed"
    );
}

/// Interpreter-style faults at every task the second stage adds: each
/// answer is lost once after the work was done (a Lambda's, and
/// UpdateModelPackage's), and the retries still give one staging deploy, one
/// production approval with one email per approver, and one production deploy.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_lost_answer_at_every_new_task_still_gives_one_promotion_one_approval_and_one_deploy_each()
 {
    let rig = rig("eu-west-1", &TWO_STAGES).await;
    let execution = "run-two-stages-faults";
    let names = rig.world.run_names(execution);
    for state in [
        "TestStaging",
        "RecordStagingTested",
        "RequestProductionApproval",
    ] {
        rig.lose_next_answer(state, "Lambda.ServiceException");
    }
    let (arn, link) = through_staging(&rig, execution, None).await;
    // The approver decides once the lost request was retried (the retry
    // moves the approval to its new task token).
    until_called(
        &rig,
        "production's request retried",
        "RequestProductionApproval",
        2,
    )
    .await;
    // Production's approval is asked; the registry's next answer is lost
    // after it marked the version approved for production.
    rig.lose_next_api_answer("sagemaker:UpdateModelPackage")
        .unwrap();
    approve(&rig, &link.unwrap());
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let lost = rig
        .history(&arn)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.task_failed_event_details())
        .filter(|d| {
            d.resource().contains("updateModelPackage")
                && d.error() == Some("SageMaker.InternalFailureException")
        })
        .count();
    assert_eq!(lost, 1, "MarkProductionApproved's lost answer was retried");
    let calls = rig.calls();
    all_answered(&calls);
    for state in [
        "TestStaging",
        "RecordStagingTested",
        "RequestProductionApproval",
    ] {
        assert_eq!(
            calls.iter().filter(|c| c.state == state).count(),
            2,
            "{state}'s lost answer was retried"
        );
    }
    // One email per approval: the retried request found its approval.
    assert_eq!(
        rig.approval_emails().len(),
        2,
        "{:?}",
        rig.approval_emails()
    );
    assert!(rig.approval_link().await.is_err(), "no third email");
    let deploys: Vec<String> = deploy_inputs(&calls)
        .into_iter()
        .map(|d| d.endpoint_name)
        .collect();
    assert_eq!(deploys, [staging_endpoint(&rig), rig.world.endpoint_name()]);
    for endpoint in [staging_endpoint(&rig), rig.world.endpoint_name()] {
        assert_eq!(
            serves(&rig, &endpoint).await.as_deref(),
            Some(names.model_name.as_str())
        );
    }
    assert_eq!(
        life_cycle(&rig).await,
        ("production".to_owned(), "Approved".to_owned())
    );
    // Each stage recorded once in the trail, whatever the retries.
    let tested = run_items(&rig, execution)
        .await
        .into_iter()
        .filter(|i| {
            i.get("stage")
                .and_then(|v| v.as_s().ok())
                .map(String::as_str)
                == Some("stagingTested")
        })
        .count();
    assert_eq!(tested, 1);
}

/// The model each endpoint serves now: (staging's, production's).
async fn both(rig: &Rig) -> (Option<String>, Option<String>) {
    (
        serves(rig, &staging_endpoint(rig)).await,
        serves(rig, &rig.world.endpoint_name()).await,
    )
}

/// The states an execution entered, in order.
async fn entered(rig: &Rig, arn: &str) -> Vec<String> {
    rig.history(arn)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.state_entered_event_details())
        .map(|d| d.name().to_owned())
        .collect()
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_version_that_passed_staging_is_promoted_without_retraining_and_one_that_did_not_is_refused()
 {
    let rig = rig("ap-south-1", &TWO_STAGES).await;
    // Run 1 passes staging; production's approvers say not yet.
    let first = "run-first";
    let (arn, link) = through_staging(&rig, first, None).await;
    rig.decide(&link.unwrap(), "reject", "ana@example.com", "next week");
    assert_eq!(
        rig.finish(&arn).await.unwrap().1.as_deref(),
        Some("ApprovalRejected")
    );
    let version = versions(&rig).await.pop().unwrap().arn;
    let first_model = rig.world.run_names(first).model_name;
    assert_eq!(both(&rig).await, (Some(first_model.clone()), None));

    // mlops promote: no training, no staging deploy, production's approval.
    let promote = "promote-v1";
    let arn = rig
        .start(
            promote,
            &serde_json::json!({"modelPackageArn": version, "stage": "production"}),
        )
        .await
        .unwrap();
    let calls = rig
        .pump_until("asked production's approvers", |calls| {
            calls.iter().any(|c| {
                c.state == "RequestProductionApproval" && c.payload["executionName"] == promote
            })
        })
        .await
        .unwrap();
    let ask: RequestApprovalInput = serde_json::from_value(
        calls
            .iter()
            .rev()
            .find(|c| c.state == "RequestProductionApproval")
            .unwrap()
            .payload
            .clone(),
    )
    .unwrap();
    assert_eq!(
        ask.staging_report_uri.as_deref(),
        Some(
            format!(
                "s3://{}/transform/{first}/staging-report.json",
                rig.world.name("ArtifactBucket")
            )
            .as_str()
        ),
        "the version's own staging report"
    );
    let link = rig.approval_link().await.unwrap();
    let (status, page) = rig.page(&link);
    assert_eq!(status, 200);
    assert!(
        page.contains("On the staging endpoint"),
        "the page reads the staging figures from the report"
    );
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let promoted = rig.world.run_names(promote).model_name;
    assert_eq!(both(&rig).await, (Some(first_model), Some(promoted)));
    let states = entered(&rig, &arn).await;
    for skipped in ["Train", "Transform", "TestStaging", "RequestApproval"] {
        assert!(
            !states.iter().any(|s| s == skipped),
            "{skipped} ran: {states:?}"
        );
    }
    let promotion: Vec<String> = deploy_inputs(&rig.calls())
        .into_iter()
        .filter(|d| d.execution_name == promote)
        .map(|d| d.endpoint_name)
        .collect();
    assert_eq!(promotion, [rig.world.endpoint_name()]);
    assert_eq!(
        life_cycle(&rig).await,
        ("production".to_owned(), "Approved".to_owned())
    );

    // A version whose staging test failed cannot be promoted, whatever its input.
    let failed = "run-failed-staging";
    let (arn, _) = through_staging_again(&rig, failed, "versicolor").await;
    assert_eq!(
        rig.finish(&arn).await.unwrap().1.as_deref(),
        Some("StagingTestFailed")
    );
    let untested = versions(&rig).await.pop().unwrap().arn;
    let arn = rig
        .start(
            "promote-v2",
            &serde_json::json!({"modelPackageArn": untested, "stage": "production"}),
        )
        .await
        .unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("NotTestedInStaging")),
        "{cause:?}"
    );
    assert_eq!(
        serves(&rig, &rig.world.endpoint_name()).await,
        Some(rig.world.run_names(promote).model_name),
        "production still serves the promoted version"
    );
}

/// A later run through staging in the same rig, whose model answers `wrong`
/// for every held-out row. moto keeps each row's first answer (for every
/// endpoint of the region), so the test stack forgets them before this
/// run's are queued.
async fn through_staging_again(rig: &Rig, execution: &str, wrong: &str) -> (String, ()) {
    let (arn, link) = run_to_approval(rig, execution, "0123abc").await;
    rig.world
        .moto
        .control(
            "/moto-api/extension/sagemaker/forget-endpoint-results",
            &serde_json::json!({"region": rig.world.region, "endpoint": staging_endpoint(rig)}),
        )
        .unwrap();
    queue_staging_answers(rig, execution, Some(wrong)).await;
    approve(rig, &link);
    (arn, ())
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_rollback_of_one_stage_leaves_the_other_as_it_is() {
    let rig = rig("me-central-1", &TWO_STAGES).await;
    let mut models = Vec::new();
    for run in ["run-one", "run-two"] {
        let (arn, link) = if models.is_empty() {
            through_staging(&rig, run, None).await
        } else {
            let (arn, link) = run_to_approval(&rig, run, "0123abc").await;
            approve(&rig, &link);
            until_called(
                &rig,
                "asked production's approvers",
                "RequestProductionApproval",
                2,
            )
            .await;
            (arn, Some(rig.approval_link().await.unwrap()))
        };
        approve(&rig, &link.unwrap());
        let (status, error, cause) = rig.finish(&arn).await.unwrap();
        assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
        models.push(rig.world.run_names(run).model_name);
    }
    assert_eq!(
        both(&rig).await,
        (Some(models[1].clone()), Some(models[1].clone()))
    );
    let first = versions(&rig).await[0].arn.clone();
    // mlops rollback 1 --stage production: no approval, production alone.
    let rollback = "rollback-v1-production";
    let arn = rig
        .start(
            rollback,
            &serde_json::json!({"modelPackageArn": first, "rollback": true, "stage": "production"}),
        )
        .await
        .unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    assert_eq!(
        both(&rig).await,
        (
            Some(models[1].clone()),
            Some(rig.world.run_names(rollback).model_name)
        ),
        "staging keeps run two's model"
    );
    let states = entered(&rig, &arn).await;
    for skipped in [
        "RequestApproval",
        "RequestProductionApproval",
        "TestStaging",
    ] {
        assert!(
            !states.iter().any(|s| s == skipped),
            "{skipped}: {states:?}"
        );
    }
    // A training run cannot name a stage to skip staging.
    let mut input = execution_input(&rig, "0123abc").await;
    input["stage"] = serde_json::json!("production");
    let arn = rig.start("run-skips", &input).await.unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("InvalidInput")),
        "{cause:?}"
    );
    assert!(!entered(&rig, &arn).await.iter().any(|s| s == "Train"));
}
