//! A GET: the approval page, or the page saying where the approval stands.
//! It never changes anything and never calls Step Functions.

use askama::Template;
use lambda_http::{Body, Request, Response};
use shared::clock::{epoch_seconds as now, rfc3339};

use crate::decide::{self, View};
use crate::{State, evidence, page, store, target};

pub(crate) async fn show(state: &State, request: &Request) -> Response<Body> {
    let (hash, bound, found) = match target(state, request).await {
        Ok(found) => found,
        Err(page) => return *page,
    };
    let loaded = match found {
        Some(a) => Ok(Some(a)),
        None => store::load(state, &hash).await,
    };
    let approval = match loaded {
        Ok(Some(a)) => a,
        Ok(None) => return page::not_found(),
        Err(failure) => {
            tracing::error!(approval = %hash, error = %failure, "could not read the approval");
            return page::unavailable();
        }
    };
    tracing::Span::current().record("execution", approval.execution_name.as_str());
    match decide::view(&approval, now()) {
        View::Decide => {
            let evidence = evidence::gather(state, &approval).await;
            let page = page::ApprovalPage {
                bound: bound.as_deref(),
                a: &approval,
                rows: approval.comparison(),
                sample: evidence.sample,
                matrices: evidence.matrices,
                expires: rfc3339(approval.deadline),
                staging_rows: crate::approval::Approval::staging_comparison(
                    evidence.staging.as_ref(),
                    evidence.champion_staging.as_ref(),
                ),
            };
            match page.render() {
                Ok(body) => page::html(200, body),
                Err(e) => {
                    tracing::error!(error = %e, "could not render the page");
                    page::unavailable()
                }
            }
        }
        View::Expired => page::expired(&approval),
        View::Deciding => page::message(
            200,
            "A decision is being recorded",
            "Someone has just decided on this model. Reload this page in a moment to see the result.",
            Vec::new(),
        ),
        View::Decided => page::decided(200, &approval, "Already decided"),
    }
}
