//! The state machine's paths on moto's executing Step Functions
//! (`testkit::rig::Rig`): the real definition with template.yaml's own
//! substitutions and parameter defaults, every Lambda task answered by that
//! function's real binary (as an IAM user holding only its template policy),
//! SageMaker's `.sync` jobs played by the test, approvals decided through
//! handle-approval's real binary, endpoints created and updated in moto's
//! SageMaker (UpdateEndpoint from scripts/moto_ext.py).
//!
//! Each test overrides only what its path is about (a feature, or a timer:
//! the endpoint poll is 1 s here instead of 30) and asserts the final
//! status, the error name, the calls in order, and what AWS holds after.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

mod common;

use common::*;
use serde_json::{Value, json};
use shared::contract::{DeploymentStrategy, RunStatus, Stage};
use testkit::rig::{LambdaCall, Rig, SyncTask};

// ------------------------------------------------------------------ the paths

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_first_run_creates_the_endpoint() {
    let rig = rig("eu-west-1", &[]).await;
    let execution = "run-create";
    let names = rig.world.run_names(execution);
    let (arn, link) = run_to_approval(&rig, execution, "0123abc").await;
    // The template's reminder: an hour before the approval's deadline (a
    // day), its schedule asks record-metadata, which counts it still undecided.
    let asked = shared::clock::epoch_seconds();
    let reminders = rig.fire_reminders().await.unwrap();
    assert_eq!(reminders.len(), 1, "one reminder per approval");
    let (expression, answer) = reminders.into_iter().next().unwrap();
    let when = expression.trim_start_matches("at(").trim_end_matches(')');
    let fires = shared::clock::parse_rfc3339_ms(&format!("{when}Z")).unwrap() / 1000;
    let expected = i64::try_from(asked + 86_400 - 3_600).unwrap();
    assert!((fires - expected).abs() <= 60, "{expression}");
    assert_eq!(answer.output()["recorded"], false);
    approve(&rig, &link);

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    // The training job's whole description reached Train's output, and from
    // KeepTraining on no state carries it: every payload stays small.
    let mut sizes = Vec::new();
    for event in rig.history(&arn).await.unwrap() {
        if let Some(d) = event.state_exited_event_details() {
            sizes.push((d.name().to_owned(), d.output().map_or(0, str::len)));
        }
    }
    let train = sizes.iter().position(|(n, _)| n == "Train").unwrap();
    assert!(sizes[train].1 > 64_000, "{sizes:?}");
    let keep = sizes.iter().position(|(n, _)| n == "KeepTraining").unwrap();
    let largest = sizes[keep..].iter().max_by_key(|(_, len)| *len).unwrap();
    assert!(largest.1 < 16_000, "{largest:?} of {sizes:?}");
    // SageMaker made its job log groups with no retention; the run set the
    // template's SageMakerLogRetentionDays on both.
    let days: u64 = testkit::template::Template::load()
        .unwrap()
        .parameter_defaults()["SageMakerLogRetentionDays"]
        .parse()
        .unwrap();
    assert_eq!(days, 365);
    for group in [
        "/aws/sagemaker/TrainingJobs",
        "/aws/sagemaker/TransformJobs",
    ] {
        assert_eq!(
            rig.sagemaker_log_group(group, false).unwrap(),
            (true, Some(days)),
            "{group}"
        );
    }
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        functions(&calls),
        [
            "record-metadata",
            "snapshot-data",
            "record-metadata",
            "evaluate-model",
            "record-metadata",
            "request-approval",
            "record-metadata",
            "check-endpoint",
            "deploy-endpoint",
            "check-endpoint",
            "record-metadata"
        ]
    );
    assert_eq!(
        stages(&calls),
        [
            (Stage::Started, RunStatus::Running),
            (Stage::Trained, RunStatus::Running),
            (Stage::Transformed, RunStatus::Running),
            (Stage::Approved, RunStatus::Running),
            (Stage::Deployed, RunStatus::Succeeded),
        ]
    );
    let records = records(&calls);
    let approval = records[3].details.approval.as_ref().unwrap();
    assert_eq!(approval.approver.as_deref(), Some("ana@example.com"));
    let deploy = &deploy_inputs(&calls)[0];
    assert_eq!(deploy.model_name, names.model_name);
    assert_eq!(
        deploy.endpoint_name,
        shared::naming::default_endpoint_name(&rig.world.resolver.token()),
        "the template's EndpointName: empty, so named after the stack's token"
    );
    assert!(
        deploy.deployment.is_none(),
        "a new endpoint has no traffic to shift"
    );
    // The endpoint exists in SageMaker, serving this run's model.
    let (config, model, _) = endpoint(&rig).await;
    assert_eq!(model, names.model_name);
    // An instance endpoint's container runs network-isolated.
    assert_eq!(network_isolation(&rig, &model).await, Some(true));
    assert_eq!(
        records[4].details.endpoint_config_name.as_deref(),
        Some(config.as_str())
    );
    // The person's decision is on the version; the audit trail has its ARN.
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.status, "Approved");
    let description = version.description.unwrap_or_default();
    assert!(
        description.contains("ana@example.com") && description.contains("accuracy is fine"),
        "{description}"
    );
    // Registered after the held-out evaluation: every record from then on names it.
    for record in &records[2..] {
        assert_eq!(
            record.details.model_package_arn.as_deref(),
            Some(version.arn.as_str())
        );
    }
    // No function logged the approval id (a bearer capability) or the task token.
    let id = link.rsplit('/').next().unwrap();
    let token = calls
        .iter()
        .find(|c| c.function == "request-approval")
        .and_then(|c| c.payload["taskToken"].as_str().map(str::to_owned))
        .unwrap();
    let logs = rig.logs();
    assert!(
        logs.values().any(|l| l.contains("approval requested")),
        "the logs were read"
    );
    for (function, lines) in &logs {
        assert!(!lines.contains(id), "{function} logged the approval id");
        assert!(!lines.contains(&token), "{function} logged the task token");
    }
    assert!(
        !format!("{:?}", calls.iter().map(|c| &c.answer).collect::<Vec<_>>()).contains(id),
        "no function answered the id (the answer is kept in the execution history)"
    );
    // Every log line is JSON; every line in a pipeline function's invocation
    // carries the execution; handle-approval's carry the approval's hash. The
    // metrics (EMF lines) read back as CloudWatch would take them.
    let hash = shared::ApprovalId::parse(id).unwrap().hash().to_string();
    let metrics = emitted(&rig);
    for (function, text) in &logs {
        for line in text.lines().filter(|l| !l.trim().is_empty()) {
            let doc: Value = serde_json::from_str(line).unwrap_or_else(|e| {
                panic!("{function} wrote a line that is not JSON ({e}): {line}")
            });
            let Some(span) = doc.get("span").filter(|_| doc.get("_aws").is_none()) else {
                continue;
            };
            let spans = doc["spans"].to_string();
            assert!(
                spans.contains("requestId"),
                "{function}: no request id: {line}"
            );
            match function.as_str() {
                "handle-approval" => assert!(
                    span["approval"] == hash.as_str() && span["execution"] == execution,
                    "{function}: {line}"
                ),
                _ => assert_eq!(span["execution"], execution, "{function}: {line}"),
            }
            if line.contains("close to its deadline") {
                assert_eq!(span["approval"], hash.as_str(), "{line}");
            }
        }
    }
    let count = |function: &str, name: &str| {
        metrics
            .get(&(function.to_owned(), name.to_owned()))
            .cloned()
            .unwrap_or_default()
    };
    for (function, name) in [
        ("record-reminder", "ApprovalsNearDeadline"),
        ("record-metadata", "RunsStarted"),
        ("record-metadata", "GatePassed"),
        ("record-metadata", "RunsSucceeded"),
        ("record-metadata", "DeploysSucceeded"),
        ("request-approval", "ApprovalsRequested"),
        ("handle-approval", "ApprovalsApproved"),
    ] {
        assert_eq!(
            count(function, name),
            [1.0],
            "{function} {name}: {metrics:?}"
        );
    }
    let gate = count("record-metadata", "GateValue");
    assert!(
        gate.len() == 1 && gate[0] >= 0.9,
        "the gate's value, once: {gate:?}"
    );
    let waited = count("handle-approval", "TimeToDecide");
    let deploying = count("record-metadata", "DeployDuration");
    assert!(waited.len() == 1 && waited[0] >= 0.0, "{waited:?}");
    assert!(deploying.len() == 1 && deploying[0] >= 0.0, "{deploying:?}");
    assert!(count("record-metadata", "RunsFailed").is_empty());
    // The deployed notice went out.
    let notices = rig
        .world
        .read_inbox(
            &rig.world.notifications_inbox,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        notices
            .iter()
            .any(|n| n["Subject"].as_str().is_some_and(|s| s.contains(execution))),
        "{notices:?}"
    );
}

/// The template's defaults: DeploymentStrategy allAtOnce. An update and a
/// rollback both go through UpdateEndpoint with that policy, and the real
/// deploy-endpoint must accept what the state machine sends.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn with_the_template_defaults_a_later_run_updates_the_endpoint_and_a_rollback_after_more_builds_than_ecr_keeps_puts_the_first_version_back()
 {
    let rig = rig("eu-west-2", &[]).await;
    let mut first = None;
    // The second model is worse on the held-out data (two rows more wrong), though
    // above the gate: its page shows it beside the deployed one, as worse.
    for (execution, commit, wrong) in [("run-first", "1111aaa", 0), ("run-second", "2222bbb", 2)] {
        if wrong > 0 {
            // Fault injection: the update was made, its answer lost; the retry
            // finds the endpoint on its way to the new config. The superseded
            // config's deletion too: its retry finds it gone.
            rig.lose_next_answer("UpdateEndpoint", "Lambda.ServiceException");
            rig.lose_next_api_answer("sagemaker:DeleteEndpointConfig")
                .unwrap();
        }
        let (arn, link) = run_to_approval_with(&rig, execution, commit, wrong).await;
        let (code, page) = rig.page(&link);
        assert_eq!(code, 200, "{page}");
        if wrong == 0 {
            assert!(page.contains("Nothing is deployed yet"), "{page}");
        } else {
            assert!(
                page.contains("run-first") && page.contains("-0.0667 (worse)"),
                "{page}"
            );
            let emails = rig.approval_emails();
            let body = emails
                .iter()
                .find(|m| m.contains("run-second"))
                .cloned()
                .unwrap_or_default();
            assert!(body.contains("(deployed now: 1, -0.0667)"), "{body}");
        }
        approve(&rig, &link);
        let (status, error, cause) = rig.finish(&arn).await.unwrap();
        assert_eq!(
            (status.as_str(), error),
            ("SUCCEEDED", None),
            "{execution}: {cause:?}"
        );
        if wrong > 0 {
            assert_eq!(
                lost_and_retried(&rig, &arn, "deleteEndpointConfig").await,
                1
            );
        }
        first.get_or_insert(endpoint(&rig).await);
    }
    // The update superseded the first run's config and model: both are gone;
    // the endpoint's own remain.
    let (first_config, first_model, _) = first.unwrap();
    let (config_now, model_now, _) = endpoint(&rig).await;
    assert_ne!(first_config, config_now);
    let config_exists = |name: String| {
        let sm = rig.sagemaker.clone();
        async move {
            sm.describe_endpoint_config()
                .endpoint_config_name(name)
                .send()
                .await
                .is_ok()
        }
    };
    let model_named = |name: String| {
        let sm = rig.sagemaker.clone();
        async move { sm.describe_model().model_name(name).send().await.is_ok() }
    };
    assert!(
        !config_exists(first_config).await,
        "the superseded config is deleted"
    );
    assert!(
        !model_named(first_model).await,
        "the superseded model is deleted"
    );
    assert!(config_exists(config_now).await && model_named(model_now).await);
    let calls = rig.calls();
    all_answered(&calls);
    let second = of(&calls, "run-second");
    assert_eq!(
        second
            .iter()
            .filter(|c| c.state == "UpdateEndpoint")
            .count(),
        2,
        "the update's lost answer was retried"
    );
    let update = deploy_inputs(&second).pop().unwrap();
    let policy = update
        .deployment
        .expect("an update carries the deployment policy");
    assert_eq!(
        policy.strategy,
        DeploymentStrategy::AllAtOnce,
        "the template's default"
    );
    assert_eq!(
        policy.traffic_percent, None,
        "all at once shifts no percentage"
    );
    assert_eq!(
        policy.rollback_alarm_names,
        [rig.world.name("EndpointErrorsAlarm")]
    );
    let (_, model, deployment) = endpoint(&rig).await;
    assert_eq!(model, rig.world.run_names("run-second").model_name);
    let deployment = deployment.expect("UpdateEndpoint was given the guardrails");
    assert!(deployment.contains("AllAtOnce"), "{deployment}");

    // Each version names its image by digest, tagged approved-<version> on approval.
    let all = versions(&rig).await;
    assert_eq!(all.len(), 2);
    let repository = rig.world.attribute("ModelRepository", "RepositoryUri");
    let ecr = aws_sdk_ecr::Client::new(&rig.world.sdk);
    for v in &all {
        let image = &v.metadata["imageUri"];
        let digest = image
            .strip_prefix(&format!("{repository}@"))
            .unwrap_or_else(|| panic!("{} names its image by tag: {image}", v.arn));
        let described = ecr
            .describe_images()
            .repository_name(rig.world.name("ModelRepository"))
            .image_ids(
                aws_sdk_ecr::types::ImageIdentifier::builder()
                    .image_digest(digest)
                    .build(),
            )
            .send()
            .await
            .unwrap();
        let version = v.arn.rsplit('/').next().unwrap_or_default();
        let tags: Vec<&str> = described
            .image_details()
            .iter()
            .flat_map(|d| d.image_tags())
            .map(String::as_str)
            .collect();
        assert!(
            tags.contains(&format!("approved-{version}").as_str()),
            "{image} is tagged {tags:?}, not approved-{version}"
        );
    }
    // More builds than the lifecycle keeps (30), none approved: the policy
    // expires the oldest unapproved ones and neither approved image.
    for n in 0..31 {
        rig.world.push_image(&format!("later{n:02}")).await.unwrap();
    }
    let expired = rig.world.expire_images().unwrap();
    assert_eq!(
        expired.len(),
        1,
        "33 images, 2 approved, 30 kept: {expired:?}"
    );
    for v in &all {
        assert!(
            !expired
                .iter()
                .any(|d| v.metadata["imageUri"].ends_with(d.as_str())),
            "the lifecycle expired an approved image"
        );
    }

    // Roll back to the first run's version: no new approval, the endpoint serves it again.
    let first = all
        .iter()
        .find(|v| v.metadata.get("executionName").map(String::as_str) == Some("run-first"))
        .unwrap();
    let arn = rig
        .start(
            "run-rollback",
            &json!({"modelPackageArn": first.arn, "rollback": true}),
        )
        .await
        .unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let rollback = of(&rig.calls(), "run-rollback");
    all_answered(&rollback);
    assert!(
        !functions(&rollback).contains(&"request-approval"),
        "a rollback is not asked again"
    );
    let approved = records(&rollback)
        .into_iter()
        .find(|r| r.stage == Stage::Approved)
        .expect("the rollback's approval is recorded");
    assert_eq!(
        approved.details.approval.unwrap().approver.as_deref(),
        Some("rollback")
    );
    let redeploy = deploy_inputs(&rollback).pop().unwrap();
    assert_eq!(
        redeploy.deployment.unwrap().strategy,
        DeploymentStrategy::AllAtOnce
    );
    let (_, model, _) = endpoint(&rig).await;
    let served = rig
        .sagemaker
        .describe_model()
        .model_name(&model)
        .send()
        .await
        .unwrap();
    assert_eq!(
        served
            .primary_container()
            .and_then(|c| c.model_package_name()),
        Some(first.arn.as_str()),
        "the endpoint serves the first version again"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_canary_update_carries_the_traffic_percent_and_the_rollback_alarm_and_autoscaling_is_set_again_after_it()
 {
    // Two instances: the template's rules refuse a canary on one. Autoscaling
    // up to four.
    let rig = rig(
        "eu-south-1",
        &[
            ("DeploymentStrategy", "canary"),
            ("EndpointInstanceCount", "2"),
            ("EndpointMaxInstances", "4"),
        ],
    )
    .await;
    let mut states = Vec::new();
    for (execution, commit) in [("run-one", "1111aaa"), ("run-two", "2222bbb")] {
        // Fault injection: each call made, its answer lost; the retry must end
        // where one call would have.
        let lost = if execution == "run-one" {
            "application-autoscaling:RegisterScalableTarget"
        } else {
            "application-autoscaling:DeregisterScalableTarget"
        };
        rig.lose_next_api_answer(lost).unwrap();
        let (arn, link) = run_to_approval(&rig, execution, commit).await;
        approve(&rig, &link);
        let (status, error, cause) = rig.finish(&arn).await.unwrap();
        assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
        let entered = entered_states(&rig, &arn).await;
        states.push(entered);
        let verb = lost.rsplit(':').next().unwrap();
        let verb = format!("{}{}", verb[..1].to_lowercase(), &verb[1..]);
        assert_eq!(lost_and_retried(&rig, &arn, &verb).await, 1, "{lost}");
    }
    // The create registers the variant once it is InService; the update
    // deregisters it first (SageMaker refuses an update that changes a scaled
    // variant's instance type) and registers it again after.
    // Each name entered, in this order (a state entered twice counts its first time).
    let in_order = |run: &[String], names: &[&str]| {
        let at: Vec<Option<usize>> = names
            .iter()
            .map(|n| run.iter().position(|s| s == n))
            .collect();
        assert!(
            at.iter().all(Option::is_some) && at.windows(2).all(|w| w[0] < w[1]),
            "{names:?} in {run:?}"
        );
    };
    in_order(
        &states[0],
        &[
            "CreateEndpoint",
            "RegisterScaling",
            "TrackInvocations",
            "RecordDeployed",
        ],
    );
    assert!(!states[0].iter().any(|s| s == "StopScaling"));
    in_order(
        &states[1],
        &[
            "StopScaling",
            "UpdateEndpoint",
            "RegisterScaling",
            "TrackInvocations",
            "RecordDeployed",
        ],
    );
    let targets = rig
        .world
        .moto
        .control_answer(
            "/moto-api/extension/autoscaling/targets",
            &json!({"region": rig.world.region}),
        )
        .unwrap();
    let endpoint_name = rig.world.endpoint_name();
    assert_eq!(
        targets["targets"],
        json!([{
            "resourceId": format!("endpoint/{endpoint_name}/variant/AllTraffic"),
            "dimension": "sagemaker:variant:DesiredInstanceCount",
            "min": 2, "max": 4,
            "policies": [{
                "name": "invocations-per-instance",
                "type": "TargetTrackingScaling",
                "configuration": {
                    "TargetValue": 100,
                    "PredefinedMetricSpecification": {"PredefinedMetricType": "SageMakerVariantInvocationsPerInstance"},
                    "ScaleInCooldown": 300,
                    "ScaleOutCooldown": 60
                }
            }]
        }]),
        "the template's ScalingInvocationsPerInstance, between the instance count and the maximum"
    );
    let calls = rig.calls();
    all_answered(&calls);
    let policy = deploy_inputs(&of(&calls, "run-two"))
        .pop()
        .unwrap()
        .deployment
        .unwrap();
    assert_eq!(policy.strategy, DeploymentStrategy::Canary);
    assert_eq!(
        policy.traffic_percent,
        Some(10),
        "the template's DeploymentTrafficPercent"
    );
    let (_, _, deployment) = endpoint(&rig).await;
    let deployment = deployment.unwrap();
    assert!(
        deployment.contains("Canary") && deployment.contains("10"),
        "{deployment}"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_model_below_the_threshold_stops_at_the_quality_gate() {
    let rig = rig("eu-west-3", &[]).await;
    let execution = "run-gate";
    let names = rig.world.run_names(execution);
    let arn = rig
        .start(execution, &execution_input(&rig, "0123abc").await)
        .await
        .unwrap();
    // The training job's own figure looks fine; the held-out data says otherwise.
    train_and_transform(&rig, &names, execution, 15).await;

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("QualityGateFailed"))
    );
    let cause = cause.unwrap();
    assert!(
        cause.contains("accuracy = 0.5 on the held-out data is below the threshold 0.9"),
        "{cause}"
    );
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        functions(&calls),
        [
            "record-metadata",
            "snapshot-data",
            "record-metadata",
            "evaluate-model",
            "record-metadata",
            "record-metadata"
        ]
    );
    // The trail has the held-out reading before the gate decides on it, and the report.
    let transformed = &records(&calls)[2];
    assert_eq!(transformed.stage, Stage::Transformed);
    let gate = transformed.details.gate.as_ref().unwrap();
    assert_eq!(
        (
            gate.metric_name.as_str(),
            gate.value,
            gate.threshold,
            gate.passed()
        ),
        ("accuracy", 0.5, 0.9, false)
    );
    let report_uri = transformed.details.model_quality_uri.clone().unwrap();
    let metrics = emitted(&rig);
    assert_eq!(
        metrics.get(&("record-metadata".into(), "GateValue".into())),
        Some(&vec![0.5])
    );
    assert_eq!(
        metrics.get(&("record-metadata".into(), "GatePassed".into())),
        Some(&vec![0.0])
    );
    assert_eq!(
        metrics.get(&("record-metadata".into(), "RunsFailed".into())),
        None,
        "a gate is not a failure to act on"
    );
    // The report is in S3, with the confusion matrix of what the model predicted.
    let (bucket, key) = shared::contract::parse_s3_uri(&report_uri).unwrap();
    let report = rig
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap();
    let report: Value =
        serde_json::from_slice(&report.body.collect().await.unwrap().into_bytes()).unwrap();
    assert_eq!(report["dataset"]["item_count"], 30);
    assert_eq!(
        report["multiclass_classification_metrics"]["accuracy"]["value"],
        0.5
    );
    // The registered version points at it, and the registry rejected it with the reason.
    let version = versions(&rig).await.pop().unwrap();
    let described = rig
        .sagemaker
        .describe_model_package()
        .model_package_name(&version.arn)
        .send()
        .await
        .unwrap();
    let statistics = described
        .model_metrics()
        .and_then(|m| m.model_quality())
        .and_then(|q| q.statistics())
        .and_then(|s| s.s3_uri());
    assert_eq!(statistics, Some(report_uri.as_str()));
    let failed = &records(&calls)[3];
    assert_eq!(
        (failed.stage, failed.status),
        (Stage::Failed, RunStatus::Failed)
    );
    assert_eq!(failed.details.error.as_deref(), Some("QualityGateFailed"));
    assert_eq!(version.status, "Rejected");
    let reason = version.description.unwrap();
    assert!(reason.starts_with("QualityGateFailed: "), "{reason}");
    // A decided end is recorded by the definition; the status-change event adds nothing.
    let delivered = rig.deliver_run_end(&arn).await.unwrap().unwrap().output();
    assert_eq!(delivered["recorded"], false, "{delivered}");
    let failed: Vec<_> = trail(&rig, "run-gate")
        .await
        .into_iter()
        .filter(|t| t.0 == "failed")
        .collect();
    assert_eq!(failed.len(), 1, "{failed:?}");
}

/// A job that fails or overruns is not caught: the Train state is the
/// execution's failure point, so a redrive (which moto lacks) runs Train
/// again. EventBridge's status-change event (delivered by the rig as the
/// template's rule would) records the failure with a named error and notifies.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_training_job_that_overruns_fails_the_run_at_train_so_a_redrive_reruns_it() {
    let rig = rig("eu-central-1", &[("TrainingMaxSeconds", "1")]).await;
    let execution = "run-train-fails";
    let names = rig.world.run_names(execution);
    let arn = rig
        .start(execution, &execution_input(&rig, "0123abc").await)
        .await
        .unwrap();
    let train = rig.next_sync("Train").await.unwrap();
    assert_eq!(train.request["StoppingCondition"]["MaxRuntimeInSeconds"], 1);
    // SageMaker never reports back.
    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("States.Timeout"))
    );
    // The failure point is the Train task itself: its timeout is the history's
    // last task event, straight before the execution failed (no Catch, no Fail state).
    let history = rig.history(&arn).await.unwrap();
    let last_entered = history
        .iter()
        .rev()
        .find_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()));
    assert_eq!(
        last_entered.as_deref(),
        Some("Train"),
        "redrive resumes at Train"
    );
    let kinds: Vec<String> = history
        .iter()
        .map(|e| e.r#type().as_str().to_owned())
        .collect();
    assert_eq!(
        kinds.last().map(String::as_str),
        Some("ExecutionFailed"),
        "{kinds:?}"
    );
    assert!(!kinds.iter().any(|k| k == "FailStateEntered"), "{kinds:?}");
    // Recorded once, with the named error and how to resume; nothing else ran.
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        functions(&calls),
        ["record-metadata", "snapshot-data"],
        "only the start and the data's snapshot, from the definition"
    );
    let delivered = rig.deliver_run_end(&arn).await.unwrap().unwrap().output();
    assert_eq!(
        (delivered["recorded"].clone(), delivered["notified"].clone()),
        (json!(true), json!(true))
    );
    let trail = trail(&rig, execution).await;
    let (stage, status, error, cause) = trail.last().unwrap().clone();
    assert_eq!(
        (stage.as_str(), status.as_str(), error.as_str()),
        ("failed", "failed", "TrainingFailed")
    );
    assert!(
        cause.contains("at state Train") && cause.contains("mlops runs redrive"),
        "{cause}"
    );
    assert!(!model_exists(&rig, &names).await);
    let notices = rig
        .world
        .read_inbox(
            &rig.world.notifications_inbox,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
}

/// Fault injection on the SageMaker tasks' first attempts, as a create whose
/// answer was lost leaves them: the job or model exists, the state is retried.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn jobs_and_a_model_whose_create_answers_were_lost_are_retried_without_colliding_and_the_run_deploys_once()
 {
    let rig = rig("ap-southeast-3", &[]).await;
    let execution = "run-lost-answers";
    let names = rig.world.run_names(execution);
    let artifacts = rig.world.name("ArtifactBucket");
    let arn = rig
        .start(execution, &execution_input(&rig, "0123abc").await)
        .await
        .unwrap();
    // Training: created, then the first poll failed. The retry may not reuse
    // the name (SageMaker keeps it for good: "job name must be unique").
    let (_, retried) =
        first_poll_lost(&rig, "Train", "TrainingJobName", &names.training_job_name).await;
    let job = format!("{}-0-1", names.training_job_name);
    let model_data = format!("s3://{artifacts}/models/{job}/output/model.tar.gz");
    let mut trained = training_output(&rig, &names, 0.97);
    trained["TrainingJobName"] = json!(job);
    trained["TrainingJobArn"] = json!(format!(
        "arn:aws:sagemaker:{}:123456789012:training-job/{job}",
        rig.world.region
    ));
    trained["ModelArtifacts"]["S3ModelArtifacts"] = json!(model_data);
    rig.complete(&retried, &trained).await.unwrap();

    // CreateModel: the first call made the model and its answer was lost. The
    // model is made here, as that call would have, before the state runs.
    rig.sagemaker
        .create_model()
        .model_name(&names.model_name)
        .execution_role_arn(rig.world.attribute("SageMakerRole", "Arn"))
        .primary_container(
            aws_sdk_sagemaker::types::ContainerDefinition::builder()
                .image(
                    retried.request["AlgorithmSpecification"]["TrainingImage"]
                        .as_str()
                        .unwrap(),
                )
                .model_data_url(&model_data)
                .build(),
        )
        .send()
        .await
        .unwrap();

    // The batch transform: the same lost answer, the same fresh name.
    let (first, retried) = first_poll_lost(
        &rig,
        "Transform",
        "TransformJobName",
        &names.transform_job_name,
    )
    .await;
    assert_eq!(first.request["ModelName"], names.model_name.as_str());
    let job = format!("{}-0-1", names.transform_job_name);
    let mut transformed = transform_output(&rig, &names, execution, 0).await;
    transformed["TransformJobName"] = json!(job);
    rig.complete(&retried, &transformed).await.unwrap();

    rig.pump_until("asked for approval", |calls| {
        calls.iter().any(|c| c.function == "request-approval")
    })
    .await
    .unwrap();
    approve(&rig, &rig.approval_link().await.unwrap());
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");

    // CreateModel did meet its own model (AWS's answer, which the test stack
    // gives too): on the first try and the generic retrier's two, which cannot
    // tell it from any other ValidationException; then it went on.
    let history = rig.history(&arn).await.unwrap();
    let refused: Vec<String> = history
        .iter()
        .filter_map(|e| e.task_failed_event_details())
        .filter_map(|d| d.cause().map(str::to_owned))
        .filter(|c| c.contains("Cannot create already existing model"))
        .collect();
    assert_eq!(refused.len(), 3, "{refused:?}");
    // One of everything: one approval, one deploy, the run's model in service,
    // and no failure recorded on the way.
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        stages(&calls),
        [
            (Stage::Started, RunStatus::Running),
            (Stage::Trained, RunStatus::Running),
            (Stage::Transformed, RunStatus::Running),
            (Stage::Approved, RunStatus::Running),
            (Stage::Deployed, RunStatus::Succeeded),
        ]
    );
    assert_eq!(rig.approval_emails().len(), 1);
    assert_eq!(deploy_inputs(&calls).len(), 1);
    let (_, model, _) = endpoint(&rig).await;
    assert_eq!(model, names.model_name);
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.status, "Approved");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_rejection_on_the_page_ends_the_run_without_touching_the_endpoint() {
    let rig = rig("ap-southeast-1", &[]).await;
    let execution = "run-rejected";
    let (arn, link) = run_to_approval(&rig, execution, "0123abc").await;
    // RejectPackage's first answer is lost after the version was marked, and
    // RecordFailure's after it recorded the rejection.
    rig.lose_next_api_answer("sagemaker:UpdateModelPackage")
        .unwrap();
    rig.lose_next_answer("RecordFailure", "Lambda.ServiceException");
    let (code, page) = rig.decide(
        &link,
        "reject",
        "ana@example.com",
        "precision on versicolor is too low",
    );
    assert_eq!(code, 200, "{page}");
    // A decided approval's reminder counts nothing.
    let reminders = rig.fire_reminders().await.unwrap();
    assert_eq!(reminders.len(), 1);
    let metrics = emitted(&rig);
    assert!(
        !metrics
            .keys()
            .any(|(_, name)| name == "ApprovalsNearDeadline"),
        "{metrics:?}"
    );
    assert_eq!(
        metrics.get(&("handle-approval".into(), "ApprovalsRejected".into())),
        Some(&vec![1.0])
    );

    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ApprovalRejected"))
    );
    assert_eq!(lost_and_retried(&rig, &arn, "updateModelPackage").await, 1);
    // Nothing will serve the rejected run's model: it is deleted (its
    // registry version, Rejected, keeps the image and the archive).
    assert!(!model_exists(&rig, &rig.world.run_names(execution)).await);
    // Its archive is tagged for the bucket's expire-rejected-models rule.
    assert_eq!(
        archive_tags(&rig, execution).await,
        [("mlops-status".to_owned(), "rejected".to_owned())]
    );
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        calls.iter().filter(|c| c.state == "RecordFailure").count(),
        2,
        "RecordFailure's lost answer was retried"
    );
    let rejected = trail(&rig, execution)
        .await
        .iter()
        .filter(|(stage, ..)| stage == "rejected")
        .count();
    assert_eq!(rejected, 1, "recorded once");
    assert!(!functions(&calls).contains(&"check-endpoint"));
    assert!(!functions(&calls).contains(&"deploy-endpoint"));
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Rejected, RunStatus::Rejected)
    );
    assert_eq!(last.details.error.as_deref(), Some("ApprovalRejected"));
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.status, "Rejected");
    assert!(version.description.unwrap().starts_with("ApprovalRejected"));
    let missing = rig
        .sagemaker
        .describe_endpoint()
        .endpoint_name(rig.world.endpoint_name())
        .send()
        .await;
    assert!(missing.is_err(), "no endpoint was made");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_approval_nobody_answers_times_out_as_a_rejection_with_its_own_notice() {
    let rig = rig("ap-northeast-1", &[("ApprovalTimeoutSeconds", "2")]).await;
    let execution = "run-timeout";
    let (arn, _link) = run_to_approval(&rig, execution, "0123abc").await;

    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ApprovalTimedOut"))
    );
    let calls = rig.calls();
    all_answered(&calls);
    let ask = approval_request(&calls);
    assert_eq!(
        ask.timeout_seconds, 2,
        "the approval expires with the state's timeout"
    );
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Failed, RunStatus::TimedOut)
    );
    assert!(!functions(&calls).contains(&"deploy-endpoint"));
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.status, "Rejected");
    assert_eq!(
        version.description.as_deref(),
        Some("ApprovalTimedOut: no decision within 2 seconds")
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_endpoint_that_fails_to_come_up_fails_the_run_with_sagemakers_reason() {
    let rig = rig("sa-east-1", &[]).await;
    let execution = "run-endpoint-fails";
    let arn = run_to_deploy(&rig, execution).await;
    // SageMaker gives up on the new endpoint.
    let reason = "The primary container for production variant AllTraffic did not pass the ping health check.";
    rig.set_endpoint_status(&rig.world.endpoint_name(), "Failed", Some(reason))
        .unwrap();

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("EndpointFailed"))
    );
    assert!(
        cause
            .unwrap()
            .contains("did not pass the ping health check")
    );
    let calls = rig.calls();
    all_answered(&calls);
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Failed, RunStatus::Failed)
    );
    assert_eq!(
        functions(&calls)
            .iter()
            .filter(|f| **f == "check-endpoint")
            .count(),
        2,
        "one check to choose create or update, one poll that saw Failed"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_endpoint_still_updating_is_waited_for_and_its_busy_answers_are_counted_for_the_alarm_to_leave_out()
 {
    use aws_sdk_sagemaker::types::{ContainerDefinition, ProductionVariant};
    let rig = rig("eu-south-2", &[]).await;
    let execution = "run-endpoint-busy";
    let names = rig.world.run_names(execution);
    // Someone's update of the endpoint is still in progress when this run deploys.
    rig.sagemaker
        .create_model()
        .model_name("model-by-hand")
        .execution_role_arn(rig.world.attribute("SageMakerRole", "Arn"))
        .primary_container(ContainerDefinition::builder().image("by-hand").build())
        .send()
        .await
        .unwrap();
    rig.sagemaker
        .create_endpoint_config()
        .endpoint_config_name("config-by-hand")
        .production_variants(
            ProductionVariant::builder()
                .variant_name("AllTraffic")
                .model_name("model-by-hand")
                .initial_instance_count(1)
                .instance_type(aws_sdk_sagemaker::types::ProductionVariantInstanceType::MlM5Large)
                .build(),
        )
        .send()
        .await
        .unwrap();
    rig.sagemaker
        .create_endpoint()
        .endpoint_name(rig.world.endpoint_name())
        .endpoint_config_name("config-by-hand")
        .send()
        .await
        .unwrap();
    rig.set_endpoint_status(&rig.world.endpoint_name(), "Updating", None)
        .unwrap();

    let (arn, link) = run_to_approval(&rig, execution, "0123abc").await;
    approve(&rig, &link);
    let busy_answer = |c: &LambdaCall| {
        c.function == "deploy-endpoint"
            && matches!(&c.answer, testkit::Invocation::Err { error_type, .. } if error_type == "EndpointBusy")
    };
    rig.pump_until("told the endpoint is busy", |calls| {
        calls.iter().any(busy_answer)
    })
    .await
    .unwrap();
    rig.set_endpoint_status(&rig.world.endpoint_name(), "InService", None)
        .unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");

    let calls = rig.calls();
    let busy = calls.iter().filter(|c| busy_answer(c)).count();
    assert!(busy >= 1);
    // Each busy answer is counted once, by the function that gave it.
    let counted = emitted(&rig)
        .remove(&("deploy-endpoint".to_owned(), "EndpointBusy".to_owned()))
        .unwrap_or_default();
    assert_eq!(counted, vec![1.0; busy]);
    // And the update went through once the endpoint was free.
    let (_, model, _) = endpoint(&rig).await;
    assert_eq!(model, names.model_name);
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_endpoint_that_never_reaches_in_service_fails_after_the_last_poll() {
    let rig = rig("ca-central-1", &[("EndpointMaxPolls", "3")]).await;
    let execution = "run-endpoint-slow";
    let arn = run_to_deploy(&rig, execution).await;
    rig.set_endpoint_status(&rig.world.endpoint_name(), "Creating", None)
        .unwrap();

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("EndpointFailed"))
    );
    assert!(cause.unwrap().contains("not InService after 3 checks"));
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        functions(&calls)
            .iter()
            .filter(|f| **f == "check-endpoint")
            .count(),
        4
    );
}

// ------------------------------------------------------------------ model lifecycle

/// A `.sync` job that was created and whose first poll failed (its answer
/// lost): the first attempt was named `<base>-0-0`, which SageMaker keeps for
/// good, so the retry must take `<base>-0-1`. Answers (first, retried).
async fn first_poll_lost(
    rig: &Rig,
    state: &str,
    name_field: &str,
    base: &str,
) -> (SyncTask, SyncTask) {
    let first = rig.next_sync(state).await.unwrap();
    assert_eq!(first.request[name_field], format!("{base}-0-0"), "{state}");
    rig.fail(
        &first,
        "SageMaker.AmazonSageMakerException",
        "Rate exceeded (Service: AmazonSageMaker; Status Code: 400; Error Code: ThrottlingException)",
    )
    .await
    .unwrap();
    let retried = rig.next_sync(state).await.unwrap();
    assert_eq!(
        retried.request[name_field],
        format!("{base}-0-1"),
        "{state}: the retry takes a fresh name"
    );
    (first, retried)
}

/// A version in the registry as the pipeline registers one, with `status`.
async fn registered_version(rig: &Rig, status: &str) -> String {
    use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelPackageContainerDefinition};
    let (data, artifacts) = (
        rig.world.name("DataBucket"),
        rig.world.name("ArtifactBucket"),
    );
    let metadata = [
        ("commitId", "0ld0c0m".to_owned()),
        (
            "imageUri",
            "123456789012.dkr.ecr.eu-west-1.amazonaws.com/iris-model:0ld0c0m".to_owned(),
        ),
        (
            "trainingDataUri",
            format!("s3://{data}/training/iris-old.csv"),
        ),
        ("testDataUri", format!("s3://{data}/test/")),
        ("dataVersionId", "null".to_owned()),
        ("executionName", "run-old".to_owned()),
        (
            "executionArn",
            "arn:aws:states:eu-west-1:123456789012:execution:pipeline:run-old".to_owned(),
        ),
        ("trainingJobName", "train-run-old-0".to_owned()),
        ("metricName", "validation:accuracy".to_owned()),
        ("metricValue", "0.96".to_owned()),
        (
            "transformOutputUri",
            format!("s3://{artifacts}/transform/run-old/"),
        ),
    ];
    let spec = aws_sdk_sagemaker::types::InferenceSpecification::builder()
        .containers(
            ModelPackageContainerDefinition::builder()
                .image(&metadata[1].1)
                .model_data_url(format!(
                    "s3://{artifacts}/models/train-run-old-0/output/model.tar.gz"
                ))
                .build(),
        )
        .supported_content_types("text/csv")
        .supported_response_mime_types("text/csv")
        .build();
    // The archive its training wrote, and the S3 version the run recorded.
    let written = rig
        .s3
        .put_object()
        .bucket(&artifacts)
        .key("models/train-run-old-0/output/model.tar.gz")
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"the old run's model",
        ))
        .send()
        .await
        .unwrap();
    let mut metadata = metadata.to_vec();
    metadata.push((
        "modelArtifactVersionId",
        written.version_id().unwrap_or_default().to_owned(),
    ));
    let mut create = rig
        .sagemaker
        .create_model_package()
        .model_package_group_name(rig.world.name("ModelPackageGroup"))
        .model_package_description("validation:accuracy = 0.96 (commit 0ld0c0m, execution run-old)")
        .inference_specification(spec)
        .model_approval_status(ModelApprovalStatus::from(status));
    for (k, v) in &metadata {
        create = create.customer_metadata_properties(*k, v);
    }
    let arn = create.send().await.unwrap().model_package_arn.unwrap();
    if status == "Approved" {
        rig.sagemaker
            .update_model_package()
            .model_package_arn(&arn)
            .model_approval_status(ModelApprovalStatus::Approved)
            .approval_description("approved by ana@example.com: good enough")
            .set_customer_metadata_properties(Some(
                metadata
                    .iter()
                    .map(|(k, v)| ((*k).to_owned(), v.clone()))
                    .collect(),
            ))
            .send()
            .await
            .unwrap();
    }
    arn
}

/// No `.sync` task (training, tuning, processing, transform) was started.
/// How many of `resource`'s calls (an AWS SDK task's action) failed with the
/// lost answer the test stack injected, and were retried.
/// The states an execution entered, in order.
async fn entered_states(rig: &Rig, arn: &str) -> Vec<String> {
    rig.history(arn)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.state_entered_event_details().map(|d| d.name().to_owned()))
        .collect()
}

/// The tags of the run's model archive (its current S3 version).
async fn archive_tags(rig: &Rig, execution: &str) -> Vec<(String, String)> {
    let names = rig.world.run_names(execution);
    aws_sdk_s3::Client::new(&rig.world.sdk)
        .get_object_tagging()
        .bucket(rig.world.name("ArtifactBucket"))
        .key(format!(
            "models/{}-0-0/output/model.tar.gz",
            names.training_job_name
        ))
        .send()
        .await
        .unwrap()
        .tag_set()
        .iter()
        .map(|t| (t.key().to_owned(), t.value().to_owned()))
        .collect()
}

async fn lost_and_retried(rig: &Rig, arn: &str, resource: &str) -> usize {
    rig.history(arn)
        .await
        .unwrap()
        .iter()
        .filter_map(|e| e.task_failed_event_details())
        .filter(|d| {
            d.resource().contains(resource)
                && matches!(
                    d.error(),
                    Some(
                        "SageMaker.InternalFailureException"
                            | "ApplicationAutoScaling.InternalServiceException"
                    )
                )
        })
        .count()
}

async fn no_jobs(rig: &Rig, arn: &str) {
    let entered = entered_states(rig, arn).await;
    assert!(
        entered.iter().any(|s| s == "CreateModelFromPackage"),
        "{entered:?}"
    );
    for state in ["Process", "Train", "Tune", "Transform"] {
        assert!(
            !entered.iter().any(|s| s == state),
            "{state} ran in a deploy-only run: {entered:?}"
        );
    }
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_deploy_only_run_puts_an_approved_version_in_service_after_a_new_approval() {
    let rig = rig("us-west-1", &[]).await;
    let version = registered_version(&rig, "Approved").await;
    rig.lose_next_api_answer("sagemaker:DescribeModelPackage")
        .unwrap();
    let execution = "run-deploy-only";
    let names = rig.world.run_names(execution);
    let arn = rig
        .start(execution, &json!({"modelPackageArn": version}))
        .await
        .unwrap();
    let calls = rig
        .pump_until("asked for approval", |c| {
            c.iter().any(|c| c.function == "request-approval")
        })
        .await
        .unwrap();
    let ask = approval_request(&calls);
    // The approver sees the version's own figures and lineage.
    assert_eq!(ask.metrics["validation:accuracy"], 0.96);
    assert_eq!(ask.commit_id, "0ld0c0m");
    assert_eq!(ask.training_job_name, "train-run-old-0");
    approve(&rig, &rig.approval_link().await.unwrap());

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    assert_eq!(
        lost_and_retried(&rig, &arn, "describeModelPackage").await,
        1
    );
    no_jobs(&rig, &arn).await;
    let model = rig
        .sagemaker
        .describe_model()
        .model_name(&names.model_name)
        .send()
        .await
        .unwrap();
    assert_eq!(
        model
            .primary_container()
            .and_then(|c| c.model_package_name()),
        Some(version.as_str())
    );
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        stages(&calls),
        [
            (Stage::Started, RunStatus::Running),
            (Stage::Approved, RunStatus::Running),
            (Stage::Deployed, RunStatus::Succeeded),
        ]
    );
    let (_, served, _) = endpoint(&rig).await;
    assert_eq!(served, names.model_name);
    // The version keeps its first decision: a deploy-only run does not re-mark it.
    let after = describe_version(&rig, &version).await;
    assert_eq!(after.status, "Approved");
    assert_eq!(
        after.description.as_deref(),
        Some("approved by ana@example.com: good enough")
    );
}

/// Starts a rollback to `version`, which must end `ModelNotApproved`; answers its cause.
async fn refused_rollback(rig: &Rig, version: &str, execution: &str) -> String {
    let arn = rig
        .start(
            execution,
            &json!({"modelPackageArn": version, "rollback": true}),
        )
        .await
        .unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ModelNotApproved"))
    );
    cause.unwrap_or_default()
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_deploy_only_run_refuses_a_version_nobody_approved() {
    let rig = rig("us-east-2", &[]).await;
    let version = registered_version(&rig, "PendingManualApproval").await;
    let execution = "run-not-approved";
    let names = rig.world.run_names(execution);
    let cause = refused_rollback(&rig, &version, execution).await;
    assert!(cause.contains("PendingManualApproval"), "{cause}");
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        functions(&calls),
        ["record-metadata"],
        "only the failure is recorded"
    );
    assert!(!model_exists(&rig, &names).await);
    assert_eq!(
        describe_version(&rig, &version).await.status,
        "PendingManualApproval"
    );
}

/// A training run reads only the stack's data bucket: training data under
/// training/, held-out rows under test/. A run told otherwise (an event from
/// another bucket, a pipeline variable set by hand, the training data given
/// as the held-out set) ends before any job, named and recorded.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_training_run_on_data_outside_the_data_bucket_ends_before_any_job() {
    let rig = rig("ap-southeast-4", &[]).await;
    let data = rig.world.name("DataBucket");
    let cases = [
        (
            "run-other-bucket",
            "trainingDataUri",
            "s3://someone-elses/training/iris.csv".to_owned(),
        ),
        (
            "run-test-is-training",
            "testDataUri",
            format!("s3://{data}/training/"),
        ),
        (
            "run-test-elsewhere",
            "testDataUri",
            "s3://someone-elses/test/".to_owned(),
        ),
    ];
    for (execution, field, uri) in cases {
        let mut input = execution_input(&rig, "0123abc").await;
        input[field] = json!(uri);
        let arn = rig.start(execution, &input).await.unwrap();
        let (status, error, cause) = rig.finish(&arn).await.unwrap();
        assert_eq!(
            (status.as_str(), error.as_deref()),
            ("FAILED", Some("InvalidInput")),
            "{execution}"
        );
        let cause = cause.unwrap();
        assert!(
            cause.contains(&uri) && cause.contains(&format!("s3://{data}/test/")),
            "{cause}"
        );
        assert!(
            rig.take_sync().is_none(),
            "{execution}: a job was asked for"
        );
        let trail = trail(&rig, execution).await;
        let (stage, _, recorded, _) = trail.last().unwrap().clone();
        assert_eq!(
            (stage.as_str(), recorded.as_str()),
            ("failed", "InvalidInput")
        );
    }
}

/// The image is resolved to its digest before any job: one of another
/// repository is refused, and a tag the repository lacks (never pushed, or
/// expired) is a named error.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_training_run_on_an_image_outside_the_repository_or_missing_from_it_ends_before_any_job()
{
    let rig = rig("ap-southeast-5", &[]).await;
    let repository = rig.world.attribute("ModelRepository", "RepositoryUri");
    let cases = [
        (
            "run-other-repository",
            format!(
                "{}/someone-elses:0123abc",
                repository.split('/').next().unwrap_or_default()
            ),
            "InvalidInput",
        ),
        (
            "run-never-pushed",
            format!("{repository}:fedcba9"),
            "ImageNotFound",
        ),
    ];
    for (execution, image, named) in cases {
        let mut input = execution_input(&rig, "0123abc").await;
        input["imageUri"] = json!(image);
        let arn = rig.start(execution, &input).await.unwrap();
        let (status, error, cause) = rig.finish(&arn).await.unwrap();
        assert_eq!(
            (status.as_str(), error.as_deref()),
            ("FAILED", Some(named)),
            "{execution}: {cause:?}"
        );
        assert!(cause.unwrap_or_default().contains(&image), "{execution}");
        assert!(
            rig.take_sync().is_none(),
            "{execution}: a job was asked for"
        );
        let trail = trail(&rig, execution).await;
        let (stage, _, recorded, _) = trail.last().unwrap().clone();
        assert_eq!((stage.as_str(), recorded.as_str()), ("failed", named));
    }
}

/// `rollback: true` skips the new approval, so the registry's status is not
/// enough: one UpdateModelPackage call by anyone allowed it would make any
/// version deployable. The trail of the run that registered it must hold its
/// approval.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_rollback_to_a_version_approved_outside_the_pipeline_is_refused() {
    let rig = rig("ap-northeast-3", &[]).await;
    // Approved in the registry, by hand: its run's trail holds no approval.
    let version = registered_version(&rig, "Approved").await;
    let execution = "run-forged-rollback";
    let names = rig.world.run_names(execution);
    let cause = refused_rollback(&rig, &version, execution).await;
    assert!(
        cause.contains("holds no approval") && cause.contains("run-old"),
        "{cause}"
    );
    // Refused before anything was made or deployed.
    assert!(!model_exists(&rig, &names).await);
    let calls = rig.calls();
    all_answered(&calls);
    assert!(deploy_inputs(&calls).is_empty());
    assert_eq!(describe_version(&rig, &version).await.status, "Approved");
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn processing_on_runs_the_users_container_first_and_trains_on_its_output() {
    let image = "123456789012.dkr.ecr.eu-west-1.amazonaws.com/my-preprocessing:1";
    let rig = rig("eu-north-1", &[("ProcessingImageUri", image)]).await;
    let execution = "run-processing";
    let names = rig.world.run_names(execution);
    let (data, artifacts) = (
        rig.world.name("DataBucket"),
        rig.world.name("ArtifactBucket"),
    );
    let arn = rig
        .start(execution, &execution_input(&rig, "0123abc").await)
        .await
        .unwrap();

    // Fault injection: the first job was created, then its first poll failed;
    // the retry takes a fresh name (the first is SageMaker's for good).
    let (_, process) = first_poll_lost(
        &rig,
        "Process",
        "ProcessingJobName",
        &names.processing_job_name,
    )
    .await;
    assert_eq!(process.request["AppSpecification"]["ImageUri"], image);
    assert_eq!(
        process.request["ProcessingInputs"][0]["S3Input"]["S3Uri"],
        format!("s3://{artifacts}/snapshots/{execution}/training/iris.csv"),
        "processing reads the run's snapshot of the new data"
    );
    let processed = format!("s3://{artifacts}/processed/{execution}/");
    assert_eq!(
        process.request["ProcessingOutputConfig"]["Outputs"][0]["S3Output"]["S3Uri"],
        processed.as_str()
    );
    rig.complete(
        &process,
        &json!({
            "ProcessingJobName": format!("{}-0-1", names.processing_job_name),
            "ProcessingJobStatus": "Completed",
            "ProcessingOutputConfig": {"Outputs": [{"OutputName": "training", "S3Output": {
                "S3Uri": processed, "LocalPath": "/opt/ml/processing/output", "S3UploadMode": "EndOfJob"}}]}
        }),
    )
    .await
    .unwrap();
    let train = rig.next_sync("Train").await.unwrap();
    assert_eq!(
        train.request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
        processed.as_str(),
        "training reads what processing wrote"
    );
    rig.complete(&train, &training_output(&rig, &names, 0.97))
        .await
        .unwrap();
    // A model no better than chance on the held-out data ends the run at the gate.
    let transform = rig.next_sync("Transform").await.unwrap();
    rig.complete(
        &transform,
        &transform_output(&rig, &names, execution, 20).await,
    )
    .await
    .unwrap();
    let (status, error, _) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("QualityGateFailed"))
    );
    // With processing on, SageMaker's ProcessingJobs group gets the retention too.
    assert_eq!(
        rig.sagemaker_log_group("/aws/sagemaker/ProcessingJobs", false)
            .unwrap(),
        (true, Some(365))
    );
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        records(&calls)[0].details.training_data_uri.as_deref(),
        Some(format!("s3://{data}/training/iris.csv").as_str()),
        "the started record keeps the original data"
    );
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn tuning_on_runs_a_tuning_job_and_the_best_training_job_goes_on_to_a_serverless_endpoint() {
    // Serverless hosting, with the one other setting its Rule asks for.
    let rig = rig(
        "ap-south-1",
        &[
            ("TuningMaxJobs", "4"),
            ("EndpointHosting", "serverless"),
            ("DataCaptureSamplingPercent", "0"),
        ],
    )
    .await;
    let execution = "run-tuning";
    let names = rig.world.run_names(execution);
    let artifacts = rig.world.name("ArtifactBucket");
    let arn = rig
        .start(execution, &execution_input(&rig, "0123abc").await)
        .await
        .unwrap();

    // Fault injection: the first tuning job was created, then its first poll
    // failed; the retry takes a fresh name.
    let (_, tune) = first_poll_lost(
        &rig,
        "Tune",
        "HyperParameterTuningJobName",
        &names.tuning_job_name,
    )
    .await;
    let tuning_name = format!("{}-0-1", names.tuning_job_name);
    assert!(tuning_name.len() <= shared::naming::TUNING_JOB_NAME_MAX);
    let config = &tune.request["HyperParameterTuningJobConfig"];
    assert_eq!(config["ResourceLimits"]["MaxNumberOfTrainingJobs"], 4);
    assert_eq!(config["ResourceLimits"]["MaxParallelTrainingJobs"], 2);
    assert_eq!(
        config["ParameterRanges"]["IntegerParameterRanges"][0]["Name"],
        "max_depth"
    );
    assert_eq!(
        tune.request["TrainingJobDefinition"]["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
        format!("s3://{artifacts}/snapshots/{execution}/training/iris.csv")
    );
    // The best of the tuning job's training jobs, which SageMaker (moto here) describes.
    let best = format!("{tuning_name}-003-1a2b3c4d");
    rig.sagemaker
        .create_training_job()
        .training_job_name(&best)
        .role_arn(rig.world.attribute("SageMakerRole", "Arn"))
        .algorithm_specification(
            aws_sdk_sagemaker::types::AlgorithmSpecification::builder()
                .training_image(
                    execution_input(&rig, "0123abc").await["imageUri"]
                        .as_str()
                        .unwrap(),
                )
                .training_input_mode(aws_sdk_sagemaker::types::TrainingInputMode::File)
                .build(),
        )
        .output_data_config(
            aws_sdk_sagemaker::types::OutputDataConfig::builder()
                .s3_output_path(format!("s3://{artifacts}/models/"))
                .build(),
        )
        .resource_config(
            aws_sdk_sagemaker::types::ResourceConfig::builder()
                .instance_type(aws_sdk_sagemaker::types::TrainingInstanceType::MlM5Large)
                .instance_count(1)
                .volume_size_in_gb(5)
                .build(),
        )
        .stopping_condition(
            aws_sdk_sagemaker::types::StoppingCondition::builder()
                .max_runtime_in_seconds(3600)
                .build(),
        )
        .send()
        .await
        .unwrap();
    // DescribeBest's first answer is lost (a read: its retry reads the same).
    rig.lose_next_api_answer("sagemaker:DescribeTrainingJob")
        .unwrap();
    rig.complete(
        &tune,
        &json!({
            "HyperParameterTuningJobName": tuning_name,
            "HyperParameterTuningJobStatus": "Completed",
            "BestTrainingJob": {"TrainingJobName": best, "TrainingJobStatus": "Completed"}
        }),
    )
    .await
    .unwrap();
    let transform = rig.next_sync("Transform").await.unwrap();
    rig.complete(
        &transform,
        &transform_output(&rig, &names, execution, 0).await,
    )
    .await
    .unwrap();
    let calls = rig
        .pump_until("asked for approval", |c| {
            c.iter().any(|c| c.function == "request-approval")
        })
        .await
        .unwrap();
    let ask = approval_request(&calls);
    assert_eq!(
        ask.training_job_name, best,
        "the approver sees the best job"
    );
    approve(&rig, &rig.approval_link().await.unwrap());
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    assert_eq!(lost_and_retried(&rig, &arn, "describeTrainingJob").await, 1);
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        records(&calls)[1].details.training_job_name.as_deref(),
        Some(best.as_str())
    );
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.metadata["trainingJobName"], best);
    assert_eq!(version.status, "Approved");
    // deploy-endpoint was asked for a serverless variant of the template's
    // size, with no instances and no capture, and SageMaker (moto) holds one.
    let deploy = &deploy_inputs(&calls)[0];
    assert_eq!(
        deploy.serverless,
        Some(shared::contract::ServerlessHosting {
            memory_size_mb: 2048,
            max_concurrency: 5
        })
    );
    assert_eq!(
        (&deploy.instance_type, deploy.initial_instance_count),
        (&None, None)
    );
    assert!(deploy.data_capture.is_none());
    let (config, model, _) = endpoint(&rig).await;
    assert_eq!(model, names.model_name);
    // Serverless inference refuses an isolated model (moto_ext, as SageMaker).
    assert_eq!(network_isolation(&rig, &model).await, Some(false));
    let c = rig
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(&config)
        .send()
        .await
        .unwrap();
    let variant = &c.production_variants()[0];
    assert!(variant.instance_type().is_none());
    let size = variant.serverless_config().unwrap();
    assert_eq!(
        (size.memory_size_in_mb(), size.max_concurrency()),
        (Some(2048), Some(5))
    );
    // moto answers an absent DataCaptureConfig as `{}`, so what proves no
    // capture is that it names no destination and enables nothing.
    let capture = c.data_capture_config();
    assert!(capture.and_then(|d| d.destination_s3_uri()).is_none());
    assert_ne!(capture.and_then(|d| d.enable_capture()), Some(true));
}

// ------------------------------------------------------------------ paths that used to end in States.Runtime

/// check-endpoint answers `exists: false` with no status once the endpoint is
/// gone; the run must end in a recorded, named error, not an uncatchable
/// States.Runtime with the summary stuck at "running".
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_endpoint_deleted_during_the_deploy_ends_the_run_as_endpoint_failed() {
    let rig = rig("ap-southeast-2", &[]).await;
    let execution = "run-endpoint-deleted";
    let arn = run_to_deploy(&rig, execution).await;
    rig.sagemaker
        .delete_endpoint()
        .endpoint_name(rig.world.endpoint_name())
        .send()
        .await
        .unwrap();

    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("EndpointFailed")),
        "{cause:?}"
    );
    assert!(
        cause
            .unwrap()
            .contains("deleted while this run deployed it")
    );
    let calls = rig.calls();
    all_answered(&calls);
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Failed, RunStatus::Failed),
        "recorded"
    );
    assert_eq!(last.details.error.as_deref(), Some("EndpointFailed"));
    let notices = rig
        .world
        .read_inbox(
            &rig.world.notifications_inbox,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert!(
        notices.iter().any(|n| n["Subject"]
            .as_str()
            .is_some_and(|s| s.contains("failed") || s.contains("Failed"))),
        "notified: {notices:?}"
    );
}

/// A version added to the group by hand (no lineage metadata, no description):
/// a deploy-only run ends with a named error instead of crashing on the
/// missing fields.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_version_added_by_hand_ends_a_deploy_only_run_with_a_named_error() {
    use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelPackageContainerDefinition};
    let rig = rig("ap-northeast-2", &[]).await;
    let artifacts = rig.world.name("ArtifactBucket");
    let version = rig
        .sagemaker
        .create_model_package()
        .model_package_group_name(rig.world.name("ModelPackageGroup"))
        .inference_specification(
            aws_sdk_sagemaker::types::InferenceSpecification::builder()
                .containers(
                    ModelPackageContainerDefinition::builder()
                        .image("123456789012.dkr.ecr.eu-west-1.amazonaws.com/someone-elses:1")
                        .model_data_url(format!("s3://{artifacts}/elsewhere/model.tar.gz"))
                        .build(),
                )
                .supported_content_types("text/csv")
                .supported_response_mime_types("text/csv")
                .build(),
        )
        .model_approval_status(ModelApprovalStatus::Approved)
        .send()
        .await
        .unwrap()
        .model_package_arn
        .unwrap();
    let arn = rig
        .start(
            "run-by-hand",
            &json!({"modelPackageArn": version, "rollback": true}),
        )
        .await
        .unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ModelLineageMissing")),
        "{cause:?}"
    );
    let calls = rig.calls();
    all_answered(&calls);
    let last = records(&calls).pop().unwrap();
    assert_eq!(
        (last.stage, last.status),
        (Stage::Failed, RunStatus::Failed),
        "recorded"
    );
    assert_eq!(last.details.error.as_deref(), Some("ModelLineageMissing"));
    assert!(
        rig.sagemaker
            .describe_endpoint()
            .endpoint_name(rig.world.endpoint_name())
            .send()
            .await
            .is_err()
    );
}

/// What a key pasted unescaped into the pipeline's input could make of it: a
/// training run's input that also names an approved version and asks for a
/// rollback. The run refuses it; nothing is deployed.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_pipeline_run_can_never_become_a_deploy_only_or_rollback_run() {
    let rig = rig("us-west-2", &[]).await;
    let version = registered_version(&rig, "Approved").await;
    let mut input = execution_input(&rig, "0123abc").await;
    input["modelPackageArn"] = json!(version);
    input["rollback"] = json!(true);
    let arn = rig.start("run-steered", &input).await.unwrap();
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("InvalidInput")),
        "{cause:?}"
    );
    let calls = rig.calls();
    all_answered(&calls);
    assert_eq!(
        functions(&calls),
        ["record-metadata"],
        "only the failure is recorded"
    );
    assert!(
        rig.sagemaker
            .describe_endpoint()
            .endpoint_name(rig.world.endpoint_name())
            .send()
            .await
            .is_err()
    );
    let entered = entered_states(&rig, &arn).await;
    assert!(
        !entered
            .iter()
            .any(|s| s == "DescribePackage" || s == "CreateModelFromPackage"),
        "{entered:?}"
    );
}

// ------------------------------------------------------------------ the registry's limits

/// An approver may write a long comment, over several lines; the registry
/// takes 1024 characters on one line. The approval still lands on the version.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_long_comment_over_several_lines_still_approves_the_version() {
    let rig = rig("il-central-1", &[]).await;
    let (arn, link) = run_to_approval(&rig, "run-long-comment", "0123abc").await;
    let comment = "line one\nline two\r\n".repeat(120); // 2,400 characters
    let approver = "a".repeat(300);
    let (code, page) = rig.decide(&link, "approve", &approver, &comment);
    assert_eq!(code, 200, "{page}");
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.status, "Approved");
    let description = version.description.unwrap();
    assert!(
        description.chars().count() <= 1024 && !description.contains('\n'),
        "{description}"
    );
    assert!(description.starts_with("approved by aaaa"), "{description}");
}

/// SageMaker refuses to mark the version approved: the version must not stay
/// PendingManualApproval after a person decided; it is rejected with the reason.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_refused_approval_rejects_the_version_with_the_reason() {
    let rig = rig("eu-central-2", &[]).await;
    let (arn, link) = run_to_approval(&rig, "run-refused-approval", "0123abc").await;
    rig.world
        .moto
        .control(
            "/moto-api/extension/sagemaker/refuse-next-approval",
            &json!({}),
        )
        .unwrap();
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(status, "FAILED", "{error:?} {cause:?}");
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.status, "Rejected", "not left PendingManualApproval");
    let reason = version.description.unwrap_or_default();
    assert!(reason.contains("run-refused-approval"), "{reason}");
    assert!(!rig.calls().iter().any(|c| c.function == "deploy-endpoint"));
}

// ------------------------------------------------------------------ a burst of uploads

/// Uploads `n` objects under training/ and delivers each one's S3 event to
/// start-retraining's real binary (the template's environment); returns the
/// schedules the answers name.
async fn burst(rig: &Rig, n: usize) -> Vec<String> {
    let bucket = rig.world.name("DataBucket");
    let rows = std::fs::read(testkit::workspace_root().join("data/iris-train.csv")).unwrap();
    let mut schedules = Vec::new();
    for i in 0..n {
        let key = format!("training/part-{i:04}.csv");
        let put = rig
            .s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(rows.clone().into())
            .send()
            .await
            .unwrap();
        let mut event = testkit::event_json("start-retraining", "put.json");
        let object = &mut event["Records"][0]["s3"];
        object["bucket"]["name"] = json!(bucket);
        object["object"]["key"] = json!(key);
        object["object"]["size"] = json!(rows.len());
        object["object"]["versionId"] = json!(put.version_id().unwrap());
        object["object"]["sequencer"] = json!(format!("{i:016X}"));
        let answer = rig.invoke("start-retraining", &event).output();
        schedules.extend(
            answer["started"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|s| s["schedule"].as_str().map(str::to_owned)),
        );
    }
    schedules
}

async fn pipeline_executions(rig: &Rig) -> Vec<String> {
    aws_sdk_codepipeline::Client::new(&rig.world.sdk)
        .list_pipeline_executions()
        .pipeline_name(rig.world.name("Pipeline"))
        .send()
        .await
        .unwrap()
        .pipeline_execution_summaries()
        .iter()
        .filter_map(|s| s.pipeline_execution_id().map(str::to_owned))
        .collect()
}

/// The rule for a burst (RetrainQuietSeconds, default 300): the uploads of a
/// window start one run when it closes, training on the whole prefix. Measured:
/// 40 uploads within seconds → one pipeline start, one run, one approval email;
/// with the rule off (0), 40 pipeline starts.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_burst_of_uploads_is_one_run_and_one_approval_email() {
    const N: usize = 40;
    let quiet: u64 = testkit::template::Template::load()
        .unwrap()
        .parameter_defaults()["RetrainQuietSeconds"]
        .parse()
        .unwrap();
    assert!(quiet > 0, "the template's default gathers a burst");
    // Keep the burst inside one window (it takes a few seconds).
    let into_window = shared::clock::epoch_seconds() % quiet;
    if into_window > quiet - 20 {
        tokio::time::sleep(std::time::Duration::from_secs(quiet - into_window + 1)).await;
    }
    let rig = rig("me-central-1", &[]).await;
    let schedules = burst(&rig, N).await;
    assert_eq!(schedules.len(), N, "every upload joined a window");
    let mut windows = schedules.clone();
    windows.dedup();
    assert_eq!(windows.len(), 1, "{windows:?}");
    assert!(
        pipeline_executions(&rig).await.is_empty(),
        "nothing starts before the window closes"
    );

    // The window closes: EventBridge Scheduler (played) starts the pipeline once.
    let started = rig.fire_schedules(&windows).await.unwrap();
    assert_eq!(started.len(), 1);
    let input = rig.pipeline_input(&started[0], "0123abc").await.unwrap();
    let prefix = format!("s3://{}/training/", rig.world.name("DataBucket"));
    assert_eq!(
        input["trainingDataUri"],
        prefix.as_str(),
        "the run trains on the whole prefix"
    );
    let execution = "run-burst";
    let names = rig.world.run_names(execution);
    let test_version = upload_test_rows(&rig).await;
    let uploaded = current_versions(&rig, "training/").await;
    assert_eq!(uploaded.len(), N);
    let arn = rig.start(execution, &input).await.unwrap();
    let train = rig.next_sync("Train").await.unwrap();
    let artifacts = rig.world.name("ArtifactBucket");
    assert_eq!(
        train.request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"],
        format!("s3://{artifacts}/snapshots/{execution}/training/"),
        "the run trains on its snapshot of the prefix"
    );
    // While the job runs, the prefix changes: one object overwritten, one added.
    let data = rig.world.name("DataBucket");
    for key in ["training/part-0000.csv", "training/part-9999.csv"] {
        rig.s3
            .put_object()
            .bucket(&data)
            .key(key)
            .body(b"uploaded during the run\n".to_vec().into())
            .send()
            .await
            .unwrap();
    }
    // The manifest names exactly the versions current when the run started...
    let manifest: shared::contract::DataManifest = serde_json::from_slice(
        &object_bytes(
            &rig,
            &artifacts,
            &format!("runs/{execution}/data-manifest.json"),
        )
        .await,
    )
    .unwrap();
    let listed: Vec<(String, String)> = manifest
        .training
        .objects
        .iter()
        .map(|o| (o.key.clone(), o.version_id.clone()))
        .collect();
    assert_eq!(
        listed, uploaded,
        "every object of the prefix, at its version"
    );
    assert_eq!(manifest.test.objects.len(), 1);
    assert_eq!(manifest.test.objects[0].version_id, test_version);
    // ...and what the job reads is those bytes, whatever the prefix holds now.
    let rows = std::fs::read(testkit::workspace_root().join("data/iris-train.csv")).unwrap();
    let snapshot = current_versions_in(
        &rig,
        &artifacts,
        &format!("snapshots/{execution}/training/"),
    )
    .await;
    assert_eq!(snapshot.len(), N, "nothing uploaded during the run is read");
    assert_eq!(
        object_bytes(
            &rig,
            &artifacts,
            &format!("snapshots/{execution}/training/part-0000.csv")
        )
        .await,
        rows,
        "an object overwritten during the run is read as it was"
    );
    rig.complete(&train, &training_output(&rig, &names, 0.97))
        .await
        .unwrap();
    let transform = rig.next_sync("Transform").await.unwrap();
    rig.complete(
        &transform,
        &transform_output(&rig, &names, execution, 0).await,
    )
    .await
    .unwrap();
    rig.pump_until("asked for approval", |c| {
        c.iter().any(|c| c.function == "request-approval")
    })
    .await
    .unwrap();
    let emails = rig
        .world
        .read_inbox(
            &rig.world.approvals_inbox,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    let runs = rig
        .sfn
        .list_executions()
        .state_machine_arn(&rig.state_machine_arn)
        .send()
        .await
        .unwrap()
        .executions()
        .len();
    println!(
        "burst: {N} uploads → {} pipeline start(s), {runs} run(s), {} approval email(s) (RetrainQuietSeconds {quiet})",
        started.len(),
        emails.len()
    );
    assert_eq!((runs, emails.len()), (1, 1));
    // The trail, the registry and the email name the manifest; the email, the test set's version.
    let manifest_uri = format!("s3://{artifacts}/runs/{execution}/data-manifest.json");
    let trained = trail_item(&rig, execution, "trained").await;
    assert_eq!(
        trained.get("dataManifestUri").and_then(|v| v.as_s().ok()),
        Some(&manifest_uri)
    );
    assert_eq!(
        trained.get("testDataVersionId").and_then(|v| v.as_s().ok()),
        Some(&test_version)
    );
    let email = emails[0]["Message"].as_str().unwrap_or_default();
    assert!(
        email.contains(&format!("(S3 version {test_version})")) && email.contains(&manifest_uri),
        "{email}"
    );
    rig.sfn
        .stop_execution()
        .execution_arn(&arn)
        .send()
        .await
        .unwrap();

    // The same burst with the rule off: a pipeline start per upload.
    let off = rig_off().await;
    let schedules = burst(&off, N).await;
    assert!(schedules.is_empty());
    assert_eq!(pipeline_executions(&off).await.len(), N);
}

/// Uploads the held-out rows alone (`test/iris-test.csv`); returns the version.
async fn upload_test_rows(rig: &Rig) -> String {
    let body = std::fs::read(testkit::workspace_root().join("data/iris-test.csv")).unwrap();
    rig.s3
        .put_object()
        .bucket(rig.world.name("DataBucket"))
        .key("test/iris-test.csv")
        .body(body.into())
        .send()
        .await
        .unwrap()
        .version_id()
        .unwrap()
        .to_owned()
}

/// (key, version) of every current object under `prefix` of the data bucket, in key order.
async fn current_versions(rig: &Rig, prefix: &str) -> Vec<(String, String)> {
    current_versions_in(rig, &rig.world.name("DataBucket"), prefix).await
}

async fn current_versions_in(rig: &Rig, bucket: &str, prefix: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let (mut key, mut version) = (None, None);
    loop {
        let page = rig
            .s3
            .list_object_versions()
            .bucket(bucket)
            .prefix(prefix)
            .set_key_marker(key)
            .set_version_id_marker(version)
            .send()
            .await
            .unwrap();
        out.extend(
            page.versions()
                .iter()
                .filter(|v| v.is_latest() == Some(true))
                .map(|v| {
                    (
                        v.key().unwrap_or_default().to_owned(),
                        v.version_id().unwrap_or_default().to_owned(),
                    )
                }),
        );
        if page.is_truncated() != Some(true) {
            break;
        }
        key = page.next_key_marker().map(str::to_owned);
        version = page.next_version_id_marker().map(str::to_owned);
    }
    out.sort();
    out
}

async fn object_bytes(rig: &Rig, bucket: &str, key: &str) -> Vec<u8> {
    rig.s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .unwrap_or_else(|e| panic!("s3://{bucket}/{key}: {e:?}"))
        .body
        .collect()
        .await
        .unwrap()
        .into_bytes()
        .to_vec()
}

async fn rig_off() -> Rig {
    rig("af-south-1", &[("RetrainQuietSeconds", "0")]).await
}

/// With named approvers, the address a link was made for is what the trail
/// and the registry record as the approver, whoever opened it.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_named_approvers_address_is_recorded_in_the_trail_and_the_registry() {
    let rig = rig(
        "ap-east-1",
        &[("ApproverEmails", "ana@example.com,bob@example.com")],
    )
    .await;
    let execution = "run-named";
    let (arn, link) = run_to_approval(&rig, execution, "0123abc").await;
    let emails = rig.approval_emails();
    assert_eq!(emails.len(), 2, "one email per approver: {emails:?}");
    let bound = emails
        .iter()
        .find(|m| m.contains(&link))
        .and_then(|m| m.split("This link is yours (").nth(1))
        .and_then(|rest| rest.split(')').next())
        .unwrap()
        .to_owned();
    let (code, page) = rig.decide(&link, "approve", "Someone Else", "fine by me");
    assert_eq!(code, 200, "{page}");
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let approved = records(&rig.calls())
        .into_iter()
        .find(|r| r.stage == Stage::Approved)
        .unwrap();
    let decision = approved.details.approval.unwrap();
    assert_eq!(decision.approver.as_deref(), Some(bound.as_str()));
    assert_eq!(
        decision.comment.as_deref(),
        Some("(typed name: Someone Else) fine by me")
    );
    let version = versions(&rig).await.pop().unwrap();
    let description = version.description.unwrap_or_default();
    assert!(
        description.contains(&bound) && !description.contains("by Someone Else"),
        "{description}"
    );
}

/// Fault injection on RequestApproval: the first attempt emails Ana, then
/// Bob's email fails; the second emails Bob and its answer is lost; the third
/// finds everything sent. Each attempt has a token of its own (as on AWS), so
/// the approval must follow the live one, keep Ana's link and vote, and send
/// nobody a second email.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn an_approval_whose_emails_failed_partway_and_whose_answer_was_lost_still_takes_each_approvers_first_link()
 {
    let rig = rig(
        "me-south-1",
        &[
            ("ApproverEmails", "ana@example.com,bob@example.com"),
            ("RequiredApprovals", "2"),
        ],
    )
    .await;
    rig.fail_first_email_to("bob@example.com").unwrap();
    rig.lose_next_answer("RequestApproval", "Lambda.ServiceException");
    let execution = "run-partway";
    let (arn, _) = run_to_approval(&rig, execution, "0123abc").await;
    let calls = rig
        .pump_until("asked three times", |calls| {
            calls
                .iter()
                .filter(|c| c.function == "request-approval")
                .count()
                == 3
        })
        .await
        .unwrap();
    let answers: Vec<&testkit::Invocation> = calls
        .iter()
        .filter(|c| c.function == "request-approval")
        .map(|c| &c.answer)
        .collect();
    assert!(
        matches!(answers[0], testkit::Invocation::Err { error_type, .. } if error_type == "AwsUnavailable"),
        "{answers:?}"
    );
    // Three attempts, three tokens.
    let tokens: std::collections::BTreeSet<&str> = calls
        .iter()
        .filter(|c| c.function == "request-approval")
        .filter_map(|c| c.payload["taskToken"].as_str())
        .collect();
    assert_eq!(tokens.len(), 3);
    rig.approval_link().await.ok();
    let emails = rig.approval_emails();
    let to = |address: &str| -> Vec<String> {
        emails
            .iter()
            .filter(|m| m.contains(&format!("This link is yours ({address})")))
            .filter_map(|m| {
                m.split_whitespace()
                    .find(|w| w.contains("/approvals/"))
                    .map(str::to_owned)
            })
            .collect()
    };
    let (ana, bob) = (to("ana@example.com"), to("bob@example.com"));
    assert_eq!((ana.len(), bob.len()), (1, 1), "one email each: {emails:?}");
    // Ana's link, from the first attempt, still counts; Bob's completes it.
    let (code, page) = rig.decide(&ana[0], "approve", "Ana", "fine");
    assert_eq!(code, 200, "{page}");
    assert!(page.contains("1 more"), "{page}");
    let (code, page) = rig.decide(&bob[0], "approve", "Bob", "fine too");
    assert_eq!(code, 200, "{page}");
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let approved = records(&rig.calls())
        .into_iter()
        .find(|r| r.stage == Stage::Approved)
        .unwrap();
    let approver = approved.details.approval.unwrap().approver.unwrap();
    assert!(
        approver.contains("ana@example.com") && approver.contains("bob@example.com"),
        "{approver}"
    );
}

/// A Build action that failed (a broken Dockerfile, a registry's limit): no
/// run started, so EventBridge's CodePipeline event is the only record. The
/// real record-metadata binary writes the failed stage of the pipeline
/// execution's trail, with the stage, the action and the log's page, and
/// notifies once, however often EventBridge delivers it.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_failed_build_is_recorded_and_notified_once_with_the_page_of_its_log() {
    let rig = rig("ap-south-2", &[]).await;
    let mut event: Value = serde_json::from_str(&testkit::event_text(
        "record-metadata",
        "pipeline-build-failed.json",
    ))
    .unwrap();
    event["detail"]["pipeline"] = json!(rig.world.name("Pipeline"));
    let first = rig.invoke("record-metadata", &event).output();
    assert_eq!(
        (first["recorded"].clone(), first["notified"].clone()),
        (json!(true), json!(true))
    );
    let again = rig.invoke("record-metadata", &event).output();
    assert_eq!(
        (again["recorded"].clone(), again["notified"].clone()),
        (json!(false), json!(true))
    );
    let execution = format!(
        "pipeline-{}",
        event["detail"]["execution-id"].as_str().unwrap()
    );
    let trail = trail(&rig, &execution).await;
    assert_eq!(trail.len(), 1, "{trail:?}");
    let (stage, status, error, cause) = trail[0].clone();
    assert_eq!(
        (stage.as_str(), status.as_str(), error.as_str()),
        ("failed", "failed", "BuildFailed")
    );
    assert!(
        cause.contains("Build stage failed at BuildModelContainer")
            && cause.contains("https://us-east-1.console.aws.amazon.com/codebuild/"),
        "{cause}"
    );
    let notices = rig
        .world
        .read_inbox(
            &rig.world.notifications_inbox,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    assert_eq!(notices.len(), 1, "{notices:?}");
    let text = notices[0].to_string();
    assert!(text.contains("Pipeline failed before a run"), "{text}");
    // Counted as a failed run, which RunsFailedAlarm notifies.
    let failed = emitted(&rig)
        .remove(&("record-metadata".to_owned(), "RunsFailed".to_owned()))
        .unwrap_or_default();
    assert_eq!(failed, [1.0]);
}

/// Fault injection on every Lambda task of a first run, and on the registry
/// calls: each first answer is lost after the work was done (the function
/// ran; the version was created, or marked), and the definition retries. So
/// every function runs twice, and the registry is asked twice. Still one run:
/// one event per stage in the trail, one approval email, one version, one
/// endpoint serving the run's model, one deploy notice.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn every_tasks_first_answer_lost_still_makes_one_run_with_one_of_everything() {
    let rig = rig("us-east-1", &[]).await;
    // CreateModelPackage carries a ClientToken, so its retry finds its version.
    rig.lose_next_api_answer("sagemaker:CreateModelPackage")
        .unwrap();
    rig.lose_next_api_answer("sagemaker:UpdateModelPackage")
        .unwrap();
    let lost = [
        "RecordStarted",
        "RecordTrained",
        "Evaluate",
        "RecordTransformed",
        "RequestApproval",
        "RecordApproved",
        "CheckEndpoint",
        "CreateEndpoint",
        "PollEndpoint",
        "RecordDeployed",
    ];
    for state in lost {
        rig.lose_next_answer(state, "Lambda.ServiceException");
    }
    let execution = "run-answers-lost";
    let names = rig.world.run_names(execution);
    let (arn, link) = run_to_approval(&rig, execution, "0123abc").await;
    // The approval's retry moves it to its own token before anyone decides.
    rig.pump_until("asked twice", |calls| {
        calls
            .iter()
            .filter(|c| c.function == "request-approval")
            .count()
            == 2
    })
    .await
    .unwrap();
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");

    // The registry's lost answers were retried, under the names Step
    // Functions gives an AWS SDK integration's errors.
    for resource in ["createModelPackage", "updateModelPackage"] {
        assert_eq!(
            lost_and_retried(&rig, &arn, resource).await,
            1,
            "{resource}"
        );
    }
    // Every lost state ran its function twice, and only those.
    let calls = rig.calls();
    for state in lost {
        let ran = calls.iter().filter(|c| c.state == state).count();
        assert_eq!(ran, 2, "{state} ran {ran} times");
    }
    // One of everything.
    let trail = trail(&rig, execution).await;
    let stages: Vec<&str> = trail.iter().map(|(s, ..)| s.as_str()).collect();
    assert_eq!(
        stages,
        ["started", "trained", "transformed", "approved", "deployed"]
    );
    rig.approval_link().await.ok();
    assert_eq!(
        rig.approval_emails().len(),
        1,
        "{:?}",
        rig.approval_emails()
    );
    let (_, model, _) = endpoint(&rig).await;
    assert_eq!(model, names.model_name);
    let version = versions(&rig).await.pop().unwrap();
    assert_eq!(version.status, "Approved");
    assert_eq!(versions(&rig).await.len(), 1, "one version registered");
    let notices = rig
        .world
        .read_inbox(
            &rig.world.notifications_inbox,
            std::time::Duration::from_secs(5),
        )
        .await
        .unwrap();
    let deployed = notices
        .iter()
        .filter(|n| n.to_string().contains("Deployed"))
        .count();
    assert_eq!(deployed, 1, "{notices:?}");
}

/// Every one of `calls` invoked its function's published `version`.
fn all_called_version(calls: &[LambdaCall], version: &str) {
    for call in calls {
        assert!(
            call.arn.ends_with(&format!(":{version}")),
            "{} called {}, not version {version}",
            call.state,
            call.arn
        );
    }
}

/// A `sam deploy` while a run waits for its approval publishes new versions of
/// the functions; the run goes on with the versions its definition named, and
/// only the next run calls the new ones. Then the other half of "a run
/// deploys what it evaluated": an archive overwritten after its evaluation is
/// never deployed.
#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_run_in_flight_during_a_deploy_finishes_on_the_versions_it_started_with_and_an_overwritten_archive_is_not_deployed()
 {
    let rig = rig("ap-southeast-6", &[]).await;
    let (arn, link) = run_to_approval(&rig, "run-before", "1111aaa").await;
    rig.deploy_new_versions(2).await.unwrap();
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let before = of(&rig.calls(), "run-before");
    assert!(
        before.iter().any(|c| c.state == "RecordDeployed"),
        "{before:?}"
    );
    all_called_version(&before, "1");
    // The next run calls what the deploy published.
    let (arn, link) = run_to_approval(&rig, "run-after", "2222bbb").await;
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let after = of(&rig.calls(), "run-after");
    assert!(!after.is_empty());
    all_called_version(&after, "2");
    let version = versions(&rig).await.pop().unwrap();
    assert!(
        version.metadata.contains_key("modelArtifactVersionId"),
        "the registry keeps the archive's S3 version: {:?}",
        version.metadata
    );
    // ...and the SHA-256 of the archive's bytes, as the trail does.
    let job = &version.metadata["trainingJobName"];
    let archive = rig
        .s3
        .get_object()
        .bucket(rig.world.name("ArtifactBucket"))
        .key(format!("models/{job}/output/model.tar.gz"))
        .send()
        .await
        .unwrap();
    let version_id = archive.version_id.clone().unwrap_or_default();
    let bytes = archive.body.collect().await.unwrap().into_bytes();
    let sha256 = shared::naming::hex(&<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    assert_eq!(
        version.metadata.get("modelArtifactSha256"),
        Some(&sha256),
        "{:?}",
        version.metadata
    );
    let transformed = trail_item(&rig, "run-after", "transformed").await;
    assert_eq!(
        (
            transformed
                .get("modelArtifactSha256")
                .and_then(|v| v.as_s().ok()),
            transformed
                .get("modelArtifactVersionId")
                .and_then(|v| v.as_s().ok()),
        ),
        (Some(&sha256), Some(&version_id)),
        "the trail keeps the archive's digest and version: {transformed:?}"
    );

    // The archive a run's approval covers is overwritten before the deploy
    // (the bucket policy lets only the SageMaker role write there): the run
    // ends ArtifactChanged, and the endpoint keeps serving run-after's model.
    let (arn, link) = run_to_approval(&rig, "run-overwritten", "3333ccc").await;
    let names = rig.world.run_names("run-overwritten");
    rig.s3
        .put_object()
        .bucket(rig.world.name("ArtifactBucket"))
        .key(format!(
            "models/{}-0-0/output/model.tar.gz",
            names.training_job_name
        ))
        .body(aws_sdk_s3::primitives::ByteStream::from_static(
            b"other bytes",
        ))
        .send()
        .await
        .unwrap();
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!(
        (status.as_str(), error.as_deref()),
        ("FAILED", Some("ArtifactChanged")),
        "{cause:?}"
    );
    let overwritten = of(&rig.calls(), "run-overwritten");
    assert!(!functions(&overwritten).contains(&"deploy-endpoint"));
    let (_, model, _) = endpoint(&rig).await;
    assert_eq!(model, rig.world.run_names("run-after").model_name);
}
