//! Live ingest: evidence ingested while the case is being read, and followed as it grows.
//!
//! Following is ingest run again whenever a followed path may have changed. [`ingest`] already
//! reads a grown file from its old end, re-reads a file changed in place in the same commit
//! that deletes its old events, and skips what the case holds; so a round never doubles or
//! loses a line, whatever happened to a file between two rounds (appended, truncated and
//! rewritten, replaced, rotated). A round that finds nothing changed commits nothing and costs
//! a directory walk and a `stat` per file.
//!
//! Changes are noticed through file system notifications (`notify`: inotify on Linux), and by
//! polling every second for what raises none (network shares, copies onto another machine's
//! disk). Readers (the timeline, `trawl search` in another terminal) see each commit: the
//! ingest commits at short intervals (`IngestOptions::commit_interval`).
//!
//! [`ingest`]: crate::ingest::ingest

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, unbounded};
use notify::{RecursiveMode, Watcher as _};

use crate::error::Result;
use crate::ingest::{IngestOptions, IngestReport};
use crate::progress::OnProgress;

/// How often followed paths are looked at when no notification came, at the least…
pub const POLL: Duration = Duration::from_secs(1);
/// …and at the most: a round costs a walk and a `stat` per file, so the poll is spaced to at
/// most a twentieth of the time (3,000 followed files: a round takes about 50 ms).
const POLL_MAX: Duration = Duration::from_secs(30);
/// After a notification, how long to wait for the rest of a burst of writes (a logger
/// flushing several files) before reading them in one round.
const SETTLE: Duration = Duration::from_millis(50);
/// How often a wait looks at the stop flag.
const STOP_CHECK: Duration = Duration::from_millis(100);

/// The indexing memory budget of follow rounds (tantivy needs at least 15 MB per thread).
const FOLLOW_MEMORY_BUDGET: usize = 64 << 20;

/// The longest commit interval of an ingest that something reads while it runs.
pub const COMMIT_INTERVAL: Duration = Duration::from_secs(8);

/// Notices changes under some paths.
pub struct Watch {
    /// Kept alive for its notifications; None where the platform or the file system gives
    /// none (polling alone then).
    _watcher: Option<notify::RecommendedWatcher>,
    changes: Receiver<()>,
    /// How many paths notify watches (for the responder: a share may have none).
    pub watched: usize,
}

impl Watch {
    /// Watches `paths`: folders with everything under them, files through their folder (a
    /// rotated or replaced log is a new file under the same name). Changes under `ignore`
    /// (the case itself, when it lies among the evidence) are not changes of the evidence.
    pub fn new(paths: &[PathBuf], ignore: Option<&Path>) -> Watch {
        let (tx, changes) = unbounded();
        let ignore = ignore.and_then(|p| p.canonicalize().ok());
        let handler = move |res: notify::Result<notify::Event>| {
            let Ok(event) = res else {
                // An overflowed queue or a watch error: look again, to be safe.
                let _ = tx.send(());
                return;
            };
            if matches!(event.kind, notify::EventKind::Access(_)) {
                return;
            }
            let ours = ignore.as_ref().is_some_and(|dir| {
                !event.paths.is_empty() && event.paths.iter().all(|p| p.starts_with(dir))
            });
            if !ours {
                let _ = tx.send(());
            }
        };
        let mut watched = 0;
        let watcher = notify::recommended_watcher(handler).ok().map(|mut w| {
            for path in paths {
                let (target, mode) = if path.is_dir() {
                    (path.clone(), RecursiveMode::Recursive)
                } else {
                    let parent = path
                        .parent()
                        .filter(|p| !p.as_os_str().is_empty())
                        .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
                    (parent, RecursiveMode::NonRecursive)
                };
                if w.watch(&target, mode).is_ok() {
                    watched += 1;
                }
            }
            w
        });
        Watch {
            _watcher: watcher,
            changes,
            watched,
        }
    }

    /// Waits until something may have changed: a notification (and the rest of its burst),
    /// or the poll interval. Returns early when `stop` is set.
    pub fn wait(&self, stop: &AtomicBool, poll: Duration) {
        let deadline = Instant::now() + poll;
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return;
            }
            match self.changes.recv_timeout(left.min(STOP_CHECK)) {
                Ok(()) => {
                    std::thread::sleep(SETTLE);
                    while self.changes.try_recv().is_ok() {}
                    return;
                }
                Err(RecvTimeoutError::Timeout) => {}
                // No watcher: polling alone.
                Err(RecvTimeoutError::Disconnected) => std::thread::sleep(left.min(STOP_CHECK)),
            }
        }
    }
}

/// What a round of a live ingest tells whoever watches it.
pub enum Round<'a> {
    /// One ingest of the paths finished (the first is the whole evidence; later ones what
    /// changed).
    Done(&'a IngestReport),
    /// A round failed; the case stays at its last commit.
    Failed(&'a crate::Error),
}

/// Ingests `paths` into the case; then, whenever `follow` is set (it may be set later: `:follow`
/// in the timeline), again each time they change; until `stop` is set (checked between rounds
/// and while waiting) or `on_round`, told of each round, says not to go on.
pub fn run(
    dest: &mut dyn crate::ingest::Destination,
    paths: &[PathBuf],
    opts: &IngestOptions,
    follow: &AtomicBool,
    stop: &AtomicBool,
    on_progress: OnProgress<'_>,
    on_round: &mut dyn FnMut(Round<'_>) -> bool,
) -> Result<()> {
    let mut watch: Option<Watch> = None;
    // Rounds after the first read what was appended since the last one: a small indexing
    // budget is plenty, and the process stays small while it follows for hours.
    let mut later = opts.clone();
    later.memory_budget = later.memory_budget.min(FOLLOW_MEMORY_BUDGET);
    // A request's IIS line and its HttpProxy row may come in different rounds: the front
    // ends' clients are kept from round to round.
    let earlier = std::sync::Arc::new(std::sync::Mutex::new(
        crate::attribution::RequestClients::default(),
    ));
    later.earlier_clients = Some(std::sync::Arc::clone(&earlier));
    let mut first = opts.clone();
    first.earlier_clients = Some(earlier);
    let mut round_opts = &first;
    loop {
        // Following, a line the writer has not finished is left for the next round.
        let mut this_round = round_opts.clone();
        this_round.hold_partial_lines = follow.load(Ordering::Relaxed);
        let round_started = Instant::now();
        let outcome = crate::ingest::ingest(dest, paths, &this_round, on_progress);
        let poll = (round_started.elapsed() * 20).clamp(POLL, POLL_MAX);
        round_opts = &later;
        let go_on = match outcome {
            Ok(report) => on_round(Round::Done(&report)),
            Err(e) => {
                let go_on = on_round(Round::Failed(&e));
                if !go_on {
                    return Err(e);
                }
                go_on
            }
        };
        if !go_on {
            return Ok(());
        }
        // Idle until following is asked for (`:follow` in the timeline) or the end.
        while !follow.load(Ordering::Relaxed) {
            if stop.load(Ordering::Relaxed) {
                return Ok(());
            }
            std::thread::sleep(STOP_CHECK);
        }
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
        watch
            .get_or_insert_with(|| Watch::new(paths, dest.own_dir()))
            .wait(stop, poll);
        if stop.load(Ordering::Relaxed) {
            return Ok(());
        }
    }
}
