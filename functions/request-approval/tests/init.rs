//! A bad deployment fails at init, naming the variable, before any event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

#[test]
fn fails_at_init_on_a_link_that_is_not_https() {
    let out = testkit::init_failure_output(
        env!("CARGO_BIN_EXE_request-approval"),
        &[
            ("TABLE_NAME", "runs"),
            (
                "APPROVAL_TOPIC_ARN",
                "arn:aws:sns:us-east-1:123456789012:approvals",
            ),
            ("APPROVAL_BASE_URL", "ftp://example.com"),
        ],
    );
    assert!(
        out.contains("APPROVAL_BASE_URL"),
        "the message does not name APPROVAL_BASE_URL: {out}"
    );
    assert!(
        out.contains("must be an https:// URL"),
        "the message does not say what is wrong: {out}"
    );
}
