//! A stratified sample of a batch transform's output: the first rows of
//! each label (a row's first field), so that every class shows however the
//! output is ordered. evaluate-model keeps it in its report while it reads
//! the whole output; the approval page reads the output itself only for a
//! report without one.

use crate::report::SampleGroup;

/// Rows kept per label.
pub const ROWS: usize = 3;
/// Labels kept.
pub const LABELS: usize = 50;

#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Stratified {
    groups: Vec<(String, Vec<String>)>,
}

impl Stratified {
    /// Keeps `row` if its label has fewer than [`ROWS`] rows (and, for a new
    /// label, if fewer than [`LABELS`] labels are kept). Labels are cut to 64
    /// characters and rows to 200.
    pub fn offer(&mut self, row: &str) {
        let row = row.trim_end_matches('\r');
        let Some(label) = row
            .split(',')
            .next()
            .map(str::trim)
            .filter(|l| !l.is_empty())
        else {
            return;
        };
        let label: String = label.chars().take(64).collect();
        let full = self.groups.len() >= LABELS;
        match self.groups.iter_mut().find(|(l, _)| *l == label) {
            Some((_, rows)) if rows.len() < ROWS => rows.push(row.chars().take(200).collect()),
            Some(_) => {}
            None if !full => self
                .groups
                .push((label, vec![row.chars().take(200).collect()])),
            None => {}
        }
    }

    /// Every label in `expected` has its rows (when none are expected: never).
    #[must_use]
    pub fn complete(&self, expected: &[String]) -> bool {
        !expected.is_empty()
            && expected.iter().all(|label| {
                self.groups
                    .iter()
                    .any(|(l, rows)| l == label && rows.len() >= ROWS)
            })
    }

    pub fn into_groups(self) -> Vec<(String, Vec<String>)> {
        self.groups
    }

    /// The groups as the model-quality report carries them.
    pub fn to_report(&self) -> Vec<SampleGroup> {
        self.groups
            .iter()
            .map(|(label, rows)| SampleGroup {
                label: label.clone(),
                rows: rows.clone(),
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_the_first_rows_of_every_label_and_knows_when_it_has_them() {
        let mut s = Stratified::default();
        for i in 0..10 {
            s.offer(&format!("setosa,{i},setosa\r"));
        }
        let long = "x".repeat(100);
        s.offer(&format!("{long},1,a"));
        s.offer(&format!("{long},2,a"));
        assert!(!s.complete(&["setosa".into(), "virginica".into()]));
        s.offer("virginica,last,virginica");
        let groups = s.clone().into_groups();
        assert_eq!(
            groups[0].1,
            ["setosa,0,setosa", "setosa,1,setosa", "setosa,2,setosa"]
        );
        assert_eq!(groups[1].1.len(), 2, "a long label is one label, cut to 64");
        assert_eq!(groups[2].0, "virginica");
        assert!(!s.complete(&[]));
        assert_eq!(
            s.to_report()[2],
            SampleGroup {
                label: "virginica".into(),
                rows: vec!["virginica,last,virginica".into()]
            }
        );
    }
}
