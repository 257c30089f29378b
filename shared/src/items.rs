//! What the table holds, one type per item kind, written and read with serde
//! ([`serde_dynamo`]): the attribute names are the fields' camelCase names, in
//! one place, and a read names what is missing or mistyped instead of
//! defaulting it in silence. Keys are [`crate::keys`]'; the conditional
//! writes (a claim, a vote) stay update expressions beside their callers.

use std::collections::{BTreeMap, HashMap};

use aws_sdk_dynamodb::types::AttributeValue;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use crate::contract::{Decision, Metrics, RunStatus, Stage};
use crate::{ApprovalHash, ErrorName, Failure, TaskToken, keys};

/// A DynamoDB item as the SDK takes and gives it.
pub type Item = HashMap<String, AttributeValue>;

/// `value` as an item. A type here always serializes; an error is a bug in
/// this module, named as such rather than a panic.
pub fn to_item<T: Serialize>(value: &T) -> Result<Item, Failure> {
    serde_dynamo::to_item(value).map_err(|e| {
        Failure::new(
            ErrorName::InvalidInput,
            format!("the item cannot be written: {e}"),
        )
    })
}

/// An item read back as `T`; `what` names it in the error (`the approval`).
/// An item of another shape is a `Conflict`: something else wrote it.
pub fn from_item<T: DeserializeOwned>(item: Item, what: &str) -> Result<T, Failure> {
    serde_dynamo::from_item(item)
        .map_err(|e| Failure::new(ErrorName::Conflict, format!("{what} in the table: {e}")))
}

/// A string attribute, for the values of the conditional writes' expressions
/// (the items themselves are written with [`to_item`]).
pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// A number attribute, for the same.
pub fn n(value: impl ToString) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

/// Only finite values: DynamoDB stores no NaN or infinity.
pub fn finite(metrics: &Metrics) -> BTreeMap<String, f64> {
    metrics
        .iter()
        .filter(|(_, v)| v.is_finite())
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// An approval's lifecycle: pending → deciding → approved, rejected or expired
/// (deciding back to pending when Step Functions could not be told).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ApprovalStatus {
    Pending,
    Deciding,
    Approved,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    pub const ALL: [ApprovalStatus; 5] = [
        ApprovalStatus::Pending,
        ApprovalStatus::Deciding,
        ApprovalStatus::Approved,
        ApprovalStatus::Rejected,
        ApprovalStatus::Expired,
    ];

    /// As the table stores it (in update expressions' values).
    pub fn as_str(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "pending",
            ApprovalStatus::Deciding => "deciding",
            ApprovalStatus::Approved => "approved",
            ApprovalStatus::Rejected => "rejected",
            ApprovalStatus::Expired => "expired",
        }
    }
}

impl From<Decision> for ApprovalStatus {
    fn from(decision: Decision) -> ApprovalStatus {
        match decision {
            Decision::Approved => ApprovalStatus::Approved,
            Decision::Rejected => ApprovalStatus::Rejected,
        }
    }
}

/// A trigger's state (`TRIGGER#<object version>`): claimed while its
/// pipeline start is in flight, then started (or scheduled) or failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TriggerState {
    Starting,
    Started,
    Failed,
}

impl TriggerState {
    /// As the table stores it (in condition and update values).
    pub fn as_str(self) -> &'static str {
        match self {
            TriggerState::Starting => "starting",
            TriggerState::Started => "started",
            TriggerState::Failed => "failed",
        }
    }
}

/// start-retraining's claim on one object version (`TRIGGER#…`): written by
/// the claim, its outcome set by the settle ([`crate::conditional`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TriggerItem {
    pub pk: String,
    pub sk: String,
    pub state: TriggerState,
    /// The Lambda request id of the attempt holding the claim.
    pub attempt: String,
    /// While `starting`: when the claim may be taken over (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<u64>,
    pub bucket: String,
    pub key: String,
    /// `none` for an object in a bucket without versioning.
    pub version_id: String,
    pub sequencer: String,
    pub etag: String,
    pub size: i64,
    pub event_time: String,
    /// The table's TTL ([`keys::TTL`]).
    pub expires_at: u64,
}

/// The approval (`APPROVAL#<hash>`): written by request-approval with
/// everything the page shows, the token and the deadline; its decision
/// fields are set by handle-approval's conditional updates.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalItem {
    #[serde(default)]
    pub pk: String,
    #[serde(default)]
    pub sk: String,
    pub status: ApprovalStatus,
    pub task_token: TaskToken,
    #[serde(default)]
    pub execution_arn: String,
    #[serde(default)]
    pub execution_name: String,
    #[serde(default)]
    pub commit_id: String,
    #[serde(default)]
    pub model_name: String,
    #[serde(default)]
    pub training_job_name: String,
    #[serde(default)]
    pub transform_output_uri: String,
    /// When it was requested and when it expires (epoch seconds).
    #[serde(default)]
    pub created_at: u64,
    #[serde(default)]
    pub deadline: u64,
    /// The table's TTL ([`keys::TTL`]).
    #[serde(default)]
    pub expires_at: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_data_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_manifest_uri: Option<String>,
    #[serde(default)]
    pub metrics: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_quality_uri: Option<String>,
    /// With named approvers: how many must approve, and only through their
    /// own links (`boundOnly`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub required: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bound_only: Option<bool>,
    /// What the endpoint served when the approval was requested: absent when
    /// not looked up, `false` when nothing was deployed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion_known: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion_execution: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion_version: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion_quality_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub champion_metrics: Option<BTreeMap<String, f64>>,
    /// The stage this approval is for: absent for the first (or only) one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_stage: Option<crate::contract::DeployStage>,
    /// Production's approval: the staging test's report and figures.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_report_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<crate::contract::StagingFigures>,
    /// The addresses that approved so far (a string set), while more are needed.
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "serde_dynamo::string_set"
    )]
    pub approvals: Vec<String>,
    /// The decision, once someone made it (kept through `deciding`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approver: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// When the current `deciding` claim was made (epoch seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deciding_since: Option<u64>,
}

/// The two attributes of an approval record-reminder reads (its policy lets
/// it read nothing else, never the token): a projection of [`ApprovalItem`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApprovalDeadline {
    pub status: ApprovalStatus,
    #[serde(default)]
    pub deadline: u64,
}

/// One named approver's link (`APPROVAL#<link hash>`): it points at the
/// approval the approvers share and binds the decision to an address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LinkItem {
    #[serde(default)]
    pub pk: String,
    #[serde(default)]
    pub sk: String,
    pub group_hash: ApprovalHash,
    pub approver_email: String,
    #[serde(default)]
    pub expires_at: u64,
}

/// What an `APPROVAL#` key holds: an approval, or an approver's link to one.
#[derive(Debug, Clone, PartialEq)]
pub enum Reached {
    Approval(Box<ApprovalItem>),
    Link(LinkItem),
}

/// An item under an approval key, told apart by its fields (a link has a
/// `groupHash`, an approval a `status`).
pub fn reached(item: Item) -> Result<Reached, Failure> {
    if item.contains_key("groupHash") {
        from_item(item, "the approval link").map(Reached::Link)
    } else {
        from_item(item, "the approval").map(|a| Reached::Approval(Box::new(a)))
    }
}

/// request-approval's guard (`APPROVALTASK#…`): one approval per entry into
/// the approval state, whatever its retries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GuardItem {
    #[serde(default)]
    pub pk: String,
    #[serde(default)]
    pub sk: String,
    /// The approval this entry made.
    pub approval_hash: ApprovalHash,
    /// Every email went out: a retry sends nothing.
    #[serde(default)]
    pub emailed: bool,
    /// With named approvers: each one's link hash, by address.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub links: BTreeMap<String, ApprovalHash>,
    /// With named approvers: who has not been emailed yet (a string set,
    /// which DynamoDB removes when its last member is).
    #[serde(
        default,
        skip_serializing_if = "Vec::is_empty",
        with = "serde_dynamo::string_set"
    )]
    pub unsent: Vec<String>,
    #[serde(default)]
    pub expires_at: u64,
}

/// The version an endpoint serves now (`ENDPOINT#<name>`, `CHAMPION`):
/// written by record-metadata when a run deploys, read by request-approval so
/// the approver sees the new version beside it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ChampionItem {
    pub pk: String,
    pub sk: String,
    #[serde(default)]
    pub execution_name: String,
    /// The deploy's `enteredTime`: a later deploy's champion is never overwritten.
    #[serde(default)]
    pub deployed_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_package_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_quality_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_metrics: Option<BTreeMap<String, f64>>,
}

impl ChampionItem {
    pub fn new(endpoint_name: &str, execution_name: &str, deployed_at: &str) -> ChampionItem {
        let key = keys::champion(endpoint_name);
        ChampionItem {
            pk: key.pk,
            sk: key.sk,
            execution_name: execution_name.to_owned(),
            deployed_at: deployed_at.to_owned(),
            model_package_arn: None,
            model_quality_uri: None,
            model_name: None,
            held_out_metrics: None,
        }
    }
}

/// What a run's stage knew, as the trail keeps it on the event and on the
/// summary: every field optional, each text already bounded by
/// record-metadata (the names of the cut ones in `truncated`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunFacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub image_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_data_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub training_job_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_job_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transform_output_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint_config_name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_package_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_quality_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_artifact_sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_artifact_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_data_version_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data_manifest_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_started_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_state: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cause: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_decision: Option<Decision>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_comment: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<String>,
    /// The quality gate's reading: all three or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_metric: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_threshold: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_out_metrics: Option<BTreeMap<String, f64>>,
    /// The training job's own metrics.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metrics: Option<BTreeMap<String, f64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deploy_stage: Option<crate::contract::DeployStage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging_report_uri: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub staging: Option<crate::contract::StagingFigures>,
    /// The names of the fields cut to fit the item.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub truncated: Vec<String>,
}

/// One stage of a run (`RUN#<execution>`, `EVENT#<entered time>#<stage>`):
/// written once by record-metadata, whatever its retries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunEvent {
    pub pk: String,
    pub sk: String,
    pub execution_name: String,
    pub stage: Stage,
    pub status: RunStatus,
    pub entered_time: String,
    pub recorded_at: String,
    /// Set after the stage's notice went out, or `notificationOwed` when it
    /// could not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notified: Option<bool>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notification_owed: Option<bool>,
    #[serde(flatten)]
    pub facts: RunFacts,
}

impl RunEvent {
    pub fn new(
        execution_name: &str,
        stage: Stage,
        status: RunStatus,
        entered_time: &str,
        recorded_at: &str,
    ) -> RunEvent {
        let key = keys::run_event(execution_name, entered_time, stage.as_str());
        RunEvent {
            pk: key.pk,
            sk: key.sk,
            execution_name: execution_name.to_owned(),
            stage,
            status,
            entered_time: entered_time.to_owned(),
            recorded_at: recorded_at.to_owned(),
            notified: None,
            notification_owed: None,
            facts: RunFacts::default(),
        }
    }
}

/// The one attribute of a [`RunEvent`] a retry of its stage reads back
/// (a projection): whether the stage's notice went out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub struct NoticeMark {
    #[serde(default)]
    pub notified: Option<bool>,
}

/// A run as of its latest stage (`RUN#<execution>`, `SUMMARY`): every fact
/// any stage recorded, the latest winning; an older event arriving late
/// never moves it back.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RunSummary {
    pub pk: String,
    pub sk: String,
    pub execution_name: String,
    pub stage: Stage,
    pub status: RunStatus,
    pub last_event_time: String,
    pub updated_at: String,
    /// The `started` stage's time, set once.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(flatten)]
    pub facts: RunFacts,
}

impl RunSummary {
    pub fn new(
        execution_name: &str,
        stage: Stage,
        status: RunStatus,
        last_event_time: &str,
        updated_at: &str,
    ) -> RunSummary {
        let key = keys::run_summary(execution_name);
        RunSummary {
            pk: key.pk,
            sk: key.sk,
            execution_name: execution_name.to_owned(),
            stage,
            status,
            last_event_time: last_event_time.to_owned(),
            updated_at: updated_at.to_owned(),
            started_at: None,
            facts: RunFacts::default(),
        }
    }
}

/// A run's items as a query of its partition gives them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Trail {
    /// Oldest first (the sort keys are `EVENT#<time>#<stage>`).
    pub events: Vec<RunEvent>,
    pub summary: Option<RunSummary>,
}

impl Trail {
    /// The items of one `RUN#` partition, told apart by their sort keys.
    pub fn from_items(items: impl IntoIterator<Item = Item>) -> Result<Trail, Failure> {
        let mut trail = Trail::default();
        for item in items {
            let summary = item
                .get(keys::SK)
                .and_then(|sk| sk.as_s().ok())
                .is_some_and(|sk| sk == keys::SUMMARY_SK);
            if summary {
                trail.summary = Some(from_item(item, "the run's summary")?);
            } else {
                trail.events.push(from_item(item, "a run's event")?);
            }
        }
        Ok(trail)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ApprovalId;

    fn approval() -> ApprovalItem {
        let key = keys::approval(&ApprovalId::from_bytes([7; 16]));
        ApprovalItem {
            pk: key.pk,
            sk: key.sk,
            status: ApprovalStatus::Pending,
            task_token: TaskToken::new("token"),
            execution_arn: "arn:aws:states:us-east-1:1:execution:p:run-1".into(),
            execution_name: "run-1".into(),
            commit_id: "abc".into(),
            model_name: "m".into(),
            training_job_name: "t".into(),
            transform_output_uri: "s3://b/o".into(),
            created_at: 100,
            deadline: 200,
            expires_at: 300,
            data_version_id: None,
            training_data_uri: Some("s3://d/training/iris.csv".into()),
            test_data_uri: None,
            test_data_version_id: None,
            data_manifest_uri: None,
            metrics: BTreeMap::from([("accuracy".into(), 0.9667)]),
            model_quality_uri: None,
            required: Some(2),
            bound_only: Some(true),
            champion_known: Some(false),
            champion_execution: None,
            champion_version: None,
            champion_quality_uri: None,
            champion_metrics: None,
            deploy_stage: None,
            staging_report_uri: None,
            staging: None,
            approvals: vec![],
            decision: None,
            approver: None,
            comment: None,
            decided_at: None,
            deciding_since: None,
        }
    }

    #[test]
    fn an_approval_is_written_with_the_attribute_names_the_updates_use_and_reads_back() {
        let written = approval();
        let item = to_item(&written).unwrap();
        // The names handle-approval's update expressions and the TTL use.
        for name in [
            "pk",
            "sk",
            "status",
            "taskToken",
            "deadline",
            keys::TTL,
            "boundOnly",
        ] {
            assert!(item.contains_key(name), "{name}: {item:?}");
        }
        assert_eq!(item["status"], AttributeValue::S("pending".into()));
        assert_eq!(item["createdAt"], AttributeValue::N("100".into()));
        assert_eq!(
            item["metrics"],
            AttributeValue::M(HashMap::from([(
                "accuracy".into(),
                AttributeValue::N("0.9667".into())
            )]))
        );
        // Nothing absent is written as NULL, and no empty set (DynamoDB refuses one).
        assert!(!item.contains_key("approvals") && !item.contains_key("decision"));
        assert!(item.values().all(|v| !v.is_null()));
        assert_eq!(
            from_item::<ApprovalItem>(item, "the approval").unwrap(),
            written
        );
    }

    #[test]
    fn votes_are_a_string_set_and_a_decision_reads_back_from_what_the_updates_write() {
        let mut item = to_item(&approval()).unwrap();
        item.insert(
            "approvals".into(),
            AttributeValue::Ss(vec!["a@x.org".into()]),
        );
        item.insert("status".into(), AttributeValue::S("deciding".into()));
        item.insert("decision".into(), AttributeValue::S("rejected".into()));
        item.insert("decidingSince".into(), AttributeValue::N("150".into()));
        let read: ApprovalItem = from_item(item, "the approval").unwrap();
        assert_eq!(read.approvals, ["a@x.org"]);
        assert_eq!(read.status, ApprovalStatus::Deciding);
        assert_eq!(read.decision, Some(Decision::Rejected));
        assert_eq!(read.deciding_since, Some(150));
        let mut written = to_item(&read).unwrap();
        assert_eq!(
            written.remove("approvals"),
            Some(AttributeValue::Ss(vec!["a@x.org".into()]))
        );
    }

    #[test]
    fn an_item_of_another_shape_is_a_conflict_naming_the_field() {
        let mut item = to_item(&approval()).unwrap();
        item.insert("status".into(), AttributeValue::S("maybe".into()));
        let failure = from_item::<ApprovalItem>(item, "the approval").unwrap_err();
        assert_eq!(failure.name, ErrorName::Conflict);
        assert!(
            failure.message.starts_with("the approval in the table"),
            "{}",
            failure.message
        );
        let mut item = to_item(&approval()).unwrap();
        item.remove("taskToken");
        let failure = from_item::<ApprovalItem>(item, "the approval").unwrap_err();
        assert!(failure.message.contains("taskToken"), "{}", failure.message);
    }

    #[test]
    fn an_approval_key_holds_an_approval_or_a_link_told_apart_by_its_fields() {
        let hash = ApprovalId::from_bytes([1; 16]).hash();
        let key = keys::approval(&ApprovalId::from_bytes([2; 16]));
        let link = LinkItem {
            pk: key.pk,
            sk: key.sk,
            group_hash: hash,
            approver_email: "a@x.org".into(),
            expires_at: 9,
        };
        assert_eq!(
            reached(to_item(&link).unwrap()).unwrap(),
            Reached::Link(link.clone())
        );
        assert_eq!(
            reached(to_item(&approval()).unwrap()).unwrap(),
            Reached::Approval(Box::new(approval()))
        );
        let mut bad = to_item(&link).unwrap();
        bad.insert("groupHash".into(), AttributeValue::S("not a hash".into()));
        assert_eq!(reached(bad).unwrap_err().name, ErrorName::Conflict);
    }

    #[test]
    fn a_guard_keeps_its_links_and_unsent_set_and_drops_them_when_empty() {
        let hash = ApprovalId::from_bytes([1; 16]).hash();
        let guard = GuardItem {
            pk: "APPROVALTASK#x".into(),
            sk: "APPROVALTASK".into(),
            approval_hash: hash.clone(),
            emailed: false,
            links: BTreeMap::from([("a@x.org".into(), hash.clone())]),
            unsent: vec!["a@x.org".into()],
            expires_at: 5,
        };
        let item = to_item(&guard).unwrap();
        assert_eq!(item["unsent"], AttributeValue::Ss(vec!["a@x.org".into()]));
        assert!(matches!(item["links"], AttributeValue::M(_)));
        assert_eq!(from_item::<GuardItem>(item, "the guard").unwrap(), guard);
        // The last DELETE from the set removes the attribute.
        let mut item = to_item(&guard).unwrap();
        item.remove("unsent");
        assert!(
            from_item::<GuardItem>(item, "the guard")
                .unwrap()
                .unsent
                .is_empty()
        );
        let single = GuardItem {
            links: BTreeMap::new(),
            unsent: vec![],
            ..guard
        };
        let item = to_item(&single).unwrap();
        assert!(!item.contains_key("links") && !item.contains_key("unsent"));
    }

    #[test]
    fn a_champion_round_trips_and_only_finite_metrics_are_kept() {
        let mut champion = ChampionItem::new("iris", "run-1", "2026-11-21T10:00:00.000Z");
        champion.held_out_metrics = Some(finite(&Metrics::from([
            ("accuracy".to_owned(), 0.9),
            ("nan".to_owned(), f64::NAN),
        ])));
        let item = to_item(&champion).unwrap();
        assert_eq!(item["pk"], AttributeValue::S("ENDPOINT#iris".into()));
        assert_eq!(
            from_item::<ChampionItem>(item, "the champion").unwrap(),
            champion
        );
        assert_eq!(
            champion
                .held_out_metrics
                .map(|m| m.into_keys().collect::<Vec<_>>()),
            Some(vec!["accuracy".to_owned()])
        );
    }

    #[test]
    fn a_trigger_state_is_stored_as_its_word() {
        for state in [
            TriggerState::Starting,
            TriggerState::Started,
            TriggerState::Failed,
        ] {
            assert_eq!(serde_json::to_value(state).unwrap(), state.as_str());
        }
    }

    #[test]
    fn every_status_reads_back_as_stored_and_nothing_else_is_one() {
        let read = |text: &str| serde_json::from_value::<ApprovalStatus>(text.into()).ok();
        for s in ApprovalStatus::ALL {
            assert_eq!(read(s.as_str()), Some(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert_eq!(read("Approved"), None);
        assert_eq!(
            ApprovalStatus::from(Decision::Rejected),
            ApprovalStatus::Rejected
        );
    }

    #[test]
    fn a_run_event_keeps_its_facts_beside_its_key_and_reads_back() {
        let mut event = RunEvent::new(
            "run-1",
            Stage::Transformed,
            RunStatus::Running,
            "2026-11-21T10:00:00.123Z",
            "2026-11-21T10:00:01Z",
        );
        event.facts.gate_metric = Some("accuracy".into());
        event.facts.gate_value = Some(0.96);
        event.facts.gate_threshold = Some(0.9);
        event.facts.approval_decision = Some(Decision::Approved);
        event.facts.truncated = vec!["cause".into()];
        event.notified = Some(true);
        let item = to_item(&event).unwrap();
        assert_eq!(
            item["sk"].as_s().unwrap(),
            "EVENT#2026-11-21T10:00:00.123Z#transformed"
        );
        assert_eq!(item["stage"].as_s().unwrap(), "transformed");
        assert_eq!(item["gateValue"].as_n().unwrap(), "0.96");
        assert_eq!(item["approvalDecision"].as_s().unwrap(), "approved");
        assert!(
            !item.contains_key("commitId"),
            "absent facts are not written"
        );
        let trail = Trail::from_items([item]).unwrap();
        assert_eq!(trail.events, vec![event]);
        assert_eq!(trail.summary, None);
    }

    #[test]
    fn a_summary_is_told_from_events_by_its_key_and_must_name_its_status() {
        let mut summary = RunSummary::new(
            "run-1",
            Stage::Failed,
            RunStatus::TimedOut,
            "2026-11-21T10:00:00.123Z",
            "now",
        );
        summary.facts.metrics = Some(BTreeMap::from([("accuracy".into(), 1.0)]));
        let item = to_item(&summary).unwrap();
        assert_eq!(item["status"].as_s().unwrap(), "timedOut");
        let trail = Trail::from_items([item.clone()]).unwrap();
        assert_eq!(trail.summary, Some(summary));
        let mut broken = item;
        broken.remove("status");
        let err = Trail::from_items([broken]).unwrap_err();
        assert_eq!(err.name, ErrorName::Conflict);
        assert!(
            err.message.contains("summary") && err.message.contains("status"),
            "{}",
            err.message
        );
    }

    #[test]
    fn a_trigger_claim_has_the_names_its_condition_and_settle_use() {
        let key = keys::trigger("data", "training/iris.csv", "v1");
        let claim = TriggerItem {
            pk: key.pk,
            sk: key.sk,
            state: TriggerState::Starting,
            attempt: "req-1".into(),
            lease_until: Some(400),
            bucket: "data".into(),
            key: "training/iris.csv".into(),
            version_id: "v1".into(),
            sequencer: "01".into(),
            etag: "e".into(),
            size: 7,
            event_time: "2026-11-21T10:00:00Z".into(),
            expires_at: 900,
        };
        let item = to_item(&claim).unwrap();
        assert_eq!(item["state"].as_s().unwrap(), "starting");
        assert_eq!(item["leaseUntil"].as_n().unwrap(), "400");
        assert_eq!(item[keys::TTL].as_n().unwrap(), "900");
        assert_eq!(item["attempt"].as_s().unwrap(), "req-1");
        let back: TriggerItem = from_item(item, "the trigger").unwrap();
        assert_eq!(back, claim);
    }
}
