//! `mlops runs watch <execution>`: follows a run stage by stage from its
//! audit trail until it ends, then says how it ended and what to do next.
//!
//! On a terminal it redraws one block (the stages, the current one marked,
//! with a spinner); otherwise (a pipe, a CI log) it prints each new stage
//! once as a plain line, with no control codes.

use std::io::Write;
use std::time::Duration;

use shared::contract::RunStatus;
use shared::items::{RunEvent, RunSummary, Trail};

use crate::output::{printable, shown};

/// The stages a run passes, in order, as the trail names them. A deploy-only
/// run skips training; the approval is a wait between `transformed` and
/// `approved`, not a stage of its own.
const STAGES: [(&str, &str); 6] = [
    ("started", "started"),
    ("trained", "trained and gated"),
    ("transformed", "batch transform"),
    ("approval", "a person's approval"),
    ("approved", "approved"),
    ("deployed", "deployed"),
];

/// One event of the trail, as watch shows it.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    pub stage: String,
    pub status: String,
    pub time: String,
    pub note: String,
}

impl From<&RunEvent> for Event {
    fn from(event: &RunEvent) -> Event {
        let f = &event.facts;
        let gate = match (&f.gate_metric, f.gate_value, f.gate_threshold) {
            (Some(m), Some(v), Some(t)) => format!("{} = {v} (threshold {t})", printable(m)),
            _ => String::new(),
        };
        let decision = f.approval_decision.map_or_else(String::new, |d| {
            format!("{} by {}", d.as_str(), shown(&f.approved_by))
        });
        let note = [gate, decision, shown(&f.endpoint_name), shown(&f.error)]
            .into_iter()
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join("; ");
        Event {
            stage: event.stage.as_str().to_owned(),
            status: event.status.as_str().to_owned(),
            time: printable(&event.entered_time),
            note,
        }
    }
}

/// What the trail says so far: its events in order, and the summary.
#[derive(Debug, Default, Clone)]
pub struct Progress {
    pub events: Vec<Event>,
    pub summary: Option<RunSummary>,
}

impl Progress {
    pub fn from_trail(trail: &Trail) -> Progress {
        Progress {
            events: trail.events.iter().map(Event::from).collect(),
            summary: trail.summary.clone(),
        }
    }

    pub fn status(&self) -> Option<RunStatus> {
        self.summary.as_ref().map(|s| s.status)
    }

    pub fn ended(&self) -> bool {
        self.status().is_some_and(RunStatus::is_end)
    }

    fn reached(&self, stage: &str) -> Option<&Event> {
        self.events.iter().find(|e| e.stage == stage)
    }

    /// Waiting for a person: transformed (or a deploy-only run started) and
    /// not yet decided, and still running.
    fn awaiting_approval(&self) -> bool {
        let last = self.events.last().map(|e| e.stage.as_str());
        self.status() == Some(RunStatus::Running) && matches!(last, Some("transformed"))
    }
}

/// The plain line for one event (no control codes).
pub fn line(event: &Event) -> String {
    let mut out = format!("{}  {:<12} {}", event.time, event.stage, event.status);
    if !event.note.is_empty() {
        out.push_str("  ");
        out.push_str(&event.note);
    }
    out
}

/// The live block for a terminal: every stage, done, current or to come.
pub fn block(execution: &str, p: &Progress, tick: usize) -> Vec<String> {
    const SPIN: [&str; 4] = ["|", "/", "-", "\\"];
    let status = p.status().map_or("", RunStatus::as_str);
    let mut lines = vec![format!("run {execution}: {status}")];
    let failed = p
        .events
        .iter()
        .find(|e| e.stage == "failed" || e.stage == "rejected");
    let mut current_marked = false;
    for (stage, label) in STAGES {
        let done = if stage == "approval" {
            p.reached("approved").or_else(|| p.reached("rejected"))
        } else {
            p.reached(stage)
        };
        let row = match done {
            Some(e) => format!("  [x] {label:<20} {}  {}", e.time, e.note),
            None if failed.is_some() => format!("  [ ] {label}"),
            None if !current_marked && !p.ended() => {
                current_marked = true;
                let waiting = if stage == "approval" && p.awaiting_approval() {
                    "waiting: the link is in the approvers' email"
                } else {
                    "in progress"
                };
                format!("  [{}] {label:<20} {waiting}", SPIN[tick % SPIN.len()])
            }
            None => format!("  [ ] {label}"),
        };
        lines.push(row.trim_end().to_owned());
    }
    if let Some(e) = failed {
        lines.push(format!("  [!] {:<20} {}  {}", e.stage, e.time, e.note));
    }
    lines
}

/// How the run ended, and what to do next. Long because it is the table of
/// ends, read best in one place.
pub fn outcome(execution: &str, p: &Progress) -> (bool, Vec<String>) {
    let Some(summary) = &p.summary else {
        return (false, vec!["the run has no summary yet".into()]);
    };
    let f = &summary.facts;
    match summary.status {
        RunStatus::Succeeded => (
            true,
            vec![
                format!(
                    "succeeded: endpoint {} serves this run's model ({}).",
                    shown(&f.endpoint_name),
                    shown(&f.model_name)
                ),
                "next: POST {ApiUrl}/predict to use it; `mlops models` lists the versions; `mlops rollback <version>` puts an earlier one back.".into(),
            ],
        ),
        RunStatus::Rejected => (
            false,
            vec![
                format!(
                    "rejected by {}: {}",
                    shown(&f.approved_by),
                    shown(&f.approval_comment)
                ),
                "next: nothing was deployed; the endpoint serves what it served. Fix the model and push, or upload new data.".into(),
            ],
        ),
        RunStatus::TimedOut => (
            false,
            vec![
                format!("timed out: {}", shown(&f.cause)),
                "next: nothing was deployed. `mlops deploy <version>` asks for the approval again.".into(),
            ],
        ),
        RunStatus::Failed | RunStatus::Running => {
            let error = shown(&f.error);
            let cause = shown(&f.cause);
            let next = match error.as_str() {
                "QualityGateFailed" => "next: the model did not reach the threshold; improve the data or the model and run again.".to_owned(),
                "ApprovalRejected" => "next: nothing was deployed.".to_owned(),
                _ if cause.contains("mlops runs redrive") => {
                    "next: fix the cause, then run the command above.".to_owned()
                }
                _ => format!(
                    "next: fix the cause, then `mlops runs redrive {execution}` resumes from the state that failed."
                ),
            };
            (false, vec![format!("failed: {error}: {cause}"), next])
        }
    }
}

/// `--interval`: seconds between looks, from 0.1 to 3600 (an hour).
pub fn interval(text: &str) -> Result<Duration, String> {
    shared::clock::seconds_within(text, 0.1, 3600.0)
}

/// What has been written so far, so each look writes only what is new: on a
/// terminal the block is redrawn in place; on a pipe each event once.
#[derive(Debug, Default)]
pub struct Screen {
    tty: bool,
    shown: usize,
    drawn: usize,
    said_waiting: bool,
    said_absent: bool,
    tick: usize,
}

impl Screen {
    pub fn new(tty: bool) -> Screen {
        Screen {
            tty,
            ..Screen::default()
        }
    }

    /// The text for this look at the run, and how it ended if it has:
    /// `Some(true)` when it succeeded.
    pub fn frame(&mut self, execution: &str, p: &Progress) -> (String, Option<bool>) {
        let mut text = String::new();
        let mut say = |line: &str| {
            text.push_str(line);
            text.push('\n');
        };
        if p.events.is_empty() && !self.said_absent {
            say(&format!(
                "waiting for run {execution} to record its start..."
            ));
            self.said_absent = true;
        }
        if self.tty {
            if self.drawn > 0 {
                // Up to the block's first line, and clear to the end of the screen.
                text.push_str(&format!("\x1b[{}A\x1b[J", self.drawn));
            }
            let lines = block(execution, p, self.tick);
            self.drawn = lines.len();
            for l in lines {
                text.push_str(&l);
                text.push('\n');
            }
        } else {
            for event in p.events.iter().skip(self.shown) {
                say(&line(event));
            }
            self.shown = p.events.len();
            if p.awaiting_approval() && !self.said_waiting {
                say("waiting for a person's approval: the link is in the approvers' email");
                self.said_waiting = true;
            }
        }
        self.tick += 1;
        if !p.ended() {
            return (text, None);
        }
        let (ok, lines) = outcome(execution, p);
        for l in lines {
            text.push_str(&l);
            text.push('\n');
        }
        (text, Some(ok))
    }
}

/// Follows the run until it ends: `Ok(true)` if it succeeded.
pub async fn watch(
    ddb: &aws_sdk_dynamodb::Client,
    table: &str,
    execution: &str,
    interval: Duration,
    tty: bool,
) -> Result<bool, String> {
    let mut out = std::io::stdout();
    let mut screen = Screen::new(tty);
    loop {
        let trail = crate::trail::trail(ddb, table, execution).await?;
        let (text, ended) = screen.frame(execution, &Progress::from_trail(&trail));
        out.write_all(text.as_bytes())
            .and_then(|()| out.flush())
            .map_err(|e| format!("stdout: {e}"))?;
        if let Some(succeeded) = ended {
            return Ok(succeeded);
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use shared::contract::{Decision, Stage};

    fn event(stage: Stage) -> RunEvent {
        RunEvent::new(
            "run-1",
            stage,
            RunStatus::Running,
            "2026-11-21T10:00:00Z",
            "now",
        )
    }

    fn summary(status: RunStatus) -> RunSummary {
        RunSummary::new(
            "run-1",
            Stage::Failed,
            status,
            "2026-11-21T10:00:00Z",
            "now",
        )
    }

    #[test]
    fn the_interval_is_refused_outside_a_tenth_of_a_second_to_an_hour() {
        assert_eq!(interval("5"), Ok(Duration::from_secs(5)));
        assert_eq!(interval("0.1"), Ok(Duration::from_millis(100)));
        for bad in ["1e300", "inf", "NaN", "-1", "0.01", "3601", "five", ""] {
            let refused = interval(bad);
            assert!(refused.is_err(), "{bad:?} gave {refused:?}");
        }
    }

    #[test]
    fn the_block_marks_the_stage_in_progress_and_the_wait_for_a_person() {
        let p = Progress::from_trail(&Trail {
            events: vec![
                event(Stage::Started),
                event(Stage::Trained),
                event(Stage::Transformed),
            ],
            summary: Some(summary(RunStatus::Running)),
        });
        let b = block("run-1", &p, 0);
        assert!(b[1].starts_with("  [x] started"), "{b:?}");
        assert!(b[3].starts_with("  [x] batch transform"), "{b:?}");
        assert!(
            b[4].contains("waiting: the link is in the approvers' email"),
            "{b:?}"
        );
        assert!(b[5].starts_with("  [ ] approved"), "{b:?}");
        assert!(
            b.iter().all(|l| !l.contains('\x1b')),
            "the block itself has no control codes"
        );
    }

    #[test]
    fn each_end_says_what_to_do_next() {
        let ended = |summary: RunSummary| {
            outcome(
                "run-1",
                &Progress::from_trail(&Trail {
                    events: Vec::new(),
                    summary: Some(summary),
                }),
            )
        };
        let mut deployed = summary(RunStatus::Succeeded);
        deployed.facts.endpoint_name = Some("iris".into());
        let (ok, lines) = ended(deployed);
        assert!(ok && lines[0].contains("endpoint iris"), "{lines:?}");
        let mut failed = summary(RunStatus::Failed);
        failed.facts.error = Some("TrainingFailed".into());
        failed.facts.cause = Some("OOM".into());
        let (ok, lines) = ended(failed);
        assert!(
            !ok && lines[1].contains("mlops runs redrive run-1"),
            "{lines:?}"
        );
        let mut gated = summary(RunStatus::Failed);
        gated.facts.error = Some("QualityGateFailed".into());
        let (_, lines) = ended(gated);
        assert!(lines[1].contains("threshold"), "{lines:?}");
        let mut rejected = summary(RunStatus::Rejected);
        rejected.facts.approved_by = Some("ana@example.com".into());
        rejected.facts.approval_decision = Some(Decision::Rejected);
        let (ok, lines) = ended(rejected);
        assert!(!ok && lines[0].contains("ana@example.com"), "{lines:?}");
        let (_, lines) = ended(summary(RunStatus::TimedOut));
        assert!(lines[1].contains("mlops deploy"), "{lines:?}");
    }

    #[test]
    fn a_pipe_gets_each_event_and_the_wait_once_and_the_end_last() {
        let mut screen = Screen::new(false);
        let at = |events: Vec<RunEvent>, status: RunStatus| {
            Progress::from_trail(&Trail {
                events,
                summary: Some(summary(status)),
            })
        };
        let (first, ended) = screen.frame("run-1", &at(Vec::new(), RunStatus::Running));
        assert_eq!(first, "waiting for run run-1 to record its start...\n");
        assert_eq!(ended, None);
        let waiting = vec![event(Stage::Started), event(Stage::Transformed)];
        let (second, _) = screen.frame("run-1", &at(waiting.clone(), RunStatus::Running));
        assert_eq!(second.lines().count(), 3, "{second}");
        assert!(
            second.ends_with("the link is in the approvers' email\n"),
            "{second}"
        );
        let (third, ended) = screen.frame("run-1", &at(waiting.clone(), RunStatus::Running));
        assert_eq!(
            (third.as_str(), ended),
            ("", None),
            "nothing new, nothing said"
        );
        let mut done = waiting;
        done.push(event(Stage::Deployed));
        let (last, ended) = screen.frame("run-1", &at(done, RunStatus::Succeeded));
        assert!(last.starts_with("2026-11-21T10:00:00Z  deployed"), "{last}");
        assert!(last.contains("succeeded: endpoint"), "{last}");
        assert_eq!(ended, Some(true));
        assert!(!last.contains('\x1b'), "a pipe gets no control codes");
    }

    #[test]
    fn a_terminal_redraws_the_block_in_place() {
        let mut screen = Screen::new(true);
        let p = Progress::from_trail(&Trail {
            events: vec![event(Stage::Started)],
            summary: Some(summary(RunStatus::Running)),
        });
        let (first, _) = screen.frame("run-1", &p);
        assert!(!first.contains('\x1b'), "{first:?}");
        let (second, _) = screen.frame("run-1", &p);
        let lines = block("run-1", &p, 1).len();
        assert!(
            second.starts_with(&format!("\x1b[{lines}A\x1b[J")),
            "{second:?}"
        );
    }
}
