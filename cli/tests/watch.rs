//! `mlops runs watch` against moto, while record-metadata moves a run through
//! its stages: each stage once, in order, as plain lines (stdout is a pipe),
//! then the outcome and what to do next; the exit status says how it ended.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

mod common;

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use lambda_runtime::{Context, LambdaEvent};
use serde_json::{Value, json};
use shared::contract::RecordInput;
use testkit::rig::World;
use testkit::unique;

fn record(execution: &str, stage: &str, status: &str, minute: u32, details: Value) -> RecordInput {
    serde_json::from_value(json!({
        "executionName": execution,
        "stage": stage,
        "status": status,
        "enteredTime": format!("2026-11-21T10:{minute:02}:00.000Z"),
        "details": details,
    }))
    .unwrap()
}

fn watch(world: &World, execution: &str) -> Child {
    common::mlops(world)
        .args(["runs", "watch", execution, "--interval", "0.2"])
        .env("TABLE_NAME", world.name("Table"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap()
}

/// Waits up to 30 s for the watcher to end: (success, stdout, stderr).
fn finish(mut child: Child) -> (bool, String, String) {
    let started = Instant::now();
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("watch did not end after the run ended");
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let (mut out, mut err) = (String::new(), String::new());
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut out)
        .unwrap();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    (status.success(), out, err)
}

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn follows_a_run_stage_by_stage_and_says_how_it_ended() {
    let (world, state) = common::recorder("eu-north-1").await;
    let table = world.name("Table");
    let pause = || tokio::time::sleep(Duration::from_millis(700));

    // A run that succeeds; the watcher starts before the run records anything.
    let execution = unique("run");
    let watcher = watch(&world, &execution);
    // The same on a terminal (util-linux's script gives it one).
    let on_terminal = Command::new("script")
        .arg("-qec")
        .arg(format!(
            "{} runs watch {execution} --interval 0.2",
            env!("CARGO_BIN_EXE_mlops")
        ))
        .arg("/dev/null")
        .env("AWS_REGION", &world.region)
        .env("TABLE_NAME", &table)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux's script (Debian's essential util-linux package)");
    pause().await;
    let stages = [
        ("started", "running", json!({"commitId": "0123abc"})),
        (
            "trained",
            "running",
            json!({"gate": {"metricName": "validation:accuracy", "value": 0.97, "threshold": 0.9}}),
        ),
        ("transformed", "running", json!({})),
        (
            "approved",
            "running",
            json!({"approval": {"decision": "approved", "approver": "ana@example.com", "decidedAt": "2026-11-21T10:04:00Z"}}),
        ),
        (
            "deployed",
            "succeeded",
            json!({"endpointName": "iris-model", "modelName": "model-1"}),
        ),
    ];
    for (minute, (stage, status, details)) in (0u32..).zip(stages) {
        let input = record(&execution, stage, status, minute, details);
        record_metadata::handle(&state, LambdaEvent::new(input, Context::default()))
            .await
            .unwrap();
        pause().await;
    }
    let (ok, out, err) = finish(watcher);
    println!("{out}{err}");
    // On the terminal: one block redrawn in place as the stages came, then the outcome.
    let (tty_ok, shown, _) = finish(on_terminal);
    assert!(tty_ok, "{shown}");
    assert!(
        shown.contains("\x1b[J"),
        "the block is redrawn in place:\n{shown}"
    );
    for row in [
        "[x] started",
        "[x] trained and gated",
        "[x] a person's approval",
        "[x] deployed",
    ] {
        assert!(shown.contains(row), "{row}:\n{shown}");
    }
    assert!(shown.contains("succeeded: endpoint iris-model"), "{shown}");
    assert!(ok, "a succeeded run exits 0: {err}");
    assert!(
        !out.contains('\x1b'),
        "no control codes when stdout is not a terminal"
    );
    let at = |needle: &str| {
        let found: Vec<_> = out.match_indices(needle).collect();
        assert_eq!(found.len(), 1, "{needle:?} once:\n{out}");
        found[0].0
    };
    let order = [
        at("waiting for run"),
        at("  started "),
        at("validation:accuracy = 0.97 (threshold 0.9)"),
        at("  transformed "),
        at("waiting for a person's approval"),
        at("approved by ana@example.com"),
        at("  deployed "),
        at("succeeded: endpoint iris-model"),
        at("next: POST"),
    ];
    assert!(order.windows(2).all(|w| w[0] < w[1]), "in order:\n{out}");

    // A run that fails: the cause, how to resume, and a failed exit.
    let failing = unique("run");
    for (minute, (stage, status, details)) in (0u32..).zip([
        ("started", "running", json!({})),
        (
            "failed",
            "failed",
            json!({"error": "TrainingFailed", "cause": "the job ran out of memory"}),
        ),
    ]) {
        let input = record(&failing, stage, status, minute, details);
        record_metadata::handle(&state, LambdaEvent::new(input, Context::default()))
            .await
            .unwrap();
    }
    let (ok, out, err) = finish(watch(&world, &failing));
    assert!(!ok, "a failed run exits non-zero");
    assert!(
        out.contains("failed: TrainingFailed: the job ran out of memory"),
        "{out}"
    );
    assert!(
        out.contains(&format!("mlops runs redrive {failing}")),
        "{out}"
    );
    assert!(err.contains("did not succeed"), "{err}");
}
