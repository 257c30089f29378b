//! What the staging test asks and how it judges the answers: pure, so that
//! every rule is tested without an endpoint.

use shared::contract::StagingFigures;
use shared::report::{ModelQuality, StagingCase};

/// What staging must hold to: the load's size and its bounds.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Bounds {
    /// Requests of the load, after each case was asked once.
    pub requests: u32,
    pub max_error_percent: f64,
    pub max_p99_ms: f64,
}

/// A published example: a row and the label the README promises for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Example {
    pub row: String,
    pub label: String,
}

/// At most this many examples (`STAGING_EXAMPLES`).
pub const MAX_EXAMPLES: usize = 20;

/// `row=label;row=label` (`STAGING_EXAMPLES`; empty for none).
pub fn examples(text: &str) -> Result<Vec<Example>, String> {
    let mut out = Vec::new();
    for part in text.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((row, label)) = part.rsplit_once('=') else {
            return Err(format!("{part:?} is not row=label"));
        };
        let (row, label) = (row.trim(), label.trim());
        if row.is_empty() || label.is_empty() || row.len() > 1000 || label.len() > 64 {
            return Err(format!(
                "{part:?}: a row (at most 1000 bytes) and a label (at most 64) are needed"
            ));
        }
        out.push(Example {
            row: row.to_owned(),
            label: label.to_owned(),
        });
    }
    if out.len() > MAX_EXAMPLES {
        return Err(format!("at most {MAX_EXAMPLES} examples"));
    }
    Ok(out)
}

/// One row to ask staging, and what it must answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Case {
    pub row: String,
    /// The batch transform's prediction for this held-out row.
    pub expected_from_batch: Option<String>,
    /// A published example's label.
    pub expected_example: Option<String>,
}

/// The held-out sample of the model-quality report (each row: label,
/// features, then the batch transform's prediction, as evaluate-model read
/// it), then the examples.
pub fn cases(quality: &ModelQuality, examples: &[Example]) -> Vec<Case> {
    let mut out = Vec::new();
    for row in quality.sample.iter().flat_map(|g| g.rows.iter()) {
        let fields: Vec<&str> = row.split(',').map(str::trim).collect();
        if fields.len() < 3 {
            continue;
        }
        let features = fields[1..fields.len() - 1].join(",");
        out.push(Case {
            row: features,
            expected_from_batch: Some(fields[fields.len() - 1].to_owned()),
            expected_example: None,
        });
    }
    out.extend(examples.iter().map(|e| Case {
        row: e.row.clone(),
        expected_from_batch: None,
        expected_example: Some(e.label.clone()),
    }));
    out
}

/// The `q` quantile (0..=1) of `values` by nearest rank; 0 for none.
pub fn quantile(values: &[f64], q: f64) -> f64 {
    if values.is_empty() {
        return 0.0;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// The figures, each case as the report shows it, and every reason it fails.
/// `answers` and `latencies` hold each case's first answer, in order, then the load's.
pub fn judge(
    cases: &[Case],
    answers: &[Result<String, String>],
    latencies: &[f64],
    bounds: &Bounds,
) -> (StagingFigures, Vec<StagingCase>, Vec<String>) {
    let mut figures = load_figures(answers, latencies);
    let compared = compare(cases, answers, &mut figures);
    let failures = failures(&figures, &compared, bounds);
    (figures, compared.shown, failures)
}

/// Every request's share: how many, how many failed, the latency quantiles.
fn load_figures(answers: &[Result<String, String>], latencies: &[f64]) -> StagingFigures {
    let errors = answers.iter().filter(|a| a.is_err()).count();
    StagingFigures {
        requests: answers.len() as u64,
        errors: errors as u64,
        error_percent: if answers.is_empty() {
            0.0
        } else {
            100.0 * errors as f64 / answers.len() as f64
        },
        p50_ms: quantile(latencies, 0.50),
        p99_ms: quantile(latencies, 0.99),
        ..StagingFigures::default()
    }
}

/// Each case against its first answer.
#[derive(Debug, Default)]
struct Compared {
    shown: Vec<StagingCase>,
    /// Held-out rows staging answered otherwise than the batch transform.
    disagreed: Vec<String>,
    /// Examples staging answered otherwise than published.
    missed: Vec<String>,
}

fn compare(
    cases: &[Case],
    answers: &[Result<String, String>],
    figures: &mut StagingFigures,
) -> Compared {
    let mut out = Compared::default();
    for (case, answer) in cases.iter().zip(answers) {
        let answered = match answer {
            Ok(label) | Err(label) => label.clone(),
        };
        let (held_out, expected) = match (&case.expected_from_batch, &case.expected_example) {
            (Some(batch), _) => (true, batch.clone()),
            (None, Some(label)) => (false, label.clone()),
            (None, None) => continue,
        };
        let agreed = answer.as_ref().is_ok_and(|label| *label == expected);
        if held_out {
            figures.compared += 1;
            figures.agreed += u64::from(agreed);
            if !agreed {
                out.disagreed
                    .push(format!("{}: {answered}, batch {expected}", case.row));
            }
        } else {
            figures.examples += 1;
            figures.examples_passed += u64::from(agreed);
            if !agreed {
                out.missed
                    .push(format!("{}: {answered}, expected {expected}", case.row));
            }
        }
        out.shown.push(StagingCase {
            row: case.row.clone(),
            kind: if held_out { "heldOut" } else { "example" }.to_owned(),
            expected,
            answered,
            agreed,
        });
    }
    out
}

/// Every reason the test fails, one a line (none: it passed).
fn failures(figures: &StagingFigures, compared: &Compared, bounds: &Bounds) -> Vec<String> {
    let mut failures = Vec::new();
    if !compared.disagreed.is_empty() {
        failures.push(format!(
            "{} of {} held-out rows disagree with the batch transform: {}",
            compared.disagreed.len(),
            figures.compared,
            first_few(&compared.disagreed)
        ));
    }
    if !compared.missed.is_empty() {
        failures.push(format!(
            "{} of {} published examples answered otherwise: {}",
            compared.missed.len(),
            figures.examples,
            first_few(&compared.missed)
        ));
    }
    if figures.error_percent > bounds.max_error_percent {
        failures.push(format!(
            "{:.1}% of {} requests failed (at most {}% allowed)",
            figures.error_percent, figures.requests, bounds.max_error_percent
        ));
    }
    if figures.p99_ms > bounds.max_p99_ms {
        failures.push(format!(
            "p99 latency {:.1} ms is over {} ms",
            figures.p99_ms, bounds.max_p99_ms
        ));
    }
    failures
}

/// The first three, then how many more: a reason stays one readable line.
fn first_few(items: &[String]) -> String {
    let mut text = items.iter().take(3).cloned().collect::<Vec<_>>().join(", ");
    if items.len() > 3 {
        text.push_str(&format!(" and {} more", items.len() - 3));
    }
    text
}
