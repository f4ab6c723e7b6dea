//! The ingest beside the timeline (`trawl PATH…`): the timeline opens at once on the case while
//! this worker reads the evidence (and, when following, what arrives), committing at short
//! intervals. It tells the app how far it has got; the backend sees each commit itself.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicBool;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, unbounded};

use super::app::{IngestProgress, LiveNews};
use crate::case::Case;
use crate::ingest::{IngestOptions, IngestReport};
use crate::progress::{Progress, Unit};

/// What to ingest while the timeline is open.
pub struct LiveIngest {
    /// The case as the ingest writes it (its own handle: the timeline reads another).
    pub case: Case,
    pub paths: Vec<PathBuf>,
    pub opts: IngestOptions,
    /// Follow the paths after reading them (`--follow`; `:follow` toggles it).
    pub follow: bool,
}

/// The running ingest.
pub struct Running {
    pub news: Receiver<LiveNews>,
    /// Whether to follow, shared with the worker (`:follow`).
    pub follow: Arc<AtomicBool>,
    pub stop: Arc<AtomicBool>,
    /// The first round's report, for the summary printed when the timeline closes.
    pub first: Receiver<IngestReport>,
    pub done: Arc<AtomicBool>,
}

/// How often progress is told (the callback comes every few thousand events).
const PROGRESS_EVERY: Duration = Duration::from_millis(250);

pub fn spawn(live: LiveIngest) -> Running {
    let (news_tx, news) = unbounded();
    let (first_tx, first) = unbounded();
    let follow = Arc::new(AtomicBool::new(live.follow));
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicBool::new(false));
    let running = Running {
        news,
        follow: Arc::clone(&follow),
        stop: Arc::clone(&stop),
        first,
        done: Arc::clone(&done),
    };
    std::thread::spawn(move || {
        let LiveIngest {
            mut case,
            paths,
            opts,
            ..
        } = live;
        let started = Instant::now();
        let last_told = std::sync::Mutex::new(Instant::now() - PROGRESS_EVERY);
        let first_done = AtomicBool::new(false);
        let tx = news_tx.clone();
        let on_progress = move |p: Progress| {
            if first_done.load(std::sync::atomic::Ordering::Relaxed) {
                return;
            }
            let Ok(mut last) = last_told.lock() else {
                return;
            };
            if last.elapsed() < PROGRESS_EVERY {
                return;
            }
            *last = Instant::now();
            let _ = tx.send(LiveNews::Progress(progress(p, started.elapsed())));
        };
        let mut first_round = true;
        let mut on_round = |round: crate::live::Round<'_>| -> bool {
            let news = match round {
                crate::live::Round::Done(r) => {
                    if first_round {
                        let _ = first_tx.send(r.clone());
                        done.store(true, std::sync::atomic::Ordering::Relaxed);
                    }
                    LiveNews::Round {
                        first: std::mem::take(&mut first_round),
                        new_events: r.new_events,
                        new_malformed: r.new_malformed,
                        unrecognised: r.unrecognised.len() as u64,
                    }
                }
                crate::live::Round::Failed(e) => LiveNews::Failed(e.to_string()),
            };
            // The timeline is gone: nothing more to do.
            news_tx.send(news).is_ok()
        };
        let _ = crate::live::run(
            &mut case,
            &paths,
            &opts,
            &follow,
            &stop,
            &on_progress,
            &mut on_round,
        );
    });
    running
}

fn progress(p: Progress, elapsed: Duration) -> IngestProgress {
    let secs = elapsed.as_secs_f64().max(0.001);
    let fraction = if p.total == 0 {
        0.0
    } else {
        (p.done as f64 / p.total as f64).min(1.0)
    };
    let rate = p.done as f64 / secs;
    IngestProgress {
        percent: (fraction * 100.0) as u8,
        files_done: p.files_done,
        files_total: p.files_total,
        events: p.events,
        mb_per_s: if p.unit == Unit::Bytes {
            rate / 1e6
        } else {
            0.0
        },
        eta_s: (rate > 0.0 && p.total > p.done).then(|| ((p.total - p.done) as f64 / rate) as u64),
    }
}
