//! One approval per entry into the approval state, however often Step
//! Functions retries the task: the guard item (`APPROVALTASK#…`) is created
//! with the approval in one transaction, records which links went out, and
//! says when every email did.

use std::collections::BTreeMap;

use aws_sdk_dynamodb::types::{AttributeValue, Delete, Put, TransactWriteItem, Update};
use shared::conditional::{Write, written};
use shared::contract::RequestApprovalInput;
use shared::items::{self, ApprovalItem, ApprovalStatus, GuardItem, LinkItem, s};
use shared::{ApprovalHash, ApprovalId, ErrorName, Failure, aws, keys};

use crate::email::ChampionLookup;
use crate::{KEEP_AFTER_EXPIRY, State, new_approval_id};

/// A named approver's link: its own id, and the address it is bound to.
pub(crate) type Link = (ApprovalId, String);

/// What this attempt must still send.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Emailing {
    /// A new approval: email its link, or each approver their own. The
    /// approval's own id is then never sent anywhere.
    New { id: ApprovalId, links: Vec<Link> },
    /// A retry after a send that failed partway: the approval (and every vote
    /// on it) stays, and so does every link that went out; these approvers,
    /// whose email did not, get a new link of their own.
    Resumed {
        hash: ApprovalHash,
        links: Vec<Link>,
    },
    /// A retry whose approval was emailed: nothing more.
    Sent { hash: ApprovalHash },
}

fn built(e: aws_sdk_dynamodb::error::BuildError) -> Failure {
    Failure::invalid_input(e.to_string())
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

/// When the items of this request leave the table (DynamoDB's TTL).
fn expires_at(input: &RequestApprovalInput, now: u64) -> u64 {
    now + input.timeout_seconds + KEEP_AFTER_EXPIRY
}

/// The approval item: everything the page shows, the token, the deadline.
/// Long because it is one struct, every field named.
fn approval_item(
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    id: &ApprovalId,
    now: u64,
    required: usize,
) -> ApprovalItem {
    let key = keys::approval(id);
    let deadline = now + input.timeout_seconds;
    let (champion_known, champion) = match champion {
        ChampionLookup::NotLooked => (None, None),
        ChampionLookup::NoneDeployed => (Some(false), None),
        ChampionLookup::Deployed(c) => (Some(true), Some(c)),
    };
    ApprovalItem {
        pk: key.pk,
        sk: key.sk,
        status: ApprovalStatus::Pending,
        task_token: input.task_token.clone(),
        execution_arn: input.execution_arn.clone(),
        execution_name: input.execution_name.clone(),
        commit_id: input.commit_id.clone(),
        model_name: input.model_name.clone(),
        training_job_name: input.training_job_name.clone(),
        transform_output_uri: input.transform_output_uri.clone(),
        created_at: now,
        deadline,
        expires_at: deadline + KEEP_AFTER_EXPIRY,
        data_version_id: input.data_version_id.clone(),
        training_data_uri: input.training_data_uri.clone(),
        test_data_uri: input.test_data_uri.clone(),
        test_data_version_id: input.test_data_version_id.clone(),
        data_manifest_uri: input.data_manifest_uri.clone(),
        metrics: items::finite(&input.metrics),
        model_quality_uri: input.model_quality_uri.clone(),
        // Decided only through the approvers' own links, by this many of them.
        required: (required > 0).then_some(required as u64),
        bound_only: (required > 0).then_some(true),
        champion_known,
        champion_execution: champion.map(|c| c.execution_name.clone()),
        champion_version: champion.and_then(|c| c.model_package_arn.clone()),
        champion_quality_uri: champion.and_then(|c| c.model_quality_uri.clone()),
        champion_metrics: champion.map(|c| items::finite(&c.metrics)),
        deploy_stage: input.deploy_stage,
        staging_report_uri: input.staging_report_uri.clone(),
        staging: input.staging.filter(|f| {
            [f.error_percent, f.p50_ms, f.p99_ms]
                .iter()
                .all(|v| v.is_finite())
        }),
        approvals: Vec::new(),
        decision: None,
        approver: None,
        comment: None,
        decided_at: None,
        deciding_since: None,
    }
}

/// One approver's link: its own id, pointing at the approval by its hash,
/// bound to the approver's address.
fn link_item(
    input: &RequestApprovalInput,
    link_id: &ApprovalId,
    group: &ApprovalHash,
    email: &str,
    now: u64,
) -> LinkItem {
    let key = keys::approval(link_id);
    LinkItem {
        pk: key.pk,
        sk: key.sk,
        group_hash: group.clone(),
        approver_email: email.to_owned(),
        expires_at: expires_at(input, now),
    }
}

/// A put of one transaction, only where nothing is yet.
fn put_new(table: &str, item: items::Item) -> Result<TransactWriteItem, Failure> {
    Put::builder()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .build()
        .map(|p| TransactWriteItem::builder().put(p).build())
        .map_err(built)
}

/// A link of its own for each named approver of the input's stage.
fn new_links(state: &State, input: &RequestApprovalInput) -> Result<Vec<Link>, Failure> {
    state
        .config
        .approvers_for(input.deploy_stage)
        .0
        .iter()
        .map(|email| Ok((new_approval_id()?, email.clone())))
        .collect()
}

/// Creates the approval and its guard in one transaction. The table holds only
/// the id's hash, so a retry cannot send the same link again: when the first
/// call's email did not go out, the retry replaces that approval (still
/// pending, its link never sent) with a new one and emails that. With named
/// approvers the guard records each link until its email went out, and a
/// retry replaces only the links that did not.
pub(crate) async fn create_or_find(
    state: &State,
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    now: u64,
) -> Result<Emailing, Failure> {
    let id = new_approval_id()?;
    let links = new_links(state, input)?;
    let puts = approval_puts(state, input, champion, &id, &links, now)?;
    if create(state, input, &id, &links, puts.clone(), now).await? {
        return Ok(Emailing::New { id, links });
    }
    tracing::info!("this task already has an approval (a retry)");
    let guard = read_guard(state, input).await?;
    // Whatever happens next, decisions reach this attempt's task.
    repoint(state, input, &guard.approval_hash).await?;
    if guard.emailed {
        return Ok(Emailing::Sent {
            hash: guard.approval_hash,
        });
    }
    if !guard.links.is_empty() {
        let links = relink(state, input, &guard, now).await?;
        return Ok(Emailing::Resumed {
            hash: guard.approval_hash,
            links,
        });
    }
    if replace_unsent(state, input, &guard.approval_hash, &id, puts).await? {
        Ok(Emailing::New { id, links })
    } else {
        // Decided already (its email did go out) or another retry replaced it.
        Ok(Emailing::Sent {
            hash: guard.approval_hash,
        })
    }
}

/// The approval's task token becomes this attempt's, while it is pending: a
/// retried task may have a new token, and the old one is dead.
async fn repoint(
    state: &State,
    input: &RequestApprovalInput,
    hash: &ApprovalHash,
) -> Result<(), Failure> {
    let updated = state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(keys::approval_by_hash(hash).attributes()))
        .update_expression("SET taskToken = :t")
        .condition_expression("#status = :pending AND taskToken <> :t")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":t", s(input.task_token.reveal()))
        .expression_attribute_values(":pending", s(ApprovalStatus::Pending.as_str()))
        .send()
        .await;
    // Missed: the same token, or decided already: nothing to move.
    if written("UpdateItem (approval token)", updated)?.is_done() {
        tracing::info!("the approval now answers this attempt's task");
    }
    Ok(())
}

/// One unsent link replaced: the old link (never sent) deleted, its
/// replacement put, and the guard re-pointed while it still names the old.
fn relink_items(
    table: &str,
    guard: &keys::Key,
    i: usize,
    old: &ApprovalHash,
    new: &ApprovalHash,
    link: &LinkItem,
) -> Result<[TransactWriteItem; 3], Failure> {
    let old_key = keys::approval_by_hash(old);
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(old_key.attributes()))
        .build()
        .map_err(built)?;
    let update = Update::builder()
        .table_name(table)
        .set_key(Some(guard.attributes()))
        .update_expression(format!("SET links.#e{i} = :new{i}"))
        .condition_expression(format!("links.#e{i} = :old{i} AND emailed = :f"))
        .expression_attribute_names(format!("#e{i}"), &link.approver_email)
        .expression_attribute_values(format!(":new{i}"), s(new.as_str()))
        .expression_attribute_values(format!(":old{i}"), s(old.as_str()))
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .build()
        .map_err(built)?;
    Ok([
        TransactWriteItem::builder().delete(delete).build(),
        put_new(table, items::to_item(link)?)?,
        TransactWriteItem::builder().update(update).build(),
    ])
}

/// New links for the approvers whose email did not go out, in one
/// transaction that holds only while the guard still names the old links.
async fn relink(
    state: &State,
    input: &RequestApprovalInput,
    guard: &GuardItem,
    now: u64,
) -> Result<Vec<Link>, Failure> {
    let table = state.config.table_name.as_str();
    let key = guard_key(input);
    let mut unsent = guard.unsent.clone();
    unsent.sort();
    let mut writes = Vec::new();
    let mut fresh = Vec::new();
    for (i, email) in unsent.iter().enumerate() {
        let Some(old) = guard.links.get(email) else {
            continue;
        };
        let link_id = new_approval_id()?;
        let link = link_item(input, &link_id, &guard.approval_hash, email, now);
        writes.extend(relink_items(table, &key, i, old, &link_id.hash(), &link)?);
        fresh.push((link_id, email.clone()));
    }
    if writes.is_empty() {
        return Ok(fresh);
    }
    let relinked = state
        .dynamodb
        .transact_write_items()
        .set_transact_items(Some(writes))
        .send()
        .await;
    match written("TransactWriteItems (new links)", relinked)? {
        Write::Done(_) => Ok(fresh),
        // Another attempt re-linked or finished first: the next retry reads what it did.
        Write::Missed => Err(Failure::new(
            ErrorName::AwsUnavailable,
            "another attempt is sending this approval's links; try again",
        )),
    }
}

/// The approval and its links, as puts of one transaction.
fn approval_puts(
    state: &State,
    input: &RequestApprovalInput,
    champion: &ChampionLookup,
    id: &ApprovalId,
    links: &[Link],
    now: u64,
) -> Result<Vec<TransactWriteItem>, Failure> {
    let table = state.config.table_name.as_str();
    let required = if links.is_empty() {
        0
    } else {
        state.config.approvers_for(input.deploy_stage).1
    };
    let approval = approval_item(input, champion, id, now, required);
    let mut puts = vec![put_new(table, items::to_item(&approval)?)?];
    for (link_id, email) in links {
        let link = link_item(input, link_id, &id.hash(), email, now);
        puts.push(put_new(table, items::to_item(&link)?)?);
    }
    Ok(puts)
}

/// The guard and the approval, in one transaction: false when the task has a
/// guard already (a retry).
async fn create(
    state: &State,
    input: &RequestApprovalInput,
    id: &ApprovalId,
    links: &[Link],
    puts: Vec<TransactWriteItem>,
    now: u64,
) -> Result<bool, Failure> {
    let key = guard_key(input);
    let guard = GuardItem {
        pk: key.pk,
        sk: key.sk,
        approval_hash: id.hash(),
        emailed: false,
        // Each approver's link (by its hash), and who has not been emailed yet.
        links: links
            .iter()
            .map(|(link_id, email)| (email.clone(), link_id.hash()))
            .collect::<BTreeMap<_, _>>(),
        unsent: links.iter().map(|(_, email)| email.clone()).collect(),
        expires_at: expires_at(input, now),
    };
    let table = state.config.table_name.as_str();
    let created = state
        .dynamodb
        .transact_write_items()
        .set_transact_items(Some(
            std::iter::once(put_new(table, items::to_item(&guard)?)?)
                .chain(puts)
                .collect(),
        ))
        .send()
        .await;
    // Missed: the task has a guard already (a retry).
    Ok(written("TransactWriteItems (approval)", created)?.is_done())
}

/// The task's guard, read consistently.
async fn read_guard(state: &State, input: &RequestApprovalInput) -> Result<GuardItem, Failure> {
    let existing = state
        .dynamodb
        .get_item()
        .table_name(&state.config.table_name)
        .set_key(Some(guard_key(input).attributes()))
        .consistent_read(true)
        .send()
        .await
        .map_err(|e| aws::failure("GetItem (approval guard)", &e))?;
    let item = existing.item.ok_or_else(|| {
        Failure::new(
            ErrorName::AwsUnavailable,
            "the approval guard vanished; try again",
        )
    })?;
    items::from_item(item, "the approval guard")
}

/// The table holds only the first approval's hash, so its link cannot be sent
/// again: the unsent approval is replaced by one with a new id, only if it is
/// still pending (nobody reached it) and the guard still points at it (no
/// other retry got here first).
async fn replace_unsent(
    state: &State,
    input: &RequestApprovalInput,
    old: &ApprovalHash,
    id: &ApprovalId,
    puts: Vec<TransactWriteItem>,
) -> Result<bool, Failure> {
    let table = state.config.table_name.as_str();
    let guard = guard_key(input);
    let old_key = keys::approval_by_hash(old);
    let delete = Delete::builder()
        .table_name(table)
        .set_key(Some(old_key.attributes()))
        .condition_expression("attribute_not_exists(pk) OR #status = :pending")
        .expression_attribute_names("#status", "status")
        .expression_attribute_values(":pending", s(ApprovalStatus::Pending.as_str()))
        .build()
        .map_err(built)?;
    let repoint = Update::builder()
        .table_name(table)
        .set_key(Some(guard.attributes()))
        .update_expression("SET approvalHash = :new")
        .condition_expression("approvalHash = :old AND emailed = :f")
        .expression_attribute_values(":new", s(id.hash().as_str()))
        .expression_attribute_values(":old", s(old.as_str()))
        .expression_attribute_values(":f", AttributeValue::Bool(false))
        .build()
        .map_err(built)?;
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
    // Missed: decided already (its email did go out) or another retry replaced it.
    Ok(written("TransactWriteItems (replace approval)", replaced)?.is_done())
}

/// One approver's email went out: a retry does not send it again.
pub(crate) async fn mark_sent(
    state: &State,
    input: &RequestApprovalInput,
    email: &str,
) -> Result<(), Failure> {
    state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(guard_key(input).attributes()))
        .update_expression("DELETE unsent :e")
        .expression_attribute_values(":e", AttributeValue::Ss(vec![email.to_owned()]))
        .send()
        .await
        .map_err(|e| aws::failure("UpdateItem (link sent)", &e))?;
    Ok(())
}

/// Every email went out: a retry from now on sends nothing.
pub(crate) async fn mark_emailed(
    state: &State,
    input: &RequestApprovalInput,
) -> Result<(), Failure> {
    state
        .dynamodb
        .update_item()
        .table_name(&state.config.table_name)
        .set_key(Some(guard_key(input).attributes()))
        .update_expression("SET emailed = :t")
        .expression_attribute_values(":t", AttributeValue::Bool(true))
        .send()
        .await
        .map_err(|e| aws::failure("UpdateItem (approval guard)", &e))?;
    Ok(())
}
