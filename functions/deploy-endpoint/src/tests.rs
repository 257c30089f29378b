use super::*;
use aws_sdk_sagemaker::config::retry::RetryConfig;
use aws_sdk_sagemaker::error::ErrorMetadata;
use aws_sdk_sagemaker::operation::create_endpoint::{CreateEndpointError, CreateEndpointOutput};
use aws_sdk_sagemaker::operation::create_endpoint_config::CreateEndpointConfigOutput;
use aws_sdk_sagemaker::operation::describe_endpoint::{
    DescribeEndpointError, DescribeEndpointOutput,
};
use aws_sdk_sagemaker::operation::describe_endpoint_config::{
    DescribeEndpointConfigError, DescribeEndpointConfigOutput,
};
use aws_sdk_sagemaker::types::EndpointStatus as SmStatus;
use aws_smithy_mocks::{Rule, RuleMode, mock, mock_client};
use lambda_runtime::Context;
use shared::contract::{DataCapture, DeploymentPolicy};

fn input(file: &str) -> DeployEndpointInput {
    serde_json::from_str(&testkit::event_text("deploy-endpoint", file)).unwrap()
}

fn state(rules: &[&Rule]) -> State {
    // The SDK's own retry is off: each mocked error is the final answer the handler sees.
    let sagemaker = mock_client!(aws_sdk_sagemaker, RuleMode::Sequential, rules, |c| c
        .retry_config(RetryConfig::disabled()));
    State {
        sagemaker,
        name_token: token(),
    }
}

fn token() -> naming::StackToken {
    naming::StackToken::parse(testkit::TEST_TOKEN).unwrap()
}

fn event(input: DeployEndpointInput) -> LambdaEvent<DeployEndpointInput> {
    LambdaEvent::new(input, Context::default())
}

fn validation(message: &str) -> ErrorMetadata {
    ErrorMetadata::builder()
        .code("ValidationException")
        .message(message)
        .build()
}

fn endpoint_absent() -> Rule {
    mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_error(|| {
        DescribeEndpointError::generic(validation("Could not find endpoint \"iris-classifier\"."))
    })
}

fn endpoint(status: SmStatus, config: &str) -> Rule {
    let config = config.to_owned();
    mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_output(move || {
        DescribeEndpointOutput::builder()
            .endpoint_name("iris-classifier")
            .endpoint_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris-classifier")
            .endpoint_status(status.clone())
            .endpoint_config_name(&config)
            .failure_reason("CannotStartContainerError: the container exited")
            .build()
    })
}

fn config_absent() -> Rule {
    mock!(aws_sdk_sagemaker::Client::describe_endpoint_config).then_error(|| {
        DescribeEndpointConfigError::generic(validation(
            "Could not find endpoint configuration \"x\".",
        ))
    })
}

fn config_exists(model: &str, count: i32) -> Rule {
    let model = model.to_owned();
    mock!(aws_sdk_sagemaker::Client::describe_endpoint_config).then_output(move || {
        DescribeEndpointConfigOutput::builder()
            .production_variants(
                ProductionVariant::builder()
                    .variant_name("AllTraffic")
                    .model_name(&model)
                    .instance_type(ProductionVariantInstanceType::MlM5Large)
                    .initial_instance_count(count)
                    .build(),
            )
            .build()
    })
}

#[test]
fn the_plan_follows_the_endpoint_status() {
    use EndpointStatus::*;
    let at = |status, config: &str| Observed {
        status,
        config_name: Some(config.into()),
        failure_reason: Some("reason".into()),
        serverless: false,
    };
    assert_eq!(plan(None, "new"), Plan::Create);
    assert_eq!(plan(Some(&at(InService, "old")), "new"), Plan::Update);
    assert_eq!(plan(Some(&at(InService, "new")), "new"), Plan::Unchanged);
    assert_eq!(
        plan(Some(&at(Creating, "new")), "new"),
        Plan::InProgress(DeployAction::Created)
    );
    assert_eq!(
        plan(Some(&at(Updating, "new")), "new"),
        Plan::InProgress(DeployAction::Updated)
    );
    for busy in [
        Creating,
        Updating,
        SystemUpdating,
        RollingBack,
        Deleting,
        Unknown,
    ] {
        assert_eq!(
            plan(Some(&at(busy, "old")), "new"),
            Plan::Busy(busy),
            "{busy:?}"
        );
    }
    for broken in [Failed, UpdateRollbackFailed, OutOfService] {
        assert_eq!(
            plan(Some(&at(broken, "old")), "new"),
            Plan::Broken(broken, "reason".into())
        );
    }
}

#[test]
fn config_names_are_stable_valid_and_follow_the_content() {
    let a = input("create.json");
    let mut b = a.clone();
    b.initial_instance_count = Some(2);
    assert_eq!(config_name(&token(), &a), config_name(&token(), &a.clone()));
    assert_ne!(config_name(&token(), &a), config_name(&token(), &b));
    assert!(is_valid_sagemaker_name(
        &config_name(&token(), &a),
        SAGEMAKER_NAME_MAX
    ));
    assert!(config_name(&token(), &a).starts_with("config-5e1f0c70-model-"));
}

#[test]
fn staging_names_its_configs_apart_and_production_keeps_the_names_it_had() {
    use shared::contract::DeployStage;
    let a = input("create.json");
    let mut staging = a.clone();
    staging.deploy_stage = Some(DeployStage::Staging);
    let mut production = a.clone();
    production.deploy_stage = Some(DeployStage::Production);
    // One model on both stages: each endpoint's config is its own, so the
    // config one stage supersedes (and deletes) is never the other's.
    assert_ne!(config_name(&token(), &staging), config_name(&token(), &a));
    assert_eq!(
        config_name(&token(), &production),
        config_name(&token(), &a)
    );
}

#[test]
fn bad_inputs_are_refused_with_the_field_named() {
    type Spoil = Box<dyn Fn(&mut DeployEndpointInput)>;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "endpointName",
            Box::new(|i| i.endpoint_name = "has space".into()),
        ),
        (
            "instanceType",
            Box::new(|i| i.instance_type = Some("m5.large".into())),
        ),
        (
            "initialInstanceCount",
            Box::new(|i| i.initial_instance_count = Some(0)),
        ),
        ("commitId", Box::new(|i| i.commit_id = " ".into())),
        (
            "initialInstanceCount are required",
            Box::new(|i| i.initial_instance_count = None),
        ),
        (
            "takes no instanceType",
            Box::new(|i| i.serverless = Some(serverless(2048, 5))),
        ),
        (
            "trafficPercent",
            Box::new(|i| {
                i.deployment = Some(DeploymentPolicy {
                    strategy: DeploymentStrategy::Canary,
                    traffic_percent: None,
                    wait_interval_seconds: None,
                    rollback_alarm_names: vec![],
                    poll_seconds: None,
                    max_polls: None,
                })
            }),
        ),
        (
            "samplingPercentage",
            Box::new(|i| {
                i.data_capture = Some(DataCapture {
                    destination_s3_uri: "s3://b/capture/".into(),
                    sampling_percentage: 101,
                })
            }),
        ),
    ];
    for (field, spoil) in cases {
        let mut bad = input("create.json");
        spoil(&mut bad);
        let err = validate(&bad).unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidInput);
        assert!(err.message.contains(field), "{field}: {}", err.message);
    }
}

fn rollout(
    strategy: DeploymentStrategy,
    percent: Option<u8>,
    wait: u32,
    polls: (u32, u32),
) -> DeployEndpointInput {
    let mut i = input("canary.json");
    i.deployment = Some(DeploymentPolicy {
        strategy,
        traffic_percent: percent,
        wait_interval_seconds: Some(wait),
        rollback_alarm_names: vec!["iris-classifier-5xx".into()],
        poll_seconds: Some(polls.0),
        max_polls: Some(polls.1),
    });
    i
}

#[test]
fn a_rollout_that_bakes_longer_than_the_wait_for_in_service_is_refused_naming_the_parameters() {
    use DeploymentStrategy::{AllAtOnce, Canary, Linear};
    // The template's defaults (30 s × 120 checks, 3600 s): a linear rollout
    // of 10% steps baking 300 s each bakes 3000 s, leaving 600 s for the new
    // instances to start.
    for ok in [
        rollout(Linear, Some(10), 300, (30, 120)),
        rollout(Canary, Some(10), 300, (30, 120)),
        rollout(AllAtOnce, None, 3000, (30, 120)),
        rollout(Linear, Some(10), 360, (30, 120)),
    ] {
        assert!(validate(&ok).is_ok(), "{:?}", ok.deployment);
    }
    // 1% steps of an hour: 100 shifts, 100 hours, more than the longest wait the
    // parameters allow (300 s × 288 checks, a day).
    let slowest = rollout(Linear, Some(1), 3600, (300, 288));
    assert_eq!(
        bake_seconds(slowest.deployment.as_ref().unwrap()),
        (100, 360_000)
    );
    assert!(validate(&slowest).is_err());
    for (bad, shifts) in [
        (rollout(Linear, Some(10), 361, (30, 120)), 10),
        (rollout(Linear, Some(3), 300, (30, 120)), 34),
        (rollout(Linear, Some(1), 3600, (300, 288)), 100),
        (rollout(Canary, Some(10), 3600, (30, 119)), 1),
        (rollout(AllAtOnce, None, 3600, (30, 100)), 1),
    ] {
        let err = validate(&bad).unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidInput);
        for says in [
            "EndpointMaxPolls",
            "DeploymentWaitSeconds",
            &format!("{shifts} traffic shift(s)"),
            "nothing was changed",
        ] {
            assert!(err.message.contains(says), "{says}: {}", err.message);
        }
    }
    // Without the wait's figures (an older input), nothing is assumed.
    let mut older = rollout(Linear, Some(1), 3600, (1, 1));
    older.deployment.as_mut().unwrap().max_polls = None;
    assert!(validate(&older).is_ok());
}

#[tokio::test]
async fn a_refused_rollout_calls_nothing() {
    // No rule: any SageMaker call would fail the test's mock client.
    let s = state(&[]);
    let err = handle(
        &s,
        event(rollout(
            DeploymentStrategy::Linear,
            Some(1),
            3600,
            (30, 120),
        )),
    )
    .await
    .unwrap_err();
    assert_eq!(err.name, ErrorName::InvalidInput);
}

#[test]
fn a_canary_policy_becomes_sagemaker_guardrails() {
    let config = deployment_config(&input("canary.json")).unwrap();
    let policy = config.blue_green_update_policy().unwrap();
    let routing = policy.traffic_routing_configuration().unwrap();
    assert_eq!(routing.r#type(), Some(&TrafficRoutingConfigType::Canary));
    assert_eq!(routing.wait_interval_in_seconds(), Some(300));
    assert_eq!(routing.canary_size().unwrap().value(), Some(10));
    let alarms = config.auto_rollback_configuration().unwrap().alarms();
    assert_eq!(alarms[0].alarm_name(), Some("iris-classifier-5xx"));
    assert!(deployment_config(&input("create.json")).is_none());
}

#[tokio::test]
async fn an_absent_endpoint_is_created_with_its_config_and_tags() {
    let wanted = input("create.json");
    let target = config_name(&token(), &wanted);
    let create_config = mock!(aws_sdk_sagemaker::Client::create_endpoint_config)
        .match_requests({
            let target = target.clone();
            move |r| {
                r.endpoint_config_name() == Some(target.as_str())
                    && r.production_variants()[0].initial_instance_count() == Some(1)
                    && r.tags()
                        .iter()
                        .any(|t| t.key() == Some("mlops:commit") && t.value() == Some("0123abc"))
            }
        })
        .then_output(|| CreateEndpointConfigOutput::builder().build());
    let create = mock!(aws_sdk_sagemaker::Client::create_endpoint)
        .match_requests({
            let target = target.clone();
            move |r| {
                r.endpoint_name() == Some("iris-classifier")
                    && r.endpoint_config_name() == Some(target.as_str())
                    && r.tags().len() == 3
            }
        })
        .then_output(|| CreateEndpointOutput::builder().build());
    let s = state(&[
        &endpoint_absent(),
        &config_absent(),
        &create_config,
        &create,
    ]);
    let out = handle(&s, event(wanted)).await.unwrap();
    assert_eq!(out.action, DeployAction::Created);
    assert_eq!(out.endpoint_config_name, target);
    assert_eq!((create_config.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_endpoint_in_service_is_updated_with_the_deployment_policy() {
    let wanted = input("canary.json");
    let update = mock!(aws_sdk_sagemaker::Client::update_endpoint)
        .match_requests(|r| {
            let routing = r
                .deployment_config()
                .and_then(|d| d.blue_green_update_policy())
                .and_then(|p| p.traffic_routing_configuration());
            r.endpoint_name() == Some("iris-classifier")
                && routing.is_some_and(|t| t.r#type() == Some(&TrafficRoutingConfigType::Canary))
        })
        .then_output(|| {
            aws_sdk_sagemaker::operation::update_endpoint::UpdateEndpointOutput::builder().build()
        });
    let tag = mock!(aws_sdk_sagemaker::Client::add_tags)
        .match_requests(|r| {
            r.resource_arn()
                .is_some_and(|a| a.ends_with("endpoint/iris-classifier"))
        })
        .then_output(|| aws_sdk_sagemaker::operation::add_tags::AddTagsOutput::builder().build());
    let create_config = mock!(aws_sdk_sagemaker::Client::create_endpoint_config)
        .then_output(|| CreateEndpointConfigOutput::builder().build());
    let s = state(&[
        &endpoint(SmStatus::InService, "config-of-the-last-model"),
        &config_absent(),
        &create_config,
        &update,
        &tag,
    ]);
    let out = handle(&s, event(wanted)).await.unwrap();
    assert_eq!(out.action, DeployAction::Updated);
    assert_eq!((update.num_calls(), tag.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_endpoint_already_on_the_target_config_is_left_alone() {
    let wanted = input("create.json");
    let s = state(&[&endpoint(
        SmStatus::InService,
        &config_name(&token(), &wanted),
    )]);
    let out = handle(&s, event(wanted)).await.unwrap();
    assert_eq!(out.action, DeployAction::Unchanged);
}

#[tokio::test]
async fn a_retry_while_our_own_creation_runs_answers_created() {
    let wanted = input("create.json");
    let s = state(&[&endpoint(
        SmStatus::Creating,
        &config_name(&token(), &wanted),
    )]);
    let out = handle(&s, event(wanted)).await.unwrap();
    assert_eq!(out.action, DeployAction::Created);
}

#[tokio::test]
async fn a_busy_endpoint_is_a_retryable_error_and_nothing_is_created() {
    let s = state(&[&endpoint(SmStatus::Updating, "someone-elses-config")]);
    let err = handle(&s, event(input("create.json"))).await.unwrap_err();
    assert_eq!(err.name, ErrorName::EndpointBusy);
    assert!(err.is_transient());
    // Counted, so FunctionErrorsAlarm can leave the expected retries out.
    let counted = shared::metrics::check(&busy_metrics(&Err(err)).to_json(0)).unwrap();
    assert_eq!(counted, [("EndpointBusy".to_owned(), 1.0)]);
    let other = Failure::new(ErrorName::EndpointFailed, "x");
    assert!(busy_metrics(&Err(other)).is_empty());
}

#[tokio::test]
async fn a_failed_endpoint_names_sagemakers_reason_and_the_way_out() {
    let s = state(&[&endpoint(SmStatus::Failed, "old")]);
    let err = handle(&s, event(input("create.json"))).await.unwrap_err();
    assert_eq!(err.name, ErrorName::EndpointFailed);
    assert!(
        err.message.contains("CannotStartContainerError"),
        "{}",
        err.message
    );
    assert!(err.message.contains("delete-endpoint"), "{}", err.message);
}

#[tokio::test]
async fn a_half_done_deployment_is_finished_by_the_retry() {
    let wanted = input("create.json");
    // First attempt: config created, then CreateEndpoint fails (SageMaker 503).
    let create_config = mock!(aws_sdk_sagemaker::Client::create_endpoint_config)
        .then_output(|| CreateEndpointConfigOutput::builder().build());
    let create_fails = mock!(aws_sdk_sagemaker::Client::create_endpoint).then_error(|| {
        CreateEndpointError::generic(
            ErrorMetadata::builder()
                .code("ServiceUnavailable")
                .message("try later")
                .build(),
        )
    });
    // Second attempt: the config is found with the same content and reused.
    let create_ok = mock!(aws_sdk_sagemaker::Client::create_endpoint)
        .then_output(|| CreateEndpointOutput::builder().build());
    let s = state(&[
        &endpoint_absent(),
        &config_absent(),
        &create_config,
        &create_fails,
        &endpoint_absent(),
        &config_exists(&wanted.model_name, 1),
        &create_ok,
    ]);
    let first = handle(&s, event(wanted.clone())).await.unwrap_err();
    assert_eq!(first.name, ErrorName::AwsUnavailable);
    assert!(first.is_transient());
    let second = handle(&s, event(wanted)).await.unwrap();
    assert_eq!(second.action, DeployAction::Created);
    assert_eq!(create_config.num_calls(), 1, "the config is created once");
    assert_eq!(create_ok.num_calls(), 1);
}

#[tokio::test]
async fn a_config_of_the_same_name_with_other_content_is_a_conflict() {
    let wanted = input("create.json");
    let s = state(&[&endpoint_absent(), &config_exists(&wanted.model_name, 7)]);
    let err = handle(&s, event(wanted)).await.unwrap_err();
    assert_eq!(err.name, ErrorName::Conflict);
}

fn serverless(memory_size_mb: u32, max_concurrency: u32) -> ServerlessHosting {
    ServerlessHosting {
        memory_size_mb,
        max_concurrency,
    }
}

/// The input as the definition sends it with `EndpointHosting: serverless`.
fn serverless_input() -> DeployEndpointInput {
    let mut i = input("serverless.json");
    assert!(i.instance_type.is_none() && i.data_capture.is_none());
    i.serverless = Some(serverless(2048, 5));
    i
}

#[test]
fn serverless_hosting_refuses_capture_gradual_rollouts_and_sizes_sagemaker_refuses() {
    assert_eq!(validate(&serverless_input()), Ok(()));
    type Spoil = Box<dyn Fn(&mut DeployEndpointInput)>;
    let cases: Vec<(&str, Spoil)> = vec![
        (
            "data capture",
            Box::new(|i| {
                i.data_capture = Some(DataCapture {
                    destination_s3_uri: "s3://b/data-capture/".into(),
                    sampling_percentage: 10,
                })
            }),
        ),
        (
            "must be allAtOnce",
            Box::new(|i| {
                i.deployment = Some(DeploymentPolicy {
                    strategy: DeploymentStrategy::Linear,
                    traffic_percent: Some(50),
                    wait_interval_seconds: Some(60),
                    rollback_alarm_names: vec![],
                    poll_seconds: None,
                    max_polls: None,
                })
            }),
        ),
        (
            "memorySizeMb",
            Box::new(|i| i.serverless = Some(serverless(1500, 5))),
        ),
        (
            "memorySizeMb",
            Box::new(|i| i.serverless = Some(serverless(7168, 5))),
        ),
        (
            "maxConcurrency",
            Box::new(|i| i.serverless = Some(serverless(1024, 0))),
        ),
        (
            "maxConcurrency",
            Box::new(|i| i.serverless = Some(serverless(1024, 201))),
        ),
        (
            "takes no instanceType",
            Box::new(|i| i.initial_instance_count = Some(1)),
        ),
    ];
    for (words, spoil) in cases {
        let mut bad = serverless_input();
        spoil(&mut bad);
        let err = validate(&bad).unwrap_err();
        assert_eq!(err.name, ErrorName::InvalidInput);
        assert!(err.message.contains(words), "{words}: {}", err.message);
    }
}

#[test]
fn a_serverless_config_is_named_apart_from_an_instance_one_and_from_another_size() {
    let a = serverless_input();
    let mut b = a.clone();
    b.serverless = Some(serverless(4096, 5));
    let instances = input("create.json");
    let names = [&a, &b, &instances].map(|i| config_name(&token(), i));
    assert_ne!(names[0], names[1]);
    assert_ne!(names[0], names[2]);
    assert!(is_valid_sagemaker_name(&names[0], SAGEMAKER_NAME_MAX));
}

#[tokio::test]
async fn a_serverless_endpoint_is_created_with_a_serverless_variant_and_no_capture() {
    let wanted = serverless_input();
    let create_config = mock!(aws_sdk_sagemaker::Client::create_endpoint_config)
        .match_requests(|r| {
            let v = &r.production_variants()[0];
            v.instance_type().is_none()
                && v.initial_instance_count().is_none()
                && v.serverless_config().is_some_and(|c| {
                    c.memory_size_in_mb() == Some(2048) && c.max_concurrency() == Some(5)
                })
                && r.data_capture_config().is_none()
        })
        .then_output(|| CreateEndpointConfigOutput::builder().build());
    let create = mock!(aws_sdk_sagemaker::Client::create_endpoint)
        .then_output(|| CreateEndpointOutput::builder().build());
    let s = state(&[
        &endpoint_absent(),
        &config_absent(),
        &create_config,
        &create,
    ]);
    let out = handle(&s, event(wanted)).await.unwrap();
    assert_eq!(out.action, DeployAction::Created);
    assert_eq!((create_config.num_calls(), create.num_calls()), (1, 1));
}

#[tokio::test]
async fn an_instance_endpoint_is_not_turned_serverless_and_nothing_is_created() {
    // The endpoint is InService on instances (no serverless variant); no
    // CreateEndpointConfig or UpdateEndpoint rule: either call would fail.
    let s = state(&[&endpoint(SmStatus::InService, "config-old")]);
    let err = handle(&s, event(serverless_input())).await.unwrap_err();
    assert_eq!(err.name, ErrorName::Conflict);
    assert!(
        err.message
            .contains("cannot update an instance-based endpoint to serverless")
            && err.message.contains("EndpointName"),
        "{}",
        err.message
    );
}

#[tokio::test]
async fn a_serverless_endpoint_is_updated_all_at_once_on_a_new_serverless_config() {
    let mut wanted = serverless_input();
    wanted.serverless = Some(serverless(3072, 10));
    wanted.deployment = Some(DeploymentPolicy {
        strategy: DeploymentStrategy::AllAtOnce,
        traffic_percent: None,
        wait_interval_seconds: Some(60),
        rollback_alarm_names: vec!["rollback".into()],
        poll_seconds: None,
        max_polls: None,
    });
    let on_serverless = mock!(aws_sdk_sagemaker::Client::describe_endpoint).then_output(|| {
        DescribeEndpointOutput::builder()
            .endpoint_name("iris-classifier")
            .endpoint_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris-classifier")
            .endpoint_status(SmStatus::InService)
            .endpoint_config_name("config-old")
            .production_variants(
                aws_sdk_sagemaker::types::ProductionVariantSummary::builder()
                    .variant_name("AllTraffic")
                    .current_serverless_config(
                        ProductionVariantServerlessConfig::builder()
                            .memory_size_in_mb(2048)
                            .max_concurrency(5)
                            .build(),
                    )
                    .build(),
            )
            .build()
    });
    let create_config = mock!(aws_sdk_sagemaker::Client::create_endpoint_config)
        .match_requests(|r| {
            r.production_variants()[0]
                .serverless_config()
                .is_some_and(|c| c.memory_size_in_mb() == Some(3072))
        })
        .then_output(|| CreateEndpointConfigOutput::builder().build());
    let update = mock!(aws_sdk_sagemaker::Client::update_endpoint)
        .match_requests(|r| {
            r.deployment_config()
                .and_then(|d| d.blue_green_update_policy())
                .and_then(|b| b.traffic_routing_configuration())
                .is_some_and(|t| t.r#type() == Some(&TrafficRoutingConfigType::AllAtOnce))
        })
        .then_output(|| {
            aws_sdk_sagemaker::operation::update_endpoint::UpdateEndpointOutput::builder()
                .endpoint_arn("arn:aws:sagemaker:us-east-1:123456789012:endpoint/iris-classifier")
                .build()
        });
    let tag = mock!(aws_sdk_sagemaker::Client::add_tags)
        .then_output(|| aws_sdk_sagemaker::operation::add_tags::AddTagsOutput::builder().build());
    let s = state(&[
        &on_serverless,
        &config_absent(),
        &create_config,
        &update,
        &tag,
    ]);
    let out = handle(&s, event(wanted)).await.unwrap();
    assert_eq!(out.action, DeployAction::Updated);
    assert_eq!((create_config.num_calls(), update.num_calls()), (1, 1));
}
