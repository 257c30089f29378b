//! A bad deployment fails at init, naming the variable, before any event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

#[test]
fn fails_at_init_without_a_topic() {
    let out = testkit::init_failure_output(
        env!("CARGO_BIN_EXE_record-metadata"),
        &[("TABLE_NAME", "runs"), ("NOTIFICATION_TOPIC_ARN", "")],
    );
    assert!(
        out.contains("NOTIFICATION_TOPIC_ARN"),
        "the message does not name NOTIFICATION_TOPIC_ARN: {out}"
    );
    assert!(
        out.contains("is not set"),
        "the message does not say what is wrong: {out}"
    );
}
