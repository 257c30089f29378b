//! What the approver reads: the email with the one link, each held-out
//! figure beside the deployed version's, sent through the approvals topic.

use shared::Failure;
use shared::aws;
use shared::contract::{DeployStage, RequestApprovalInput};

use crate::State;
use crate::guard::{Link, mark_sent};

/// The version an endpoint serves now, as record-metadata recorded its deploy.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Champion {
    pub execution_name: String,
    pub model_package_arn: Option<String>,
    pub metrics: shared::contract::Metrics,
    pub model_quality_uri: Option<String>,
}

/// Whether a champion was looked up, and what was found.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum ChampionLookup {
    /// No endpoint named: nothing to compare with (an older caller).
    #[default]
    NotLooked,
    /// Nothing is deployed yet: this would be the first model.
    NoneDeployed,
    Deployed(Champion),
}

/// `value` beside the champion's: `0.9667 (deployed now: 0.9333, +0.0334)`.
pub fn compared(name: &str, value: f64, champion: &ChampionLookup) -> String {
    match champion {
        ChampionLookup::Deployed(c) => match c.metrics.get(name) {
            Some(before) => format!("{value} (deployed now: {before}, {:+.4})", value - before),
            None => format!("{value} (deployed now: not measured)"),
        },
        _ => value.to_string(),
    }
}

/// The email: what to review, until when, and the one link (no token, no decision in it).
pub fn email(
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    link: &str,
    deadline: u64,
) -> (String, String) {
    let production = input.deploy_stage == Some(DeployStage::Production);
    let subject: String = format!(
        "[mlops] {}pproval needed: {}",
        if production { "Production a" } else { "A" },
        input.execution_name
    )
    .chars()
    .filter(|c| !c.is_control())
    .take(100)
    .collect();
    let mut lines = vec![
        if production {
            "A model that passed its staging test is waiting for your decision before it goes to production.".to_owned()
        } else {
            "A trained model is waiting for your decision before it goes live.".to_owned()
        },
        String::new(),
    ];
    lines.extend(evidence(input, champion));
    lines.extend([
        format!("Decide before: {}", shared::clock::rfc3339(deadline)),
        String::new(),
        "Review the run and approve or reject it here:".into(),
        link.to_owned(),
        String::new(),
        "Opening the link decides nothing: the page has Approve and Reject buttons.".into(),
    ]);
    (subject, lines.join("\n"))
}

/// What the approver reviews, a line each: the run, what the endpoint
/// serves now, the held-out figures beside it, and what the version learned
/// from and was judged on.
fn evidence(input: &RequestApprovalInput, champion: &ChampionLookup) -> Vec<String> {
    let mut lines = vec![
        format!("Run: {}", input.execution_name),
        format!("Commit: {}", input.commit_id),
        format!("Model: {}", input.model_name),
        format!("Training job: {}", input.training_job_name),
    ];
    match champion {
        ChampionLookup::Deployed(c) => lines.push(format!(
            "Deployed now: {} (run {})",
            c.model_package_arn
                .as_deref()
                .unwrap_or("a version without a registry entry"),
            c.execution_name
        )),
        ChampionLookup::NoneDeployed => lines.push(
            "Deployed now: nothing yet; this would be the endpoint's first model.".to_owned(),
        ),
        ChampionLookup::NotLooked => {}
    }
    for (name, value) in &input.metrics {
        lines.push(format!(
            "Held-out {name}: {}",
            compared(name, *value, champion)
        ));
    }
    if let Some(uri) = &input.training_data_uri {
        lines.push(format!("Trained on: {uri}"));
    }
    if let Some(version) = &input.data_version_id {
        lines.push(format!("Data version: {version}"));
    }
    if let Some(uri) = &input.test_data_uri {
        match &input.test_data_version_id {
            Some(version) => lines.push(format!("Held-out data: {uri} (S3 version {version})")),
            None => lines.push(format!("Held-out data: {uri}")),
        }
    }
    if let Some(uri) = &input.data_manifest_uri {
        lines.push(format!("Every object read, with its version: {uri}"));
    }
    lines.push(format!(
        "Batch predictions on held-out data: {}",
        input.transform_output_uri
    ));
    lines.extend(staging_lines(input));
    lines
}

/// Production's approval: what the staging endpoint did with the version.
fn staging_lines(input: &RequestApprovalInput) -> Vec<String> {
    let mut lines = Vec::new();
    if let Some(f) = &input.staging {
        lines.push(format!(
            "Staging: {} of {} held-out rows as the batch transform, {} of {} examples, {} requests, {:.1}% errors, p50 {:.1} ms, p99 {:.1} ms",
            f.agreed, f.compared, f.examples_passed, f.examples, f.requests, f.error_percent, f.p50_ms, f.p99_ms
        ));
    }
    if let Some(uri) = &input.staging_report_uri {
        lines.push(format!("Staging report: {uri}"));
    }
    lines
}

/// One email: the link, to an approver's address alone when named (the
/// topic's subscriptions filter on the `approver` attribute), else to whoever
/// subscribed.
pub(crate) async fn send(
    state: &State,
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    link: &str,
    to: Option<&str>,
    now: u64,
) -> Result<(), Failure> {
    let (subject, mut body) = email(input, champion, link, now + input.timeout_seconds);
    let mut publish = state
        .sns
        .publish()
        .topic_arn(&state.config.topic_arn)
        .subject(subject);
    if let Some(address) = to {
        body.push_str(&format!(
            "\nThis link is yours ({address}): a decision made with it is recorded as yours, so do not forward it.{}",
            if state.config.approvers_for(input.deploy_stage).1 > 1 {
                format!(" The model goes on once {} approvers have approved; a rejection by any one rejects it.", state.config.approvers_for(input.deploy_stage).1)
            } else {
                String::new()
            }
        ));
        publish = publish.message_attributes(
            "approver",
            aws_sdk_sns::types::MessageAttributeValue::builder()
                .data_type("String")
                .string_value(address)
                .build()
                .map_err(|e| Failure::invalid_input(e.to_string()))?,
        );
    }
    publish
        .message(body)
        .send()
        .await
        .map_err(|e| aws::failure("Publish (approval email)", &e))?;
    Ok(())
}

/// Each named approver's own link, to their address; each one recorded as
/// sent once it went, so a retry after a failure partway sends only the rest.
pub(crate) async fn send_links(
    state: &State,
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    links: &[Link],
    now: u64,
) -> Result<(), Failure> {
    for (link_id, email) in links {
        send(
            state,
            input,
            champion,
            &link(state, link_id),
            Some(email),
            now,
        )
        .await?;
        mark_sent(state, input, email).await?;
    }
    Ok(())
}

/// The page of an approval id: the one place the id goes.
pub(crate) fn link(state: &State, id: &shared::ApprovalId) -> String {
    format!(
        "{}/approvals/{}",
        state.config.approval_base_url,
        id.reveal()
    )
}
