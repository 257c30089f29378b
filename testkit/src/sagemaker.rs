//! SageMaker's jobs and endpoint container, played on this machine with the
//! sample model's own binary (`iris-model`), as SageMaker would run its image:
//! training reads `/opt/ml/input/data/training` and writes `/opt/ml/model`
//! (under `SM_BASE_DIR`), the batch transform and the endpoint POST rows to
//! `iris-model serve`. What goes in and out is in moto's S3, as on AWS.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::paths::binaries_dir;

/// `s3://bucket/key` → (bucket, key), by the contract's own parser.
pub fn s3_parts(uri: &str) -> Result<(String, String), String> {
    let (bucket, key) =
        shared::contract::parse_s3_uri(uri).ok_or_else(|| format!("not an S3 URI: {uri}"))?;
    Ok((bucket.to_owned(), key.to_owned()))
}

/// The local stand-in for SageMaker's training, transform and hosting.
#[derive(Debug)]
pub struct LocalSageMaker {
    pub s3: aws_sdk_s3::Client,
    pub region: String,
    work: PathBuf,
    servers: Vec<Child>,
}

impl Drop for LocalSageMaker {
    fn drop(&mut self) {
        for child in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.work);
    }
}

fn iris_model() -> PathBuf {
    binaries_dir().join("iris-model")
}

impl LocalSageMaker {
    pub fn new(s3: aws_sdk_s3::Client, region: &str) -> Result<LocalSageMaker, String> {
        let work = std::env::temp_dir().join(crate::unique("mlops-local-sagemaker"));
        std::fs::create_dir_all(&work).map_err(|e| e.to_string())?;
        Ok(LocalSageMaker {
            s3,
            region: region.to_owned(),
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
        std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
        std::fs::create_dir_all(base.join("input/config")).map_err(|e| e.to_string())?;
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
        let run = Command::new(iris_model())
            .arg("train")
            .env("SM_BASE_DIR", &base)
            .output()
            .map_err(|e| format!("iris-model train: {e}"))?;
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
        std::fs::create_dir_all(&model).map_err(|e| e.to_string())?;
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
        let child = Command::new(iris_model())
            .arg("serve")
            .env("SM_BASE_DIR", &base)
            .env("SERVE_ADDRESS", format!("127.0.0.1:{port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .map_err(|e| format!("iris-model serve: {e}"))?;
        let pid = child.id();
        self.servers.push(child);
        let started = Instant::now();
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if started.elapsed() > Duration::from_secs(20) {
                return Err(format!("iris-model serve did not listen on {port}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        Ok(pid)
    }

    /// Stops every model server started so far (by PID).
    pub fn stop_servers(&mut self) {
        for child in &mut self.servers {
            let _ = child.kill();
            let _ = child.wait();
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
