//! The model-quality report: what evaluate-model writes beside the transform
//! output (`model-quality.json`, SageMaker Model Monitor's model-quality
//! statistics shape, plus per-class figures and rows of every label), what the
//! registry version points at, and what the approval page reads. One type for
//! the writer and the readers. A reader takes a report with parts missing
//! (an older one, or another evaluator's): what is absent reads as its default.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Model Monitor's statistics version.
pub const VERSION: f64 = 0.0;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelQuality {
    #[serde(default)]
    pub version: f64,
    #[serde(default)]
    pub dataset: Dataset,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub multiclass_classification_metrics: Option<Classification>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub regression_metrics: Option<Regression>,
    /// Precision, recall, F1 and support of each class (classification).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub per_class: BTreeMap<String, ClassFigures>,
    /// Rows of every label, as the approval page shows them ([`crate::sample`]).
    #[serde(default)]
    pub sample: Vec<SampleGroup>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Dataset {
    pub item_count: u64,
    pub evaluation_time: String,
}

/// One figure, as Model Monitor writes it (`{"value": 0.9667}`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Figure {
    pub value: f64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Classification {
    /// Counts by actual label, then by predicted label.
    pub confusion_matrix: BTreeMap<String, BTreeMap<String, u64>>,
    pub accuracy: Figure,
    pub macro_precision: Figure,
    pub macro_recall: Figure,
    pub macro_f1: Figure,
    pub weighted_precision: Figure,
    pub weighted_recall: Figure,
    pub weighted_f1: Figure,
}

/// Regression figures; `r2` is null when every label is the same.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Regression {
    pub mae: Option<Figure>,
    pub mse: Option<Figure>,
    pub rmse: Option<Figure>,
    pub r2: Option<Figure>,
}

#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct ClassFigures {
    pub precision: f64,
    pub recall: f64,
    pub f1: f64,
    pub support: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SampleGroup {
    pub label: String,
    pub rows: Vec<String>,
}

/// The staging test's report (test-staging's `staging-report.json`, beside
/// the model-quality report): what the staging endpoint answered the
/// held-out sample and the published examples, and how it held a short load.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagingReport {
    pub endpoint_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub model_name: Option<String>,
    pub execution_name: String,
    pub tested_at: String,
    pub figures: crate::contract::StagingFigures,
    /// The bounds it was held to (`STAGING_MAX_ERROR_PERCENT`, `STAGING_MAX_P99_MS`).
    pub max_error_percent: f64,
    pub max_p99_ms: f64,
    /// Each row asked once before the load, and what came back.
    pub cases: Vec<StagingCase>,
    pub passed: bool,
    /// Why it did not pass, one reason a line (empty when it passed).
    #[serde(default)]
    pub failures: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StagingCase {
    /// The features sent, as the API takes them.
    pub row: String,
    /// `heldOut` (the batch transform's prediction is expected) or `example`.
    pub kind: String,
    pub expected: String,
    /// The label staging answered, or the API's error code.
    pub answered: String,
    pub agreed: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_reads_back_as_written_and_a_regression_keeps_its_null_r2() {
        let report = ModelQuality {
            version: VERSION,
            dataset: Dataset {
                item_count: 2,
                evaluation_time: "2026-12-03T00:00:00Z".into(),
            },
            multiclass_classification_metrics: None,
            regression_metrics: Some(Regression {
                mae: Some(Figure { value: 0.5 }),
                mse: Some(Figure { value: 0.25 }),
                rmse: Some(Figure { value: 0.5 }),
                r2: None,
            }),
            per_class: BTreeMap::new(),
            sample: vec![SampleGroup {
                label: "1.5".into(),
                rows: vec!["1.5,2,1".into()],
            }],
        };
        let json = serde_json::to_value(&report).unwrap();
        assert_eq!(json["regression_metrics"]["r2"], serde_json::Value::Null);
        assert_eq!(json["dataset"]["item_count"], 2);
        assert!(
            json.get("per_class").is_none()
                && json.get("multiclass_classification_metrics").is_none()
        );
        assert_eq!(
            serde_json::from_value::<ModelQuality>(json).unwrap(),
            report
        );
    }

    #[test]
    fn a_partial_report_reads_with_what_it_has() {
        let partial = serde_json::json!({
            "dataset": {"item_count": 30},
            "multiclass_classification_metrics": {"confusion_matrix": {"a": {"a": 4, "b": 1}}},
        });
        let read: ModelQuality = serde_json::from_value(partial).unwrap();
        assert_eq!(read.dataset.item_count, 30);
        let classification = read.multiclass_classification_metrics.unwrap();
        assert_eq!(classification.confusion_matrix["a"]["b"], 1);
        assert_eq!(classification.accuracy, Figure::default());
        assert!(serde_json::from_value::<ModelQuality>(serde_json::json!({"sample": 3})).is_err());
    }

    #[test]
    fn a_report_without_a_sample_reads_with_none() {
        let older = serde_json::json!({
            "version": 0.0,
            "dataset": {"item_count": 1, "evaluation_time": "t"},
        });
        let read: ModelQuality = serde_json::from_value(older).unwrap();
        assert!(read.sample.is_empty() && read.multiclass_classification_metrics.is_none());
    }
}
