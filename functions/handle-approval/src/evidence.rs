//! What the page shows beside the item: the model-quality reports (this
//! version's and the deployed one's confusion matrices) and rows of the batch
//! predictions, read from S3. Each is best effort: a missing report leaves
//! its part of the page out.

use shared::aws;
use shared::contract::StagingFigures;
use shared::contract::parse_s3_uri;
use shared::report::{ModelQuality, StagingReport};

use crate::State;
use crate::approval::Approval;
use crate::page;

/// The confusion matrices and the sampled predictions of an approval.
#[derive(Debug, Default)]
pub(crate) struct Evidence {
    pub matrices: Vec<page::Matrix>,
    pub sample: Vec<(String, Vec<String>)>,
    /// Production's approval: this version's staging figures (the request's,
    /// or its staging report's for a promotion) and the champion's own, from
    /// the staging report beside its model-quality report (none before staging).
    pub staging: Option<StagingFigures>,
    pub champion_staging: Option<StagingFigures>,
}

/// The reports of this version and of the deployed one, and rows of every
/// label: from this version's report (evaluate-model kept them while it
/// read the whole output), else from the output itself (an older run).
pub(crate) async fn gather(state: &State, approval: &Approval) -> Evidence {
    let mut matrices = Vec::new();
    let mut labels = Vec::new();
    let mut sampled = Vec::new();
    for (title, uri) in [
        ("This version", &approval.model_quality_uri),
        ("Deployed now", &approval.champion_quality_uri),
    ] {
        let Some(uri) = uri else { continue };
        let Some(report) = report(state, uri).await else {
            continue;
        };
        if title == "This version" {
            sampled = page::sample_from_report(&report);
        }
        if let Some(m) = page::Matrix::from_report(title, &report) {
            if labels.is_empty() {
                labels.clone_from(&m.labels);
            }
            matrices.push(m);
        }
    }
    let sample = if sampled.is_empty() {
        sample(state, &approval.transform_output_uri, &labels).await
    } else {
        sampled
    };
    let (staging, champion_staging) = if approval.for_production() {
        let own = match (&approval.staging, &approval.staging_report_uri) {
            (Some(figures), _) => Some(*figures),
            (None, Some(uri)) => staging_figures(state, uri).await,
            (None, None) => None,
        };
        let champion = match &approval.champion_quality_uri {
            Some(uri) => match uri.strip_suffix("model-quality.json") {
                Some(prefix) => {
                    staging_figures(state, &format!("{prefix}staging-report.json")).await
                }
                None => None,
            },
            None => None,
        };
        (own, champion)
    } else {
        (None, None)
    };
    Evidence {
        matrices,
        sample,
        staging,
        champion_staging,
    }
}

/// The figures of a staging report (test-staging's), if it can be read.
async fn staging_figures(state: &State, uri: &str) -> Option<StagingFigures> {
    let bytes = object(state, uri).await?;
    serde_json::from_slice::<StagingReport>(&bytes)
        .inspect_err(|e| tracing::warn!(error = %e, "not a staging report"))
        .ok()
        .map(|r| r.figures)
}

/// The most a model-quality report may be for the page to read it.
const MAX_REPORT_BYTES: i64 = 1 << 20;

/// A model-quality report (evaluate-model's), if it can be read.
async fn report(state: &State, uri: &str) -> Option<ModelQuality> {
    let bytes = object(state, uri).await?;
    serde_json::from_slice(&bytes)
        .inspect_err(|e| tracing::warn!(error = %e, "the report is not a model-quality report"))
        .ok()
}

/// A report's bytes, if it can be read and is at most [`MAX_REPORT_BYTES`].
async fn object(state: &State, uri: &str) -> Option<Vec<u8>> {
    let (bucket, key) = parse_s3_uri(uri)?;
    let object = state
        .s3
        .get_object()
        .bucket(bucket)
        .key(key)
        .send()
        .await
        .inspect_err(
            |e| tracing::warn!(error = %aws::failure("GetObject (report)", e), "no report"),
        )
        .ok()?;
    if object.content_length().unwrap_or(0) > MAX_REPORT_BYTES {
        tracing::warn!("the report is too large to show");
        return None;
    }
    Some(object.body.collect().await.ok()?.into_bytes().to_vec())
}

/// The batch transform's output objects under `prefix` (not its reports):
/// none when they cannot be listed, which the page says.
async fn output_keys(state: &State, bucket: &str, prefix: &str) -> Vec<String> {
    let listed = state
        .s3
        .list_objects_v2()
        .bucket(bucket)
        .prefix(prefix)
        .max_keys(100)
        .send()
        .await;
    match listed {
        Ok(listed) => listed
            .contents()
            .iter()
            .filter_map(|o| o.key())
            .filter(|k| !k.ends_with('/') && !k.ends_with(".json"))
            .map(str::to_owned)
            .collect(),
        Err(e) => {
            tracing::warn!(error = %aws::failure("ListObjectsV2", &e), "no sample");
            Vec::new()
        }
    }
}

/// Rows of every label of the batch output (stratified, not the first lines:
/// a sorted file would show only its first labels), read as a stream until
/// every label the report knows of has its rows, or `SAMPLE_BYTES` were read.
async fn sample(state: &State, uri: &str, labels: &[String]) -> Vec<(String, Vec<String>)> {
    let Some((bucket, prefix)) = parse_s3_uri(uri) else {
        return Vec::new();
    };
    let keys = output_keys(state, bucket, prefix).await;
    let mut kept = shared::sample::Stratified::default();
    let mut read = 0usize;
    'objects: for key in keys {
        let Ok(object) = state.s3.get_object().bucket(bucket).key(&key).send().await else {
            continue;
        };
        let mut body = object.body;
        let mut row: Vec<u8> = Vec::new();
        while let Some(Ok(chunk)) = body.next().await {
            read += chunk.len();
            for byte in chunk.iter() {
                if *byte == b'\n' {
                    kept.offer(&String::from_utf8_lossy(&row));
                    row.clear();
                } else if row.len() < 4096 {
                    row.push(*byte);
                }
            }
            if kept.complete(labels) || read >= state.config.sample_bytes {
                break 'objects;
            }
        }
        if !row.is_empty() {
            kept.offer(&String::from_utf8_lossy(&row));
        }
    }
    kept.into_groups()
}
