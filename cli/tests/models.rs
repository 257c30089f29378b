//! `mlops models`, `mlops rollback` and `mlops deploy` against moto's registry
//! and Step Functions, through the real binary. (`mlops runs redrive` is unit
//! tested with aws-smithy-mocks: moto has no RedriveExecution.)

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::process::Command;

use aws_sdk_sagemaker::types::{ModelApprovalStatus, ModelLifeCycle};
use testkit::rig::Rig;

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn lists_versions_and_starts_a_rollback_only_to_an_approved_one() {
    // The stack's model package group and state machine (the real
    // definition), as the template creates them.
    let rig = Rig::new("eu-central-2", &[]).await.unwrap();
    let sagemaker = &rig.sagemaker;
    let sfn = &rig.sfn;
    let group = rig.world.name("ModelPackageGroup");
    let machine = rig.state_machine_arn.clone();
    let mut arns = Vec::new();
    for (status, description) in [
        (
            ModelApprovalStatus::Approved,
            "validation:accuracy = 0.96 (commit aaa)",
        ),
        (
            ModelApprovalStatus::Rejected,
            "validation:accuracy = 0.5 (commit bbb)",
        ),
    ] {
        let arn = sagemaker
            .create_model_package()
            .model_package_group_name(&group)
            .model_package_description(description)
            .model_approval_status(status)
            .send()
            .await
            .unwrap()
            .model_package_arn
            .unwrap();
        arns.push(arn);
    }

    let mlops = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
            .args(args)
            .env("AWS_REGION", &rig.world.region)
            .env("MODEL_PACKAGE_GROUP", &group)
            .env("STATE_MACHINE_ARN", &machine)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };

    // Where a version is (the registry's ModelLifeCycle), as the stages set
    // it; a name SageMaker's pattern refuses is refused.
    sagemaker
        .update_model_package()
        .model_package_arn(&arns[0])
        .model_life_cycle(
            ModelLifeCycle::builder()
                .stage("staging")
                .stage_status("Approved")
                .stage_description("passed its staging test")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let refused = sagemaker
        .update_model_package()
        .model_package_arn(&arns[1])
        .model_life_cycle(
            ModelLifeCycle::builder()
                .stage("staging area")
                .stage_status("Approved")
                .build(),
        )
        .send()
        .await
        .unwrap_err();
    assert!(
        format!("{refused:?}").contains("modelLifeCycle.stage"),
        "{refused:?}"
    );
    let described = sagemaker
        .describe_model_package()
        .model_package_name(&arns[0])
        .send()
        .await
        .unwrap();
    let life_cycle = described.model_life_cycle().unwrap();
    assert_eq!(
        (life_cycle.stage(), life_cycle.stage_status()),
        (Some("staging"), Some("Approved"))
    );

    let (ok, listed, err) = mlops(&["models"]);
    assert!(ok, "{err}");
    let rows: Vec<&str> = listed.lines().skip(1).collect();
    assert_eq!(rows.len(), 2, "{listed}");
    assert!(
        rows[0].starts_with("2 ") && rows[0].contains("Rejected"),
        "newest first: {listed}"
    );
    assert!(
        rows[1].starts_with("1 ") && rows[1].contains("Approved"),
        "{listed}"
    );
    assert!(rows[1].contains("staging: Approved"), "{listed}");
    assert!(
        rows[0].contains(" - "),
        "a version with no stage shows none: {listed}"
    );
    let (ok, approved, _) = mlops(&["models", "--approved"]);
    assert!(
        ok && approved.lines().count() == 2 && approved.contains("commit aaa"),
        "{approved}"
    );

    // A rejected version is refused before anything starts.
    let (ok, _, err) = mlops(&["rollback", "2"]);
    assert!(!ok && err.contains("Rejected"), "{err}");
    let (ok, _, err) = mlops(&["rollback", "7"]);
    assert!(!ok && err.contains("no version \"7\""), "{err}");

    let (ok, said, err) = mlops(&["rollback", "1"]);
    assert!(ok, "{err}");
    assert!(said.contains("started a rollback of version 1"), "{said}");
    let runs = sfn
        .list_executions()
        .state_machine_arn(&machine)
        .send()
        .await
        .unwrap();
    assert_eq!(runs.executions().len(), 1);
    let run = sfn
        .describe_execution()
        .execution_arn(runs.executions()[0].execution_arn())
        .send()
        .await
        .unwrap();
    let input: serde_json::Value = serde_json::from_str(run.input().unwrap()).unwrap();
    assert_eq!(
        input,
        serde_json::json!({"modelPackageArn": arns[0], "rollback": true})
    );
    assert!(run.name().unwrap().starts_with("rollback-v1-"));

    // By ARN too; a deploy-only run is not a rollback.
    let (ok, said, err) = mlops(&["deploy", &arns[0]]);
    assert!(ok && said.contains("deploy-only"), "{err}");

    // Without its configuration, the command says what is missing.
    let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(["models"])
        .env_remove("MODEL_PACKAGE_GROUP")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("MODEL_PACKAGE_GROUP"));
}
