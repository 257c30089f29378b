//! An approval decided in the moment between a lost request and its retry:
//! the first approval task is gone (its answer was lost after the email went
//! out) and Step Functions has not yet asked again under a new token. A
//! binary of its own, so its rig has a region to itself (tests/paths.rs
//! holds every region moto's CodePipeline has).

#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    reason = "in a test a failed unwrap is a failed test"
)]

mod common;

use common::*;

#[tokio::test]
#[ignore = "needs the moto server: run `make test`"]
async fn a_decision_before_the_retried_request_reopens_the_approval_and_the_next_one_goes_on() {
    let rig = rig("eu-west-2", &[]).await;
    let execution = "run-retried-request";
    rig.lose_next_answer("RequestApproval", "Lambda.ServiceException");
    let (arn, link) = run_to_approval(&rig, execution, "0123abc").await;
    // The first task is gone; its retry has not run yet (the rig has not
    // pumped it). Before, this decision marked the approval expired and the
    // run waited for an approval nobody could give until its timeout.
    let (status, page) = rig.decide(&link, "approve", "ana@example.com", "looks fine");
    assert_eq!(status, 503, "{page}");
    assert!(page.contains("Not recorded yet"), "{page}");
    rig.pump_until("the request retried", |calls| {
        calls
            .iter()
            .filter(|c| c.function == "request-approval")
            .count()
            == 2
    })
    .await
    .unwrap();
    // The retry found the approval pending and moved it to its own token:
    // no second email, and the same link decides.
    assert!(rig.approval_link().await.is_err(), "no second email");
    approve(&rig, &link);
    let (status, error, cause) = rig.finish(&arn).await.unwrap();
    assert_eq!((status.as_str(), error), ("SUCCEEDED", None), "{cause:?}");
    let approved = records(&rig.calls())
        .into_iter()
        .filter(|r| r.stage == shared::contract::Stage::Approved)
        .count();
    assert_eq!(approved, 1);
}
