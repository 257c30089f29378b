//! The model, with no I/O: parse the Iris CSV (label first, then four
//! features), train a decision tree, measure it, predict rows.

use std::collections::BTreeMap;

use linfa::prelude::*;
use linfa_trees::DecisionTree;
use ndarray::{Array1, Array2};
use serde::{Deserialize, Serialize};

pub const FEATURES: usize = 4;

/// What `train` writes to the model directory and `serve` loads.
#[derive(Debug, Serialize, Deserialize)]
pub struct Model {
    pub labels: Vec<String>,
    pub tree: DecisionTree<f64, usize>,
    pub validation_accuracy: f64,
}

/// Training rows: labels and their features.
#[derive(Debug, Default)]
pub struct Rows {
    pub labels: Vec<String>,
    pub features: Vec<[f64; FEATURES]>,
}

/// Four finite numbers from one CSV row, or what is wrong with it.
pub fn parse_features(fields: &[&str], line: usize) -> Result<[f64; FEATURES], String> {
    if fields.len() != FEATURES {
        return Err(format!(
            "line {line}: {} fields, the model takes {FEATURES}",
            fields.len()
        ));
    }
    let mut out = [0.0; FEATURES];
    for (i, field) in fields.iter().enumerate() {
        out[i] = field
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .ok_or_else(|| {
                format!(
                    "line {line}: field {i} ({:?}) is not a finite number",
                    field.trim()
                )
            })?;
    }
    Ok(out)
}

/// Parses training CSV: `label,f1,f2,f3,f4` per line, no header.
pub fn parse_training(text: &str, rows: &mut Rows) -> Result<(), String> {
    for (n, line) in text
        .lines()
        .enumerate()
        .filter(|(_, l)| !l.trim().is_empty())
    {
        let fields: Vec<&str> = line.split(',').collect();
        let (label, features) = fields
            .split_first()
            .ok_or(format!("line {}: empty", n + 1))?;
        if label.trim().is_empty() {
            return Err(format!("line {}: no label", n + 1));
        }
        rows.features.push(parse_features(features, n + 1)?);
        rows.labels.push(label.trim().to_owned());
    }
    Ok(())
}

/// Hyperparameters as SageMaker passes them (every value a string).
pub fn max_depth(hyperparameters: &BTreeMap<String, String>) -> Result<usize, String> {
    match hyperparameters.get("max_depth") {
        None => Ok(5),
        Some(v) => v
            .parse::<usize>()
            .ok()
            .filter(|d| (1..=64).contains(d))
            .ok_or_else(|| format!("hyperparameter max_depth={v:?} must be 1 to 64")),
    }
}

fn dataset(rows: &[(usize, [f64; FEATURES])]) -> Dataset<f64, usize, ndarray::Ix1> {
    let records = Array2::from_shape_fn((rows.len(), FEATURES), |(i, j)| rows[i].1[j]);
    let targets = Array1::from_iter(rows.iter().map(|r| r.0));
    Dataset::new(records, targets)
}

/// Trains on four rows in five and measures accuracy on the fifth: the same
/// split every run.
pub fn train(rows: &Rows, max_depth: usize) -> Result<Model, String> {
    let mut labels: Vec<String> = rows.labels.clone();
    labels.sort();
    labels.dedup();
    if labels.len() < 2 || rows.features.len() < 10 {
        return Err(format!(
            "need at least 10 rows of 2 classes, got {} rows of {} classes",
            rows.features.len(),
            labels.len()
        ));
    }
    let indexed: Vec<(usize, [f64; FEATURES])> = rows
        .labels
        .iter()
        .zip(&rows.features)
        .map(|(l, f)| (labels.binary_search(l).unwrap_or(0), *f))
        .collect();
    let (fit_rows, check_rows): (Vec<_>, Vec<_>) =
        indexed.iter().enumerate().partition(|(i, _)| i % 5 != 4);
    let fit_rows: Vec<_> = fit_rows.into_iter().map(|(_, r)| *r).collect();
    let check_rows: Vec<_> = check_rows.into_iter().map(|(_, r)| *r).collect();
    let tree = DecisionTree::params()
        .max_depth(Some(max_depth))
        .fit(&dataset(&fit_rows))
        .map_err(|e| format!("training failed: {e}"))?;
    let check = dataset(&check_rows);
    let predicted = tree.predict(check.records());
    let right = predicted
        .iter()
        .zip(check.targets().iter())
        .filter(|(p, t)| p == t)
        .count();
    Ok(Model {
        labels,
        tree,
        validation_accuracy: right as f64 / check_rows.len().max(1) as f64,
    })
}

impl Model {
    /// One label per row of `csv` (four features a row), or a message for a 400.
    pub fn predict_csv(&self, csv: &str) -> Result<Vec<&str>, String> {
        let rows: Vec<[f64; FEATURES]> = csv
            .lines()
            .enumerate()
            .filter(|(_, l)| !l.trim().is_empty())
            .map(|(n, l)| parse_features(&l.split(',').collect::<Vec<_>>(), n + 1))
            .collect::<Result<_, _>>()?;
        if rows.is_empty() {
            return Err("no rows: send text/csv, one row of four numbers per line".into());
        }
        let records = Array2::from_shape_fn((rows.len(), FEATURES), |(i, j)| rows[i][j]);
        let predicted = self.tree.predict(&records);
        Ok(predicted
            .iter()
            .map(|&i| self.labels.get(i).map(String::as_str).unwrap_or("unknown"))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A file of the project's data/, found at run time: cargo sets
    /// CARGO_MANIFEST_DIR for the test process, and a path baked in at compile
    /// time goes stale when a target directory is shared between checkouts.
    fn data(file: &str) -> String {
        let dir = std::env::var("CARGO_MANIFEST_DIR")
            .unwrap_or_else(|_| env!("CARGO_MANIFEST_DIR").to_owned());
        std::fs::read_to_string(format!("{dir}/../data/{file}")).unwrap()
    }

    fn iris() -> Rows {
        let mut rows = Rows::default();
        let text = data("iris-train.csv");
        parse_training(&text, &mut rows).unwrap();
        rows
    }

    #[test]
    fn trains_a_useful_tree_on_the_training_split() {
        let model = train(&iris(), 5).unwrap();
        assert_eq!(model.labels, ["setosa", "versicolor", "virginica"]);
        assert!(
            model.validation_accuracy >= 0.9,
            "{}",
            model.validation_accuracy
        );
    }

    // Two trainings answer the same for every row. (Their serialized trees may
    // differ in an inner node's `prediction` when two classes tie there: linfa
    // breaks the tie in hash-map order, but only leaves predict.)
    #[test]
    fn training_is_deterministic_in_what_it_predicts() {
        let a = train(&iris(), 5).unwrap();
        let b = train(&iris(), 5).unwrap();
        assert_eq!(a.validation_accuracy, b.validation_accuracy);
        let all = data("iris-test.csv") + &data("iris-train.csv");
        let rows: String = all
            .lines()
            .map(|l| l.split_once(',').unwrap().1.to_owned() + "\n")
            .collect();
        assert_eq!(a.predict_csv(&rows).unwrap(), b.predict_csv(&rows).unwrap());
    }

    #[test]
    fn predicts_held_out_rows_it_never_saw() {
        let model = train(&iris(), 5).unwrap();
        let text = data("iris-test.csv");
        let (mut right, mut total) = (0, 0);
        for line in text.lines() {
            let (label, features) = line.split_once(',').unwrap();
            total += 1;
            right += usize::from(model.predict_csv(features).unwrap()[0] == label);
        }
        assert!(right * 10 >= total * 9, "{right}/{total}");
    }

    #[test]
    fn bad_rows_are_named() {
        let model = train(&iris(), 5).unwrap();
        assert!(model.predict_csv("1,2,3").unwrap_err().contains("3 fields"));
        assert!(
            model
                .predict_csv("1,2,x,4")
                .unwrap_err()
                .contains("field 2")
        );
        assert!(model.predict_csv("1,2,NaN,4").is_err());
        assert!(model.predict_csv("\n").unwrap_err().contains("no rows"));
        let mut rows = Rows::default();
        assert!(
            parse_training(",1,2,3,4", &mut rows)
                .unwrap_err()
                .contains("no label")
        );
        assert!(max_depth(&[("max_depth".to_owned(), "0".to_owned())].into()).is_err());
    }
}
