//! The mlops command reads, from moto, a trail written by record-metadata.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

mod common;

use lambda_runtime::{Context, LambdaEvent};
use serde_json::json;
use shared::contract::RecordInput;
use testkit::unique;

fn input(file: &str, execution: &str) -> RecordInput {
    let mut e: serde_json::Value =
        serde_json::from_str(&testkit::event_text("record-metadata", file)).unwrap();
    e["executionName"] = json!(execution);
    serde_json::from_value(e).unwrap()
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn lists_runs_and_shows_a_trail_in_order() {
    let (world, state) = common::recorder("eu-west-3").await;
    let table = world.name("Table");
    let execution = unique("run");
    for file in ["started.json", "failed.json"] {
        record_metadata::handle(
            &state,
            LambdaEvent::new(input(file, &execution), Context::default()),
        )
        .await
        .unwrap();
    }

    let mlops = |args: &[&str]| {
        let out = common::mlops(&world)
            .args(args)
            .env("TABLE_NAME", &table)
            .output()
            .unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (ok, listed, _) = mlops(&["runs"]);
    assert!(ok);
    let line = listed.lines().find(|l| l.starts_with(&execution)).unwrap();
    assert!(
        line.contains("failed") && line.contains("0123abc"),
        "{line}"
    );

    let (ok, shown, _) = mlops(&["runs", "show", &execution]);
    assert!(ok);
    let started = shown.find("started").unwrap();
    let failed = shown.find("QualityGateFailed").unwrap();
    let summary = shown.find("summary").unwrap();
    assert!(started < failed && failed < summary, "{shown}");

    // Filters and JSON: by status, by start time, for scripts.
    let json_of = |args: &[&str]| -> Vec<serde_json::Value> {
        let (ok, out, err) = mlops(args);
        assert!(ok, "{err}");
        serde_json::from_str::<serde_json::Value>(&out)
            .unwrap()
            .as_array()
            .unwrap()
            .clone()
    };
    let ours = |runs: &[serde_json::Value]| {
        runs.iter()
            .any(|r| r["executionName"] == execution.as_str())
    };
    let failed = json_of(&["runs", "--status", "failed", "--output", "json"]);
    assert!(
        ours(&failed) && failed.iter().all(|r| r["status"] == "failed"),
        "{failed:?}"
    );
    assert!(!ours(&json_of(&[
        "runs",
        "--status",
        "succeeded",
        "--output",
        "json"
    ])));
    // The sample run started on 2026-11-21.
    assert!(ours(&json_of(&[
        "runs",
        "--since",
        "2026-11-21",
        "--output",
        "json"
    ])));
    assert!(!ours(&json_of(&[
        "runs",
        "--since",
        "2026-11-22",
        "--output",
        "json"
    ])));
    let (ok, _, err) = mlops(&["runs", "--since", "last tuesday"]);
    assert!(!ok && err.contains("neither a duration"), "{err}");

    println!("{listed}\n{shown}");
    let (ok, _, err) = mlops(&["runs", "show", "no-such-run"]);
    assert!(!ok && err.contains("no run \"no-such-run\""), "{err}");
}
