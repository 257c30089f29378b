//! A bad deployment fails at init, naming the variable, before any event.

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    reason = "in a test a failed unwrap is a failed test"
)]

#[test]
fn fails_at_init_on_an_example_without_its_label_and_on_a_load_too_large() {
    for (name, value, says) in [
        ("STAGING_EXAMPLES", "4.5,1.3,0.3,0.3", "is not row=label"),
        ("STAGING_REQUESTS", "5000", "must be 1 to 1000"),
        (
            "STAGING_MAX_P99_MS",
            "-1",
            "positive number of milliseconds",
        ),
    ] {
        let out = testkit::init_failure_output(
            env!("CARGO_BIN_EXE_test-staging"),
            &[
                ("ENDPOINT_NAME", "iris-staging"),
                ("ARTIFACT_BUCKET", "artifacts"),
                (name, value),
            ],
        );
        assert!(
            out.contains(name),
            "the message does not name {name}: {out}"
        );
        assert!(
            out.contains(says),
            "the message does not say {says:?}: {out}"
        );
    }
}
