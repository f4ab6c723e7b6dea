//! The timeline's data side: runs queries, fetches rows, counts values. It owns the index
//! reader and the current selection; the app talks to it only through [`Request`] and
//! [`Reply`], so it can run on a worker thread (or be called directly in tests).

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::case::Case;
use crate::error::Result;
use crate::query;
use crate::timeline::{Order, Selection, TopValues, bucket_width};
use crate::view::{self, EventView};

/// What the app asks for. Every request carries the generation of the query it belongs to;
/// answers for an older generation are dropped by the app.
#[derive(Debug, Clone)]
pub enum Request {
    /// Run a query; `bins` is the histogram's width in cells, `range` a zoomed time window.
    Query {
        generation: u64,
        text: String,
        bins: usize,
        range: Option<(i64, i64)>,
    },
    /// Recompute the histogram of the current selection over another window.
    Histogram {
        generation: u64,
        bins: usize,
        range: Option<(i64, i64)>,
    },
    /// Fetch `count` rows from `start`.
    Rows {
        generation: u64,
        start: u64,
        count: usize,
    },
    /// Count the values of a field among the hits.
    Top {
        generation: u64,
        field: String,
        order: Order,
        limit: usize,
    },
    /// Rank of the first event at or after a time (for `:goto`).
    RankAt { generation: u64, ts_ms: i64 },
    /// Rank of a given event in the current selection.
    Locate {
        generation: u64,
        ts_ms: i64,
        file_id: u64,
        line: u64,
    },
    /// Rank of the next (or previous) detection hit after a given event.
    NextHit {
        generation: u64,
        ts_ms: i64,
        file_id: u64,
        line: u64,
        forward: bool,
    },
    /// The findings list: rules with hits, inferred web shells, suspect addresses.
    Findings { generation: u64 },
}

/// One line of the findings pane, and the filter that shows its events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingRow {
    pub severity: crate::rules::Severity,
    pub noise: bool,
    pub label: String,
    pub count: u64,
    /// The field and value to pivot on (`rule`/id, `path`/…, `ip`/…).
    pub field: String,
    pub value: String,
}

/// The histogram of the current selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    pub start_ms: i64,
    pub width_ms: i64,
    pub label: &'static str,
    pub counts: Vec<u64>,
    /// Buckets holding a detection hit (medium severity or worse) of the selection.
    pub hits: Vec<bool>,
}

/// What the backend answers.
#[derive(Debug, Clone)]
pub enum Reply {
    Selected {
        generation: u64,
        total: u64,
        /// Events in the whole case.
        all: u64,
        span: Option<(i64, i64)>,
        histogram: Option<Histogram>,
    },
    Histogram {
        generation: u64,
        histogram: Option<Histogram>,
    },
    Rows {
        generation: u64,
        start: u64,
        rows: Vec<Arc<EventView>>,
    },
    Top {
        generation: u64,
        values: TopValues,
        order: Order,
    },
    Rank {
        generation: u64,
        rank: u64,
    },
    /// No further hit in that direction.
    NoHit {
        generation: u64,
    },
    Findings {
        generation: u64,
        rows: Vec<FindingRow>,
    },
    /// A query that could not be understood: the previous results stay.
    BadQuery {
        generation: u64,
        message: String,
        column: usize,
    },
    Error {
        generation: u64,
        message: String,
    },
}

/// Owns the index side of the timeline.
pub struct Backend {
    case: Case,
    vocabulary: crate::query::Vocabulary,
    reader: tantivy::IndexReader,
    selection: Option<Selection>,
    /// The current selection's detection hits (medium severity or worse).
    alerts: Option<Selection>,
    generation: u64,
    all: u64,
    detections: Option<crate::hunt::Detections>,
    /// Rule ids of each event with hits.
    rules_by_event: std::collections::HashMap<u64, Vec<String>>,
    alert_keys: Arc<std::collections::HashSet<u64>>,
}

impl Backend {
    pub fn new(case: Case) -> Result<Backend> {
        let reader = case.reader()?;
        let all = reader.searcher().num_docs();
        let detections = crate::hunt::load_stored(&case);
        let mut vocabulary = case.manifest.vocabulary();
        let (rules_by_event, alert_keys) = match &detections {
            Some(d) => {
                vocabulary.sets = d.sets();
                let alerts = d
                    .hits
                    .iter()
                    .filter(|(id, _)| {
                        d.rule(id).is_some_and(|r| {
                            r.severity >= crate::rules::Severity::Medium
                                && r.category == crate::rules::Category::Compromise
                        })
                    })
                    .flat_map(|(_, hits)| hits.iter().map(|(k, _)| *k))
                    .collect();
                (d.by_event(), alerts)
            }
            None => Default::default(),
        };
        Ok(Backend {
            vocabulary,
            case,
            reader,
            selection: None,
            alerts: None,
            generation: 0,
            all,
            detections,
            rules_by_event,
            alert_keys: Arc::new(alert_keys),
        })
    }

    pub fn case(&self) -> &Case {
        &self.case
    }

    /// Handles one request.
    pub fn handle(&mut self, request: Request) -> Reply {
        let generation = request_generation(&request);
        match self.try_handle(request) {
            Ok(reply) => reply,
            Err(crate::Error::Query(e)) => Reply::BadQuery {
                generation,
                message: e.message,
                column: e.column,
            },
            Err(e) => Reply::Error {
                generation,
                message: e.to_string(),
            },
        }
    }

    fn try_handle(&mut self, request: Request) -> Result<Reply> {
        match request {
            Request::Query {
                generation,
                text,
                bins,
                range,
            } => {
                let compiled = query::compile(&text, &self.case.fields, &self.vocabulary)?;
                let searcher = self.reader.searcher();
                let selection = Selection::select(&searcher, &compiled)?;
                let alerts = if self.alert_keys.is_empty() {
                    None
                } else {
                    let both = tantivy::query::BooleanQuery::intersection(vec![
                        compiled.query,
                        query::key_set_query(Arc::clone(&self.alert_keys)),
                    ]);
                    let q = query::Compiled {
                        query: Box::new(both),
                        matches_all: false,
                    };
                    Some(Selection::select(&searcher, &q)?)
                };
                self.generation = generation;
                self.alerts = alerts;
                let reply = Reply::Selected {
                    generation,
                    total: selection.len(),
                    all: self.all,
                    span: selection.span(),
                    histogram: histogram(&selection, self.alerts.as_ref(), bins, range),
                };
                self.selection = Some(selection);
                Ok(reply)
            }
            Request::Histogram {
                generation,
                bins,
                range,
            } => Ok(Reply::Histogram {
                generation,
                histogram: self
                    .current(generation)
                    .and_then(|s| histogram(s, self.alerts.as_ref(), bins, range)),
            }),
            Request::Rows {
                generation,
                start,
                count,
            } => {
                let Some(sel) = self.current(generation) else {
                    return Ok(Reply::Rows {
                        generation,
                        start,
                        rows: Vec::new(),
                    });
                };
                let searcher = sel.searcher();
                let rows = sel
                    .rows(start, count)
                    .into_iter()
                    .map(|r| {
                        let mut ev =
                            view::load(searcher, &self.case.fields, &self.case.manifest, r.addr)?;
                        if let Some(ids) = self.rules_by_event.get(&r.key()) {
                            ev.rules = ids.clone();
                        }
                        Ok(Arc::new(ev))
                    })
                    .collect::<Result<Vec<_>>>()?;
                Ok(Reply::Rows {
                    generation,
                    start,
                    rows,
                })
            }
            Request::Top {
                generation,
                field,
                order,
                limit,
            } => {
                let Some(sel) = self.current(generation) else {
                    return Ok(Reply::Error {
                        generation,
                        message: "no selection".into(),
                    });
                };
                Ok(Reply::Top {
                    generation,
                    values: sel.top_values(&field, limit, order)?,
                    order,
                })
            }
            Request::RankAt { generation, ts_ms } => Ok(Reply::Rank {
                generation,
                rank: self
                    .current(generation)
                    .map_or(0, |s| s.count_before(ts_ms)),
            }),
            Request::Locate {
                generation,
                ts_ms,
                file_id,
                line,
            } => {
                let rank = self
                    .current(generation)
                    .and_then(|sel| sel.rank_of((ts_ms, file_id, line)))
                    .unwrap_or(0);
                Ok(Reply::Rank { generation, rank })
            }
            Request::NextHit {
                generation,
                ts_ms,
                file_id,
                line,
                forward,
            } => {
                let (Some(sel), Some(alerts)) = (self.current(generation), self.alerts.as_ref())
                else {
                    return Ok(Reply::NoHit { generation });
                };
                let next = alerts
                    .neighbour((ts_ms, file_id, line), forward)
                    .and_then(|hit| sel.rank_of(hit.order()));
                Ok(match next {
                    Some(rank) => Reply::Rank { generation, rank },
                    None => Reply::NoHit { generation },
                })
            }
            Request::Findings { generation } => Ok(Reply::Findings {
                generation,
                rows: self.findings()?,
            }),
        }
    }

    /// Rules with hits, then inferred web shells and suspects, then noise.
    fn findings(&self) -> Result<Vec<FindingRow>> {
        let Some(d) = &self.detections else {
            return Ok(Vec::new());
        };
        let report = crate::hunt::report(&self.case, d)?;
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
                    s.ip,
                    s.reasons.first().cloned().unwrap_or_default()
                ),
                count: s.events,
                field: "ip".into(),
                value: s.ip.clone(),
            }));
        // Inferences first: they are the story; the rules are the evidence.
        let mut all: Vec<FindingRow> = inferred.collect();
        all.append(&mut rows);
        Ok(all)
    }

    fn current(&self, generation: u64) -> Option<&Selection> {
        (generation == self.generation)
            .then_some(self.selection.as_ref())
            .flatten()
    }
}

fn histogram(
    sel: &Selection,
    alerts: Option<&Selection>,
    bins: usize,
    range: Option<(i64, i64)>,
) -> Option<Histogram> {
    let (start, end) = range.or_else(|| sel.span().map(|(a, b)| (a, b + 1)))?;
    let bins = bins.max(1);
    let (width, label) = bucket_width((end - start).max(1), bins);
    // Align buckets on their width so labels fall on round times.
    let aligned = start.div_euclid(width) * width;
    let n = ((end - aligned) / width + 1).clamp(1, bins as i64) as usize;
    let hits = match alerts {
        Some(a) => a
            .histogram(aligned, width, n)
            .into_iter()
            .map(|c| c > 0)
            .collect(),
        None => vec![false; n],
    };
    Some(Histogram {
        start_ms: aligned,
        width_ms: width,
        label,
        counts: sel.histogram(aligned, width, n),
        hits,
    })
}

/// Runs a backend on its own thread. A newer query makes older pending requests moot, so the
/// thread drains its queue and skips requests of superseded generations.
pub fn spawn(mut backend: Backend, requests: Receiver<Request>, replies: Sender<Reply>) {
    std::thread::spawn(move || {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            batch.extend(requests.try_iter());
            let newest_query = batch.iter().rev().find_map(|r| match r {
                Request::Query { generation, .. } => Some(*generation),
                _ => None,
            });
            for request in batch {
                let stale = match (&request, newest_query) {
                    (Request::Query { generation, .. }, Some(newest)) => *generation < newest,
                    (_, Some(newest)) => request_generation(&request) < newest,
                    _ => false,
                };
                if stale {
                    continue;
                }
                if replies.send(backend.handle(request)).is_err() {
                    return;
                }
            }
        }
    });
}

fn request_generation(r: &Request) -> u64 {
    match r {
        Request::Query { generation, .. }
        | Request::Histogram { generation, .. }
        | Request::Rows { generation, .. }
        | Request::Top { generation, .. }
        | Request::RankAt { generation, .. }
        | Request::Locate { generation, .. }
        | Request::NextHit { generation, .. }
        | Request::Findings { generation } => *generation,
    }
}
