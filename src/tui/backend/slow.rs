//! Slow requests (an export, the findings list) on a worker of their own, so that a query typed
//! meanwhile answers at once. The worker opens the case for itself: it shares no state with the
//! query worker but the files.

use crossbeam_channel::{Receiver, Sender};

use super::{FindingRow, Reply, Source};
use crate::error::Result;
use crate::hunt::Detections;
use crate::rules::Rule;
use crate::store::Store;

/// A slow request, with what it needs from the view it was asked in.
#[derive(Debug, Clone)]
pub enum Job {
    /// Export the events of the query `text` (the current view).
    Export {
        text: String,
        path: String,
        format: Option<crate::export::Format>,
        replace: bool,
    },
    Findings {
        generation: u64,
    },
    /// Run the rules over the case as it now is (events arrived) and store their hits.
    Detect,
}

/// What a slow job works with.
pub struct Worker {
    pub source: Source,
    pub detections: Option<Detections>,
    /// The rules the case was hunted with (built-in, the case's, `--rules`).
    pub rules: std::sync::Arc<Vec<Rule>>,
}

impl Worker {
    /// Runs a job; a failure is said as a message (the user asked for it).
    pub fn run(&mut self, job: Job) -> Result<Reply> {
        // An ingest may have committed since: work on the case as it now is.
        self.source.reload()?;
        match job {
            Job::Export {
                text,
                path,
                format,
                replace,
            } => export(&self.source, &text, &path, format, replace),
            Job::Findings { generation } => {
                self.detections = self.source.detections();
                Ok(Reply::Findings {
                    generation,
                    rows: self
                        .source
                        .with(|s| findings(s, self.detections.as_ref()))?,
                })
            }
            Job::Detect => self.detect(),
        }
    }

    fn detect(&mut self) -> Result<Reply> {
        if self.rules.is_empty() {
            return Ok(Reply::Message(String::new()));
        }
        let started = std::time::Instant::now();
        let d = self
            .source
            .with(|s| crate::hunt::detect_in(s, &self.rules))?;
        self.source.save_detections(&d)?;
        let hits = d
            .hits
            .iter()
            .filter(|(id, _)| {
                d.rule(id)
                    .is_some_and(|r| r.category == crate::rules::Category::Compromise)
            })
            .map(|(_, h)| h.len() as u64)
            .sum();
        self.detections = Some(d);
        Ok(Reply::Detected {
            elapsed: started.elapsed(),
            hits,
        })
    }
}

/// Starts the worker on its own copy of the case.
pub fn spawn(
    source: Result<Source>,
    rules: std::sync::Arc<Vec<Rule>>,
    jobs: Receiver<Job>,
    replies: Sender<Reply>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let source = match source {
            Ok(s) => s,
            Err(e) => {
                let _ = replies.send(Reply::Message(format!("failed: {e}")));
                return;
            }
        };
        let detections = source.detections();
        let mut worker = Worker {
            source,
            detections,
            rules,
        };
        while let Ok(job) = jobs.recv() {
            let reply = worker
                .run(job)
                .unwrap_or_else(|e| Reply::Message(format!("failed: {e}")));
            if replies.send(reply).is_err() {
                return;
            }
        }
    })
}

fn export(
    source: &Source,
    text: &str,
    path: &str,
    format: Option<crate::export::Format>,
    replace: bool,
) -> Result<Reply> {
    let Some(format) = format.or_else(|| crate::export::Format::from_path(path)) else {
        return Ok(Reply::Message(format!(
            "{path}: add a format (csv, jsonl, timesketch-csv, timesketch-jsonl, ecs) or a known extension"
        )));
    };
    // The view's query names what it named there: rule hits and marks.
    let (vocab, annotations) = source.annotated()?;
    let sel = source.with(|s| s.select(text, &vocab))??;
    let n = crate::export::export_to_file(
        &sel,
        &annotations,
        format,
        std::path::Path::new(path),
        &source.keep(replace),
        &crate::progress::ignore,
    )?;
    Ok(Reply::Message(format!(
        "exported {n} event(s) to {path} ({})",
        format.name()
    )))
}

/// Rules with hits, then inferred web shells and suspects, then noise.
fn findings(store: &dyn Store, detections: Option<&Detections>) -> Result<Vec<FindingRow>> {
    let Some(d) = detections else {
        return Ok(Vec::new());
    };
    let report = crate::hunt::report_in(store, d)?;
    // A row's count is what Enter opens: its pivot's events.
    let vocab = store.vocabulary();
    let opens = |field: &str, value: &str| -> Result<u64> {
        let q = format!("{field}:{}", crate::query::quote_value(value));
        Ok(store.select(&q, &vocab)?.map_or(0, |s| s.len()))
    };
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
            fresh: false,
        })
        .collect();
    let mut inferred = Vec::new();
    for w in &report.webshells {
        inferred.push(FindingRow {
            severity: crate::rules::Severity::High,
            noise: false,
            label: format!(
                "web shell {} on {} ({} request(s) across its logs)",
                w.path, w.host, w.requests
            ),
            count: opens("path", &w.path)?,
            field: "path".into(),
            value: w.path.clone(),
            fresh: false,
        });
    }
    let inferred = inferred
        .into_iter()
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
            fresh: false,
        }));
    // Verdicts first, then inferences: they are the story; the rules are the evidence.
    let mut verdicts = Vec::new();
    for v in &report.verdicts {
        use crate::hunt::Verdict;
        verdicts.push(FindingRow {
            severity: match v.verdict {
                Verdict::Compromised => crate::rules::Severity::High,
                Verdict::Attempted => crate::rules::Severity::Medium,
                Verdict::Probed => crate::rules::Severity::Low,
                Verdict::Clean => crate::rules::Severity::Info,
            },
            noise: false,
            label: format!(
                "{} {}: {}",
                v.host,
                v.verdict.to_string().to_uppercase(),
                v.reasons.first().cloned().unwrap_or_default()
            ),
            count: opens("host", &v.host)?,
            field: "host".into(),
            value: v.host.clone(),
            fresh: false,
        });
    }
    // A clean host's verdict comes after the rules: with many hosts, the clean ones would
    // push every finding out of sight.
    let (clean, grave): (Vec<FindingRow>, Vec<FindingRow>) = verdicts
        .into_iter()
        .partition(|r| r.severity == crate::rules::Severity::Info);
    let mut all: Vec<FindingRow> = grave.into_iter().chain(inferred).collect();
    all.append(&mut rows);
    all.extend(clean);
    // Rules that could not run on this case, last: their absence from the findings is not a
    // clean result, and the pane says so as `trawl hunt` does on stderr.
    all.extend(d.not_run.iter().map(|n| FindingRow {
        severity: crate::rules::Severity::Info,
        noise: true,
        label: format!("rule not run: {}: {}: {}", n.origin, n.id, n.reason),
        count: 0,
        field: "rule".into(),
        value: n.id.clone(),
        fresh: false,
    }));
    Ok(all)
}
