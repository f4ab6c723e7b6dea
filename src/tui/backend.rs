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
    /// Rank of a given event (file id, line) near a time, in the current selection.
    Locate {
        generation: u64,
        ts_ms: i64,
        file: String,
        line: u64,
    },
}

/// The histogram of the current selection.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Histogram {
    pub start_ms: i64,
    pub width_ms: i64,
    pub label: &'static str,
    pub counts: Vec<u64>,
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
    generation: u64,
    all: u64,
}

impl Backend {
    pub fn new(case: Case) -> Result<Backend> {
        let reader = case.reader()?;
        let all = reader.searcher().num_docs();
        Ok(Backend {
            vocabulary: crate::hunt::vocabulary(&case),
            case,
            reader,
            selection: None,
            generation: 0,
            all,
        })
    }

    pub fn case(&self) -> &Case {
        &self.case
    }

    /// Handles one request.
    pub fn handle(&mut self, request: Request) -> Reply {
        let generation = match &request {
            Request::Query { generation, .. }
            | Request::Histogram { generation, .. }
            | Request::Rows { generation, .. }
            | Request::Top { generation, .. }
            | Request::RankAt { generation, .. }
            | Request::Locate { generation, .. } => *generation,
        };
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
                let selection = Selection::select(&self.reader.searcher(), &compiled)?;
                self.generation = generation;
                let reply = Reply::Selected {
                    generation,
                    total: selection.len(),
                    all: self.all,
                    span: selection.span(),
                    histogram: histogram(&selection, bins, range),
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
                    .and_then(|s| histogram(s, bins, range)),
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
                        view::load(searcher, &self.case.fields, &self.case.manifest, r.addr)
                            .map(Arc::new)
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
                file,
                line,
            } => {
                let Some(sel) = self.current(generation) else {
                    return Ok(Reply::Rank {
                        generation,
                        rank: 0,
                    });
                };
                let first = sel.count_before(ts_ms);
                let searcher = sel.searcher();
                // Events of the same millisecond are few: look through them for this one.
                let mut rank = first;
                for row in sel.rows(first, 4096) {
                    if row.ts_ms != ts_ms {
                        break;
                    }
                    let v = view::load(searcher, &self.case.fields, &self.case.manifest, row.addr)?;
                    if v.file == file && v.line == line {
                        rank = row.rank;
                        break;
                    }
                }
                Ok(Reply::Rank { generation, rank })
            }
        }
    }

    fn current(&self, generation: u64) -> Option<&Selection> {
        (generation == self.generation)
            .then_some(self.selection.as_ref())
            .flatten()
    }
}

fn histogram(sel: &Selection, bins: usize, range: Option<(i64, i64)>) -> Option<Histogram> {
    let (start, end) = range.or_else(|| sel.span().map(|(a, b)| (a, b + 1)))?;
    let bins = bins.max(1);
    let (width, label) = bucket_width((end - start).max(1), bins);
    // Align buckets on their width so labels fall on round times.
    let aligned = start.div_euclid(width) * width;
    let n = ((end - aligned) / width + 1).clamp(1, bins as i64) as usize;
    Some(Histogram {
        start_ms: aligned,
        width_ms: width,
        label,
        counts: sel.histogram(aligned, width, n),
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
        | Request::Locate { generation, .. } => *generation,
    }
}
