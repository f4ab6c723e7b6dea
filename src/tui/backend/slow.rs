//! Slow requests (an export, the findings list) on a worker of their own, so that a query typed
//! meanwhile answers at once. The worker opens the case for itself: it shares no state with the
//! query worker but the files.

use crossbeam_channel::{Receiver, Sender};

use super::{FindingRow, Reply};
use crate::case::Case;
use crate::error::Result;
use crate::hunt::Detections;

/// A slow request, with what it needs from the view it was asked in.
#[derive(Debug, Clone)]
pub enum Job {
    /// Export the events of the query `text` (the current view).
    Export {
        text: String,
        path: String,
        format: Option<crate::export::Format>,
    },
    Findings {
        generation: u64,
    },
}

/// Runs a job; a failure is said as a message (the user asked for it).
pub fn run(case: &Case, detections: Option<&Detections>, job: Job) -> Result<Reply> {
    match job {
        Job::Export { text, path, format } => export(case, &text, &path, format),
        Job::Findings { generation } => Ok(Reply::Findings {
            generation,
            rows: findings(case, detections)?,
        }),
    }
}

/// Starts the worker on its own copy of the case.
pub fn spawn(
    case_dir: std::path::PathBuf,
    jobs: Receiver<Job>,
    replies: Sender<Reply>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let case = match Case::open(&case_dir) {
            Ok(c) => c,
            Err(e) => {
                let _ = replies.send(Reply::Message(format!("failed: {e}")));
                return;
            }
        };
        let detections = crate::hunt::load_stored(&case);
        while let Ok(job) = jobs.recv() {
            let reply = run(&case, detections.as_ref(), job)
                .unwrap_or_else(|e| Reply::Message(format!("failed: {e}")));
            if replies.send(reply).is_err() {
                return;
            }
        }
    })
}

fn export(
    case: &Case,
    text: &str,
    path: &str,
    format: Option<crate::export::Format>,
) -> Result<Reply> {
    let Some(format) = format.or_else(|| crate::export::Format::from_path(path)) else {
        return Ok(Reply::Message(format!(
            "{path}: add a format (csv, jsonl, timesketch-csv, timesketch-jsonl, ecs) or a known extension"
        )));
    };
    let compiled = crate::query::compile(text, &case.fields, &crate::marks::vocabulary(case)?)?;
    let n = crate::export::export_to_file(
        case,
        &compiled,
        format,
        std::path::Path::new(path),
        &crate::progress::ignore,
    )?;
    Ok(Reply::Message(format!(
        "exported {n} event(s) to {path} ({})",
        format.name()
    )))
}

/// Rules with hits, then inferred web shells and suspects, then noise.
fn findings(case: &Case, detections: Option<&Detections>) -> Result<Vec<FindingRow>> {
    let Some(d) = detections else {
        return Ok(Vec::new());
    };
    let report = crate::hunt::report(case, d)?;
    let mut rows: Vec<FindingRow> = report
        .findings
        .iter()
        .chain(&report.noise)
        .map(|f| FindingRow {
            severity: f.severity,
            noise: f.category == crate::rules::Category::Noise,
            label: f.title.clone(),
            count: f.count,
            field: "rule".into(),
            value: f.rule.clone(),
        })
        .collect();
    let inferred = report
        .webshells
        .iter()
        .map(|w| FindingRow {
            severity: crate::rules::Severity::High,
            noise: false,
            label: format!("web shell {} on {}", w.path, w.host),
            count: w.requests,
            field: "path".into(),
            value: w.path.clone(),
        })
        .chain(report.suspects.iter().map(|s| FindingRow {
            severity: crate::rules::Severity::High,
            noise: false,
            label: format!(
                "suspect {}: {}",
                s.client,
                s.reasons.first().cloned().unwrap_or_default()
            ),
            count: s.events,
            field: "client".into(),
            value: s.client.clone(),
        }));
    // Verdicts first, then inferences: they are the story; the rules are the evidence.
    let verdicts = report.verdicts.iter().map(|v| {
        use crate::hunt::Verdict;
        FindingRow {
            severity: match v.verdict {
                Verdict::Compromised => crate::rules::Severity::High,
                Verdict::Attempted => crate::rules::Severity::Medium,
                Verdict::Probed => crate::rules::Severity::Low,
                Verdict::Clean => crate::rules::Severity::Info,
            },
            noise: v.verdict == Verdict::Clean,
            label: format!(
                "{} {}: {}",
                v.host,
                v.verdict.to_string().to_uppercase(),
                v.reasons.first().cloned().unwrap_or_default()
            ),
            count: v.evidence.len() as u64,
            field: "host".into(),
            value: v.host.clone(),
        }
    });
    let mut all: Vec<FindingRow> = verdicts.chain(inferred).collect();
    all.append(&mut rows);
    Ok(all)
}
