//! The timeline's data side: runs queries, fetches rows, counts values. It owns the index
//! reader and the current selection; the app talks to it only through [`Request`] and
//! [`Reply`], so it can run on a worker thread (or be called directly in tests).

mod slow;
mod views;

use std::sync::Arc;

use crossbeam_channel::{Receiver, Sender};

use crate::case::Case;
use crate::error::Result;
use crate::marks::{Annotations, Target};
use crate::selection::{Order, TopValues, bucket_width};
use crate::session::{Session, View};
use crate::source::Source;
use crate::store::{Owned, Selected};
use crate::view::EventView;

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
    RankAt {
        generation: u64,
        ts_ms: i64,
    },
    /// Rank of a given event in the current selection.
    Locate {
        generation: u64,
        ts_ms: i64,
        file_id: u64,
        line: u64,
    },
    /// Rank of the next (or previous) detection hit or bookmark after a given event.
    NextHit {
        generation: u64,
        ts_ms: i64,
        file_id: u64,
        line: u64,
        forward: bool,
        bookmark: bool,
    },
    /// Bookmark, tag or annotate events.
    Mark {
        generation: u64,
        targets: Vec<Target>,
        action: MarkAction,
    },
    /// Tag every event of the current selection.
    /// Tags (`on`) or untags every event of the current selection.
    TagSelection {
        generation: u64,
        tag: String,
        on: bool,
    },
    /// Saved views: save the given one, delete, open or list them.
    SaveView {
        name: String,
        view: View,
    },
    DeleteView {
        name: String,
    },
    OpenView {
        name: String,
    },
    ListViews,
    /// Export the current selection to a file.
    Export {
        generation: u64,
        path: String,
        format: Option<crate::export::Format>,
        /// Replace the file if it exists (`:w!`).
        replace: bool,
    },
    /// Remember where the user is.
    SaveSession(Session),
    /// The findings list: rules with hits, inferred web shells, suspect addresses.
    Findings {
        generation: u64,
    },
    /// Look for a new commit (an ingest running beside the timeline, here or in another
    /// process): answered with [`Reply::Changed`] when there is one.
    Refresh,
    /// Run the rules over the case as it is now and store their hits (a slow job).
    Detect,
    /// Take the stored detections again (after [`Request::Detect`]).
    ReloadDetections,
}

/// A change to the marks of events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MarkAction {
    ToggleBookmark,
    ToggleTag(String),
    Note(String),
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
    /// New or grown since the findings were last shown (events arriving live).
    pub fresh: bool,
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
    /// Marks changed: rows must be fetched again; the tags in use, for completion.
    Marked {
        message: String,
        tags: Vec<String>,
    },
    /// A saved view to apply.
    View {
        name: String,
        view: View,
    },
    /// Something to tell the user.
    Message(String),
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
    /// The case has new events (or new detections): the view must be queried again.
    Changed {
        all: u64,
        /// Whether the stored detections were computed on the case as it now is.
        detections_current: bool,
    },
    /// The rules ran over the case; their hits are stored.
    Detected {
        elapsed: std::time::Duration,
        /// Compromise hits in all.
        hits: u64,
    },
}

/// Owns the index side of the timeline.
pub struct Backend {
    source: Source,
    vocabulary: crate::query::Vocabulary,
    selection: Option<Owned>,
    /// The current selection's detection hits (medium severity or worse).
    alerts: Option<Owned>,
    generation: u64,
    all: u64,
    detections: Option<crate::hunt::Detections>,
    /// Rule ids of each event with hits.

    /// Detection hits of medium severity or worse (event key, time), for the hit marks.
    alert_events: crate::sets::EventSet,
    /// Rule hits and marks, put on every row fetched.
    annotations: Annotations,
    /// The query text of the current selection (for exports).
    text: String,
    /// The commit the reader shows (see `Case::commit_stamp`).
    stamp: Option<(std::time::SystemTime, u64)>,
    /// The rules the case is hunted with, for detections as events arrive.
    rules: Arc<Vec<crate::rules::Rule>>,
}

impl Backend {
    /// The timeline of a local case.
    pub fn new(case: Case) -> Result<Backend> {
        Backend::of(Source::local(case)?)
    }

    /// The timeline of a case wherever it is.
    pub fn of(source: Source) -> Result<Backend> {
        let all = source.all()?;
        let marks = source.marks()?;
        let mut backend = Backend {
            annotations: Annotations::new(Vec::new(), marks),
            text: String::new(),
            vocabulary: crate::query::Vocabulary::of(source.manifest()),
            stamp: source.stamp()?,
            source,
            selection: None,
            alerts: None,
            generation: 0,
            all,
            detections: None,
            alert_events: Default::default(),
            rules: Arc::default(),
        };
        backend.load_detections();
        Ok(backend)
    }

    /// Takes the stored detections: their hit sets for `rule:` queries and the rows' rule
    /// column, and the alerts marked in the histogram.
    fn load_detections(&mut self) {
        let detections = self.source.detections();
        let (hit_sets, alert_events) = match &detections {
            Some(d) => {
                let alerts = d
                    .hits
                    .iter()
                    .filter(|(id, _)| {
                        d.rule(id).is_some_and(|r| {
                            r.severity >= crate::rules::Severity::Medium
                                && r.category == crate::rules::Category::Compromise
                        })
                    })
                    .flat_map(|(_, hits)| hits.iter().copied());
                (d.hit_sets(), crate::sets::EventSet::new(alerts))
            }
            None => Default::default(),
        };
        self.vocabulary.sets = hit_sets
            .iter()
            .map(|(id, set)| (format!("rule:{id}"), Arc::clone(set)))
            .collect();
        self.vocabulary.sets.extend(self.annotations.marks.sets());
        self.annotations.set_rules(hit_sets);
        self.alert_events = alert_events;
        self.detections = detections;
    }

    /// Whether the stored detections were computed on the case as it is.
    fn detections_current(&self) -> bool {
        self.detections
            .as_ref()
            .is_some_and(|d| d.case_state == crate::hunt::manifest_state(self.source.manifest()))
    }

    /// Reads the last commit if there is a newer one than the reader shows.
    fn refresh(&mut self) -> Result<Reply> {
        let stamp = self.source.stamp()?;
        if stamp == self.stamp {
            return Ok(Reply::Message(String::new()));
        }
        self.stamp = stamp;
        self.source.reload()?;
        let sets = std::mem::take(&mut self.vocabulary.sets);
        self.vocabulary = crate::query::Vocabulary::of(self.source.manifest());
        self.vocabulary.sets = sets;
        self.all = self.source.all()?;
        // Detections another process stored meanwhile are taken as they are.
        if !self.detections_current() {
            self.load_detections();
        }
        Ok(Reply::Changed {
            all: self.all,
            detections_current: self.detections_current(),
        })
    }

    /// With the rules to run when events arrive ([`Request::Detect`]).
    pub fn with_rules(mut self, rules: Vec<crate::rules::Rule>) -> Backend {
        self.rules = Arc::new(rules);
        self
    }

    /// Where the case is.
    pub fn source(&self) -> &Source {
        &self.source
    }

    /// Tags in use, for completion.
    pub fn tags(&self) -> Vec<String> {
        self.annotations.marks.tags().into_iter().collect()
    }

    /// Query sets follow the marks: `tag:`, `marked:` and friends.
    fn refresh_sets(&mut self) {
        self.vocabulary
            .sets
            .retain(|(name, _)| name.starts_with("rule:"));
        self.vocabulary.sets.extend(self.annotations.marks.sets());
    }

    /// Handles one request.
    pub fn handle(&mut self, request: Request) -> Reply {
        let of_query = request_generation(&request);
        let generation = of_query.unwrap_or(self.generation);
        match self.try_handle(request) {
            Ok(reply) => reply,
            // A user action that failed (a mark not saved, an export not written) is said
            // whatever query is showing by then.
            Err(e) if of_query.is_none() => Reply::Message(format!("failed: {e}")),
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

    /// One handler per request.
    fn try_handle(&mut self, request: Request) -> Result<Reply> {
        match request {
            Request::Query {
                generation,
                text,
                bins,
                range,
            } => self.query(generation, text, bins, range),
            Request::Histogram {
                generation,
                bins,
                range,
            } => Ok(Reply::Histogram {
                generation,
                histogram: match self.current(generation) {
                    Some(s) => histogram(s, self.alerts.as_deref(), bins, range)?,
                    None => None,
                },
            }),
            Request::Rows {
                generation,
                start,
                count,
            } => self.rows(generation, start, count),
            Request::Top {
                generation,
                field,
                order,
                limit,
            } => self.top(generation, &field, order, limit),
            Request::RankAt { generation, ts_ms } => Ok(Reply::Rank {
                generation,
                rank: match self.current(generation) {
                    Some(s) => s.count_before(ts_ms)?,
                    None => 0,
                },
            }),
            Request::Locate {
                generation,
                ts_ms,
                file_id,
                line,
            } => {
                // The event itself, or where its time falls when it is not in the selection.
                let rank = match self.current(generation) {
                    Some(sel) => match sel.rank_of((ts_ms, file_id, line))? {
                        Some(rank) => rank,
                        None => sel.count_before(ts_ms)?.min(sel.len().saturating_sub(1)),
                    },
                    None => 0,
                };
                Ok(Reply::Rank { generation, rank })
            }
            Request::NextHit {
                generation,
                ts_ms,
                file_id,
                line,
                forward,
                bookmark,
            } => self.next_hit(generation, (ts_ms, file_id, line), forward, bookmark),
            Request::Mark {
                targets, action, ..
            } => self.mark(&targets, &action),
            Request::TagSelection {
                generation,
                tag,
                on,
            } => self.tag_selection(generation, &tag, on),
            Request::SaveView { name, view } => views::save(&self.source, name, view),
            Request::DeleteView { name } => views::delete(&self.source, &name),
            Request::OpenView { name } => views::open(&self.source, name),
            Request::ListViews => views::list(&self.source),
            Request::Refresh => self.refresh(),
            Request::ReloadDetections => {
                self.load_detections();
                Ok(Reply::Changed {
                    all: self.all,
                    detections_current: self.detections_current(),
                })
            }
            Request::SaveSession(session) => {
                self.source.save_session(&session)?;
                Ok(Reply::Message(String::new()))
            }
            // Run here when asked directly (tests); `spawn` gives them their own worker.
            request @ (Request::Export { .. } | Request::Findings { .. } | Request::Detect) => {
                let Some(job) = self.slow_job(&request) else {
                    return Ok(Reply::Message(String::new()));
                };
                // Here, on the query worker's case (tests drive the backend directly).
                let mut worker = slow::Worker {
                    source: self.source.reopen()?,
                    detections: self.detections.clone(),
                    rules: Arc::clone(&self.rules),
                };
                worker.run(job)
            }
        }
    }

    /// The work a slow request stands for, with what it needs from the current view.
    fn slow_job(&self, request: &Request) -> Option<slow::Job> {
        match request {
            Request::Export {
                path,
                format,
                replace,
                ..
            } => Some(slow::Job::Export {
                text: self.text.clone(),
                path: path.clone(),
                format: *format,
                replace: *replace,
            }),
            Request::Findings { generation } => Some(slow::Job::Findings {
                generation: *generation,
            }),
            Request::Detect => Some(slow::Job::Detect),
            _ => None,
        }
    }

    fn query(
        &mut self,
        generation: u64,
        text: String,
        bins: usize,
        range: Option<(i64, i64)>,
    ) -> Result<Reply> {
        let selection = self.source.with(|s| s.select(&text, &self.vocabulary))??;
        let alerts = if self.alert_events.is_empty() {
            None
        } else {
            Some(selection.restrict_to(&self.alert_events)?)
        };
        self.generation = generation;
        self.alerts = alerts;
        self.text = text;
        let reply = Reply::Selected {
            generation,
            total: selection.len(),
            all: self.all,
            span: selection.span()?,
            histogram: histogram(selection.as_ref(), self.alerts.as_deref(), bins, range)?,
        };
        self.selection = Some(selection);
        Ok(reply)
    }

    fn rows(&self, generation: u64, start: u64, count: usize) -> Result<Reply> {
        let Some(sel) = self.current(generation) else {
            return Ok(Reply::Rows {
                generation,
                start,
                rows: Vec::new(),
            });
        };
        let rows = sel
            .events(start, count)?
            .into_iter()
            .map(|mut ev| {
                self.annotations.apply(&mut ev);
                Arc::new(ev)
            })
            .collect();
        Ok(Reply::Rows {
            generation,
            start,
            rows,
        })
    }

    fn top(&self, generation: u64, field: &str, order: Order, limit: usize) -> Result<Reply> {
        let Some(sel) = self.current(generation) else {
            return Ok(Reply::Error {
                generation,
                message: "no selection".into(),
            });
        };
        Ok(Reply::Top {
            generation,
            values: sel.top_values(field, limit, order, true)?,
            order,
        })
    }

    fn next_hit(
        &self,
        generation: u64,
        from: (i64, u64, u64),
        forward: bool,
        bookmark: bool,
    ) -> Result<Reply> {
        let bookmarks = match (bookmark, self.current(generation)) {
            (true, Some(sel)) => Some(sel.restrict_to(&self.annotations.marks.bookmarked())?),
            _ => None,
        };
        let targets = if bookmark {
            bookmarks.as_deref()
        } else {
            self.alerts.as_deref()
        };
        let (Some(sel), Some(targets)) = (self.current(generation), targets) else {
            return Ok(Reply::NoHit { generation });
        };
        let next = match targets.neighbour(from, forward)? {
            Some(hit) => sel.rank_of(hit)?,
            None => None,
        };
        Ok(match next {
            Some(rank) => Reply::Rank { generation, rank },
            None => Reply::NoHit { generation },
        })
    }

    fn mark(&mut self, targets: &[Target], action: &MarkAction) -> Result<Reply> {
        let marks = &mut self.annotations.marks;
        let message = match action {
            MarkAction::ToggleBookmark => match targets.first() {
                Some(t) if marks.toggle_bookmark(t)? => "bookmarked".to_string(),
                Some(_) => "bookmark removed".to_string(),
                None => String::new(),
            },
            MarkAction::ToggleTag(tag) => {
                let added = marks.toggle_tag(targets, tag)?;
                format!("{} {tag}", if added { "tagged" } else { "untagged" })
            }
            MarkAction::Note(note) => {
                for t in targets {
                    marks.set_note(t, note)?;
                }
                if note.trim().is_empty() {
                    "note removed"
                } else {
                    "note saved"
                }
                .to_string()
            }
        };
        self.refresh_sets();
        Ok(Reply::Marked {
            message,
            tags: self.tags(),
        })
    }

    fn tag_selection(&mut self, generation: u64, tag: &str, on: bool) -> Result<Reply> {
        let Some(sel) = self.current(generation) else {
            return Ok(Reply::Message("no selection to tag".into()));
        };
        let targets = crate::marks::targets_of_selected(sel, self.source.manifest())?;
        let changed = self.annotations.marks.set_tag(&targets, tag, on)?;
        self.refresh_sets();
        Ok(Reply::Marked {
            message: format!(
                "{} {changed} event(s) {tag}{}",
                if on { "tagged" } else { "untagged" },
                match targets.len() - changed {
                    0 => String::new(),
                    n if on => format!(" ({n} already were)"),
                    n => format!(" ({n} shown were not)"),
                }
            ),
            tags: self.tags(),
        })
    }

    fn current(&self, generation: u64) -> Option<&(dyn Selected + Send)> {
        (generation == self.generation)
            .then_some(self.selection.as_deref())
            .flatten()
    }
}

fn histogram(
    sel: &(dyn Selected + Send),
    alerts: Option<&(dyn Selected + Send)>,
    bins: usize,
    range: Option<(i64, i64)>,
) -> Result<Option<Histogram>> {
    let Some((start, end)) = (match range {
        Some(r) => Some(r),
        None => sel.span()?.map(|(a, b)| (a, b + 1)),
    }) else {
        return Ok(None);
    };
    let bins = bins.max(1);
    let (width, label) = bucket_width((end - start).max(1), bins);
    // Align buckets on their width so labels fall on round times.
    let aligned = start.div_euclid(width) * width;
    let n = ((end - aligned) / width + 1).clamp(1, bins as i64) as usize;
    let hits = match alerts {
        Some(a) => a
            .histogram(aligned, width, n)?
            .into_iter()
            .map(|c| c > 0)
            .collect(),
        None => vec![false; n],
    };
    Ok(Some(Histogram {
        start_ms: aligned,
        width_ms: width,
        label,
        counts: sel.histogram(aligned, width, n)?,
        hits,
    }))
}

/// Runs a backend on its own thread. A newer query makes older pending requests moot, so the
/// thread drains its queue and skips requests of superseded generations.
/// Runs the backend on its own thread until `requests` is closed; join it to be sure every
/// request sent (a mark, an export) was carried out, and to have the backend back.
pub fn spawn(
    mut backend: Backend,
    requests: Receiver<Request>,
    replies: Sender<Reply>,
) -> std::thread::JoinHandle<Backend> {
    let (slow_tx, slow_rx) = crossbeam_channel::unbounded();
    let slow = slow::spawn(
        backend.source.reopen(),
        Arc::clone(&backend.rules),
        slow_rx,
        replies.clone(),
    );
    std::thread::spawn(move || {
        serve(&mut backend, &requests, &replies, &slow_tx);
        // What was asked before quitting is carried out: the slow worker finishes its jobs.
        drop(slow_tx);
        let _ = slow.join();
        backend
    })
}

fn serve(
    backend: &mut Backend,
    requests: &Receiver<Request>,
    replies: &Sender<Reply>,
    slow_tx: &Sender<slow::Job>,
) {
    {
        while let Ok(first) = requests.recv() {
            let mut batch = vec![first];
            batch.extend(requests.try_iter());
            let newest_query = batch.iter().rev().find_map(|r| match r {
                Request::Query { generation, .. } => Some(*generation),
                _ => None,
            });
            for request in batch {
                let stale = match (request_generation(&request), newest_query) {
                    (Some(generation), Some(newest)) => generation < newest,
                    _ => false,
                };
                if stale {
                    continue;
                }
                // An export or the findings list would hold up the queries behind it.
                if let Some(job) = backend.slow_job(&request) {
                    if slow_tx.send(job).is_err() {
                        return;
                    }
                    continue;
                }
                if replies.send(backend.handle(request)).is_err() {
                    return;
                }
            }
        }
    }
}

/// The query generation a request belongs to; None for user actions (marks, views, exports,
/// the session), which are never dropped.
fn request_generation(r: &Request) -> Option<u64> {
    match r {
        Request::Query { generation, .. }
        | Request::Histogram { generation, .. }
        | Request::Rows { generation, .. }
        | Request::Top { generation, .. }
        | Request::RankAt { generation, .. }
        | Request::Locate { generation, .. }
        | Request::NextHit { generation, .. }
        | Request::Findings { generation } => Some(*generation),
        Request::Mark { .. }
        | Request::TagSelection { .. }
        | Request::Export { .. }
        | Request::SaveView { .. }
        | Request::DeleteView { .. }
        | Request::OpenView { .. }
        | Request::ListViews
        | Request::SaveSession(_)
        | Request::Refresh
        | Request::Detect
        | Request::ReloadDetections => None,
    }
}
