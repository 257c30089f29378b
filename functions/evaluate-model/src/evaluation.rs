//! The metrics, computed one row at a time in bounded memory: a confusion
//! matrix over at most [`MAX_CLASSES`] labels, or a handful of running sums.
//! No row is kept.

use std::collections::BTreeMap;

use shared::contract::ProblemType;
use shared::report::{self, ClassFigures, Figure, ModelQuality};
use shared::sample::Stratified;

/// A classification with more labels than this is refused: the confusion
/// matrix would no longer be bounded (and it is likely a regression).
pub const MAX_CLASSES: usize = 1000;

/// Metrics where higher is better: the only ones a gate may read.
pub const CLASSIFICATION_GATES: [&str; 7] = [
    "accuracy",
    "macroPrecision",
    "macroRecall",
    "macroF1",
    "weightedPrecision",
    "weightedRecall",
    "weightedF1",
];
pub const REGRESSION_GATES: [&str; 1] = ["r2"];

/// Why a row cannot be evaluated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowError {
    Shape,
    NotANumber(String),
    TooManyClasses,
}

impl std::fmt::Display for RowError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RowError::Shape => f.write_str(
                "expected the label first and the prediction last (the transform's InputFilter $[1:] and JoinSource Input)",
            ),
            RowError::NotANumber(v) => write!(f, "{v:?} is not a number (a regression's label and prediction are numbers)"),
            RowError::TooManyClasses => write!(f, "more than {MAX_CLASSES} distinct labels: is this a regression? (ProblemType)"),
        }
    }
}

/// The label (first field) and the prediction (last field) of an output row.
fn label_and_prediction(row: &str) -> Result<(&str, &str), RowError> {
    let (label, rest) = row.split_once(',').ok_or(RowError::Shape)?;
    let prediction = rest.rsplit(',').next().unwrap_or(rest);
    let (label, prediction) = (label.trim(), prediction.trim());
    if label.is_empty() || prediction.is_empty() {
        return Err(RowError::Shape);
    }
    Ok((label, prediction))
}

#[derive(Debug, Default, Clone, PartialEq)]
pub struct Classification {
    /// actual → predicted → count
    matrix: BTreeMap<String, BTreeMap<String, u64>>,
    classes: std::collections::BTreeSet<String>,
    rows: u64,
}

impl Classification {
    pub fn add(&mut self, row: &str) -> Result<(), RowError> {
        let (label, prediction) = label_and_prediction(row)?;
        // The common case, a pair seen before, allocates nothing.
        if let Some(n) = self
            .matrix
            .get_mut(label)
            .and_then(|row| row.get_mut(prediction))
        {
            *n += 1;
            self.rows += 1;
            return Ok(());
        }
        for class in [label, prediction] {
            if !self.classes.contains(class) {
                if self.classes.len() >= MAX_CLASSES {
                    return Err(RowError::TooManyClasses);
                }
                self.classes.insert(class.to_owned());
            }
        }
        *self
            .matrix
            .entry(label.to_owned())
            .or_default()
            .entry(prediction.to_owned())
            .or_default() += 1;
        self.rows += 1;
        Ok(())
    }

    fn count(&self, actual: &str, predicted: &str) -> u64 {
        self.matrix
            .get(actual)
            .and_then(|row| row.get(predicted))
            .copied()
            .unwrap_or(0)
    }

    /// Per class: (precision, recall, f1, support).
    pub fn per_class(&self) -> BTreeMap<String, (f64, f64, f64, u64)> {
        let ratio = |a: u64, b: u64| if b == 0 { 0.0 } else { a as f64 / b as f64 };
        self.classes
            .iter()
            .map(|c| {
                let tp = self.count(c, c);
                let predicted: u64 = self.classes.iter().map(|a| self.count(a, c)).sum();
                let support: u64 = self.matrix.get(c).map(|r| r.values().sum()).unwrap_or(0);
                let (p, r) = (ratio(tp, predicted), ratio(tp, support));
                let f1 = if p + r == 0.0 {
                    0.0
                } else {
                    2.0 * p * r / (p + r)
                };
                (c.clone(), (p, r, f1, support))
            })
            .collect()
    }

    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let per_class = self.per_class();
        let k = per_class.len().max(1) as f64;
        let n = self.rows.max(1) as f64;
        let correct: u64 = self.classes.iter().map(|c| self.count(c, c)).sum();
        let macro_of =
            |pick: fn(&(f64, f64, f64, u64)) -> f64| per_class.values().map(pick).sum::<f64>() / k;
        let weighted_of = |pick: fn(&(f64, f64, f64, u64)) -> f64| {
            per_class
                .values()
                .map(|v| pick(v) * v.3 as f64)
                .sum::<f64>()
                / n
        };
        BTreeMap::from([
            ("accuracy".to_owned(), correct as f64 / n),
            ("macroPrecision".to_owned(), macro_of(|v| v.0)),
            ("macroRecall".to_owned(), macro_of(|v| v.1)),
            ("macroF1".to_owned(), macro_of(|v| v.2)),
            ("weightedPrecision".to_owned(), weighted_of(|v| v.0)),
            ("weightedRecall".to_owned(), weighted_of(|v| v.1)),
            ("weightedF1".to_owned(), weighted_of(|v| v.2)),
        ])
    }

    /// SageMaker Model Monitor's model-quality statistics shape, plus per class.
    pub fn report(&self, evaluated_at: &str) -> ModelQuality {
        let m = self.metrics();
        let value = |name: &str| Figure {
            value: m.get(name).copied().unwrap_or(0.0),
        };
        let confusion_matrix = self
            .classes
            .iter()
            .map(|a| {
                let row = self
                    .classes
                    .iter()
                    .map(|p| (p.clone(), self.count(a, p)))
                    .collect();
                (a.clone(), row)
            })
            .collect();
        let per_class = self
            .per_class()
            .into_iter()
            .map(|(c, (precision, recall, f1, support))| {
                let figures = ClassFigures {
                    precision,
                    recall,
                    f1,
                    support,
                };
                (c, figures)
            })
            .collect();
        ModelQuality {
            version: report::VERSION,
            dataset: dataset(self.rows, evaluated_at),
            multiclass_classification_metrics: Some(report::Classification {
                confusion_matrix,
                accuracy: value("accuracy"),
                macro_precision: value("macroPrecision"),
                macro_recall: value("macroRecall"),
                macro_f1: value("macroF1"),
                weighted_precision: value("weightedPrecision"),
                weighted_recall: value("weightedRecall"),
                weighted_f1: value("weightedF1"),
            }),
            regression_metrics: None,
            per_class,
            sample: Vec::new(),
        }
    }
}

fn dataset(rows: u64, evaluated_at: &str) -> report::Dataset {
    report::Dataset {
        item_count: rows,
        evaluation_time: evaluated_at.to_owned(),
    }
}

/// Running sums: the errors, and the label's mean and spread (Welford).
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Regression {
    rows: u64,
    abs_error: f64,
    squared_error: f64,
    mean: f64,
    spread: f64,
}

impl Regression {
    pub fn add(&mut self, row: &str) -> Result<(), RowError> {
        let (label, prediction) = label_and_prediction(row)?;
        let number = |v: &str| {
            v.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .ok_or_else(|| RowError::NotANumber(v.chars().take(40).collect()))
        };
        let (y, y_hat) = (number(label)?, number(prediction)?);
        self.rows += 1;
        let e = y - y_hat;
        self.abs_error += e.abs();
        self.squared_error += e * e;
        let delta = y - self.mean;
        self.mean += delta / self.rows as f64;
        self.spread += delta * (y - self.mean);
        Ok(())
    }

    pub fn metrics(&self) -> BTreeMap<String, f64> {
        let n = self.rows.max(1) as f64;
        let mse = self.squared_error / n;
        let mut m = BTreeMap::from([
            ("mae".to_owned(), self.abs_error / n),
            ("mse".to_owned(), mse),
            ("rmse".to_owned(), mse.sqrt()),
        ]);
        // R² is undefined when every label is the same.
        if self.spread > 0.0 {
            m.insert("r2".to_owned(), 1.0 - self.squared_error / self.spread);
        }
        m
    }

    pub fn report(&self, evaluated_at: &str) -> ModelQuality {
        let m = self.metrics();
        let value = |name: &str| m.get(name).map(|&value| Figure { value });
        ModelQuality {
            version: report::VERSION,
            dataset: dataset(self.rows, evaluated_at),
            multiclass_classification_metrics: None,
            regression_metrics: Some(report::Regression {
                mae: value("mae"),
                mse: value("mse"),
                rmse: value("rmse"),
                r2: value("r2"),
            }),
            per_class: BTreeMap::new(),
            sample: Vec::new(),
        }
    }
}

/// Either evaluation, chosen by the problem type, and the rows kept for the page.
#[derive(Debug, Clone, PartialEq)]
pub struct Evaluation {
    kind: Kind,
    /// Rows of every label, for the approval page (`shared::sample`).
    sample: Stratified,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Classification(Classification),
    Regression(Regression),
}

impl Evaluation {
    pub fn new(kind: ProblemType) -> Self {
        let kind = match kind {
            ProblemType::Classification => Kind::Classification(Classification::default()),
            ProblemType::Regression => Kind::Regression(Regression::default()),
        };
        Evaluation {
            kind,
            sample: Stratified::default(),
        }
    }

    /// One output row; blank lines are skipped.
    pub fn add(&mut self, row: &str) -> Result<(), RowError> {
        if row.trim().is_empty() {
            return Ok(());
        }
        match &mut self.kind {
            Kind::Classification(c) => c.add(row)?,
            Kind::Regression(r) => r.add(row)?,
        }
        self.sample.offer(row);
        Ok(())
    }

    pub fn rows(&self) -> u64 {
        match &self.kind {
            Kind::Classification(c) => c.rows,
            Kind::Regression(r) => r.rows,
        }
    }

    pub fn metrics(&self) -> BTreeMap<String, f64> {
        match &self.kind {
            Kind::Classification(c) => c.metrics(),
            Kind::Regression(r) => r.metrics(),
        }
    }

    /// The report, with the sample of rows for the approval page.
    pub fn report(&self, evaluated_at: &str) -> ModelQuality {
        let mut report = match &self.kind {
            Kind::Classification(c) => c.report(evaluated_at),
            Kind::Regression(r) => r.report(evaluated_at),
        };
        report.sample = self.sample.to_report();
        report
    }

    pub fn gates(kind: ProblemType) -> &'static [&'static str] {
        match kind {
            ProblemType::Classification => &CLASSIFICATION_GATES,
            ProblemType::Regression => &REGRESSION_GATES,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 1e-12
    }

    /// A split of data/iris.csv (every fifth row held out), with
    /// the predictions of a rule (petal length < 2.5 → setosa; petal width <
    /// 1.8 → versicolor; else virginica), against the confusion matrix counted
    /// by hand for that rule and split: 10 setosa right; 9 versicolor right,
    /// one taken for a virginica; 10 virginica right.
    #[test]
    fn the_iris_split_against_a_confusion_matrix_counted_by_hand() {
        // Found at run time: a compile-time path goes stale when a target
        // directory is shared between checkouts.
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        let text = std::fs::read_to_string(format!("{dir}/../../data/iris.csv"))
            .expect("the project's data/iris.csv");
        let mut evaluation = Evaluation::new(ProblemType::Classification);
        for (i, line) in text.lines().filter(|l| !l.trim().is_empty()).enumerate() {
            if i % 5 != 0 {
                continue;
            }
            // The data: label first, then sepal length, sepal width, petal length, petal width.
            let fields: Vec<&str> = line.split(',').collect();
            let petal: Vec<f64> = fields[3..5].iter().map(|f| f.parse().unwrap()).collect();
            let prediction = if petal[0] < 2.5 {
                "setosa"
            } else if petal[1] < 1.8 {
                "versicolor"
            } else {
                "virginica"
            };
            // The transform's output row: the input row, then the prediction.
            evaluation.add(&format!("{line},{prediction}")).unwrap();
        }
        let by_hand = [
            ("setosa", "setosa", 10),
            ("setosa", "versicolor", 0),
            ("setosa", "virginica", 0),
            ("versicolor", "setosa", 0),
            ("versicolor", "versicolor", 9),
            ("versicolor", "virginica", 1),
            ("virginica", "setosa", 0),
            ("virginica", "versicolor", 0),
            ("virginica", "virginica", 10),
        ];
        let report = serde_json::to_value(evaluation.report("2026-11-28T00:00:00Z")).unwrap();
        let matrix = &report["multiclass_classification_metrics"]["confusion_matrix"];
        for (actual, predicted, n) in by_hand {
            assert_eq!(matrix[actual][predicted], n, "{actual} → {predicted}");
        }
        assert_eq!(report["dataset"]["item_count"], 30);
        let m = evaluation.metrics();
        assert!(close(m["accuracy"], 29.0 / 30.0), "{m:?}");
        // versicolor: precision 9/9, recall 9/10; virginica: precision 10/11, recall 1.
        let per = &report["per_class"];
        assert!(close(per["versicolor"]["recall"].as_f64().unwrap(), 0.9));
        assert!(close(
            per["virginica"]["precision"].as_f64().unwrap(),
            10.0 / 11.0
        ));
        let f1_versicolor = 2.0 * 0.9 / 1.9;
        let f1_virginica = 2.0 * (10.0 / 11.0) / (10.0 / 11.0 + 1.0);
        assert!(
            close(m["macroF1"], (1.0 + f1_versicolor + f1_virginica) / 3.0),
            "{m:?}"
        );
    }

    #[test]
    fn the_sample_covers_every_label_however_the_output_is_sorted() {
        let mut evaluation = Evaluation::new(ProblemType::Classification);
        for i in 0..10_000 {
            evaluation.add(&format!("setosa,{i},setosa")).unwrap();
        }
        evaluation.add("virginica,last,virginica").unwrap();
        let sample = &serde_json::to_value(evaluation.report("t")).unwrap()["sample"];
        assert_eq!(sample[0]["label"], "setosa");
        assert_eq!(
            sample[0]["rows"].as_array().unwrap().len(),
            shared::sample::ROWS
        );
        assert_eq!(
            sample[1],
            json!({"label": "virginica", "rows": ["virginica,last,virginica"]})
        );
    }

    #[test]
    fn precision_recall_and_f1_as_defined() {
        // actual a: 3 rows (2 → a, 1 → b); actual b: 2 rows (2 → b)
        let mut c = Classification::default();
        for row in ["a,1,a", "a,2,a", "a,3,b", "b,4,b", "b,5,b"] {
            c.add(row).unwrap();
        }
        let per = c.per_class();
        let (p, r, f1, s) = per["a"];
        assert!(close(p, 1.0) && close(r, 2.0 / 3.0) && close(f1, 0.8) && s == 3);
        let (p, r, f1, s) = per["b"];
        assert!(close(p, 2.0 / 3.0) && close(r, 1.0) && close(f1, 0.8) && s == 2);
        let m = c.metrics();
        assert!(close(m["accuracy"], 0.8));
        assert!(close(m["macroF1"], 0.8));
        assert!(close(m["weightedRecall"], 0.8));
    }

    #[test]
    fn regression_errors_and_r2() {
        let mut r = Regression::default();
        for row in ["1,x,2", "2,x,2", "3,x,2"] {
            r.add(row).unwrap();
        }
        let m = r.metrics();
        assert!(close(m["mae"], 2.0 / 3.0) && close(m["mse"], 2.0 / 3.0));
        assert!(close(m["r2"], 0.0), "the mean's R² is 0: {m:?}");
        let mut flat = Regression::default();
        flat.add("1,1").unwrap();
        assert!(
            !flat.metrics().contains_key("r2"),
            "undefined with one label value"
        );
        assert_eq!(r.add("one,x,2"), Err(RowError::NotANumber("one".into())));
    }

    #[test]
    fn a_row_without_a_prediction_or_past_the_class_limit_is_refused() {
        let mut c = Classification::default();
        assert_eq!(c.add("setosa"), Err(RowError::Shape));
        assert_eq!(c.add(",5.0,setosa"), Err(RowError::Shape));
        for i in 0..MAX_CLASSES / 2 {
            c.add(&format!("l{i},x,p{i}")).unwrap();
        }
        assert_eq!(c.add("new,x,other"), Err(RowError::TooManyClasses));
    }
}
