//! A bad deployment fails at init, naming the variable, before any event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

#[test]
fn fails_at_init_on_an_endpoint_name_with_a_space() {
    let out = testkit::init_failure_output(
        env!("CARGO_BIN_EXE_invoke-endpoint"),
        &[("ENDPOINT_NAME", "iris classifier")],
    );
    assert!(
        out.contains("ENDPOINT_NAME"),
        "the message does not name ENDPOINT_NAME: {out}"
    );
    assert!(
        out.contains("cannot contain white space"),
        "the message does not say what is wrong: {out}"
    );
}
