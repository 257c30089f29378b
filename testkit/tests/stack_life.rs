//! The stack's own life in moto's CloudFormation, from the translated
//! template as `sam deploy` hands it over (code and definition in S3): it is
//! created, updated with new code while a run waits at approval, and
//! deleted; what it keeps stays there and readable, what it does not is gone.
//!
//! CloudFormation here is moto's with `scripts/moto_cfn.py`: resource types
//! moto lacks are held as CloudFormation holds them (a physical id and the
//! attributes the template reads), and none of them is one this test reads.
//! moto cannot run the stack's own functions (no Lambda runtime for them
//! here), so the run waiting at approval is its state: the published
//! versions its definition calls and its approval item. That an execution
//! finishes on the code it started with is the path test
//! `a_run_in_flight_during_a_deploy_finishes_on_the_versions_it_started_with_and_an_overwritten_archive_is_not_deployed`.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

use std::collections::BTreeSet;
use std::time::Duration;

use aws_config::{Region, SdkConfig};
use aws_sdk_cloudformation::types::{Capability, Parameter, StackStatus};
use aws_sdk_dynamodb::types::AttributeValue;
use serde_json::Value;
use testkit::{Moto, unique, workspace_root};

const REGION: &str = "eu-north-1";
const PACKAGE_BUCKET: &str = "sam-package-bucket";

/// The template as scripts/sam_translate.py writes it, with the functions'
/// code at revision `revision` (None: the first deploy's).
fn translated(revision: Option<&str>) -> Value {
    let root = workspace_root();
    let out = std::env::temp_dir().join(unique("stack-life-template"));
    let mut command = std::process::Command::new(root.join(".venv/bin/python"));
    command
        .arg(root.join("scripts/sam_translate.py"))
        .arg(&out)
        .current_dir(&root);
    if let Some(revision) = revision {
        command.env("SAM_CODE_REVISION", revision);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(&out).unwrap();
    std::fs::remove_file(&out).unwrap();
    serde_json::from_str(&text).unwrap()
}

/// A zip holding one `bootstrap`, as `sam build` packs a provided.al2023
/// function (Python's zipfile writes it: the workspace has no zip crate, and
/// the test needs nothing else from one).
fn archive(contents: &str) -> Vec<u8> {
    let zip = std::env::temp_dir().join(unique("stack-life-code"));
    let ok = std::process::Command::new(workspace_root().join(".venv/bin/python"))
        .args([
            "-c",
            "import sys, zipfile\nwith zipfile.ZipFile(sys.argv[1], 'w') as z: z.writestr('bootstrap', sys.argv[2])",
        ])
        .arg(&zip)
        .arg(contents)
        .status()
        .unwrap()
        .success();
    assert!(ok, "python could not write the archive");
    let bytes = std::fs::read(&zip).unwrap();
    std::fs::remove_file(&zip).unwrap();
    bytes
}

/// What `sam package` and `sam deploy` upload: each function's archive under
/// the key the template names, the state machine's definition, and the
/// template itself (over CloudFormation's 51,200-byte TemplateBody limit, so
/// deployed by URL). Answers the template's URL.
async fn package(sdk: &SdkConfig, template: &Value, revision: &str) -> String {
    let s3 = aws_sdk_s3::Client::new(sdk);
    let text = template.to_string();
    assert!(
        text.len() > 51_200,
        "small enough for TemplateBody after all"
    );
    let key = format!("template-{revision}.json");
    s3.put_object()
        .bucket(PACKAGE_BUCKET)
        .key(&key)
        .body(text.into_bytes().into())
        .send()
        .await
        .unwrap();
    for resource in template["Resources"].as_object().unwrap().values() {
        let code = &resource["Properties"]["Code"];
        if resource["Type"] == "AWS::Lambda::Function" && code["S3Bucket"] == PACKAGE_BUCKET {
            s3.put_object()
                .bucket(PACKAGE_BUCKET)
                .key(code["S3Key"].as_str().unwrap())
                .body(archive(&format!("revision {revision}")).into())
                .send()
                .await
                .unwrap();
        }
    }
    let definition =
        std::fs::read(workspace_root().join("statemachine/pipeline.asl.json")).unwrap();
    s3.put_object()
        .bucket(PACKAGE_BUCKET)
        .key("pipeline.asl.json")
        .body(definition.into())
        .send()
        .await
        .unwrap();
    format!("https://{PACKAGE_BUCKET}.s3.{REGION}.amazonaws.com/{key}")
}

/// Waits for the stack to leave its IN_PROGRESS state; answers the status
/// and, on a failure, the events that say why.
async fn settle(cf: &aws_sdk_cloudformation::Client, stack: &str) -> (StackStatus, String) {
    for _ in 0..600 {
        let described = cf.describe_stacks().stack_name(stack).send().await;
        let status = match described {
            Ok(d) => d.stacks()[0].stack_status().cloned().unwrap(),
            // A deleted stack is described by its id only; by name it is gone.
            Err(_) => return (StackStatus::DeleteComplete, String::new()),
        };
        if !status.as_str().ends_with("_IN_PROGRESS") {
            let events = cf
                .describe_stack_events()
                .stack_name(stack)
                .send()
                .await
                .map(|e| {
                    e.stack_events()
                        .iter()
                        .filter_map(|e| e.resource_status_reason())
                        .collect::<Vec<_>>()
                        .join("\n")
                })
                .unwrap_or_default();
            return (status, events);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the stack {stack} never settled");
}

fn outputs(described: &aws_sdk_cloudformation::types::Stack, key: &str) -> String {
    described
        .outputs()
        .iter()
        .find(|o| o.output_key() == Some(key))
        .and_then(|o| o.output_value())
        .unwrap_or_else(|| panic!("the stack has no output {key}"))
        .to_owned()
}

/// The state machine's definition as Step Functions holds it.
async fn definition(sfn: &aws_sdk_sfn::Client, arn: &str) -> String {
    sfn.describe_state_machine()
        .state_machine_arn(arn)
        .send()
        .await
        .unwrap()
        .definition()
        .to_owned()
}

/// The function versions a definition calls (`…:function:name:N`).
fn versions_called(definition: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    let mut rest = definition;
    while let Some(start) = rest.find("arn:aws:lambda:") {
        let tail = &rest[start..];
        let end = tail.find('"').unwrap_or(tail.len());
        found.insert(tail[..end].to_owned());
        rest = &tail[end..];
    }
    found
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn the_stack_is_created_updated_with_a_run_waiting_and_deleted_and_keeps_what_it_promises() {
    // As the path tests leave it: Step Functions in moto's executing mode,
    // whose API reads another backend than CloudFormation wrote before.
    Moto::from_env().execute_state_machines().unwrap();
    let sdk = Moto::from_env()
        .sdk_config()
        .await
        .to_builder()
        .region(Region::new(REGION))
        .build();
    let cf = aws_sdk_cloudformation::Client::new(&sdk);
    let s3 = aws_sdk_s3::Client::new(&sdk);
    let dynamodb = aws_sdk_dynamodb::Client::new(&sdk);
    let kms = aws_sdk_kms::Client::new(&sdk);
    let sfn = aws_sdk_sfn::Client::new(&sdk);
    let lambda = aws_sdk_lambda::Client::new(&sdk);
    let _ = s3
        .create_bucket()
        .bucket(PACKAGE_BUCKET)
        .create_bucket_configuration(
            aws_sdk_s3::types::CreateBucketConfiguration::builder()
                .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(REGION))
                .build(),
        )
        .send()
        .await;
    let stack = unique("life");
    let capabilities = [
        Capability::CapabilityIam,
        Capability::CapabilityNamedIam,
        Capability::CapabilityAutoExpand,
    ];

    // Create, as the first `sam deploy` does.
    let first = translated(None);
    let url = package(&sdk, &first, "1").await;
    cf.create_stack()
        .stack_name(&stack)
        .template_url(url)
        .set_capabilities(Some(capabilities.to_vec()))
        .send()
        .await
        .unwrap();
    let (status, why) = settle(&cf, &stack).await;
    assert_eq!(status, StackStatus::CreateComplete, "{why}");
    let resources = cf
        .list_stack_resources()
        .stack_name(&stack)
        .send()
        .await
        .unwrap();
    let made: BTreeSet<&str> = resources
        .stack_resource_summaries()
        .iter()
        .filter_map(|r| r.logical_resource_id())
        .collect();
    let declared: BTreeSet<&str> = first["Resources"]
        .as_object()
        .unwrap()
        .iter()
        .filter(|(_, r)| r["Condition"].is_null())
        .map(|(id, _)| id.as_str())
        .collect();
    let missing: Vec<_> = declared.difference(&made).collect();
    assert!(missing.is_empty(), "the stack did not make {missing:?}");
    let described = cf
        .describe_stacks()
        .stack_name(&stack)
        .send()
        .await
        .unwrap()
        .stacks()[0]
        .clone();
    let table = outputs(&described, "TableName");
    let state_machine = outputs(&described, "StateMachineArn");
    let data_bucket = outputs(&described, "DataBucketName");
    let artifact_bucket = outputs(&described, "ArtifactBucketName");
    let key_alias = outputs(&described, "KeyAlias");
    // The run's data and its model archive, which the buckets keep.
    let kept_objects = [
        (&data_bucket, "training/iris.csv"),
        (&artifact_bucket, "models/run-1/output/model.tar.gz"),
    ];

    // A run waits at approval: the versions its definition calls, its
    // approval item in the table, its data and its model archive.
    let before = definition(&sfn, &state_machine).await;
    assert!(
        !before.contains("${"),
        "CloudFormation filled every substitution"
    );
    let called_before = versions_called(&before);
    assert_eq!(called_before.len(), 7, "{called_before:?}");
    let schema = dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    let schema = schema.table().unwrap();
    let item_key: std::collections::HashMap<String, AttributeValue> = schema
        .key_schema()
        .iter()
        .map(|k| {
            (
                k.attribute_name().to_owned(),
                AttributeValue::S(format!("APPROVAL#{stack}")),
            )
        })
        .collect();
    let mut item = item_key.clone();
    item.insert("status".into(), AttributeValue::S("pending".into()));
    dynamodb
        .put_item()
        .table_name(&table)
        .set_item(Some(item.clone()))
        .send()
        .await
        .unwrap();
    for (bucket, key) in kept_objects {
        s3.put_object()
            .bucket(bucket)
            .key(key)
            .body(b"kept".to_vec().into())
            .send()
            .await
            .unwrap();
    }

    // Update with new code, as a later `sam deploy` does while the run waits.
    let second = translated(Some("2"));
    let url = package(&sdk, &second, "2").await;
    cf.update_stack()
        .stack_name(&stack)
        .template_url(url)
        .set_capabilities(Some(capabilities.to_vec()))
        .parameters(
            Parameter::builder()
                .parameter_key("ApprovalTimeoutSeconds")
                .parameter_value("7200")
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (status, why) = settle(&cf, &stack).await;
    assert_eq!(status, StackStatus::UpdateComplete, "{why}");
    let after = definition(&sfn, &state_machine).await;
    let called_after = versions_called(&after);
    assert_eq!(called_after.len(), 7, "{called_after:?}");
    assert!(
        called_after.is_disjoint(&called_before),
        "new code is new versions: {called_before:?} → {called_after:?}"
    );
    assert!(
        after.contains("7200"),
        "the update's parameter is in the definition"
    );
    // The waiting run's versions are still there to finish on: each is
    // retained, and its function is the same function.
    for version in &called_before {
        let (function, number) = version.rsplit_once(':').unwrap();
        let got = lambda
            .get_function_configuration()
            .function_name(function)
            .qualifier(number)
            .send()
            .await
            .unwrap_or_else(|e| panic!("{version} is gone after the update: {e:?}"));
        assert_eq!(got.version(), Some(number));
    }
    let waiting = dynamodb
        .get_item()
        .table_name(&table)
        .set_key(Some(item_key.clone()))
        .send()
        .await
        .unwrap();
    assert_eq!(
        waiting
            .item()
            .and_then(|i| i["status"].as_s().ok())
            .map(String::as_str),
        Some("pending")
    );

    // Delete, as `sam delete` does.
    cf.delete_stack().stack_name(&stack).send().await.unwrap();
    let (status, why) = settle(&cf, &stack).await;
    assert_eq!(status, StackStatus::DeleteComplete, "{why}");

    // Gone: the state machine and the functions.
    assert!(
        sfn.describe_state_machine()
            .state_machine_arn(&state_machine)
            .send()
            .await
            .is_err(),
        "the state machine outlived the stack"
    );
    for version in &called_before {
        let (function, _) = version.rsplit_once(':').unwrap();
        assert!(
            lambda
                .get_function()
                .function_name(function)
                .send()
                .await
                .is_err(),
            "{function} outlived the stack"
        );
    }
    // Kept and readable: the audit table and its item, the key that encrypts
    // it (enabled, not scheduled for deletion) and its alias, the buckets and
    // their objects.
    let kept = dynamodb
        .describe_table()
        .table_name(&table)
        .send()
        .await
        .unwrap_or_else(|e| panic!("the table did not outlive the stack: {e:?}"));
    let encrypted_with = kept
        .table()
        .and_then(|t| t.sse_description())
        .and_then(|s| s.kms_master_key_arn())
        .expect("the table is encrypted with the stack's key")
        .to_owned();
    let key = kms
        .describe_key()
        .key_id(&encrypted_with)
        .send()
        .await
        .unwrap();
    let key = key.key_metadata().unwrap();
    assert_eq!(
        key.key_state(),
        Some(&aws_sdk_kms::types::KeyState::Enabled),
        "the table's key must stay usable after sam delete"
    );
    assert!(key.deletion_date().is_none());
    let aliases = kms.list_aliases().send().await.unwrap();
    let alias = aliases
        .aliases()
        .iter()
        .find(|a| a.alias_name() == Some(key_alias.as_str()))
        .unwrap_or_else(|| panic!("the alias {key_alias} did not outlive the stack"));
    assert_eq!(alias.target_key_id(), Some(key.key_id()));
    let read = dynamodb
        .get_item()
        .table_name(&table)
        .set_key(Some(item_key))
        .send()
        .await
        .unwrap();
    assert!(
        read.item().is_some(),
        "the trail's item is readable after sam delete"
    );
    for (bucket, key) in kept_objects {
        let body = s3.get_object().bucket(bucket).key(key).send().await;
        let body = body
            .unwrap_or_else(|e| panic!("s3://{bucket}/{key} did not outlive the stack: {e:?}"))
            .body
            .collect()
            .await
            .unwrap()
            .into_bytes();
        assert_eq!(&body[..], b"kept");
    }
}
