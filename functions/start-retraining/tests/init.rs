//! A bad deployment fails at init, naming the variable, before any event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

#[test]
fn fails_at_init_without_a_pipeline_name() {
    let out = testkit::init_failure_output(
        env!("CARGO_BIN_EXE_start-retraining"),
        &[("TABLE_NAME", "runs")],
    );
    assert!(
        out.contains("PIPELINE_NAME"),
        "the message does not name PIPELINE_NAME: {out}"
    );
    assert!(
        out.contains("is not set"),
        "the message does not say what is wrong: {out}"
    );
}
