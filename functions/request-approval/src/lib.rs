//! request-approval's handler: store the task token, email a link to the
//! approval page, once per task however often the state machine retries.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::{AttributeValue, Put, TransactWriteItem};
use lambda_runtime::LambdaEvent;
use shared::contract::{RequestApprovalInput, RequestApprovalOutput};
use shared::{ConfigError, Env, ErrorName, Failure, aws, keys};

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

/// How long an approval item outlives its expiry before DynamoDB's TTL removes it.
pub const KEEP_AFTER_EXPIRY: u64 = 30 * 24 * 3600;
/// Step Functions' longest task timeout we accept (one year).
pub const MAX_TIMEOUT: u64 = 365 * 24 * 3600;

#[derive(Debug, Clone)]
pub struct Config {
    pub table_name: String,
    pub topic_arn: String,
    /// The API's base URL; the email links to `<base>/approvals/<id>`.
    pub approval_base_url: String,
    /// A one-time schedule this long before the deadline asks record-metadata
    /// whether the approval is still undecided (`ApprovalsNearDeadline`).
    pub reminder: Option<Reminder>,
    /// The named approvers: each gets a link of their own, bound to their
    /// address. Empty: one link, and the approver is the name typed.
    pub approvers: Vec<String>,
    /// Distinct approvers needed before the run goes on (with named approvers).
    pub required: usize,
}

/// The approvers from `APPROVERS` (comma-separated addresses) and
/// `REQUIRED_APPROVALS` (default 1, at most the number of approvers).
fn approvers(env: &Env) -> Result<(Vec<String>, usize), ConfigError> {
    let listed = env.optional("APPROVERS").unwrap_or_default();
    let approvers: Vec<String> = listed
        .split(',')
        .map(str::trim)
        .filter(|a| !a.is_empty())
        .map(str::to_owned)
        .collect();
    let invalid = |name: &str, value: String, reason: &str| ConfigError::Invalid {
        name: name.into(),
        value,
        reason: reason.into(),
    };
    if let Some(bad) = approvers.iter().find(|a| {
        a.len() > 254 || !a.contains('@') || a.chars().any(|c| c.is_whitespace() || c.is_control())
    }) {
        return Err(invalid(
            "APPROVERS",
            bad.clone(),
            "each approver is an email address",
        ));
    }
    let mut unique = approvers.clone();
    unique.sort();
    unique.dedup();
    if unique.len() != approvers.len() || approvers.len() > 5 {
        return Err(invalid(
            "APPROVERS",
            listed,
            "at most five distinct addresses",
        ));
    }
    let required: usize = env.parsed_or("REQUIRED_APPROVALS", 1usize)?;
    if required == 0 || required > approvers.len().max(1) {
        return Err(invalid(
            "REQUIRED_APPROVALS",
            required.to_string(),
            "must be at least 1 and at most the number of APPROVERS (1 without any)",
        ));
    }
    Ok((approvers, required))
}

#[derive(Debug, Clone)]
pub struct Reminder {
    pub seconds_before: u64,
    /// record-metadata's ARN: the schedule invokes it.
    pub target_arn: String,
    /// The role the schedule invokes it as.
    pub role_arn: String,
    /// Where the Scheduler puts a reminder whose target still fails after its
    /// retries (`SCHEDULE_DLQ_ARN`), so that UnfiredSchedulesAlarm says so.
    pub dead_letter_arn: Option<String>,
    /// This stack's token (`NAME_TOKEN`), in the schedule's name.
    pub name_token: shared::naming::StackToken,
}

impl Reminder {
    fn from_env(env: &Env) -> Result<Option<Self>, ConfigError> {
        let seconds_before = env.parsed_or("APPROVAL_REMINDER_SECONDS", 0u64)?;
        if seconds_before == 0 {
            return Ok(None);
        }
        let needed = |name: &str| {
            env.optional(name)
                .filter(|v| v.starts_with("arn:"))
                .ok_or_else(|| ConfigError::Invalid {
                    name: name.into(),
                    value: env.optional(name).unwrap_or_default(),
                    reason: "must be an ARN when APPROVAL_REMINDER_SECONDS is not 0".into(),
                })
        };
        Ok(Some(Reminder {
            seconds_before,
            target_arn: needed("REMINDER_TARGET_ARN")?,
            role_arn: needed("SCHEDULER_ROLE_ARN")?,
            dead_letter_arn: env.optional("SCHEDULE_DLQ_ARN"),
            name_token: env.required_parsed("NAME_TOKEN")?,
        }))
    }
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        let approval_base_url = env.required("APPROVAL_BASE_URL")?;
        if !approval_base_url.starts_with("https://")
            && !approval_base_url.starts_with("http://127.0.0.1")
        {
            return Err(ConfigError::Invalid {
                name: "APPROVAL_BASE_URL".into(),
                value: approval_base_url,
                reason: "must be an https:// URL (or http://127.0.0.1 for the local run)".into(),
            });
        }
        let (approvers, required) = approvers(env)?;
        Ok(Config {
            table_name: env.resource_name("TABLE_NAME")?,
            topic_arn: env.resource_name("APPROVAL_TOPIC_ARN")?,
            approval_base_url: approval_base_url.trim_end_matches('/').to_owned(),
            reminder: Reminder::from_env(env)?,
            approvers,
            required,
        })
    }
}

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

/// A new approval id: 128 bits from the OS random source, as 32 hex characters (URL-safe).
pub fn new_approval_id() -> Result<String, Failure> {
    let mut bytes = [0u8; 16];
    getrandom::fill(&mut bytes)
        .map_err(|e| Failure::new(ErrorName::AwsUnavailable, format!("no OS randomness: {e}")))?;
    Ok(bytes.iter().map(|b| format!("{b:02x}")).collect())
}

/// Whether `id` has the shape of an approval id (checked before any lookup).
pub fn is_approval_id(id: &str) -> bool {
    id.len() == 32
        && id
            .bytes()
            .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

fn validate(input: &RequestApprovalInput) -> Result<(), Failure> {
    if input.task_token.trim().is_empty() || input.task_token.len() > 4096 {
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

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

/// The approval item: everything the page shows, the token, the deadline.
fn approval_item(
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    id: &str,
    now: u64,
    required: usize,
) -> HashMap<String, AttributeValue> {
    let key = keys::approval(id);
    let deadline = now + input.timeout_seconds;
    let mut item = HashMap::from([
        (keys::PK.to_owned(), s(key.pk)),
        (keys::SK.to_owned(), s(key.sk)),
        ("status".to_owned(), s("pending")),
        ("taskToken".to_owned(), s(&input.task_token)),
        ("executionArn".to_owned(), s(&input.execution_arn)),
        ("executionName".to_owned(), s(&input.execution_name)),
        ("commitId".to_owned(), s(&input.commit_id)),
        ("modelName".to_owned(), s(&input.model_name)),
        ("trainingJobName".to_owned(), s(&input.training_job_name)),
        (
            "transformOutputUri".to_owned(),
            s(&input.transform_output_uri),
        ),
        ("createdAt".to_owned(), n(now)),
        ("deadline".to_owned(), n(deadline)),
        (keys::TTL.to_owned(), n(deadline + KEEP_AFTER_EXPIRY)),
    ]);
    if let Some(version) = &input.data_version_id {
        item.insert("dataVersionId".into(), s(version));
    }
    if let Some(uri) = &input.training_data_uri {
        item.insert("trainingDataUri".into(), s(uri));
    }
    if let Some(uri) = &input.test_data_uri {
        item.insert("testDataUri".into(), s(uri));
    }
    if let Some(version) = &input.test_data_version_id {
        item.insert("testDataVersionId".into(), s(version));
    }
    if let Some(uri) = &input.data_manifest_uri {
        item.insert("dataManifestUri".into(), s(uri));
    }
    let metrics: HashMap<_, _> = input
        .metrics
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k.clone(), n(v)))
        .collect();
    item.insert("metrics".into(), AttributeValue::M(metrics));
    if let Some(uri) = &input.model_quality_uri {
        item.insert("modelQualityUri".into(), s(uri));
    }
    if required > 0 {
        // Decided only through the approvers' own links, by this many of them.
        item.insert("required".into(), n(required as u64));
        item.insert("boundOnly".into(), AttributeValue::Bool(true));
    }
    match champion {
        ChampionLookup::NotLooked => {}
        ChampionLookup::NoneDeployed => {
            item.insert("championKnown".into(), AttributeValue::Bool(false));
        }
        ChampionLookup::Deployed(c) => {
            item.insert("championKnown".into(), AttributeValue::Bool(true));
            item.insert("championExecution".into(), s(&c.execution_name));
            if let Some(arn) = &c.model_package_arn {
                item.insert("championVersion".into(), s(arn));
            }
            if let Some(uri) = &c.model_quality_uri {
                item.insert("championQualityUri".into(), s(uri));
            }
            let metrics: HashMap<_, _> = c
                .metrics
                .iter()
                .filter(|(_, v)| v.is_finite())
                .map(|(k, v)| (k.clone(), n(v)))
                .collect();
            item.insert("championMetrics".into(), AttributeValue::M(metrics));
        }
    }
    item
}

/// The version the endpoint serves now, as record-metadata recorded it.
async fn champion(state: &State, endpoint: &str) -> Result<ChampionLookup, Failure> {
    let key = keys::champion(endpoint);
    let got = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (champion)", &e))?;
    let Some(item) = got.item() else {
        return Ok(ChampionLookup::NoneDeployed);
    };
    let text = |name: &str| item.get(name).and_then(|v| v.as_s().ok()).cloned();
    let metrics = item
        .get("heldOutMetrics")
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_n().ok()?.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default();
    Ok(ChampionLookup::Deployed(Champion {
        execution_name: text("executionName").unwrap_or_default(),
        model_package_arn: text("modelPackageArn"),
        metrics,
        model_quality_uri: text("modelQualityUri"),
    }))
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
    let subject: String = format!("[mlops] Approval needed: {}", input.execution_name)
        .chars()
        .filter(|c| !c.is_control())
        .take(100)
        .collect();
    let expires = shared::clock::rfc3339(deadline);
    let mut lines = vec![
        "A trained model is waiting for your decision before it goes live.".to_owned(),
        String::new(),
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
    lines.push(format!("Decide before: {expires}"));
    lines.push(String::new());
    lines.push("Review the run and approve or reject it here:".into());
    lines.push(link.to_owned());
    lines.push(String::new());
    lines.push("Opening the link decides nothing: the page has Approve and Reject buttons.".into());
    (subject, lines.join("\n"))
}

fn put(
    table: &str,
    item: HashMap<String, AttributeValue>,
    condition: &str,
) -> Result<TransactWriteItem, Failure> {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression(condition)
        .build()
        .map(|p| TransactWriteItem::builder().put(p).build())
        .map_err(|e| Failure::invalid_input(e.to_string()))
}

fn cancelled(
    err: &aws_sdk_dynamodb::error::SdkError<
        aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError,
    >,
) -> bool {
    err.as_service_error()
        .is_some_and(|e| e.is_transaction_canceled_exception())
}

/// One approver's link: its own id, pointing at the approval by its hash,
/// bound to the approver's address.
fn link_item(
    input: &RequestApprovalInput,
    link_id: &str,
    group_hash: &str,
    email: &str,
    now: u64,
) -> HashMap<String, AttributeValue> {
    let key = keys::approval(link_id);
    HashMap::from([
        (keys::PK.to_owned(), s(key.pk)),
        (keys::SK.to_owned(), s(key.sk)),
        ("groupHash".to_owned(), s(group_hash)),
        ("approverEmail".to_owned(), s(email)),
        (
            keys::TTL.to_owned(),
            n(now + input.timeout_seconds + KEEP_AFTER_EXPIRY),
        ),
    ])
}

/// A link of its own for each named approver: (link id, address).
fn new_links(state: &State) -> Result<Vec<(String, String)>, Failure> {
    state
        .config
        .approvers
        .iter()
        .map(|email| Ok((new_approval_id()?, email.clone())))
        .collect()
}

/// What the next step must do for this task.
#[derive(Debug, PartialEq, Eq)]
enum Approval {
    /// A new approval: email its link, or each approver their own. The
    /// approval's own id is then never sent anywhere.
    New {
        id: String,
        links: Vec<(String, String)>,
    },
    /// A retry after a send that failed partway: the approval (and every vote
    /// on it) stays, and so does every link that went out; these approvers,
    /// whose email did not, get a new link of their own.
    Resumed {
        hash: String,
        links: Vec<(String, String)>,
    },
    /// A retry whose approval was emailed: nothing more.
    Emailed { hash: String },
}

/// The guard's key: the approval state's entry, which every retry of the task
/// shares (Step Functions may give each attempt a token of its own); the
/// token's hash for a caller that does not pass the entry time.
fn guard_key(input: &RequestApprovalInput) -> keys::Key {
    match &input.entered_time {
        Some(entered) => keys::approval_request(&input.execution_arn, entered),
        None => keys::approval_task(&input.task_token),
    }
}

/// Creates the approval and its guard in one transaction. The table holds only
/// the id's hash, so a retry cannot send the same link again: when the first
/// call's email did not go out, the retry replaces that approval (still
/// pending, its link never sent) with a new one and emails that. With named
/// approvers the guard records each link until its email went out, and a
/// retry replaces only the links that did not.
async fn create_or_find(
    state: &State,
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    now: u64,
) -> Result<Approval, Failure> {
    let id = new_approval_id()?;
    let links = new_links(state)?;
    let puts = approval_puts(state, input, champion, &id, &links, now)?;
    if create(state, input, &id, &links, puts.clone(), now).await? {
        return Ok(Approval::New { id, links });
    }
    tracing::info!("this task already has an approval (a retry)");
    let guard = read_guard(state, input).await?;
    // Whatever happens next, decisions reach this attempt's task.
    repoint(state, input, &guard.hash).await?;
    if guard.emailed {
        return Ok(Approval::Emailed { hash: guard.hash });
    }
    if !guard.links.is_empty() {
        let links = relink(state, input, &guard, now).await?;
        return Ok(Approval::Resumed {
            hash: guard.hash,
            links,
        });
    }
    if replace_unsent(state, input, &guard.hash, &id, puts).await? {
        Ok(Approval::New { id, links })
    } else {
        // Decided already (its email did go out) or another retry replaced it.
        Ok(Approval::Emailed { hash: guard.hash })
    }
}

/// The approval's task token becomes this attempt's, while it is pending: a
/// retried task may have a new token, and the old one is dead.
async fn repoint(state: &State, input: &RequestApprovalInput, hash: &str) -> Result<(), Failure> {
    let key = keys::approval_by_hash(hash);
    let updated = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(key.pk))
        .key(keys::SK, s(key.sk))
        .update_expression("SET taskToken = :t")
        .condition_expression("#status = :pending AND taskToken <> :t")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":t", s(&input.task_token))
        .expression_attribute_values(":pending", s("pending"))
        .send()
        .await;
    match updated {
        Ok(_) => {
            tracing::info!("the approval now answers this attempt's task");
            Ok(())
        }
        // The same token, or decided already: nothing to move.
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
        {
            Ok(())
        }
        Err(err) => Err(aws::failure("UpdateItem (approval token)", &err)),
    }
}

/// New links for the approvers whose email did not go out: each old link
/// (never sent) is deleted, its replacement put, and the guard re-pointed, in
/// one transaction that holds only while the guard still names the old links.
async fn relink(
    state: &State,
    input: &RequestApprovalInput,
    guard: &Guard,
    now: u64,
) -> Result<Vec<(String, String)>, Failure> {
    let table = state.config.table_name.as_str();
    let key = guard_key(input);
    let bad = |e: aws_sdk_dynamodb::error::BuildError| Failure::invalid_input(e.to_string());
    let mut items = Vec::new();
    let mut fresh = Vec::new();
    for (i, email) in guard.unsent.iter().enumerate() {
        let Some(old) = guard.links.get(email) else {
            continue;
        };
        let link_id = new_approval_id()?;
        let old_key = keys::approval_by_hash(old);
        items.push(
            TransactWriteItem::builder()
                .delete(
                    aws_sdk_dynamodb::types::Delete::builder()
                        .table_name(table)
                        .key(keys::PK, s(old_key.pk))
                        .key(keys::SK, s(old_key.sk))
                        .build()
                        .map_err(bad)?,
                )
                .build(),
        );
        let link = link_item(input, &link_id, &guard.hash, email, now);
        items.push(put(table, link, "attribute_not_exists(pk)")?);
        items.push(
            TransactWriteItem::builder()
                .update(
                    aws_sdk_dynamodb::types::Update::builder()
                        .table_name(table)
                        .key(keys::PK, s(&key.pk))
                        .key(keys::SK, s(&key.sk))
                        .update_expression(format!("SET links.#e{i} = :new{i}"))
                        .condition_expression(format!("links.#e{i} = :old{i} AND emailed = :f"))
                        .expression_attribute_names(format!("#e{i}"), email)
                        .expression_attribute_values(
                            format!(":new{i}"),
                            s(keys::approval_hash(&link_id)),
                        )
                        .expression_attribute_values(format!(":old{i}"), s(old))
                        .expression_attribute_values(":f", AttributeValue::Bool(false))
                        .build()
                        .map_err(bad)?,
                )
                .build(),
        );
        fresh.push((link_id, email.clone()));
    }
    if items.is_empty() {
        return Ok(fresh);
    }
    let written = state
        .dynamodb
        .transact_write_items()
        .set_transact_items(Some(items))
        .send()
        .await;
    match written {
        Ok(_) => Ok(fresh),
        // Another attempt re-linked or finished first: the next retry reads what it did.
        Err(err) if cancelled(&err) => Err(Failure::new(
            ErrorName::AwsUnavailable,
            "another attempt is sending this approval's links; try again",
        )),
        Err(err) => Err(aws::failure("TransactWriteItems (new links)", &err)),
    }
}

/// The approval and its links, as puts of one transaction.
fn approval_puts(
    state: &State,
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    id: &str,
    links: &[(String, String)],
    now: u64,
) -> Result<Vec<TransactWriteItem>, Failure> {
    let table = state.config.table_name.as_str();
    let required = if links.is_empty() {
        0
    } else {
        state.config.required
    };
    let mut puts = vec![put(
        table,
        approval_item(input, champion, id, now, required),
        "attribute_not_exists(pk)",
    )?];
    for (link_id, email) in links {
        puts.push(put(
            table,
            link_item(input, link_id, &keys::approval_hash(id), email, now),
            "attribute_not_exists(pk)",
        )?);
    }
    Ok(puts)
}

/// The guard and the approval, in one transaction: false when the task has a
/// guard already (a retry).
async fn create(
    state: &State,
    input: &RequestApprovalInput,
    id: &str,
    links: &[(String, String)],
    puts: Vec<TransactWriteItem>,
    now: u64,
) -> Result<bool, Failure> {
    let table = state.config.table_name.as_str();
    let guard = guard_key(input);
    let mut guard_item = HashMap::from([
        (keys::PK.to_owned(), s(&guard.pk)),
        (keys::SK.to_owned(), s(&guard.sk)),
        ("approvalHash".to_owned(), s(keys::approval_hash(id))),
        ("emailed".to_owned(), AttributeValue::Bool(false)),
        (
            keys::TTL.to_owned(),
            n(now + input.timeout_seconds + KEEP_AFTER_EXPIRY),
        ),
    ]);
    if !links.is_empty() {
        // Each approver's link (by its hash), and who has not been emailed yet.
        guard_item.insert(
            "links".to_owned(),
            AttributeValue::M(
                links
                    .iter()
                    .map(|(link_id, email)| (email.clone(), s(keys::approval_hash(link_id))))
                    .collect(),
            ),
        );
        guard_item.insert(
            "unsent".to_owned(),
            AttributeValue::Ss(links.iter().map(|(_, email)| email.clone()).collect()),
        );
    }
    let written = state
        .dynamodb
        .transact_write_items()
        .set_transact_items(Some(
            std::iter::once(put(table, guard_item, "attribute_not_exists(pk)")?)
                .chain(puts)
                .collect(),
        ))
        .send()
        .await;
    match written {
        Ok(_) => Ok(true),
        Err(err) if cancelled(&err) => Ok(false),
        Err(err) => Err(aws::failure("TransactWriteItems (approval)", &err)),
    }
}

/// What the guard holds of the task's approval.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Guard {
    /// The approval's hash.
    hash: String,
    /// Every email went out.
    emailed: bool,
    /// With named approvers: each one's link hash, by address.
    links: HashMap<String, String>,
    /// With named approvers: who has not been emailed yet.
    unsent: Vec<String>,
}

/// The task's guard, read consistently.
async fn read_guard(state: &State, input: &RequestApprovalInput) -> Result<Guard, Failure> {
    let guard = guard_key(input);
    let existing = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(&guard.pk))
        .key(keys::SK, s(&guard.sk))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (approval guard)", &e))?;
    let item = existing.item().ok_or_else(|| {
        Failure::new(
            ErrorName::AwsUnavailable,
            "the approval guard vanished; try again",
        )
    })?;
    let hash = item
        .get("approvalHash")
        .and_then(|v| v.as_s().ok())
        .cloned()
        .ok_or_else(|| Failure::new(ErrorName::Conflict, "the approval guard has no approval"))?;
    let emailed = item
        .get("emailed")
        .and_then(|v| v.as_bool().ok())
        .copied()
        .unwrap_or(false);
    let links = item
        .get("links")
        .and_then(|v| v.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(email, h)| Some((email.clone(), h.as_s().ok()?.clone())))
                .collect()
        })
        .unwrap_or_default();
    let mut unsent: Vec<String> = item
        .get("unsent")
        .and_then(|v| v.as_ss().ok())
        .cloned()
        .unwrap_or_default();
    unsent.sort();
    Ok(Guard {
        hash,
        emailed,
        links,
        unsent,
    })
}

/// The table holds only the first approval's hash, so its link cannot be sent
/// again: the unsent approval is replaced by one with a new id, only if it is
/// still pending (nobody reached it) and the guard still points at it (no
/// other retry got here first).
async fn replace_unsent(
    state: &State,
    input: &RequestApprovalInput,
    old: &str,
    id: &str,
    puts: Vec<TransactWriteItem>,
) -> Result<bool, Failure> {
    let table = state.config.table_name.as_str();
    let guard = guard_key(input);
    let bad = |e: aws_sdk_dynamodb::error::BuildError| Failure::invalid_input(e.to_string());
    let delete = aws_sdk_dynamodb::types::Delete::builder()
        .table_name(table)
        .key(keys::PK, s(format!("APPROVAL#{old}")))
        .key(keys::SK, s(keys::APPROVAL_SK))
        .condition_expression("attribute_not_exists(pk) OR #status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":pending", s("pending"))
        .build()
        .map_err(bad)?;
    let repoint = aws_sdk_dynamodb::types::Update::builder()
        .table_name(table)
        .key(keys::PK, s(&guard.pk))
        .key(keys::SK, s(&guard.sk))
        .update_expression("SET approvalHash = :new")
        .condition_expression("approvalHash = :old AND emailed = :f")
        .expression_attribute_values(":new", s(keys::approval_hash(id)))
        .expression_attribute_values(":old", s(old))
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .build()
        .map_err(bad)?;
    let replaced = state
        .dynamodb
        .transact_write_items()
        .set_transact_items(Some(
            [
                TransactWriteItem::builder().delete(delete).build(),
                TransactWriteItem::builder().update(repoint).build(),
            ]
            .into_iter()
            .chain(puts)
            .collect(),
        ))
        .send()
        .await;
    match replaced {
        Ok(_) => Ok(true),
        // Decided already (its email did go out) or another retry replaced it.
        Err(err) if cancelled(&err) => Ok(false),
        Err(err) => Err(aws::failure("TransactWriteItems (replace approval)", &err)),
    }
}

/// A one-time schedule's target is tried for a day (the Scheduler's most),
/// then the event goes to the dead-letter queue: never dropped in silence.
pub fn schedule_retries() -> aws_sdk_scheduler::types::RetryPolicy {
    aws_sdk_scheduler::types::RetryPolicy::builder()
        .maximum_retry_attempts(185)
        .maximum_event_age_in_seconds(86_400)
        .build()
}

/// When the reminder fires (epoch seconds), if the approval lasts longer than
/// the reminder's lead.
pub fn reminder_time(timeout_seconds: u64, seconds_before: u64, now: u64) -> Option<u64> {
    (timeout_seconds > seconds_before).then(|| now + timeout_seconds - seconds_before)
}

/// Best effort, like a notice: the deadline itself is Step Functions'
/// `TimeoutSeconds`, so a reminder that cannot be scheduled is logged, never
/// a failed request. A retry finds its schedule there (ConflictException).
async fn remind(state: &State, input: &RequestApprovalInput, hash: &str, now: u64) {
    let Some(reminder) = &state.config.reminder else {
        return;
    };
    let Some(at) = reminder_time(input.timeout_seconds, reminder.seconds_before, now) else {
        return;
    };
    let name = shared::naming::approval_reminder_name(&reminder.name_token, hash);
    let payload = serde_json::json!(shared::contract::ApprovalReminderEvent {
        approval_reminder: shared::contract::ApprovalReminder {
            approval_hash: hash.to_owned(),
            execution_name: input.execution_name.clone(),
        },
    });
    let built = aws_sdk_scheduler::types::Target::builder()
        .arn(&reminder.target_arn)
        .role_arn(&reminder.role_arn)
        .input(payload.to_string())
        .retry_policy(schedule_retries())
        .set_dead_letter_config(reminder.dead_letter_arn.as_ref().map(|arn| {
            aws_sdk_scheduler::types::DeadLetterConfig::builder()
                .arn(arn)
                .build()
        }))
        .build()
        .and_then(|target| {
            aws_sdk_scheduler::types::FlexibleTimeWindow::builder()
                .mode(aws_sdk_scheduler::types::FlexibleTimeWindowMode::Off)
                .build()
                .map(|window| (target, window))
        });
    let (target, window) = match built {
        Ok(parts) => parts,
        Err(e) => {
            tracing::warn!(error = %e, "no reminder: the schedule could not be built");
            return;
        }
    };
    let created = state
        .scheduler
        .create_schedule()
        .name(&name)
        .description(
            format!(
                "Reminds of run {}'s approval before its deadline",
                input.execution_name
            )
            .chars()
            .take(512)
            .collect::<String>(),
        )
        // at() takes no zone suffix: the time is UTC.
        .schedule_expression(format!(
            "at({})",
            shared::clock::rfc3339(at).trim_end_matches('Z')
        ))
        .flexible_time_window(window)
        .action_after_completion(aws_sdk_scheduler::types::ActionAfterCompletion::Delete)
        .target(target)
        .send()
        .await;
    match created {
        Ok(_) => {
            tracing::info!(schedule = %name, at = %shared::clock::rfc3339(at), "reminder scheduled")
        }
        Err(err)
            if err
                .as_service_error()
                .is_some_and(|e| e.is_conflict_exception()) =>
        {
            tracing::info!(schedule = %name, "reminder already scheduled (a retry)");
        }
        Err(err) => {
            tracing::warn!(error = %aws::failure("CreateSchedule (reminder)", &err), "no reminder")
        }
    }
}

/// One email: the link, to an approver's address alone when named (the
/// topic's subscriptions filter on the `approver` attribute), else to whoever
/// subscribed.
async fn send(
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
            if state.config.required > 1 {
                format!(" The model goes on once {} approvers have approved; a rejection by any one rejects it.", state.config.required)
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
async fn send_links(
    state: &State,
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    links: &[(String, String)],
    now: u64,
) -> Result<(), Failure> {
    let key = guard_key(input);
    for (link_id, email) in links {
        let link = format!("{}/approvals/{link_id}", state.config.approval_base_url);
        send(state, input, champion, &link, Some(email), now).await?;
        state
            .dynamodb
            .update_item()
            .table_name(&state.config.table_name)
            .key(keys::PK, s(&key.pk))
            .key(keys::SK, s(&key.sk))
            .update_expression("DELETE unsent :e")
            .expression_attribute_values(":e", AttributeValue::Ss(vec![email.clone()]))
            .send()
            .await
            .map_err(|e| aws::failure("UpdateItem (link sent)", &e))?;
    }
    Ok(())
}

/// Every email went out: a retry from now on sends nothing.
async fn mark_emailed(state: &State, input: &RequestApprovalInput) -> Result<(), Failure> {
    let guard = guard_key(input);
    state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .key(keys::PK, s(guard.pk))
        .key(keys::SK, s(guard.sk))
        .update_expression("SET emailed = :t")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .map_err(|e| aws::failure("UpdateItem (approval guard)", &e))?;
    Ok(())
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
    let approval = create_or_find(state, &input, &champion, now).await?;
    let hash = match &approval {
        Approval::Emailed { hash } => hash.clone(),
        Approval::New { id, links } => {
            if links.is_empty() {
                let link = format!("{}/approvals/{id}", state.config.approval_base_url);
                send(state, &input, &champion, &link, None, now).await?;
            } else {
                send_links(state, &input, &champion, links, now).await?;
            }
            mark_emailed(state, &input).await?;
            keys::approval_hash(id)
        }
        Approval::Resumed { hash, links } => {
            send_links(state, &input, &champion, links, now).await?;
            mark_emailed(state, &input).await?;
            hash.clone()
        }
    };
    // The id itself is never logged or answered: only its hash, which every
    // later line of this invocation carries in its span.
    tracing::Span::current().record("approval", hash.as_str());
    remind(state, &input, &hash, now).await;
    let emailed_now = matches!(approval, Approval::New { .. });
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
