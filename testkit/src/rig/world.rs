//! What template.yaml creates, made in moto under the names the template
//! gives them: the table, the topics and their inboxes, the buckets, the
//! pipeline, the model package group, the roles.

use std::time::{Duration, Instant};

use aws_config::{Region, SdkConfig};
use serde_json::{Value, json};

use super::definition::PATH_PARAMETERS;
use crate::Moto;
use crate::template::{Resolver, Template};

pub(crate) fn in_region(sdk: &SdkConfig, region: &str) -> SdkConfig {
    sdk.to_builder()
        .region(Region::new(region.to_owned()))
        .build()
}

/// What template.yaml creates, in moto, in one region.
#[derive(Debug)]
pub struct World {
    pub region: String,
    pub resolver: Resolver<'static>,
    pub sdk: SdkConfig,
    pub moto: Moto,
    /// SQS queues subscribed to the approval and notification topics (SNS envelopes).
    pub approvals_inbox: String,
    pub notifications_inbox: String,
}

/// The stack's ECR repository as the template makes it: its tag mutability
/// and its lifecycle policy (which the test stack's ECR runs on request).
pub(crate) async fn create_repository(
    sdk: &SdkConfig,
    resolver: &Resolver<'_>,
) -> Result<(), String> {
    let props = resolver.resolve(&resolver.template_resource("ModelRepository")?["Properties"])?;
    let name = resolver.reference("ModelRepository")?;
    let ecr = aws_sdk_ecr::Client::new(sdk);
    ecr.create_repository()
        .repository_name(&name)
        .image_tag_mutability(aws_sdk_ecr::types::ImageTagMutability::from(
            props["ImageTagMutability"].as_str().unwrap_or("MUTABLE"),
        ))
        .send()
        .await
        .map_err(|e| format!("CreateRepository {name}: {e:?}"))?;
    let policy = props["LifecyclePolicy"]["LifecyclePolicyText"]
        .as_str()
        .ok_or("ModelRepository has no lifecycle policy")?;
    ecr.put_lifecycle_policy()
        .repository_name(&name)
        .lifecycle_policy_text(policy)
        .send()
        .await
        .map_err(|e| format!("PutLifecyclePolicy {name}: {e:?}"))?;
    Ok(())
}

impl World {
    /// Creates the resources under the template's names for a stack of its own.
    pub async fn create(region: &str, parameters: &[(&str, &str)]) -> Result<World, String> {
        let template = Template::load()?;
        // CloudFormation refuses what the Rules refuse before it creates anything.
        let refused = template.refused_by(parameters)?;
        if !refused.is_empty() {
            return Err(format!(
                "the template's Rules {refused:?} refuse these parameters: {parameters:?}"
            ));
        }
        let mut resolver = Resolver::new(template, region).with_stack(&crate::unique("stack"));
        for (k, v) in parameters {
            if !PATH_PARAMETERS.contains(k) {
                return Err(format!(
                    "{k} is not a parameter a path may set ({PATH_PARAMETERS:?}); the rest are the template's defaults"
                ));
            }
            resolver = resolver.with_parameter(k, v);
        }
        let moto = Moto::from_env();
        let sdk = in_region(&moto.sdk_config().await, region);
        let name = |id: &str| resolver.reference(id);

        crate::create_table_named(&sdk, &name("Table")?).await?;
        let s3 = aws_sdk_s3::Client::new(&sdk);
        for bucket in ["DataBucket", "ArtifactBucket", "PipelineArtifactBucket"] {
            let bucket = name(bucket)?;
            let mut create = s3.create_bucket().bucket(&bucket);
            if region != "us-east-1" {
                create = create.create_bucket_configuration(
                    aws_sdk_s3::types::CreateBucketConfiguration::builder()
                        .location_constraint(aws_sdk_s3::types::BucketLocationConstraint::from(
                            region,
                        ))
                        .build(),
                );
            }
            create
                .send()
                .await
                .map_err(|e| format!("CreateBucket {bucket}: {e:?}"))?;
            s3.put_bucket_versioning()
                .bucket(&bucket)
                .versioning_configuration(
                    aws_sdk_s3::types::VersioningConfiguration::builder()
                        .status(aws_sdk_s3::types::BucketVersioningStatus::Enabled)
                        .build(),
                )
                .send()
                .await
                .map_err(|e| format!("PutBucketVersioning {bucket}: {e:?}"))?;
        }
        let approvals_inbox =
            crate::Inbox::create_named(&sdk, &resolver.attribute("ApprovalTopic", "TopicName")?)
                .await?
                .queue_url;
        let notifications_inbox = crate::Inbox::create_named(
            &sdk,
            &resolver.attribute("NotificationTopic", "TopicName")?,
        )
        .await?
        .queue_url;
        create_pipeline(&sdk, &resolver, &resolver.reference("Pipeline")?).await?;
        let sagemaker = aws_sdk_sagemaker::Client::new(&sdk);
        sagemaker
            .create_model_package_group()
            .model_package_group_name(name("ModelPackageGroup")?)
            .send()
            .await
            .map_err(|e| format!("CreateModelPackageGroup: {e:?}"))?;
        create_repository(&sdk, &resolver).await?;
        crate::create_role_named(&sdk, &name("SageMakerRole")?, "sagemaker.amazonaws.com").await?;
        crate::create_role_named(&sdk, &name("StateMachineRole")?, "states.amazonaws.com").await?;
        Ok(World {
            region: region.to_owned(),
            resolver,
            sdk,
            moto,
            approvals_inbox,
            notifications_inbox,
        })
    }

    /// What CodeBuild does for a commit: pushes its image (a manifest of its
    /// own) into the stack's repository, tagged with the commit. Answers the
    /// image URI the build exports; pushing the same commit again is a no-op.
    pub async fn push_image(&self, commit: &str) -> Result<String, String> {
        let repository = self.name("ModelRepository");
        // A layer of the commit's own (its bytes in hex), so each commit's
        // image has its own digest (moto's is the layers').
        let layer: String = commit.bytes().map(|b| format!("{b:02x}")).collect();
        let layer = format!("{layer:0>64}");
        let manifest = json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
            "config": {
                "mediaType": "application/vnd.docker.container.image.v1+json",
                "size": commit.len(),
                "digest": format!("sha256:{layer}"),
            },
            "layers": [{
                "mediaType": "application/vnd.docker.image.rootfs.diff.tar.gzip",
                "size": commit.len(),
                "digest": format!("sha256:{layer}"),
            }],
        });
        let pushed = aws_sdk_ecr::Client::new(&self.sdk)
            .put_image()
            .repository_name(&repository)
            .image_manifest(manifest.to_string())
            .image_tag(commit)
            .send()
            .await;
        match pushed {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_image_already_exists_exception()) => {}
            Err(e) => return Err(format!("PutImage {repository}:{commit}: {e:?}")),
        }
        Ok(format!(
            "{}:{commit}",
            self.attribute("ModelRepository", "RepositoryUri")
        ))
    }

    /// Runs the repository's lifecycle policy now (ECR does within a day; the
    /// test stack's ECR on request). Answers the digests it expired.
    pub fn expire_images(&self) -> Result<Vec<String>, String> {
        let answer = self.moto.control_answer(
            "/moto-api/extension/ecr/apply-lifecycle",
            &json!({"region": self.region, "repository": self.name("ModelRepository")}),
        )?;
        Ok(answer["expired"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|d| d.as_str().map(str::to_owned))
            .collect())
    }

    /// The endpoint the stack deploys to, as the template resolves it (the
    /// parameter, or `iris-<token>` when it is empty, the default).
    pub fn endpoint_name(&self) -> String {
        self.resolver
            .substitutions("StateMachine")
            .ok()
            .and_then(|s| s.get("EndpointName").cloned())
            .unwrap_or_else(|| panic!("the state machine has no EndpointName substitution"))
    }

    /// The SageMaker names this stack's record-metadata gives an execution.
    pub fn run_names(&self, execution: &str) -> shared::naming::RunNames {
        shared::naming::RunNames::for_execution(&self.resolver.token(), execution)
    }

    /// What `Ref` answers for a resource or parameter of the template.
    pub fn name(&self, id: &str) -> String {
        self.resolver
            .reference(id)
            .unwrap_or_else(|e| panic!("the world has no {id}: {e}"))
    }

    /// A resource's attribute (`Arn`, `TopicName`, ...).
    pub fn attribute(&self, id: &str, attribute: &str) -> String {
        self.resolver
            .attribute(id, attribute)
            .unwrap_or_else(|e| panic!("the world has no {id}.{attribute}: {e}"))
    }

    /// Every SNS envelope waiting in an inbox (removed as read), waiting up to `wait`.
    pub async fn read_inbox(&self, queue_url: &str, wait: Duration) -> Result<Vec<Value>, String> {
        let sqs = aws_sdk_sqs::Client::new(&self.sdk);
        let deadline = Instant::now() + wait;
        let mut out = Vec::new();
        loop {
            let got = sqs
                .receive_message()
                .queue_url(queue_url)
                .max_number_of_messages(10)
                .send()
                .await
                .map_err(|e| format!("ReceiveMessage: {e:?}"))?;
            for m in got.messages() {
                out.push(
                    serde_json::from_str(m.body().unwrap_or("null")).map_err(|e| e.to_string())?,
                );
                if let Some(handle) = m.receipt_handle() {
                    sqs.delete_message()
                        .queue_url(queue_url)
                        .receipt_handle(handle)
                        .send()
                        .await
                        .map_err(|e| format!("DeleteMessage: {e:?}"))?;
                }
            }
            if !out.is_empty() || Instant::now() > deadline {
                return Ok(out);
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// The pipeline, named `name`, with the stages and variables template.yaml
/// declares (defaults resolved).
pub async fn create_pipeline(
    sdk: &SdkConfig,
    resolver: &Resolver<'_>,
    name: &str,
) -> Result<(), String> {
    use aws_sdk_codepipeline::types::{
        ActionCategory, ActionDeclaration, ActionOwner, ActionTypeId, ArtifactStore,
        ArtifactStoreType, PipelineDeclaration, PipelineType, PipelineVariableDeclaration,
        StageDeclaration,
    };
    let template = Template::load()?;
    let props = resolver.resolve(&template.resource("Pipeline")?["Properties"])?;
    let role = crate::create_service_role(sdk, "codepipeline.amazonaws.com").await?;
    let e = |e: aws_sdk_codepipeline::error::BuildError| e.to_string();
    let mut pipeline = PipelineDeclaration::builder()
        .name(name)
        .role_arn(role)
        .pipeline_type(PipelineType::V2)
        .artifact_store(
            ArtifactStore::builder()
                .r#type(ArtifactStoreType::S3)
                .location(
                    props["ArtifactStore"]["Location"]
                        .as_str()
                        .unwrap_or_default(),
                )
                .build()
                .map_err(e)?,
        );
    // moto keeps the stages' shape only; the source and build are played by the caller.
    for stage in props["Stages"].as_array().into_iter().flatten() {
        let mut declaration =
            StageDeclaration::builder().name(stage["Name"].as_str().unwrap_or_default());
        for action in stage["Actions"].as_array().into_iter().flatten() {
            let kind = &action["ActionTypeId"];
            declaration = declaration.actions(
                ActionDeclaration::builder()
                    .name(action["Name"].as_str().unwrap_or_default())
                    .action_type_id(
                        ActionTypeId::builder()
                            .category(ActionCategory::from(
                                kind["Category"].as_str().unwrap_or_default(),
                            ))
                            .owner(ActionOwner::from(
                                kind["Owner"].as_str().unwrap_or_default(),
                            ))
                            .provider(kind["Provider"].as_str().unwrap_or_default())
                            .version(kind["Version"].as_str().unwrap_or("1"))
                            .build()
                            .map_err(e)?,
                    )
                    .build()
                    .map_err(e)?,
            );
        }
        pipeline = pipeline.stages(declaration.build().map_err(e)?);
    }
    for variable in props["Variables"].as_array().into_iter().flatten() {
        pipeline = pipeline.variables(
            PipelineVariableDeclaration::builder()
                .name(variable["Name"].as_str().unwrap_or_default())
                .default_value(variable["DefaultValue"].as_str().unwrap_or_default())
                .build()
                .map_err(e)?,
        );
    }
    aws_sdk_codepipeline::Client::new(sdk)
        .create_pipeline()
        .pipeline(pipeline.build().map_err(e)?)
        .send()
        .await
        .map_err(|e| format!("CreatePipeline: {e:?}"))?;
    Ok(())
}
