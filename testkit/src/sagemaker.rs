//! SageMaker's jobs and endpoint container, played on this machine with the
//! sample model, as SageMaker would run its image: training reads
//! `/opt/ml/input/data/training` and writes `/opt/ml/model`, the batch
//! transform and the endpoint POST rows to `serve` on 8080. What goes in and
//! out is in moto's S3, as on AWS.
//!
//! The model runs either as its image in a container (`MLOPS_MODEL_IMAGE`,
//! which `scripts/local` sets when podman is there: `docker run <image> train`
//! and `... serve`, with /opt/ml mounted as SageMaker mounts it) or as the
//! `iris-model` binary on this machine (under `SM_BASE_DIR`).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::rig::binaries_dir;

/// `s3://bucket/key` → (bucket, key), by the contract's own parser.
pub fn s3_parts(uri: &str) -> Result<(String, String), String> {
    let (bucket, key) =
        shared::contract::parse_s3_uri(uri).ok_or_else(|| format!("not an S3 URI: {uri}"))?;
    Ok((bucket.to_owned(), key.to_owned()))
}

/// How the model runs: its image in a container, as SageMaker runs it, or its
/// binary on this machine.
#[derive(Debug, Clone)]
pub enum ModelRunner {
    Image { engine: Vec<String>, image: String },
    Binary(PathBuf),
}

impl ModelRunner {
    /// The image named by `MLOPS_MODEL_IMAGE`, run with `MLOPS_CONTAINER_ENGINE`
    /// (default `podman --runtime runc`); otherwise the workspace's `iris-model`.
    pub fn from_env() -> ModelRunner {
        match std::env::var("MLOPS_MODEL_IMAGE") {
            Ok(image) if !image.is_empty() => ModelRunner::Image {
                engine: std::env::var("MLOPS_CONTAINER_ENGINE")
                    .unwrap_or_else(|_| "podman --runtime runc".into())
                    .split_whitespace()
                    .map(str::to_owned)
                    .collect(),
                image,
            },
            _ => ModelRunner::Binary(binaries_dir().join("iris-model")),
        }
    }

    /// What a person reads: "the image X (podman)" or "the iris-model binary".
    pub fn describe(&self) -> String {
        match self {
            ModelRunner::Image { engine, image } => format!(
                "the image {image} in a container ({})",
                engine.first().map_or("", String::as_str)
            ),
            ModelRunner::Binary(_) => "the local iris-model binary".into(),
        }
    }

    fn engine(engine: &[String]) -> Command {
        let mut command = Command::new(&engine[0]);
        command.args(&engine[1..]);
        command
    }
}

/// A model server started by the stand-in: its process, and its container's
/// name when it runs in one (stopped with SIGTERM, as SageMaker stops it).
#[derive(Debug)]
struct Server {
    child: Child,
    container: Option<(Vec<String>, String)>,
}

impl Server {
    fn stop(&mut self) {
        if let Some((engine, name)) = &self.container {
            let _ = ModelRunner::engine(engine)
                .args(["stop", "-t", "5", name])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The local stand-in for SageMaker's training, transform and hosting.
#[derive(Debug)]
pub struct LocalSageMaker {
    pub s3: aws_sdk_s3::Client,
    pub region: String,
    pub runner: ModelRunner,
    work: PathBuf,
    servers: Vec<Server>,
}

impl Drop for LocalSageMaker {
    fn drop(&mut self) {
        self.stop_servers();
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

/// Makes `dir` and its parents, mode 0755: a container running as root, or
/// a rootless one mapping this user to root, can read and write it.
fn make_dir(dir: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| format!("{}: {e}", dir.display()))
}

impl LocalSageMaker {
    pub fn new(s3: aws_sdk_s3::Client, region: &str) -> Result<LocalSageMaker, String> {
        let work = std::env::temp_dir().join(crate::unique("mlops-local-sagemaker"));
        make_dir(&work)?;
        Ok(LocalSageMaker {
            s3,
            region: region.to_owned(),
            runner: ModelRunner::from_env(),
            work,
            servers: Vec::new(),
        })
    }

    async fn get(&self, bucket: &str, key: &str) -> Result<Vec<u8>, String> {
        let object = self
            .s3
            .get_object()
            .bucket(bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| format!("GetObject s3://{bucket}/{key}: {e:?}"))?;
        object
            .body
            .collect()
            .await
            .map(|b| b.into_bytes().to_vec())
            .map_err(|e| e.to_string())
    }

    async fn put(&self, uri: &str, body: Vec<u8>) -> Result<(), String> {
        let (bucket, key) = s3_parts(uri)?;
        self.s3
            .put_object()
            .bucket(&bucket)
            .key(&key)
            .body(body.into())
            .send()
            .await
            .map(|_| ())
            .map_err(|e| format!("PutObject {uri}: {e:?}"))
    }

    /// Every object under an S3 URI (an object or a prefix): (key, bytes).
    async fn objects(&self, uri: &str) -> Result<Vec<(String, Vec<u8>)>, String> {
        let (bucket, prefix) = s3_parts(uri)?;
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&bucket)
            .prefix(&prefix)
            .send()
            .await
            .map_err(|e| format!("ListObjectsV2 {uri}: {e:?}"))?;
        let mut out = Vec::new();
        for object in listed.contents() {
            let key = object.key().unwrap_or_default();
            if !key.ends_with('/') {
                out.push((key.to_owned(), self.get(&bucket, key).await?));
            }
        }
        Ok(out)
    }

    /// Runs a training job's request: the data from S3, `iris-model train`,
    /// the metrics by the job's own metric definitions, the model to S3.
    /// Answers DescribeTrainingJob's output, or the failure reason, and what the job printed.
    pub async fn train(&self, request: &Value) -> Result<(Result<Value, String>, String), String> {
        let name = request["TrainingJobName"].as_str().unwrap_or("train");
        let base = self.work.join(name);
        let data = base.join("input/data/training");
        for dir in [&base, &base.join("input"), &base.join("input/data"), &data] {
            make_dir(dir)?;
        }
        for dir in ["input/config", "model", "output"] {
            make_dir(&base.join(dir))?;
        }
        let hyper = request.get("HyperParameters").cloned().unwrap_or(json!({}));
        std::fs::write(
            base.join("input/config/hyperparameters.json"),
            hyper.to_string(),
        )
        .map_err(|e| e.to_string())?;
        let uri = request["InputDataConfig"][0]["DataSource"]["S3DataSource"]["S3Uri"]
            .as_str()
            .unwrap_or_default();
        for (key, body) in self.objects(uri).await? {
            let file = Path::new(&key).file_name().unwrap_or_default();
            std::fs::write(data.join(file), body).map_err(|e| e.to_string())?;
        }
        let run = match &self.runner {
            // A training job's container: the input read-only, no network.
            ModelRunner::Image { engine, image } => ModelRunner::engine(engine)
                .args(["run", "--rm", "--network", "none", "-v"])
                .arg(format!("{}:/opt/ml/input:ro", base.join("input").display()))
                .arg("-v")
                .arg(format!("{}:/opt/ml/model", base.join("model").display()))
                .arg("-v")
                .arg(format!("{}:/opt/ml/output", base.join("output").display()))
                .args([image.as_str(), "train"])
                .output(),
            ModelRunner::Binary(binary) => Command::new(binary)
                .arg("train")
                .env("SM_BASE_DIR", &base)
                .output(),
        }
        .map_err(|e| format!("train ({}): {e}", self.runner.describe()))?;
        let printed = String::from_utf8_lossy(&run.stdout).into_owned();
        if !run.status.success() {
            let reason = std::fs::read_to_string(base.join("output/failure"))
                .unwrap_or_else(|_| String::from_utf8_lossy(&run.stderr).into_owned());
            return Ok((Err(reason), printed));
        }
        let mut metrics = Vec::new();
        for definition in request["AlgorithmSpecification"]["MetricDefinitions"]
            .as_array()
            .into_iter()
            .flatten()
        {
            let regex = regex_lite::Regex::new(definition["Regex"].as_str().unwrap_or_default())
                .map_err(|e| format!("metric regex: {e}"))?;
            if let Some(value) = regex
                .captures_iter(&printed)
                .last()
                .and_then(|c| c.get(1))
                .and_then(|m| m.as_str().parse::<f64>().ok())
            {
                metrics.push(json!({"MetricName": definition["Name"], "Value": value, "Timestamp": "2026-01-01T00:00:00Z"}));
            }
        }
        let output = request["OutputDataConfig"]["S3OutputPath"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/');
        let artifacts = format!("{output}/{name}/output/model.tar.gz");
        let archive = base.join("model.tar.gz");
        let tar = Command::new("tar")
            .arg("-czf")
            .arg(&archive)
            .arg("-C")
            .arg(base.join("model"))
            .arg(".")
            .status()
            .map_err(|e| format!("tar: {e}"))?;
        if !tar.success() {
            return Err("tar could not pack the model".into());
        }
        self.put(
            &artifacts,
            std::fs::read(&archive).map_err(|e| e.to_string())?,
        )
        .await?;
        let mut describe = json!({
            "TrainingJobName": name,
            "TrainingJobArn": format!("arn:aws:sagemaker:{}:{}:training-job/{name}", self.region, crate::template::ACCOUNT),
            "TrainingJobStatus": "Completed",
            "ModelArtifacts": {"S3ModelArtifacts": artifacts},
            "HyperParameters": hyper,
        });
        if !metrics.is_empty() {
            describe["FinalMetricDataList"] = json!(metrics);
        }
        Ok((Ok(describe), printed))
    }

    /// Starts `iris-model serve` on `port` for the model archive at `model_data_url`.
    pub async fn serve(&mut self, model_data_url: &str, port: u16) -> Result<u32, String> {
        let (bucket, key) = s3_parts(model_data_url)?;
        let archive = self.get(&bucket, &key).await?;
        let base = self.work.join(crate::unique("serve"));
        let model = base.join("model");
        make_dir(&base)?;
        make_dir(&model)?;
        let file = base.join("model.tar.gz");
        std::fs::write(&file, archive).map_err(|e| e.to_string())?;
        let untar = Command::new("tar")
            .arg("-xzf")
            .arg(&file)
            .arg("-C")
            .arg(&model)
            .status()
            .map_err(|e| format!("tar: {e}"))?;
        if !untar.success() {
            return Err(format!("cannot unpack {model_data_url}"));
        }
        let (child, container) = match &self.runner {
            // A hosting container: the model read-only (hosting extracts the
            // artifact there), port 8080 published on 127.0.0.1 only.
            ModelRunner::Image { engine, image } => {
                let name = crate::unique("mlops-model");
                let child = ModelRunner::engine(engine)
                    .args(["run", "--rm", "--name", &name, "-p"])
                    .arg(format!("127.0.0.1:{port}:8080"))
                    .arg("-v")
                    .arg(format!("{}:/opt/ml/model:ro", model.display()))
                    .args([image.as_str(), "serve"])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn();
                (child, Some((engine.clone(), name)))
            }
            ModelRunner::Binary(binary) => (
                Command::new(binary)
                    .arg("serve")
                    .env("SM_BASE_DIR", &base)
                    .env("SERVE_ADDRESS", format!("127.0.0.1:{port}"))
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .spawn(),
                None,
            ),
        };
        let child = child.map_err(|e| format!("serve ({}): {e}", self.runner.describe()))?;
        let pid = child.id();
        self.servers.push(Server { child, container });
        // Ready as SageMaker judges it: /ping answers 200.
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(2)))
            .build()
            .into();
        let started = Instant::now();
        while agent
            .get(&format!("http://127.0.0.1:{port}/ping"))
            .call()
            .map(|r| r.status().as_u16())
            .unwrap_or(0)
            != 200
        {
            if started.elapsed() > Duration::from_secs(30) {
                return Err(format!(
                    "serve ({}) did not answer /ping on {port}",
                    self.runner.describe()
                ));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(pid)
    }

    /// Stops every model server started so far (by PID).
    pub fn stop_servers(&mut self) {
        for server in &mut self.servers {
            server.stop();
        }
        self.servers.clear();
    }

    /// Runs a transform job's request against a model server on `port`:
    /// the label column dropped (`InputFilter $[1:]`), each prediction joined
    /// to its input row (`JoinSource Input`), the output to S3.
    pub async fn transform(
        &self,
        request: &Value,
        port: u16,
    ) -> Result<Result<(Value, usize), String>, String> {
        if request["DataProcessing"]["InputFilter"] != "$[1:]" {
            return Err(format!(
                "unexpected DataProcessing {}",
                request["DataProcessing"]
            ));
        }
        let input = request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"]
            .as_str()
            .unwrap_or_default();
        let output = request["TransformOutput"]["S3OutputPath"]
            .as_str()
            .unwrap_or_default()
            .trim_end_matches('/')
            .to_owned();
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let mut rows = 0;
        for (key, body) in self.objects(input).await? {
            let text = String::from_utf8_lossy(&body);
            let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
            let features: Vec<String> = lines
                .iter()
                .map(|l| l.split(',').skip(1).collect::<Vec<_>>().join(","))
                .collect();
            let mut response = agent
                .post(&format!("http://127.0.0.1:{port}/invocations"))
                .header("content-type", "text/csv")
                .send(features.join("\n"))
                .map_err(|e| format!("the model server: {e}"))?;
            let status = response.status().as_u16();
            let answer = response.body_mut().read_to_string().unwrap_or_default();
            if status != 200 {
                return Ok(Err(format!("the model answered {status}: {answer}")));
            }
            let joined: String = lines
                .iter()
                .zip(answer.lines())
                .map(|(row, label)| format!("{row},{label}\n"))
                .collect();
            let file = Path::new(&key)
                .file_name()
                .unwrap_or_default()
                .to_string_lossy();
            self.put(&format!("{output}/{file}.out"), joined.into_bytes())
                .await?;
            rows += lines.len();
        }
        if rows == 0 {
            return Ok(Err(format!("no rows under {input}")));
        }
        let name = request["TransformJobName"].as_str().unwrap_or("transform");
        Ok(Ok((
            json!({
                "TransformJobName": name,
                "TransformJobArn": format!("arn:aws:sagemaker:{}:{}:transform-job/{name}", self.region, crate::template::ACCOUNT),
                "TransformJobStatus": "Completed",
                "TransformOutput": request["TransformOutput"],
            }),
            rows,
        )))
    }
}
