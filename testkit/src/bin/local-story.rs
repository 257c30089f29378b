//! `make local`: the pipeline's story on this machine, on the same rig as the
//! path tests (testkit::rig), against the moto server `scripts/with-moto`
//! started (AWS_ENDPOINT_URL).
//!
//! Two runs, each: new training data in S3 → start-retraining (its real
//! binary, the event delivered twice as S3 may) starts the pipeline once →
//! the pipeline's build and invoke actions, played here → the state machine,
//! the real definition with the template's substitutions, in moto's executing
//! mode → training and batch transform with the model image in a container
//! where `scripts/local` built one (podman), else the iris-model binary → the
//! approval email and page
//! (handle-approval's real binary) → deploy (the first run creates the
//! endpoint, the second updates it with the template's default strategy) →
//! POST /predict through invoke-endpoint, answered by the model the endpoint
//! now names. Every function runs as its own IAM user with only its template
//! policy.
//!
//!   local-story          waits for you to approve each run in a browser
//!   local-story --yes    approves by POSTing the form itself
//!   local-story --reject rejects the first run by POSTing the form (a story
//!                        that ends as the person chose: exit 0)
//!   local-story --check  fails unless both runs end as they should (the test)
//!   local-story --stages the template's Stages: staging-then-production: each
//!                        run deploys to staging, test-staging asks the model
//!                        server there, then production's approval and deploy

use std::process::ExitCode;
use std::time::Duration;

use serde_json::{Value, json};
use testkit::Invocation;
use testkit::rig::Rig;
use testkit::sagemaker::{LocalSageMaker, s3_parts};

#[derive(Debug, Default)]
struct Args {
    yes: bool,
    reject: bool,
    check: bool,
    stages: bool,
}

fn say(text: &str) {
    for line in text.lines() {
        println!("    {line}");
    }
}

fn show(value: &Value) -> String {
    let text = value.to_string();
    if text.len() > 600 {
        format!(
            "{}... ({} chars)",
            &text[..text.floor_char_boundary(600)],
            text.len()
        )
    } else {
        text
    }
}

struct Story {
    rig: Rig,
    sagemaker: LocalSageMaker,
    args: Args,
    step: usize,
    model_port: u16,
    transform_port: u16,
    commit: String,
}

/// What one run ended as, for the check.
#[derive(Debug)]
struct Outcome {
    status: String,
    error: Option<String>,
    prediction: Option<String>,
    deploy_action: Option<String>,
    /// The endpoint's status after the run, if there is one.
    endpoint: Option<String>,
    /// The newest registry version's status after the run.
    version: Option<String>,
    /// With two stages: test-staging passed for this run.
    staging_tested: bool,
}

/// Two free ports on 127.0.0.1, different from each other (both held while chosen).
fn two_free_ports() -> Result<(u16, u16), String> {
    let bind = || std::net::TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string());
    let (a, b) = (bind()?, bind()?);
    let port =
        |l: &std::net::TcpListener| l.local_addr().map(|a| a.port()).map_err(|e| e.to_string());
    Ok((port(&a)?, port(&b)?))
}

impl Story {
    /// The model artifacts a SageMaker model in moto serves.
    async fn model_data(&self, model_name: &str) -> Result<String, String> {
        let model = self
            .rig
            .sagemaker
            .describe_model()
            .model_name(model_name)
            .send()
            .await
            .map_err(|e| format!("DescribeModel: {e:?}"))?;
        Ok(model
            .primary_container()
            .and_then(|c| c.model_data_url())
            .unwrap_or_default()
            .to_owned())
    }

    fn step(&mut self, text: &str) {
        self.step += 1;
        println!("\n[{}] {text}", self.step);
    }

    async fn put_training_data(
        &mut self,
        body: Vec<u8>,
    ) -> Result<(String, String, usize), String> {
        let bucket = self.rig.world.name("DataBucket");
        let size = body.len();
        let put = self
            .rig
            .s3
            .put_object()
            .bucket(&bucket)
            .key("training/iris.csv")
            .body(body.into())
            .send()
            .await
            .map_err(|e| format!("PutObject: {e:?}"))?;
        let version = put.version_id().unwrap_or_default().to_owned();
        let etag = put.e_tag().unwrap_or_default().trim_matches('"').to_owned();
        say(&format!(
            "s3://{bucket}/training/iris.csv  version {version}  etag {etag}"
        ));
        Ok((version, etag, size))
    }

    /// S3's event for the object, delivered to start-retraining twice.
    async fn deliver_event(
        &mut self,
        version: &str,
        etag: &str,
        size: usize,
    ) -> Result<String, String> {
        let bucket = self.rig.world.name("DataBucket");
        let mut event = testkit::event_json("start-retraining", "put.json");
        let record = &mut event["Records"][0]["s3"];
        record["bucket"]["name"] = json!(bucket);
        record["bucket"]["arn"] = json!(format!("arn:aws:s3:::{bucket}"));
        record["object"]["key"] = json!("training/iris.csv");
        record["object"]["size"] = json!(size);
        record["object"]["eTag"] = json!(etag);
        record["object"]["versionId"] = json!(version);
        let pipeline = self.rig.world.name("Pipeline");
        let codepipeline = aws_sdk_codepipeline::Client::new(&self.rig.world.sdk);
        let before = executions(&codepipeline, &pipeline).await?.len();
        let mut schedules = Vec::new();
        for attempt in [1, 2] {
            match self.rig.invoke("start-retraining", &event) {
                Invocation::Ok(answer) => {
                    say(&format!("delivery {attempt}: {}", show(&answer)));
                    schedules.extend(
                        answer["started"]
                            .as_array()
                            .into_iter()
                            .flatten()
                            .filter_map(|s| s["schedule"].as_str().map(str::to_owned)),
                    );
                }
                Invocation::Err {
                    error_type,
                    message,
                } => {
                    return Err(format!("start-retraining failed: {error_type}: {message}"));
                }
            }
        }
        let mut after = executions(&codepipeline, &pipeline).await?;
        if after.len() == before {
            // A quiet window (RetrainQuietSeconds): the uploads of the window start
            // one run when it closes; EventBridge Scheduler's firing is played now.
            let fired = self.rig.fire_schedules(&schedules).await?;
            say(&format!(
                "the window's one-time schedule fired (EventBridge Scheduler, played here): {} pipeline execution(s)",
                fired.len()
            ));
            after = executions(&codepipeline, &pipeline).await?;
        }
        say(&format!(
            "pipeline {pipeline}: {} new execution(s): started once",
            after.len() - before
        ));
        if after.len() != before + 1 {
            return Err("expected exactly one new pipeline execution".into());
        }
        Ok(after
            .iter()
            .find_map(|e| e.pipeline_execution_id().map(str::to_owned))
            .unwrap_or_default())
    }

    /// One run, from new data to /predict.
    async fn run(&mut self, n: usize, data: Vec<u8>, about: &str) -> Result<Outcome, String> {
        self.step(&format!("Run {n}: upload new training data ({about})"));
        let (version, etag, size) = self.put_training_data(data).await?;

        self.step("S3 notifies start-retraining (real binary), twice, as S3 may");
        let pipeline_execution = self.deliver_event(&version, &etag, size).await?;

        self.step("The pipeline's build and invoke actions, played here");
        say(&format!(
            "CodeBuild would build container/, test it, and push iris-model:{}; here the model is {}",
            self.commit,
            self.sagemaker.runner.describe()
        ));
        let input = self
            .rig
            .pipeline_input(&pipeline_execution, &self.commit)
            .await?;
        let name = format!("run-local-{n}-{}-{}", self.commit, chrono_like_now());
        let arn = self.rig.start(&name, &input).await?;
        say(&format!(
            "execution {name} (moto, executing mode; every Lambda and .sync task handed to this runner)"
        ));
        say(&format!("input {}", show(&input)));

        let mut seen = self.rig.calls().len();
        // Each approval state asks once (a retry finds the same approval).
        let mut asked = std::collections::BTreeSet::new();
        let d = loop {
            let d = self.rig.describe(&arn).await?;
            if d.status().as_str() != "RUNNING" {
                break d;
            }
            self.rig.pump().await?;
            let calls = self.rig.calls();
            for call in &calls[seen..] {
                self.step(&format!(
                    "{}: {} (real binary), with the state's input",
                    call.state, call.function
                ));
                let mut payload = call.payload.clone();
                if payload.get("taskToken").is_some() {
                    payload["taskToken"] = json!("<redacted>");
                }
                say(&format!("input  {}", show(&payload)));
                match &call.answer {
                    Invocation::Ok(v) => say(&format!("answer {}", show(v))),
                    Invocation::Err {
                        error_type,
                        message,
                    } => say(&format!("error  {error_type}: {message}")),
                }
                if call.function == "request-approval" && asked.insert(call.state.clone()) {
                    self.approval().await?;
                }
                // Staging is InService on the run's model: its container
                // starts before test-staging asks it (the next task).
                if call.state == "RecordDeployed"
                    && call.payload["details"]["deployStage"] == "staging"
                {
                    self.serve_staging().await?;
                }
            }
            seen = calls.len();
            if let Some(task) = self.rig.take_sync() {
                self.play(task).await?;
            }
        };
        let status = d.status().as_str().to_owned();
        let error = d.error().map(str::to_owned);
        self.step(&format!("The execution ended: {status}"));
        // EventBridge's status-change rule, played here: a failed run is recorded and notified.
        if let Some(answer) = self.rig.deliver_run_end(&arn).await? {
            say(&format!(
                "status change → record-metadata (real binary): {answer:?}"
            ));
        }
        let deploy_action = self
            .rig
            .calls()
            .iter()
            .filter(|c| {
                c.function == "deploy-endpoint" && c.payload["executionName"] == name.as_str()
            })
            .find_map(|c| match &c.answer {
                Invocation::Ok(v) => v["action"].as_str().map(str::to_owned),
                Invocation::Err { .. } => None,
            });
        for note in self
            .rig
            .world
            .read_inbox(&self.rig.world.notifications_inbox, Duration::from_secs(2))
            .await?
        {
            say(&format!(
                "notification: {}",
                note["Subject"].as_str().unwrap_or_default()
            ));
        }
        let mut prediction = None;
        if status == "SUCCEEDED" {
            say(&format!(
                "deploy-endpoint: {}",
                deploy_action.as_deref().unwrap_or("?")
            ));
            prediction = self.predict().await?;
        } else if error.as_deref() == Some("ApprovalRejected") {
            say(
                "The model was rejected: its version is Rejected with the reason, and the endpoint is unchanged.",
            );
        } else {
            say(&format!(
                "error {}: {}",
                error.as_deref().unwrap_or("?"),
                d.cause().unwrap_or_default()
            ));
        }
        self.trail(&name);
        let endpoint = self
            .rig
            .sagemaker
            .describe_endpoint()
            .endpoint_name(self.rig.world.endpoint_name())
            .send()
            .await
            .ok()
            .and_then(|e| e.endpoint_status().map(|s| s.as_str().to_owned()));
        let version = self
            .rig
            .sagemaker
            .list_model_packages()
            .model_package_group_name(self.rig.world.name("ModelPackageGroup"))
            .sort_by(aws_sdk_sagemaker::types::ModelPackageSortBy::CreationTime)
            .sort_order(aws_sdk_sagemaker::types::SortOrder::Descending)
            .send()
            .await
            .ok()
            .and_then(|l| {
                l.model_package_summary_list()
                    .first()
                    .and_then(|v| v.model_approval_status().map(|s| s.as_str().to_owned()))
            });
        let staging_tested = self.rig.calls().iter().any(|c| {
            c.function == "test-staging"
                && c.payload["executionName"] == name.as_str()
                && matches!(c.answer, Invocation::Ok(_))
        });
        Ok(Outcome {
            status,
            error,
            prediction,
            deploy_action,
            endpoint,
            version,
            staging_tested,
        })
    }

    /// The staging endpoint's model, in its container on the model port,
    /// which test-staging (and invoke-endpoint) reach as SageMaker Runtime.
    async fn serve_staging(&mut self) -> Result<(), String> {
        let endpoint = format!("{}-staging", self.rig.world.endpoint_name());
        let sm = &self.rig.sagemaker;
        let described = sm
            .describe_endpoint()
            .endpoint_name(&endpoint)
            .send()
            .await
            .map_err(|e| format!("DescribeEndpoint {endpoint}: {e:?}"))?;
        let config = sm
            .describe_endpoint_config()
            .endpoint_config_name(described.endpoint_config_name().unwrap_or_default())
            .send()
            .await
            .map_err(|e| format!("DescribeEndpointConfig: {e:?}"))?;
        let model_name = config.production_variants()[0]
            .model_name()
            .unwrap_or_default()
            .to_owned();
        let data = self.model_data(&model_name).await?;
        self.sagemaker.stop_servers();
        let pid = self.sagemaker.serve(&data, self.model_port).await?;
        self.step(&format!(
            "staging endpoint {endpoint} serves {model_name}: `serve` in {}, pid {pid}, on 127.0.0.1:{}; test-staging asks it next",
            self.sagemaker.runner.describe(),
            self.model_port
        ));
        Ok(())
    }

    /// The approval email, the page, and (with --yes) the decision.
    async fn approval(&mut self) -> Result<(), String> {
        self.step("The approval email, as moto's SNS delivered it");
        let emails = self
            .rig
            .world
            .read_inbox(&self.rig.world.approvals_inbox, Duration::from_secs(10))
            .await?;
        let mut link = None;
        for email in &emails {
            say(&format!(
                "| Subject: {}",
                email["Subject"].as_str().unwrap_or_default()
            ));
            for line in email["Message"].as_str().unwrap_or_default().lines() {
                say(&format!("| {line}"));
                if line.contains("/approvals/") {
                    link = Some(line.trim().to_owned());
                }
            }
        }
        let link = link.ok_or("no approval link in the email")?;
        if self.args.yes || self.args.reject {
            let (decision, who, why) = if self.args.reject {
                ("reject", "make local --reject", "rejected by the local run")
            } else {
                ("approve", "make local --yes", "approved by the local run")
            };
            self.step(&format!(
                "{} (--{}): POST the page's form to handle-approval (real binary)",
                if self.args.reject {
                    "Reject"
                } else {
                    "Approve"
                },
                if self.args.reject { "reject" } else { "yes" }
            ));
            let (status, page) = self.rig.decide(&link, decision, who, why);
            let title = page
                .split("<title>")
                .nth(1)
                .and_then(|t| t.split("</title>").next())
                .unwrap_or_default()
                .trim()
                .to_owned();
            say(&format!("POST {link} → {status} {title}"));
        } else {
            self.step(&format!(
                "Waiting for your decision: open {link} and press Approve or Reject (Ctrl-C stops)"
            ));
        }
        Ok(())
    }

    /// Plays one SageMaker job with iris-model.
    async fn play(&mut self, task: testkit::rig::SyncTask) -> Result<(), String> {
        match task.state.as_str() {
            "Train" => {
                self.step(&format!(
                    "Train: SageMaker training job, played by the runner: `train` in {}",
                    self.sagemaker.runner.describe()
                ));
                let (result, printed) = self.sagemaker.train(&task.request).await?;
                for line in printed.lines() {
                    say(&format!("  | {line}"));
                }
                match result {
                    Ok(describe) => {
                        say(&format!("metrics: {}", describe["FinalMetricDataList"]));
                        say(&format!(
                            "model artifacts: {}",
                            describe["ModelArtifacts"]["S3ModelArtifacts"]
                        ));
                        self.rig.complete(&task, &describe).await
                    }
                    Err(reason) => {
                        say(&format!("failed: {reason}"));
                        self.rig.fail(&task, "TrainingJobFailed", &reason).await
                    }
                }
            }
            "Transform" => {
                self.step(&format!(
                    "Transform: SageMaker batch transform on the held-out rows, played with `serve` in {}",
                    self.sagemaker.runner.describe()
                ));
                let data = self
                    .model_data(task.request["ModelName"].as_str().unwrap_or_default())
                    .await?;
                let pid = self.sagemaker.serve(&data, self.transform_port).await?;
                say(&format!(
                    "model server pid {pid} on 127.0.0.1:{} for {data}",
                    self.transform_port
                ));
                let result = self
                    .sagemaker
                    .transform(&task.request, self.transform_port)
                    .await?;
                self.sagemaker.stop_servers();
                match result {
                    Ok((describe, rows)) => {
                        say(&format!(
                            "{rows} rows → {}",
                            describe["TransformOutput"]["S3OutputPath"]
                        ));
                        self.rig.complete(&task, &describe).await
                    }
                    Err(reason) => self.rig.fail(&task, "TransformJobFailed", &reason).await,
                }
            }
            other => Err(format!(
                "the local run does not play {other} (processing and tuning are off by default)"
            )),
        }
    }

    /// Serves the model the endpoint names now, then POSTs /predict through invoke-endpoint.
    async fn predict(&mut self) -> Result<Option<String>, String> {
        self.step("POST /predict through invoke-endpoint (real binary) → SageMaker Runtime → the endpoint's model");
        let sm = &self.rig.sagemaker;
        let endpoint = sm
            .describe_endpoint()
            .endpoint_name(self.rig.world.endpoint_name())
            .send()
            .await
            .map_err(|e| format!("DescribeEndpoint: {e:?}"))?;
        let config = sm
            .describe_endpoint_config()
            .endpoint_config_name(endpoint.endpoint_config_name().unwrap_or_default())
            .send()
            .await
            .map_err(|e| format!("DescribeEndpointConfig: {e:?}"))?;
        let model_name = config.production_variants()[0]
            .model_name()
            .unwrap_or_default()
            .to_owned();
        let data = self.model_data(&model_name).await?;
        let (_, key) = s3_parts(&data)?;
        self.sagemaker.stop_servers();
        let pid = self.sagemaker.serve(&data, self.model_port).await?;
        say(&format!(
            "endpoint {} ({}) serves {model_name}; its container: `serve` in {}, pid {pid}, on 127.0.0.1:{}, model {key}",
            self.rig.world.endpoint_name(),
            endpoint
                .endpoint_status()
                .map(|s| s.as_str())
                .unwrap_or_default(),
            self.sagemaker.runner.describe(),
            self.model_port
        ));
        let url = self.rig.function_url("invoke-endpoint", "/predict");
        let request = json!({"data": "4.5,1.3,0.3,0.3"});
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut response = agent
            .post(&url)
            .header("content-type", "application/json")
            .send(request.to_string())
            .map_err(|e| format!("POST /predict: {e}"))?;
        let status = response.status().as_u16();
        let body = response.body_mut().read_to_string().unwrap_or_default();
        say(&format!("POST /predict {request} → {status} {body}"));
        let answer: Value = serde_json::from_str(&body).unwrap_or_default();
        Ok(answer["result"].as_str().map(str::to_owned))
    }

    /// The run's audit trail and the registry, as `mlops` shows them.
    fn trail(&mut self, execution: &str) {
        self.step("The audit trail (mlops runs show) and the registry (mlops models)");
        let mlops = testkit::rig::binaries_dir().join("mlops");
        let env = [
            ("TABLE_NAME", self.rig.world.name("Table")),
            (
                "MODEL_PACKAGE_GROUP",
                self.rig.world.name("ModelPackageGroup"),
            ),
            ("STATE_MACHINE_ARN", self.rig.state_machine_arn.clone()),
            ("AWS_REGION", self.rig.world.region.clone()),
        ];
        for args in [vec!["runs", "show", execution], vec!["models"]] {
            match std::process::Command::new(&mlops)
                .args(&args)
                .envs(env.clone())
                .output()
            {
                Ok(out) => {
                    let text = String::from_utf8_lossy(if out.stdout.is_empty() {
                        &out.stderr
                    } else {
                        &out.stdout
                    })
                    .into_owned();
                    for line in text.lines().take(60) {
                        say(line);
                    }
                }
                Err(e) => say(&format!("mlops: {e}")),
            }
        }
    }
}

async fn executions(
    client: &aws_sdk_codepipeline::Client,
    pipeline: &str,
) -> Result<Vec<aws_sdk_codepipeline::types::PipelineExecutionSummary>, String> {
    client
        .list_pipeline_executions()
        .pipeline_name(pipeline)
        .send()
        .await
        .map(|o| o.pipeline_execution_summaries().to_vec())
        .map_err(|e| format!("ListPipelineExecutions: {e:?}"))
}

/// `20261128T151100`, from the system clock (UTC).
fn chrono_like_now() -> String {
    shared::clock::now_rfc3339()
        .replace(['-', ':'], "")
        .chars()
        .take(15)
        .collect()
}

/// The same measurements, labelled as the UCI archive spells the species
/// (`Iris-setosa`): new data whose model answers in words the first one never uses.
fn relabelled(text: &str) -> String {
    text.lines().map(|l| format!("Iris-{l}\n")).collect()
}

async fn story(args: Args) -> Result<Vec<Outcome>, String> {
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    println!(
        "local: creating what template.yaml creates, in the emulator (moto at {})",
        std::env::var("AWS_ENDPOINT_URL").unwrap_or_default()
    );
    // The endpoint's wait between polls, shortened from the template's 30 s; everything else is the template's.
    // Fast polls, and a bake time within them (deploy-endpoint refuses a rollout
    // that bakes longer than the wait for InService).
    let mut parameters = vec![
        ("EndpointPollSeconds", "1"),
        ("DeploymentWaitSeconds", "60"),
    ];
    if args.stages {
        // No published examples: run 2 relabels the classes (Iris-setosa),
        // which an example promising `setosa` would rightly stop at staging.
        parameters.extend([
            ("Stages", "staging-then-production"),
            ("StagingRequests", "20"),
            ("StagingExamples", ""),
        ]);
    }
    let rig = Rig::new(&region, &parameters).await?;
    let (model_port, transform_port) = two_free_ports()?;
    // One model server stands for whichever endpoint is asked: staging's
    // while test-staging runs, production's for POST /predict.
    for function in ["invoke-endpoint", "test-staging"] {
        rig.set_env(
            function,
            "AWS_ENDPOINT_URL_SAGEMAKER_RUNTIME",
            &format!("http://127.0.0.1:{model_port}"),
        );
    }
    for id in [
        "Table",
        "DataBucket",
        "ArtifactBucket",
        "Pipeline",
        "ModelPackageGroup",
    ] {
        say(&format!("{id}: {}", rig.world.name(id)));
    }
    say(&format!("EndpointName: {}", rig.world.endpoint_name()));
    if args.stages {
        say(&format!(
            "Stages: staging-then-production (staging: {}-staging)",
            rig.world.endpoint_name()
        ));
    }
    say(&format!("StateMachine: {}", rig.state_machine_arn));
    let root = testkit::workspace_root();
    let test = std::fs::read(root.join("data/iris-test.csv")).map_err(|e| e.to_string())?;
    rig.s3
        .put_object()
        .bucket(rig.world.name("DataBucket"))
        .key("test/iris.csv")
        .body(test.into())
        .send()
        .await
        .map_err(|e| format!("PutObject test/iris.csv: {e:?}"))?;
    say("held-out rows: data/iris-test.csv → test/iris.csv");
    let commit = std::process::Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(&root)
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|c| !c.is_empty())
        .unwrap_or_else(|| "local".into());
    let sagemaker = LocalSageMaker::new(rig.s3.clone(), &region)?;
    let mut story = Story {
        rig,
        sagemaker,
        args,
        step: 0,
        model_port,
        transform_port,
        commit,
    };
    let train =
        std::fs::read_to_string(root.join("data/iris-train.csv")).map_err(|e| e.to_string())?;
    let first = story
        .run(1, train.clone().into_bytes(), "data/iris-train.csv")
        .await?;
    let mut outcomes = vec![first];
    if outcomes[0].status == "SUCCEEDED" {
        // The new release relabels its held-out rows the same way: the gate
        // judges the new model on data in its own words.
        let held_out =
            std::fs::read_to_string(root.join("data/iris-test.csv")).map_err(|e| e.to_string())?;
        story
            .rig
            .s3
            .put_object()
            .bucket(story.rig.world.name("DataBucket"))
            .key("test/iris.csv")
            .body(relabelled(&held_out).into_bytes().into())
            .send()
            .await
            .map_err(|e| format!("PutObject test/iris.csv: {e:?}"))?;
        say("held-out rows relabelled the same way → test/iris.csv");
        let second = story
            .run(
                2,
                relabelled(&train).into_bytes(),
                "the same rows labelled as the UCI archive spells them: Iris-setosa, ...",
            )
            .await?;
        outcomes.push(second);
    }
    Ok(outcomes)
}

/// With --reject: one run, ended as the person chose: the version Rejected,
/// no endpoint made.
fn check_rejected(outcomes: &[Outcome]) -> Result<(), String> {
    let [only] = outcomes else {
        return Err(format!("expected one run, got {outcomes:?}"));
    };
    if only.status != "FAILED"
        || only.error.as_deref() != Some("ApprovalRejected")
        || only.endpoint.is_some()
        || only.version.as_deref() != Some("Rejected")
    {
        return Err(format!(
            "expected a rejected run, its version Rejected, and no endpoint; got {only:?}"
        ));
    }
    Ok(())
}

fn check(outcomes: &[Outcome], stages: bool) -> Result<(), String> {
    if stages && outcomes.iter().any(|o| !o.staging_tested) {
        return Err(format!(
            "with two stages every run passes the staging test first; got {outcomes:?}"
        ));
    }
    let [first, second] = outcomes else {
        return Err(format!("expected two runs, got {outcomes:?}"));
    };
    let want = [
        (first, "created", "setosa"),
        (second, "updated", "Iris-setosa"),
    ];
    for (n, (outcome, action, label)) in want.iter().enumerate() {
        if outcome.status != "SUCCEEDED"
            || outcome.deploy_action.as_deref() != Some(*action)
            || outcome.prediction.as_deref() != Some(*label)
        {
            return Err(format!(
                "run {}: expected SUCCEEDED, the endpoint {action}, /predict answering {label}; got {outcome:?}",
                n + 1
            ));
        }
    }
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let mut args = Args::default();
    for arg in std::env::args().skip(1) {
        match arg.as_str() {
            "--yes" => args.yes = true,
            "--reject" => args.reject = true,
            "--check" => args.check = true,
            "--stages" => args.stages = true,
            other => {
                eprintln!(
                    "local-story: unknown argument {other} (use --yes, --reject, --check, --stages)"
                );
                return ExitCode::from(2);
            }
        }
    }
    let (checking, rejecting, stages) = (args.check, args.reject, args.stages);
    match story(args).await {
        Ok(outcomes) => {
            if checking && rejecting {
                if let Err(e) = check_rejected(&outcomes) {
                    eprintln!("\nlocal: check failed: {e}");
                    return ExitCode::FAILURE;
                }
                println!(
                    "\nlocal: check passed: the model was rejected on its page; its version is Rejected and no endpoint was made"
                );
            } else if checking {
                if let Err(e) = check(&outcomes, stages) {
                    eprintln!("\nlocal: check failed: {e}");
                    return ExitCode::FAILURE;
                }
                println!(
                    "\nlocal: check passed: two runs end to end; the endpoint was created, then updated (the template's default strategy), and /predict answered setosa, then Iris-setosa from the new model{}",
                    if stages {
                        "; each run passed the staging test on staging's endpoint before production's approval"
                    } else {
                        ""
                    }
                );
            }
            if let Some(rejected) = outcomes
                .iter()
                .find(|o| o.error.as_deref() == Some("ApprovalRejected"))
            {
                println!(
                    "\nlocal: done: you rejected the model ({}); the story ran as you chose",
                    rejected.status
                );
            } else {
                println!("\nlocal: done");
            }
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("\nlocal: {e}");
            ExitCode::FAILURE
        }
    }
}
