//! Progress of long operations (ingest, export), reported to whatever shows it: a bar on a
//! terminal, the timeline's status line, or nothing. The library never draws it itself.

/// What the work is counted in.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Unit {
    #[default]
    Bytes,
    Events,
}

/// How far an operation has got.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Progress {
    /// Work done and in all, in `unit`s.
    pub done: u64,
    pub total: u64,
    pub unit: Unit,
    /// Events handled so far.
    pub events: u64,
    /// Files finished, of how many (ingest; zero otherwise).
    pub files_done: u64,
    pub files_total: u64,
}

/// Receives progress. It is called from worker threads, often (every few thousand events), so
/// it must be cheap.
pub type OnProgress<'a> = &'a (dyn Fn(Progress) + Sync);

/// Progress nobody watches.
pub fn ignore(_: Progress) {}
