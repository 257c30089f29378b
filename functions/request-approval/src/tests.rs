use std::collections::HashMap;

use super::*;
use aws_sdk_dynamodb::config::retry::RetryConfig;
use aws_sdk_dynamodb::operation::get_item::GetItemOutput;
use aws_sdk_dynamodb::operation::transact_write_items::{
    TransactWriteItemsError, TransactWriteItemsOutput,
};
use aws_sdk_dynamodb::operation::update_item::UpdateItemOutput;
use aws_sdk_dynamodb::types::AttributeValue;
use aws_sdk_dynamodb::types::error::TransactionCanceledException;
use aws_sdk_sns::operation::publish::PublishOutput;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::Context;
use shared::Env;

const TOKEN: &str = "AQCEAAAAKgAAAAMAAAAAAAAAAeXampleTaskTokenDoNotUse==";

fn input() -> RequestApprovalInput {
    serde_json::from_str(&testkit::event_text("request-approval", "input.json")).unwrap()
}

fn state(ddb: &[&Rule], sns: &[&Rule]) -> State {
    state_reminding(ddb, sns, None, &[])
}

fn state_reminding(
    ddb: &[&Rule],
    sns: &[&Rule],
    reminder: Option<Reminder>,
    scheduler: &[&Rule],
) -> State {
    State {
        config: Config {
            table_name: "runs".into(),
            topic_arn: "arn:aws:sns:us-east-1:123456789012:approvals".into(),
            approval_base_url: "https://api.example.com".into(),
            reminder,
            approvers: Vec::new(),
            required: 1,
            production_approvers: Vec::new(),
            production_required: 1,
        },
        scheduler: mock_client!(aws_sdk_scheduler, RuleMode::Sequential, scheduler, |c| c
            .retry_config(aws_sdk_scheduler::config::retry::RetryConfig::disabled())),
        dynamodb: mock_client!(aws_sdk_dynamodb, RuleMode::Sequential, ddb, |c| c
            .retry_config(RetryConfig::disabled())),
        sns: mock_client!(aws_sdk_sns, RuleMode::Sequential, sns, |c| c
            .retry_config(aws_sdk_sns::config::retry::RetryConfig::disabled())),
    }
}

fn event() -> LambdaEvent<RequestApprovalInput> {
    LambdaEvent::new(input(), Context::default())
}

fn created() -> Rule {
    mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|r| {
            let items = r.transact_items();
            let guard = items[0].put().unwrap().item();
            let approval = items[1].put().unwrap().item();
            items.len() == 2
                && !format!("{guard:?}").contains(TOKEN)
                && approval["taskToken"].as_s().is_ok_and(|t| t == TOKEN)
                && approval["status"].as_s().is_ok_and(|s| s == "pending")
                && approval["deadline"].as_n().is_ok()
        })
        .then_output(|| TransactWriteItemsOutput::builder().build())
}

fn exists() -> Rule {
    mock!(aws_sdk_dynamodb::Client::transact_write_items).then_error(|| {
        TransactWriteItemsError::TransactionCanceledException(
            TransactionCanceledException::builder().build(),
        )
    })
}

const OLD_HASH: &str = "5f3c9b0e6a1d4c2e8f7a3b5d1e9c2a405f3c9b0e6a1d4c2e8f7a3b5d1e9c2a40";

fn guard(emailed: bool) -> Rule {
    mock!(aws_sdk_dynamodb::Client::get_item).then_output(move || {
        GetItemOutput::builder()
            .item("approvalHash", AttributeValue::S(OLD_HASH.into()))
            .item("emailed", AttributeValue::Bool(emailed))
            .build()
    })
}

/// A retry moves the approval to this attempt's token, while it is pending.
fn repointed() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| {
            r.update_expression() == Some("SET taskToken = :t")
                && r.key()
                    .and_then(|k| k.get("pk"))
                    .and_then(|pk| pk.as_s().ok())
                    .is_some_and(|pk| pk == &format!("APPROVAL#{OLD_HASH}"))
                && r.expression_attribute_values()
                    .and_then(|v| v.get(":t"))
                    .and_then(|t| t.as_s().ok())
                    .is_some_and(|t| t == TOKEN)
                && r.condition_expression()
                    .is_some_and(|c| c.contains(":pending"))
        })
        .then_output(|| UpdateItemOutput::builder().build())
}

/// One approver's email went out.
fn link_sent(address: &'static str) -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(move |r| {
            r.update_expression() == Some("DELETE unsent :e")
                && r.expression_attribute_values()
                    .and_then(|v| v.get(":e"))
                    .and_then(|e| e.as_ss().ok())
                    .is_some_and(|e| e == &[address.to_owned()])
        })
        .then_output(|| UpdateItemOutput::builder().build())
}

fn marked() -> Rule {
    mock!(aws_sdk_dynamodb::Client::update_item)
        .match_requests(|r| r.update_expression() == Some("SET emailed = :t"))
        .then_output(|| UpdateItemOutput::builder().build())
}

fn emailed() -> Rule {
    mock!(aws_sdk_sns::Client::publish)
        .match_requests(|r| {
            let body = r.message().unwrap_or_default();
            body.contains("https://api.example.com/approvals/")
                && body.contains("validation:accuracy: 0.9667")
                && !body.contains(TOKEN)
                && r.subject()
                    .is_some_and(|s| s.starts_with("[mlops] Approval needed"))
        })
        .then_output(|| PublishOutput::builder().build())
}

#[tokio::test]
async fn a_new_task_gets_one_approval_and_one_email_without_the_token() {
    let (write, mark, mail) = (created(), marked(), emailed());
    let s = state(&[&write, &mark], &[&mail]);
    let out = handle(&s, event()).await.unwrap();
    assert_eq!(
        out.approval_hash.as_str().len(),
        64,
        "the answer holds the id's hash, never the id"
    );
    assert_eq!(
        (write.num_calls(), mail.num_calls(), mark.num_calls()),
        (1, 1, 1)
    );
}

#[tokio::test]
async fn a_retry_after_the_email_sends_nothing_and_answers_the_same_approval() {
    let (write, found, moved, mail) = (exists(), guard(true), repointed(), emailed());
    let s = state(&[&write, &found, &moved], &[&mail]);
    let out = handle(&s, event()).await.unwrap();
    assert_eq!(out.approval_hash.as_str(), OLD_HASH);
    assert_eq!(mail.num_calls(), 0);
    // Decisions reach this attempt's task, whose token may be new.
    assert_eq!(moved.num_calls(), 1);
}

/// The table has only the first approval's hash, so its link cannot be sent
/// again: the retry replaces that still-pending approval with a new one (the
/// guard re-pointed only if nothing moved) and emails the new link.
#[tokio::test]
async fn a_retry_after_a_lost_email_replaces_the_unsent_approval_and_emails_a_new_link() {
    let replaced = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|r| {
            let items = r.transact_items();
            items.len() == 3
                && items[0].delete().is_some_and(|d| {
                    d.key()["pk"]
                        .as_s()
                        .is_ok_and(|pk| pk == &format!("APPROVAL#{OLD_HASH}"))
                        && d.condition_expression()
                            .is_some_and(|c| c.contains(":pending"))
                })
                && items[1].update().is_some_and(|u| {
                    u.condition_expression() == Some("approvalHash = :old AND emailed = :f")
                })
                && items[2]
                    .put()
                    .is_some_and(|p| p.item()["taskToken"].as_s().is_ok_and(|t| t == TOKEN))
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let (write, found, mark, mail) = (exists(), guard(false), marked(), emailed());
    let s = state(&[&write, &found, &repointed(), &replaced, &mark], &[&mail]);
    let out = handle(&s, event()).await.unwrap();
    assert_ne!(out.approval_hash.as_str(), OLD_HASH, "a new approval");
    assert_eq!(
        (replaced.num_calls(), mail.num_calls(), mark.num_calls()),
        (1, 1, 1)
    );
}

/// The unsent approval was decided meanwhile (its email did go out after
/// all): nothing is replaced and nothing sent again.
#[tokio::test]
async fn a_retry_whose_approval_was_decided_meanwhile_sends_nothing() {
    let (write, found, mail) = (exists(), guard(false), emailed());
    let s = state(&[&write, &found, &repointed(), &exists()], &[&mail]);
    let out = handle(&s, event()).await.unwrap();
    assert_eq!(out.approval_hash.as_str(), OLD_HASH);
    assert_eq!(mail.num_calls(), 0);
}

#[tokio::test]
async fn a_missing_token_or_timeout_is_refused() {
    let s = state(&[], &[]);
    let mut bad = input();
    bad.task_token = " ".into();
    let err = handle(&s, LambdaEvent::new(bad, Context::default()))
        .await
        .unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
    let mut bad = input();
    bad.timeout_seconds = 0;
    let err = handle(&s, LambdaEvent::new(bad, Context::default()))
        .await
        .unwrap_err();
    assert!(err.message.contains("timeoutSeconds"));
}

#[test]
fn approval_ids_are_128_random_bits_in_url_safe_hex() {
    let ids: std::collections::HashSet<_> = (0..1000)
        .map(|_| new_approval_id().unwrap().reveal().to_owned())
        .collect();
    assert_eq!(ids.len(), 1000);
    assert!(ids.iter().all(|id| ApprovalId::parse(id).is_some()));
    assert!(
        ApprovalId::parse("../etc/passwd").is_none()
            && ApprovalId::parse("0123456789ABCDEF0123456789ABCDEF").is_none()
    );
}

fn reminder() -> Reminder {
    Reminder {
        seconds_before: 3600,
        target_arn: "arn:aws:lambda:us-east-1:123456789012:function:record-metadata".into(),
        role_arn: "arn:aws:iam::123456789012:role/reminders".into(),
        dead_letter_arn: Some("arn:aws:sqs:us-east-1:123456789012:unfired".into()),
        name_token: shared::naming::StackToken::parse(testkit::TEST_TOKEN).unwrap(),
    }
}

#[test]
fn the_reminder_fires_its_lead_before_the_deadline_and_not_for_a_short_approval() {
    assert_eq!(reminder_time(86_400, 3600, 1_000), Some(1_000 + 82_800));
    assert_eq!(reminder_time(3600, 3600, 1_000), None);
    assert_eq!(reminder_time(600, 3600, 1_000), None);
}

#[tokio::test]
async fn the_reminder_names_the_approval_by_its_hash_and_a_failed_one_fails_nothing() {
    let made = mock!(aws_sdk_scheduler::Client::create_schedule)
        .match_requests(|r| {
            let input = r.target().and_then(|t| t.input()).unwrap_or_default();
            r.name()
                .is_some_and(|n| n.starts_with(&format!("approval-{}-", testkit::TEST_TOKEN)) && n.len() == 50)
                && r.schedule_expression()
                    .is_some_and(|e| e.starts_with("at(") && !e.contains('Z'))
                && input.contains("approvalReminder")
                && !input.contains(TOKEN)
                // A target that fails at fire time is retried, then kept.
                && r.target().and_then(|t| t.dead_letter_config()).and_then(|d| d.arn())
                    == Some("arn:aws:sqs:us-east-1:123456789012:unfired")
                && r.target()
                    .and_then(|t| t.retry_policy())
                    .is_some_and(|p| p.maximum_event_age_in_seconds() == Some(86_400))
        })
        .then_output(|| {
            aws_sdk_scheduler::operation::create_schedule::CreateScheduleOutput::builder()
                .schedule_arn("arn")
                .build()
                .unwrap()
        });
    let refused = mock!(aws_sdk_scheduler::Client::create_schedule).then_error(|| {
        aws_sdk_scheduler::operation::create_schedule::CreateScheduleError::generic(
            aws_sdk_scheduler::error::ErrorMetadata::builder()
                .code("AccessDeniedException")
                .build(),
        )
    });
    for rule in [&made, &refused] {
        let s = state_reminding(
            &[&created(), &marked()],
            &[&emailed()],
            Some(reminder()),
            &[rule],
        );
        let out = handle(&s, event()).await.unwrap();
        assert_eq!(out.approval_hash.as_str().len(), 64);
    }
    assert_eq!(made.num_calls(), 1);
    assert_eq!(refused.num_calls(), 1);
}

#[test]
fn the_email_puts_each_held_out_figure_beside_the_deployed_versions() {
    let champion = Champion {
        execution_name: "run-first".into(),
        model_package_arn: Some(
            "arn:aws:sagemaker:us-east-1:123456789012:model-package/m/1".into(),
        ),
        metrics: [("accuracy".to_owned(), 1.0)].into(),
        model_quality_uri: None,
    };
    let deployed = ChampionLookup::Deployed(champion);
    assert_eq!(
        compared("accuracy", 0.9, &deployed),
        "0.9 (deployed now: 1, -0.1000)"
    );
    assert_eq!(
        compared("macroF1", 0.9, &deployed),
        "0.9 (deployed now: not measured)"
    );
    assert_eq!(
        compared("accuracy", 0.9, &ChampionLookup::NoneDeployed),
        "0.9"
    );

    let (_, body) = email(
        &input(),
        &ChampionLookup::NoneDeployed,
        "https://x/approvals/id",
        0,
    );
    assert!(body.contains("Deployed now: nothing yet"), "{body}");
    let (_, body) = email(&input(), &deployed, "https://x/approvals/id", 0);
    assert!(body.contains("Deployed now: arn:aws:sagemaker:us-east-1:123456789012:model-package/m/1 (run run-first)"), "{body}");
    // What the version learned from and was judged on.
    assert!(
        body.contains("Trained on: s3://mlops-data/training/iris.csv"),
        "{body}"
    );
    assert!(
        body.contains("Held-out data: s3://mlops-data/test/"),
        "{body}"
    );
}

#[tokio::test]
async fn named_approvers_each_get_a_link_bound_to_their_address() {
    let written = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|r| {
            let items = r.transact_items();
            let approval = items[1].put().unwrap().item();
            let links: Vec<_> = items[2..].iter().map(|i| i.put().unwrap().item()).collect();
            let guard = items[0].put().unwrap().item();
            items.len() == 4
                && guard["unsent"]
                    .as_ss()
                    .is_ok_and(|u| u.len() == 2 && u.contains(&"bob@example.com".to_owned()))
                && guard["links"].as_m().is_ok_and(|l| {
                    links.iter().all(|link| {
                        let email = link["approverEmail"].as_s().unwrap();
                        l[email].as_s().ok().map(|h| format!("APPROVAL#{h}"))
                            == link["pk"].as_s().ok().cloned()
                    })
                })
                && approval["required"].as_n().is_ok_and(|n| n == "2")
                && approval["boundOnly"].as_bool().is_ok_and(|b| *b)
                && links.iter().all(|l| {
                    l["groupHash"].as_s().ok()
                        == approval["pk"]
                            .as_s()
                            .ok()
                            .and_then(|pk| pk.strip_prefix("APPROVAL#"))
                            .map(str::to_owned)
                            .as_ref()
                        && !l.contains_key("taskToken")
                })
                && links[0]["approverEmail"]
                    .as_s()
                    .is_ok_and(|e| e == "ana@example.com")
                && links[1]["approverEmail"]
                    .as_s()
                    .is_ok_and(|e| e == "bob@example.com")
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let to = |address: &'static str| {
        mock!(aws_sdk_sns::Client::publish)
            .match_requests(move |r| {
                r.message_attributes()
                    .and_then(|a| a.get("approver"))
                    .and_then(|v| v.string_value())
                    == Some(address)
                    && r.message().is_some_and(|m| {
                        m.contains(&format!("This link is yours ({address})"))
                            && m.contains("once 2 approvers have approved")
                    })
            })
            .then_output(|| PublishOutput::builder().build())
    };
    let (ana, bob) = (to("ana@example.com"), to("bob@example.com"));
    let (ana_sent, bob_sent) = (link_sent("ana@example.com"), link_sent("bob@example.com"));
    let mut s = state(&[&written, &ana_sent, &bob_sent, &marked()], &[&ana, &bob]);
    s.config.approvers = vec!["ana@example.com".into(), "bob@example.com".into()];
    s.config.required = 2;
    handle(&s, event()).await.unwrap();
    assert_eq!((ana.num_calls(), bob.num_calls()), (1, 1));
    // Each recorded as sent once its email went.
    assert_eq!((ana_sent.num_calls(), bob_sent.num_calls()), (1, 1));
}

/// Ana's email went out, Bob's failed: the retry keeps the approval (and any
/// vote on it) and Ana's link, and sends Bob a new link of his own.
#[tokio::test]
async fn a_retry_after_a_send_that_failed_partway_keeps_the_approval_and_sends_only_the_unsent_links()
 {
    const ANA: &str = "1111111111111111111111111111111111111111111111111111111111111111";
    const BOB: &str = "2222222222222222222222222222222222222222222222222222222222222222";
    let found = mock!(aws_sdk_dynamodb::Client::get_item).then_output(|| {
        GetItemOutput::builder()
            .item("approvalHash", AttributeValue::S(OLD_HASH.into()))
            .item("emailed", AttributeValue::Bool(false))
            .item(
                "links",
                AttributeValue::M(HashMap::from([
                    ("ana@example.com".to_owned(), AttributeValue::S(ANA.into())),
                    ("bob@example.com".to_owned(), AttributeValue::S(BOB.into())),
                ])),
            )
            .item("unsent", AttributeValue::Ss(vec!["bob@example.com".into()]))
            .build()
    });
    let relinked = mock!(aws_sdk_dynamodb::Client::transact_write_items)
        .match_requests(|r| {
            let items = r.transact_items();
            items.len() == 3
                && items[0].delete().is_some_and(|d| {
                    d.key()["pk"]
                        .as_s()
                        .is_ok_and(|pk| pk == &format!("APPROVAL#{BOB}"))
                })
                && items[1].put().is_some_and(|p| {
                    let link = p.item();
                    link["groupHash"].as_s().is_ok_and(|g| g == OLD_HASH)
                        && link["approverEmail"]
                            .as_s()
                            .is_ok_and(|e| e == "bob@example.com")
                        && !link.contains_key("taskToken")
                })
                && items[2].update().is_some_and(|u| {
                    u.condition_expression()
                        .is_some_and(|c| c.contains(":old0") && c.contains("emailed = :f"))
                        && u.expression_attribute_values()
                            .and_then(|v| v.get(":old0"))
                            .and_then(|o| o.as_s().ok())
                            .is_some_and(|o| o == BOB)
                })
        })
        .then_output(|| TransactWriteItemsOutput::builder().build());
    let to = |address: &'static str| {
        mock!(aws_sdk_sns::Client::publish)
            .match_requests(move |r| {
                r.message_attributes()
                    .and_then(|a| a.get("approver"))
                    .and_then(|v| v.string_value())
                    == Some(address)
            })
            .then_output(|| PublishOutput::builder().build())
    };
    // In order: a publish to Ana would not match Bob's rule, and fail the test.
    let bob = to("bob@example.com");
    let (bob_sent, mark) = (link_sent("bob@example.com"), marked());
    let mut s = state(
        &[&exists(), &found, &repointed(), &relinked, &bob_sent, &mark],
        &[&bob],
    );
    s.config.approvers = vec!["ana@example.com".into(), "bob@example.com".into()];
    s.config.required = 2;
    let out = handle(&s, event()).await.unwrap();
    assert_eq!(
        out.approval_hash.as_str(),
        OLD_HASH,
        "the same approval, votes and all"
    );
    assert_eq!(bob.num_calls(), 1);
    assert_eq!(
        (relinked.num_calls(), bob_sent.num_calls(), mark.num_calls()),
        (1, 1, 1)
    );
}

#[test]
fn the_approvers_and_the_count_they_must_reach_are_checked_at_init() {
    let env = |approvers: &str, required: &str| {
        Env::from_pairs([
            ("TABLE_NAME", "runs"),
            ("APPROVAL_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:a"),
            ("APPROVAL_BASE_URL", "https://api.example.com"),
            ("APPROVERS", approvers),
            ("REQUIRED_APPROVALS", required),
        ])
    };
    let ok = Config::from_env(&env(" ana@example.com, bob@example.com ", "2")).unwrap();
    assert_eq!((ok.approvers.len(), ok.required), (2, 2));
    assert_eq!(Config::from_env(&env("", "1")).unwrap().approvers.len(), 0);
    for (approvers, required) in [
        ("ana@example.com", "2"),
        ("", "2"),
        ("not an address", "1"),
        ("ana@example.com,ana@example.com", "1"),
        ("ana@example.com", "0"),
    ] {
        assert!(
            Config::from_env(&env(approvers, required)).is_err(),
            "{approvers} {required}"
        );
    }
}

#[test]
fn production_has_its_own_approvers_from_among_the_subscribed_ones_or_the_same_by_default() {
    let env = |production: &str, required: &str| {
        Env::from_pairs([
            ("TABLE_NAME", "runs"),
            ("APPROVAL_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:a"),
            ("APPROVAL_BASE_URL", "https://api.example.com"),
            (
                "APPROVERS",
                "ana@example.com,bob@example.com,cy@example.com",
            ),
            ("REQUIRED_APPROVALS", "2"),
            ("PRODUCTION_APPROVERS", production),
            ("PRODUCTION_REQUIRED_APPROVALS", required),
        ])
    };
    let same = Config::from_env(&env("", "0")).unwrap();
    let (who, needed) = same.approvers_for(Some(shared::contract::DeployStage::Production));
    assert_eq!((who.len(), needed), (3, 2));
    let own = Config::from_env(&env("cy@example.com", "0")).unwrap();
    assert_eq!(
        own.approvers_for(Some(shared::contract::DeployStage::Production)),
        (&["cy@example.com".to_owned()][..], 1),
        "REQUIRED_APPROVALS' 2 is more than production's one approver: all of them"
    );
    assert_eq!(own.approvers_for(None), (&own.approvers[..], 2));
    assert_eq!(
        own.approvers_for(Some(shared::contract::DeployStage::Staging))
            .1,
        2
    );
    for (production, required) in [("dee@example.com", "0"), ("cy@example.com", "2")] {
        let err = Config::from_env(&env(production, required)).unwrap_err();
        assert!(err.to_string().contains("PRODUCTION_"), "{err}");
    }
}

#[tokio::test]
async fn production_approval_says_so_and_shows_the_staging_figures() {
    let mut input = input();
    input.deploy_stage = Some(shared::contract::DeployStage::Production);
    input.staging_report_uri = Some("s3://artifacts/transform/run/staging-report.json".into());
    input.staging = Some(shared::contract::StagingFigures {
        requests: 60,
        errors: 0,
        error_percent: 0.0,
        p50_ms: 4.2,
        p99_ms: 9.75,
        agreed: 9,
        compared: 9,
        examples_passed: 2,
        examples: 2,
    });
    let (subject, body) = email::email(
        &input,
        &email::ChampionLookup::NoneDeployed,
        "https://x/approvals/id",
        0,
    );
    assert!(
        subject.starts_with("[mlops] Production approval needed"),
        "{subject}"
    );
    assert!(
        body.contains("Staging: 9 of 9 held-out rows as the batch transform, 2 of 2 examples, 60 requests, 0.0% errors, p50 4.2 ms, p99 9.8 ms")
            && body.contains("Staging report: s3://artifacts/transform/run/staging-report.json"),
        "{body}"
    );
    let (first, _) = email::email(
        &crate::tests::input(),
        &email::ChampionLookup::NoneDeployed,
        "l",
        0,
    );
    assert!(first.starts_with("[mlops] Approval needed"), "{first}");
}
