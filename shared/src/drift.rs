//! Drift figures, computed streaming in bounded memory (#31's foundation):
//! a numeric feature's running count, missing values, mean and standard
//! deviation, and its counts in fixed bins; the population stability index
//! and the Kolmogorov–Smirnov statistic of a window against a baseline on
//! those bins. Pure: the baseline writer and the drift check share it, and
//! any split of the same values into chunks gives the same figures.

use serde::{Deserialize, Serialize};

/// What a bin with no values counts as in PSI, so that an empty bin on one
/// side is a large term, not an infinite one (the usual floor).
pub const PSI_FLOOR: f64 = 1e-4;

/// One numeric feature, streamed: at most `edges.len() + 1` counters,
/// whatever the number of values.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FeatureStats {
    pub count: u64,
    /// Values that were absent or not a number.
    pub missing: u64,
    pub mean: f64,
    /// Welford's sum of squared differences from the mean.
    m2: f64,
    pub min: f64,
    pub max: f64,
    /// Ascending bin edges: bin 0 is below `edges[0]`, the last at or above
    /// the last edge. Fixed up front (the baseline's), so two windows compare.
    pub edges: Vec<f64>,
    pub bins: Vec<u64>,
}

impl FeatureStats {
    /// Empty, with these bin edges (sorted, finite; others are dropped).
    pub fn with_edges(mut edges: Vec<f64>) -> FeatureStats {
        edges.retain(|e| e.is_finite());
        edges.sort_by(f64::total_cmp);
        edges.dedup();
        let bins = vec![0; edges.len() + 1];
        FeatureStats {
            count: 0,
            missing: 0,
            mean: 0.0,
            m2: 0.0,
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
            edges,
            bins,
        }
    }

    /// Evenly spaced edges: `bins` bins from `low` to `high`.
    pub fn even(low: f64, high: f64, bins: usize) -> FeatureStats {
        let bins = bins.max(1);
        let step = (high - low) / bins as f64;
        FeatureStats::with_edges((1..bins).map(|i| low + step * i as f64).collect())
    }

    /// One field as the capture or the training data holds it.
    pub fn offer(&mut self, field: &str) {
        match field.trim().parse::<f64>() {
            Ok(value) if value.is_finite() => self.add(value),
            _ => self.missing += 1,
        }
    }

    pub fn add(&mut self, value: f64) {
        self.count += 1;
        let delta = value - self.mean;
        self.mean += delta / self.count as f64;
        self.m2 += delta * (value - self.mean);
        self.min = self.min.min(value);
        self.max = self.max.max(value);
        let bin = self.edges.partition_point(|edge| *edge <= value);
        self.bins[bin] += 1;
    }

    /// The sample standard deviation (0 below two values).
    pub fn std_dev(&self) -> f64 {
        if self.count < 2 {
            0.0
        } else {
            (self.m2 / (self.count - 1) as f64).sqrt()
        }
    }

    /// The figures of both parts as one (Chan's parallel formula): any split
    /// of the same values merges to the same figures. Bins must be the same.
    pub fn merge(&mut self, other: &FeatureStats) -> Result<(), String> {
        if self.edges != other.edges {
            return Err("the two parts have different bins".into());
        }
        let total = self.count + other.count;
        if total > 0 {
            let delta = other.mean - self.mean;
            let (n, m) = (self.count as f64, other.count as f64);
            self.mean += delta * m / total as f64;
            self.m2 += other.m2 + delta * delta * n * m / total as f64;
        }
        self.count = total;
        self.missing += other.missing;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        for (mine, theirs) in self.bins.iter_mut().zip(&other.bins) {
            *mine += theirs;
        }
        Ok(())
    }

    /// Each bin's share of the values (all 0 without values).
    pub fn shares(&self) -> Vec<f64> {
        let total: u64 = self.bins.iter().sum();
        self.bins
            .iter()
            .map(|&n| {
                if total == 0 {
                    0.0
                } else {
                    n as f64 / total as f64
                }
            })
            .collect()
    }
}

/// The population stability index of `actual` against `expected`, each a
/// share per bin: Σ (a − e) · ln(a / e), a share of 0 floored at [`PSI_FLOOR`].
pub fn psi(expected: &[f64], actual: &[f64]) -> f64 {
    expected
        .iter()
        .zip(actual)
        .map(|(&e, &a)| {
            let (e, a) = (e.max(PSI_FLOOR), a.max(PSI_FLOOR));
            (a - e) * (a / e).ln()
        })
        .sum()
}

/// The Kolmogorov–Smirnov statistic on shared bins: the largest gap between
/// the two cumulative shares.
pub fn ks(expected: &[f64], actual: &[f64]) -> f64 {
    let (mut ce, mut ca, mut gap) = (0.0_f64, 0.0_f64, 0.0_f64);
    for (&e, &a) in expected.iter().zip(actual) {
        ce += e;
        ca += a;
        gap = gap.max((ce - ca).abs());
    }
    gap
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn psi_and_ks_match_the_figures_worked_by_hand() {
        // (0.25 − 0.5)·ln(0.25/0.5) + (0.75 − 0.5)·ln(0.75/0.5) = 0.17329 + 0.10137
        let expected = [0.5, 0.5];
        let actual = [0.25, 0.75];
        assert!((psi(&expected, &actual) - 0.274_653).abs() < 1e-6);
        assert!((ks(&expected, &actual) - 0.25).abs() < 1e-12);
        // The same distribution: no drift.
        assert_eq!(psi(&expected, &expected), 0.0);
        assert_eq!(ks(&expected, &expected), 0.0);
        // Four bins, the mass moved up: the CDFs part by 0.4 at most (after two bins).
        let before = [0.1, 0.4, 0.4, 0.1];
        let after = [0.0, 0.1, 0.5, 0.4];
        assert!((ks(&before, &after) - 0.4).abs() < 1e-12);
        // An emptied bin is a large term, never infinite.
        let value = psi(&before, &after);
        assert!(value.is_finite() && value > 0.8, "{value}");
    }

    #[test]
    fn a_feature_counts_bins_missing_values_and_its_moments() {
        let mut f = FeatureStats::even(0.0, 4.0, 4);
        assert_eq!(f.edges, [1.0, 2.0, 3.0]);
        for field in ["0.5", "1.0", "1.5", "3.5", "9", "", "n/a", "NaN"] {
            f.offer(field);
        }
        assert_eq!((f.count, f.missing), (5, 3));
        assert_eq!(f.bins, [1, 2, 0, 2]);
        assert!((f.mean - 3.1).abs() < 1e-12);
        // Sample standard deviation of 0.5, 1, 1.5, 3.5, 9.
        assert!((f.std_dev() - 3.489_269_2).abs() < 1e-6, "{}", f.std_dev());
        assert_eq!((f.min, f.max), (0.5, 9.0));
        assert!(FeatureStats::even(0.0, 1.0, 2).merge(&f).is_err());
    }

    proptest! {
        /// Any split of the same values into chunks merges to the figures
        /// one pass over them gives.
        #[test]
        fn any_split_gives_the_same_figures(
            values in proptest::collection::vec(-50.0f64..50.0, 0..200),
            cuts in proptest::collection::vec(0usize..200, 0..6),
        ) {
            let mut whole = FeatureStats::even(-50.0, 50.0, 10);
            for v in &values {
                whole.add(*v);
            }
            let mut cuts: Vec<usize> = cuts.into_iter().map(|c| c.min(values.len())).collect();
            cuts.sort_unstable();
            let mut merged = FeatureStats::even(-50.0, 50.0, 10);
            let mut start = 0;
            for end in cuts.into_iter().chain(std::iter::once(values.len())) {
                let mut part = FeatureStats::even(-50.0, 50.0, 10);
                for v in &values[start..end.max(start)] {
                    part.add(*v);
                }
                merged.merge(&part).unwrap();
                start = end.max(start);
            }
            prop_assert_eq!(merged.count, whole.count);
            prop_assert_eq!(&merged.bins, &whole.bins);
            prop_assert!((merged.mean - whole.mean).abs() < 1e-9);
            prop_assert!((merged.std_dev() - whole.std_dev()).abs() < 1e-9);
            prop_assert_eq!(psi(&merged.shares(), &whole.shares()), 0.0);
        }
    }
}
