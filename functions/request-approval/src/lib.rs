//! request-approval's handler: store the task token, email a link to the
//! approval page, once per task however often the state machine retries.

mod config;
mod email;
mod guard;
mod reminder;

use lambda_runtime::LambdaEvent;
use shared::contract::{RequestApprovalInput, RequestApprovalOutput};
use shared::items::{self, ChampionItem};
use shared::{ApprovalId, ErrorName, Failure, aws, keys};

pub use config::{Config, Reminder};
pub use email::{Champion, ChampionLookup, compared, email};
pub use reminder::{reminder_time, schedule_retries};

use guard::Emailing;

/// How long an approval item outlives its expiry before DynamoDB's TTL removes it.
pub const KEEP_AFTER_EXPIRY: u64 = 30 * 24 * 3600;
/// Step Functions' longest task timeout we accept (one year).
pub const MAX_TIMEOUT: u64 = 365 * 24 * 3600;

#[derive(Debug)]
pub struct State {
    pub config: Config,
    pub dynamodb: aws_sdk_dynamodb::Client,
    pub sns: aws_sdk_sns::Client,
    pub scheduler: aws_sdk_scheduler::Client,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            config,
            dynamodb: aws_sdk_dynamodb::Client::new(sdk),
            sns: aws_sdk_sns::Client::new(sdk),
            scheduler: aws_sdk_scheduler::Client::new(sdk),
        }
    }
}

/// A new approval id: 128 bits from the OS random source.
pub fn new_approval_id() -> Result<ApprovalId, Failure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::new(ErrorName::AwsUnavailable, format!("no OS randomness: {e}")))?;
    Ok(ApprovalId::from_bytes(bytes))
}

fn validate(input: &RequestApprovalInput) -> Result<(), Failure> {
    if input.task_token.reveal().trim().is_empty() || input.task_token.reveal().len() > 4096 {
        return Err(Failure::invalid_input(
            "taskToken must be $$.Task.Token (1 to 4096 characters)",
        ));
    }
    if !(1..=MAX_TIMEOUT).contains(&input.timeout_seconds) {
        return Err(Failure::invalid_input(
            "timeoutSeconds must be 1 to 31536000 (the state's TimeoutSeconds)",
        ));
    }
    for (field, value) in [
        ("executionArn", &input.execution_arn),
        ("executionName", &input.execution_name),
        ("modelName", &input.model_name),
    ] {
        if value.trim().is_empty() {
            return Err(Failure::invalid_input(format!("{field} must not be empty")));
        }
    }
    Ok(())
}

/// The version the endpoint serves now, as record-metadata recorded it.
async fn champion(state: &State, endpoint: &str) -> Result<ChampionLookup, Failure> {
    let got = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::champion(endpoint).attributes()))
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (champion)", &e))?;
    let Some(item) = got.item else {
        return Ok(ChampionLookup::NoneDeployed);
    };
    let champion: ChampionItem = items::from_item(item, "the champion")?;
    Ok(ChampionLookup::Deployed(Champion {
        execution_name: champion.execution_name,
        model_package_arn: champion.model_package_arn,
        metrics: champion.held_out_metrics.unwrap_or_default(),
        model_quality_uri: champion.model_quality_uri,
    }))
}

pub async fn handle(
    state: &State,
    event: LambdaEvent<RequestApprovalInput>,
) -> Result<RequestApprovalOutput, Failure> {
    let input = event.payload;
    validate(&input)?;
    let champion = match &input.endpoint_name {
        Some(endpoint) => champion(state, endpoint).await?,
        None => ChampionLookup::NotLooked,
    };
    let now = shared::clock::epoch_seconds();
    let emailing = guard::create_or_find(state, &input, &champion, now).await?;
    let hash = match &emailing {
        Emailing::Sent { hash } => hash.clone(),
        Emailing::New { id, links } => {
            if links.is_empty() {
                let link = email::link(state, id);
                email::send(state, &input, &champion, &link, None, now).await?;
            } else {
                email::send_links(state, &input, &champion, links, now).await?;
            }
            guard::mark_emailed(state, &input).await?;
            id.hash()
        }
        Emailing::Resumed { hash, links } => {
            email::send_links(state, &input, &champion, links, now).await?;
            guard::mark_emailed(state, &input).await?;
            hash.clone()
        }
    };
    // The id itself is never logged or answered: only its hash, which every
    // later line of this invocation carries in its span.
    tracing::Span::current().record("approval", hash.as_str());
    reminder::remind(state, &input, &hash, now).await;
    let emailed_now = matches!(emailing, Emailing::New { .. });
    if emailed_now {
        let mut emf = shared::metrics::Emf::new();
        emf.put(shared::metrics::APPROVALS_REQUESTED, 1.0)
            .property("executionName", input.execution_name.as_str())
            .property("approvalHash", hash.as_str());
        emf.emit();
    }
    tracing::info!(already_emailed = !emailed_now, "approval requested");
    Ok(RequestApprovalOutput {
        approval_hash: hash,
    })
}

#[cfg(test)]
mod tests;
