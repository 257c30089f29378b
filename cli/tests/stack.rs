//! `mlops --stack`: the table, group and state machine from a stack's outputs
//! (a stack created in moto's CloudFormation); explicit names win; an unknown
//! stack is a one-line error that names it.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::process::Command;

use testkit::{Moto, unique};

fn mlops(args: &[&str], env: &[(&str, &str)]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_mlops"))
        .args(args)
        .env_remove("TABLE_NAME")
        .env_remove("MODEL_PACKAGE_GROUP")
        .env_remove("STATE_MACHINE_ARN")
        .env_remove("MLOPS_STACK")
        .envs(env.iter().copied())
        .output()
        .unwrap();
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn the_stack_s_outputs_name_the_table_group_and_state_machine() {
    let sdk = Moto::from_env().sdk_config().await;
    let table = testkit::create_table(&sdk).await.unwrap();
    let stack = unique("mlops-stack");
    // A stack whose outputs are the ones template.yaml declares.
    let body = serde_json::json!({
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {
            "TableName": {"Value": table},
            "ModelPackageGroupName": {"Value": "stack-models"},
            "StateMachineArn": {"Value": "arn:aws:states:us-east-1:123456789012:stateMachine:stack-pipeline"}
        }
    });
    aws_sdk_cloudformation::Client::new(&sdk)
        .create_stack()
        .stack_name(&stack)
        .template_body(body.to_string())
        .send()
        .await
        .unwrap();

    let (ok, listed, err) = mlops(&["--stack", &stack, "runs"], &[]);
    assert!(ok, "{err}");
    assert!(listed.contains(&format!("no runs in {table}")), "{listed}");

    // Explicit names win: the stack is not even read.
    let (ok, listed, err) = mlops(
        &["--stack", "no-such-stack", "--table", &table, "runs"],
        &[],
    );
    assert!(ok, "{err}");
    assert!(listed.contains(&table), "{listed}");

    // An unknown stack: one line, naming it.
    let (ok, _, err) = mlops(&["--stack", "no-such-stack", "runs"], &[]);
    assert!(!ok);
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(
        err.contains("no stack named no-such-stack (--stack)"),
        "{err}"
    );
    assert!(
        err.contains("--table or TABLE_NAME"),
        "and what else would do: {err}"
    );
}
