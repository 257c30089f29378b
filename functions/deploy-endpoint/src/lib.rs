//! deploy-endpoint's handler, as a library (the same shape as every function):
//! creates the endpoint config, then creates or updates the one stable endpoint.

use aws_sdk_sagemaker::types::{
    Alarm, AutoRollbackConfig, BlueGreenUpdatePolicy, CapacitySize, CapacitySizeType, CaptureMode,
    CaptureOption, DataCaptureConfig, DeploymentConfig, ProductionVariant,
    ProductionVariantInstanceType, ProductionVariantServerlessConfig, Tag, TrafficRoutingConfig,
    TrafficRoutingConfigType,
};
use lambda_runtime::LambdaEvent;
use shared::contract::{
    DeployAction, DeployEndpointInput, DeployEndpointOutput, DeploymentStrategy, EndpointStatus,
    ServerlessHosting, parse_s3_uri,
};
use shared::naming::{self, SAGEMAKER_NAME_MAX, is_valid_sagemaker_name};
use shared::{ConfigError, Env, ErrorName, Failure, aws};

#[derive(Debug, Clone)]
pub struct Config {
    /// This stack's token (`NAME_TOKEN`), in every endpoint config's name.
    pub name_token: naming::StackToken,
}

impl Config {
    pub fn from_env(env: &Env) -> Result<Self, ConfigError> {
        Ok(Config {
            name_token: env.required_parsed("NAME_TOKEN")?,
        })
    }
}

#[derive(Debug)]
pub struct State {
    pub sagemaker: aws_sdk_sagemaker::Client,
    pub name_token: naming::StackToken,
}

impl State {
    pub fn new(config: Config, sdk: &shared::aws::SdkConfig) -> Self {
        State {
            sagemaker: aws_sdk_sagemaker::Client::new(sdk),
            name_token: config.name_token,
        }
    }
}

/// What the endpoint looks like now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Observed {
    pub status: EndpointStatus,
    pub config_name: Option<String>,
    pub failure_reason: Option<String>,
    /// Its variant is serverless (SageMaker cannot update such an endpoint
    /// from instances to serverless).
    pub serverless: bool,
}

/// What hosts the model: instances, or serverless inference.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hosting {
    Instances { instance_type: String, count: u32 },
    Serverless(ServerlessHosting),
}

/// The one way the input may name its hosting: an instance type and count,
/// or `serverless` and neither of them.
pub fn hosting(input: &DeployEndpointInput) -> Result<Hosting, Failure> {
    match (
        &input.serverless,
        &input.instance_type,
        input.initial_instance_count,
    ) {
        (Some(serverless), None, None) => {
            if !(1024..=6144).contains(&serverless.memory_size_mb)
                || serverless.memory_size_mb % 1024 != 0
            {
                return Err(Failure::invalid_input(format!(
                    "serverless.memorySizeMb must be 1024 to 6144 in steps of 1024, not {}",
                    serverless.memory_size_mb
                )));
            }
            if !(1..=200).contains(&serverless.max_concurrency) {
                return Err(Failure::invalid_input(format!(
                    "serverless.maxConcurrency must be 1 to 200, not {}",
                    serverless.max_concurrency
                )));
            }
            Ok(Hosting::Serverless(*serverless))
        }
        (Some(_), _, _) => Err(Failure::invalid_input(
            "serverless hosting takes no instanceType or initialInstanceCount",
        )),
        (None, Some(instance_type), Some(count)) => {
            if !instance_type.starts_with("ml.") {
                return Err(Failure::invalid_input(format!(
                    "instanceType {instance_type:?} is not a SageMaker instance type (ml.*)"
                )));
            }
            if count == 0 || i32::try_from(count).is_err() {
                return Err(Failure::invalid_input(
                    "initialInstanceCount must be at least 1",
                ));
            }
            Ok(Hosting::Instances {
                instance_type: instance_type.clone(),
                count,
            })
        }
        (None, _, _) => Err(Failure::invalid_input(
            "instanceType and initialInstanceCount are required (or serverless)",
        )),
    }
}

/// What to do about it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    Create,
    Update,
    /// Already serving the target config.
    Unchanged,
    /// Our own earlier call (a retry): the endpoint is moving to the target config.
    InProgress(DeployAction),
    /// Another change is under way: try again later.
    Busy(EndpointStatus),
    /// The endpoint is broken: a person must act (see docs/how-to/operations.md, One stable endpoint).
    Broken(EndpointStatus, String),
}

/// The decision, pure: where the endpoint is, and the config it should serve.
pub fn plan(observed: Option<&Observed>, target_config: &str) -> Plan {
    use EndpointStatus::*;
    let Some(endpoint) = observed else {
        return Plan::Create;
    };
    let on_target = endpoint.config_name.as_deref() == Some(target_config);
    let reason = || {
        endpoint
            .failure_reason
            .clone()
            .unwrap_or_else(|| "SageMaker gave no reason".into())
    };
    match (endpoint.status, on_target) {
        (InService, true) => Plan::Unchanged,
        (InService, false) => Plan::Update,
        (Creating, true) => Plan::InProgress(DeployAction::Created),
        (Updating | SystemUpdating, true) => Plan::InProgress(DeployAction::Updated),
        (Failed | UpdateRollbackFailed | OutOfService, _) => {
            Plan::Broken(endpoint.status, reason())
        }
        (status, _) => Plan::Busy(status),
    }
}

/// Checks what serde cannot, before any call to AWS.
pub fn validate(input: &DeployEndpointInput) -> Result<(), Failure> {
    for (field, value) in [
        ("endpointName", &input.endpoint_name),
        ("modelName", &input.model_name),
        ("variantName", &input.variant_name),
    ] {
        if !is_valid_sagemaker_name(value, SAGEMAKER_NAME_MAX) {
            return Err(Failure::invalid_input(format!(
                "{field} {value:?} is not a valid SageMaker name"
            )));
        }
    }
    let serverless = matches!(hosting(input)?, Hosting::Serverless(_));
    if input.execution_name.trim().is_empty() || input.commit_id.trim().is_empty() {
        return Err(Failure::invalid_input(
            "executionName and commitId are required (they tag the endpoint)",
        ));
    }
    if let Some(policy) = &input.deployment {
        validate_deployment(policy)?;
    }
    if let Some(capture) = &input.data_capture {
        validate_capture(capture)?;
    }
    if serverless {
        if input.data_capture.is_some() {
            return Err(Failure::invalid_input(
                "a serverless endpoint cannot capture its requests (SageMaker does not support \
                 data capture there): send no dataCapture",
            ));
        }
        if input
            .deployment
            .as_ref()
            .is_some_and(|d| d.strategy != DeploymentStrategy::AllAtOnce)
        {
            return Err(Failure::invalid_input(
                "a serverless endpoint has no instances to shift traffic by: \
                 deployment.strategy must be allAtOnce",
            ));
        }
    }
    Ok(())
}

/// A traffic percent only for canary and linear (1–99); a bake time of at most an hour.
fn validate_deployment(policy: &shared::contract::DeploymentPolicy) -> Result<(), Failure> {
    match (policy.strategy, policy.traffic_percent) {
        (DeploymentStrategy::AllAtOnce, None) | (_, Some(1..=99)) => {}
        (DeploymentStrategy::AllAtOnce, Some(_)) => {
            return Err(Failure::invalid_input(
                "deployment.trafficPercent applies only to canary and linear",
            ));
        }
        (_, _) => {
            return Err(Failure::invalid_input(
                "deployment.trafficPercent must be 1 to 99 for canary and linear",
            ));
        }
    }
    if policy.wait_interval_seconds.is_some_and(|s| s > 3600) {
        return Err(Failure::invalid_input(
            "deployment.waitIntervalSeconds must be at most 3600",
        ));
    }
    if let (Some(every), Some(polls)) = (policy.poll_seconds, policy.max_polls) {
        let budget = u64::from(every) * u64::from(polls);
        let (shifts, bake) = bake_seconds(policy);
        if bake > budget {
            return Err(Failure::invalid_input(format!(
                "the wait for InService ({polls} checks every {every} s, {budget} s: EndpointMaxPolls × EndpointPollSeconds) \
                 is shorter than this rollout's bake time alone: {shifts} traffic shift(s) of {} s each, {bake} s. \
                 The run would give up while SageMaker goes on shifting traffic. Raise EndpointMaxPolls or \
                 EndpointPollSeconds (leaving the new instances 5 to 10 minutes to start), or lower \
                 DeploymentWaitSeconds, or raise DeploymentTrafficPercent (linear); nothing was changed",
                policy.wait_interval_seconds.unwrap_or(DEFAULT_WAIT_SECONDS)
            )));
        }
    }
    Ok(())
}

/// What SageMaker's blue/green update takes before the new fleet serves all
/// traffic, beyond starting it: the number of traffic shifts and their total
/// bake time. Each shift is followed by `waitIntervalSeconds` watched by the
/// rollback alarms: one for all at once and for a canary's first step (the
/// rest then moves at once), `ceil(100 / step)` for linear.
pub fn bake_seconds(policy: &shared::contract::DeploymentPolicy) -> (u64, u64) {
    let wait = u64::from(policy.wait_interval_seconds.unwrap_or(DEFAULT_WAIT_SECONDS));
    let shifts = match policy.strategy {
        DeploymentStrategy::AllAtOnce | DeploymentStrategy::Canary => 1,
        DeploymentStrategy::Linear => {
            let step = u64::from(
                policy
                    .traffic_percent
                    .unwrap_or(DEFAULT_TRAFFIC_PERCENT)
                    .max(1),
            );
            100_u64.div_ceil(step)
        }
    };
    (shifts, shifts * wait)
}

/// The wait SageMaker's guardrails use when the input names none.
const DEFAULT_WAIT_SECONDS: u32 = 300;
/// The canary size or linear step when the input names none.
const DEFAULT_TRAFFIC_PERCENT: u8 = 10;

fn validate_capture(capture: &shared::contract::DataCapture) -> Result<(), Failure> {
    if parse_s3_uri(&capture.destination_s3_uri).is_none() {
        return Err(Failure::invalid_input(
            "dataCapture.destinationS3Uri must be an s3:// URI",
        ));
    }
    if capture.sampling_percentage > 100 {
        return Err(Failure::invalid_input(
            "dataCapture.samplingPercentage must be 0 to 100",
        ));
    }
    Ok(())
}

/// The endpoint config's name: derived from the model and everything the
/// config holds, so a retry finds its own and a change gets a new one.
pub fn config_name(token: &naming::StackToken, input: &DeployEndpointInput) -> String {
    let capture = input
        .data_capture
        .as_ref()
        .map(|c| format!("{}@{}", c.destination_s3_uri, c.sampling_percentage))
        .unwrap_or_default();
    let hosting = match (&input.serverless, &input.instance_type) {
        // The instance form keeps the names configs had before serverless.
        (None, instance_type) => format!(
            "{}|{}",
            instance_type.as_deref().unwrap_or_default(),
            input.initial_instance_count.unwrap_or_default()
        ),
        (Some(s), _) => format!("serverless {} MB|{}", s.memory_size_mb, s.max_concurrency),
    };
    // Staging's configs are named apart; production's (and a single stage's)
    // keep the names they always had.
    let stage = match input.deploy_stage {
        Some(shared::contract::DeployStage::Staging) => "|staging",
        _ => "",
    };
    naming::endpoint_config_name(
        token,
        &input.model_name,
        &format!("{}|{hosting}|{capture}{stage}", input.variant_name),
    )
}

fn tags(input: &DeployEndpointInput) -> Vec<Tag> {
    [
        ("mlops:execution", &input.execution_name),
        ("mlops:commit", &input.commit_id),
        ("mlops:model", &input.model_name),
    ]
    .into_iter()
    .map(|(k, v)| Tag::builder().key(k).value(v).build())
    .collect()
}

fn production_variant(input: &DeployEndpointInput, hosting: &Hosting) -> ProductionVariant {
    let variant = ProductionVariant::builder()
        .variant_name(&input.variant_name)
        .model_name(&input.model_name)
        .initial_variant_weight(1.0);
    match hosting {
        Hosting::Instances {
            instance_type,
            count,
        } => variant
            .instance_type(ProductionVariantInstanceType::from(instance_type.as_str()))
            .initial_instance_count(i32::try_from(*count).unwrap_or(i32::MAX)),
        Hosting::Serverless(s) => variant.serverless_config(
            ProductionVariantServerlessConfig::builder()
                .memory_size_in_mb(i32::try_from(s.memory_size_mb).unwrap_or(i32::MAX))
                .max_concurrency(i32::try_from(s.max_concurrency).unwrap_or(i32::MAX))
                .build(),
        ),
    }
    .build()
}

fn data_capture(input: &DeployEndpointInput) -> Option<DataCaptureConfig> {
    input.data_capture.as_ref().map(|c| {
        DataCaptureConfig::builder()
            .enable_capture(true)
            .initial_sampling_percentage(i32::from(c.sampling_percentage))
            .destination_s3_uri(&c.destination_s3_uri)
            .capture_options(
                CaptureOption::builder()
                    .capture_mode(CaptureMode::Input)
                    .build(),
            )
            .capture_options(
                CaptureOption::builder()
                    .capture_mode(CaptureMode::Output)
                    .build(),
            )
            .build()
    })
}

/// SageMaker's deployment guardrails for an update (blue/green traffic shifting).
pub fn deployment_config(input: &DeployEndpointInput) -> Option<DeploymentConfig> {
    let policy = input.deployment.as_ref()?;
    let percent = |p: Option<u8>| {
        CapacitySize::builder()
            .r#type(CapacitySizeType::CapacityPercent)
            .value(i32::from(p.unwrap_or(DEFAULT_TRAFFIC_PERCENT)))
            .build()
    };
    let wait =
        i32::try_from(policy.wait_interval_seconds.unwrap_or(DEFAULT_WAIT_SECONDS)).unwrap_or(3600);
    let routing = match policy.strategy {
        DeploymentStrategy::AllAtOnce => TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingConfigType::AllAtOnce)
            .wait_interval_in_seconds(wait),
        DeploymentStrategy::Canary => TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingConfigType::Canary)
            .wait_interval_in_seconds(wait)
            .canary_size(percent(policy.traffic_percent)),
        DeploymentStrategy::Linear => TrafficRoutingConfig::builder()
            .r#type(TrafficRoutingConfigType::Linear)
            .wait_interval_in_seconds(wait)
            .linear_step_size(percent(policy.traffic_percent)),
    };
    let mut config = DeploymentConfig::builder().blue_green_update_policy(
        BlueGreenUpdatePolicy::builder()
            .traffic_routing_configuration(routing.build())
            .build(),
    );
    if !policy.rollback_alarm_names.is_empty() {
        let alarms = policy
            .rollback_alarm_names
            .iter()
            .map(|name| Alarm::builder().alarm_name(name).build());
        config = config.auto_rollback_configuration(
            AutoRollbackConfig::builder()
                .set_alarms(Some(alarms.collect()))
                .build(),
        );
    }
    Some(config.build())
}

/// Creates the endpoint config, or reuses it when it exists with the same content.
async fn ensure_config(
    state: &State,
    input: &DeployEndpointInput,
    name: &str,
) -> Result<(), Failure> {
    match existing_config(state, input, name).await? {
        ExistingConfig::Same => {
            tracing::info!(
                config = name,
                "endpoint config exists with the same content; reused"
            );
            return Ok(());
        }
        ExistingConfig::Different => return Err(conflict(name)),
        ExistingConfig::Absent => {}
    }
    let created = state
        .sagemaker
        .create_endpoint_config()
        .endpoint_config_name(name)
        .production_variants(production_variant(input, &hosting(input)?))
        .set_data_capture_config(data_capture(input))
        .set_tags(Some(tags(input)))
        .send()
        .await;
    match created {
        Ok(_) => {
            tracing::info!(config = name, "endpoint config created");
            Ok(())
        }
        // Another attempt created it between our describe and create.
        Err(err) if aws::is_sagemaker_already_existing(&err) => {
            match existing_config(state, input, name).await? {
                ExistingConfig::Same => Ok(()),
                ExistingConfig::Different => Err(conflict(name)),
                ExistingConfig::Absent => Err(Failure::new(
                    ErrorName::AwsUnavailable,
                    format!("endpoint config {name} exists but cannot be described yet"),
                )),
            }
        }
        Err(err) => Err(aws::failure("CreateEndpointConfig", &err)),
    }
}

/// What a config of the target's name holds, against what `input` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExistingConfig {
    /// No config of that name.
    Absent,
    /// One with the same content: a retry's own, reused.
    Same,
    /// One with other content: the name is taken (`Conflict`).
    Different,
}

/// Looks the target config up and compares its content with `input`'s.
async fn existing_config(
    state: &State,
    input: &DeployEndpointInput,
    name: &str,
) -> Result<ExistingConfig, Failure> {
    let existing = match state
        .sagemaker
        .describe_endpoint_config()
        .endpoint_config_name(name)
        .send()
        .await
    {
        Ok(existing) => existing,
        Err(err) if aws::is_sagemaker_not_found(&err) => return Ok(ExistingConfig::Absent),
        Err(err) => return Err(aws::failure("DescribeEndpointConfig", &err)),
    };
    let hosting = hosting(input)?;
    let same = existing.production_variants().iter().any(|v| {
        let same_hosting = match &hosting {
            Hosting::Instances {
                instance_type,
                count,
            } => {
                v.instance_type().map(|t| t.as_str()) == Some(instance_type.as_str())
                    && v.initial_instance_count() == i32::try_from(*count).ok()
                    && v.serverless_config().is_none()
            }
            Hosting::Serverless(s) => v.serverless_config().is_some_and(|c| {
                c.memory_size_in_mb() == i32::try_from(s.memory_size_mb).ok()
                    && c.max_concurrency() == i32::try_from(s.max_concurrency).ok()
            }),
        };
        v.model_name() == Some(input.model_name.as_str())
            && v.variant_name() == Some(input.variant_name.as_str())
            && same_hosting
    }) && existing.production_variants().len() == 1;
    Ok(if same {
        ExistingConfig::Same
    } else {
        ExistingConfig::Different
    })
}

fn conflict(name: &str) -> Failure {
    Failure::new(
        ErrorName::Conflict,
        format!(
            "endpoint config {name} exists with other content; delete it or change the model name"
        ),
    )
}

/// Reads the endpoint, plans from what it is, and creates or updates it.
///
/// An `EndpointBusy` answer is counted (`shared::metrics::ENDPOINT_BUSY`):
/// Lambda counts it as an error, but it is the expected wait the state
/// machine retries, and FunctionErrorsAlarm subtracts it.
pub async fn handle(
    state: &State,
    event: LambdaEvent<DeployEndpointInput>,
) -> Result<DeployEndpointOutput, Failure> {
    let answer = deploy(state, event.payload).await;
    busy_metrics(&answer).emit();
    answer
}

/// What an answer counts: one `EndpointBusy` for a busy endpoint, else nothing.
pub fn busy_metrics(answer: &Result<DeployEndpointOutput, Failure>) -> shared::metrics::Emf {
    let mut emf = shared::metrics::Emf::new();
    if matches!(answer, Err(f) if f.name == ErrorName::EndpointBusy) {
        emf.put(shared::metrics::ENDPOINT_BUSY, 1.0);
    }
    emf
}

async fn deploy(
    state: &State,
    input: DeployEndpointInput,
) -> Result<DeployEndpointOutput, Failure> {
    validate(&input)?;
    let target = config_name(&state.name_token, &input);
    let endpoint = &input.endpoint_name;
    let (observed, endpoint_arn) = observe(state, endpoint).await?;
    let decided = plan(observed.as_ref(), &target);
    tracing::info!(endpoint = %endpoint, config = %target, plan = ?decided, "deploy planned");
    let action = match decided {
        Plan::Unchanged => DeployAction::Unchanged,
        Plan::InProgress(action) => action,
        Plan::Busy(status) => {
            return Err(Failure::new(
                ErrorName::EndpointBusy,
                format!("endpoint {endpoint} is {status:?}; try again when it is InService"),
            ));
        }
        Plan::Broken(status, reason) => {
            return Err(Failure::new(
                ErrorName::EndpointFailed,
                format!(
                    "endpoint {endpoint} is {status:?}: {reason}. Delete it \
                     (aws sagemaker delete-endpoint --endpoint-name {endpoint}) and run again to recreate it"
                ),
            ));
        }
        Plan::Create => create(state, &input, &target).await?,
        Plan::Update => {
            if input.serverless.is_some() && observed.as_ref().is_some_and(|o| !o.serverless) {
                return Err(Failure::new(
                    ErrorName::Conflict,
                    format!(
                        "endpoint {endpoint} is hosted on instances, and SageMaker cannot update an \
                         instance-based endpoint to serverless. Give the stack a new EndpointName \
                         (a serverless endpoint is created beside the old one; move clients, then \
                         delete it) or delete {endpoint} and run again; nothing was changed"
                    ),
                ));
            }
            update(state, &input, &target, endpoint_arn).await?
        }
    };
    tracing::info!(endpoint = %endpoint, config = %target, action = ?action, "deployed");
    Ok(DeployEndpointOutput {
        action,
        endpoint_config_name: target,
    })
}

/// The endpoint as SageMaker describes it (none when it does not exist), and its ARN.
async fn observe(
    state: &State,
    endpoint: &str,
) -> Result<(Option<Observed>, Option<String>), Failure> {
    match state
        .sagemaker
        .describe_endpoint()
        .endpoint_name(endpoint)
        .send()
        .await
    {
        Ok(e) => Ok((
            Some(Observed {
                status: e
                    .endpoint_status()
                    .map(|s| EndpointStatus::from_sagemaker(s.as_str()))
                    .unwrap_or(EndpointStatus::Unknown),
                config_name: e.endpoint_config_name().map(str::to_owned),
                failure_reason: e.failure_reason().map(str::to_owned),
                serverless: e
                    .production_variants()
                    .iter()
                    .any(|v| v.current_serverless_config().is_some()),
            }),
            e.endpoint_arn().map(str::to_owned),
        )),
        Err(err) if aws::is_sagemaker_not_found(&err) => Ok((None, None)),
        Err(err) => Err(aws::failure("DescribeEndpoint", &err)),
    }
}

/// No endpoint yet: the config, then the endpoint on it.
async fn create(
    state: &State,
    input: &DeployEndpointInput,
    target: &str,
) -> Result<DeployAction, Failure> {
    let endpoint = &input.endpoint_name;
    ensure_config(state, input, target).await?;
    match state
        .sagemaker
        .create_endpoint()
        .endpoint_name(endpoint)
        .endpoint_config_name(target)
        .set_tags(Some(tags(input)))
        .send()
        .await
    {
        Ok(_) => Ok(DeployAction::Created),
        // A concurrent or lost-response attempt created it: the next check sees it.
        Err(err) if aws::is_sagemaker_already_existing(&err) => Err(Failure::new(
            ErrorName::EndpointBusy,
            format!("endpoint {endpoint} was created meanwhile; checking again"),
        )),
        Err(err) => Err(aws::failure("CreateEndpoint", &err)),
    }
}

/// An endpoint in service on another config: the new config, then a blue/green
/// update with the deployment policy; the endpoint's tags name the deployment.
async fn update(
    state: &State,
    input: &DeployEndpointInput,
    target: &str,
    endpoint_arn: Option<String>,
) -> Result<DeployAction, Failure> {
    ensure_config(state, input, target).await?;
    state
        .sagemaker
        .update_endpoint()
        .endpoint_name(&input.endpoint_name)
        .endpoint_config_name(target)
        .set_deployment_config(deployment_config(input))
        .send()
        .await
        .map_err(|err| aws::failure("UpdateEndpoint", &err))?;
    if let Some(arn) = endpoint_arn {
        state
            .sagemaker
            .add_tags()
            .resource_arn(arn)
            .set_tags(Some(tags(input)))
            .send()
            .await
            .map_err(|err| aws::failure("AddTags", &err))?;
    }
    Ok(DeployAction::Updated)
}

#[cfg(test)]
mod tests;
