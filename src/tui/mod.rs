//! The interactive timeline (ratatui + crossterm).
//!
//! gitui's shape: a synchronous loop on the main thread draws the [`app::App`] and feeds it
//! terminal events and backend replies; the index work runs on a [`backend::Backend`] thread;
//! an input thread turns terminal reads into messages. The terminal is restored on every exit
//! path, on panic, and around Ctrl-Z.

pub mod app;
pub mod backend;
pub mod components;
pub mod ingest;
pub mod keys;
pub mod pane;
pub mod theme;
pub mod ui;

use std::io::{self, Write};

use std::time::{Duration, Instant};

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use crossbeam_channel::{Receiver, never, select, unbounded};
use ratatui::crossterm::event::{
    self, DisableMouseCapture, EnableMouseCapture, Event, KeyCode, KeyEventKind, KeyModifiers,
};
use ratatui::crossterm::execute;

use crate::case::Case;
use crate::error::{Error, Result};

fn term_err(e: io::Error) -> Error {
    Error::io("<terminal>", e)
}

/// Field names offered by completion: the canonical ones and every source column.
pub fn field_names(manifest: &crate::case::Manifest) -> Vec<String> {
    let mut names: Vec<String> = crate::query::CANONICAL
        .iter()
        .map(|s| s.to_string())
        .collect();
    let mut columns: Vec<String> = manifest
        .layouts
        .iter()
        .flat_map(|l| l.attr_names())
        .chain(manifest.dynamic_attrs.iter().cloned())
        .collect();
    columns.sort_by_key(|c| c.to_ascii_lowercase());
    columns.dedup_by_key(|c| c.to_ascii_lowercase());
    names.extend(columns);
    names
}

/// What the timeline is opened with.
#[derive(Default)]
pub struct Options {
    /// The rules the case is hunted with: run again as events arrive.
    pub rules: Vec<crate::rules::Rule>,
    /// Evidence to ingest while the timeline is open.
    pub live: Option<ingest::LiveIngest>,
}

/// How the timeline was left.
#[derive(Debug, Default)]
pub struct Outcome {
    /// What the ingest beside it read (its first round), when it got that far.
    pub ingested: Option<crate::ingest::IngestReport>,
    /// The ingest was still reading when the user quit: it stopped at its last commit.
    pub ingest_unfinished: bool,
    /// Why the ingest's last round failed, if it did.
    pub ingest_failed: Option<String>,
}

/// How often the case is looked at for a new commit: often while an ingest runs beside the
/// timeline, less when another process might be writing it.
const LOOK_LIVE: Duration = Duration::from_millis(500);
const LOOK_IDLE: Duration = Duration::from_secs(2);

/// Opens the timeline on a local case until the user quits.
pub fn run(case: Case, options: Options) -> Result<Outcome> {
    run_on(crate::source::Source::local(case)?, options)
}

/// Opens the timeline on a case wherever it is until the user quits.
pub fn run_on(source: crate::source::Source, options: Options) -> Result<Outcome> {
    let theme = ui::Theme::from_env();
    let session = source.session();
    let backend = backend::Backend::of(source)?.with_rules(options.rules);
    let mut app = app::App::resume(
        field_names(backend.source().manifest()),
        session,
        backend.tags(),
    );
    let (request_tx, request_rx) = unbounded();
    let (reply_tx, reply_rx) = unbounded();
    let worker = backend::spawn(backend, request_rx, reply_tx);
    let running = options.live.map(|live| {
        app.live = Some(app::LiveState {
            following: live.follow,
            ..Default::default()
        });
        ingest::spawn(live)
    });
    let news_rx = running.as_ref().map_or_else(never, |r| r.news.clone());
    let look_every = if running.is_some() {
        LOOK_LIVE
    } else {
        LOOK_IDLE
    };
    let mut next_look = Instant::now() + look_every;
    // Rules over a growing case are spaced out: at most a fifth of the time goes to them.
    let (mut detect_held, mut detect_from) = (false, Instant::now());
    let (input, event_rx) = Input::spawn();

    // Mouse capture is not undone by ratatui's own panic hook: chain ours before it.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let _ = execute!(io::stdout(), DisableMouseCapture);
        previous(info);
    }));
    let mut terminal = ratatui::init();
    let _ = execute!(io::stdout(), EnableMouseCapture);

    let result = (|| -> Result<()> {
        loop {
            terminal
                .draw(|frame| ui::draw(frame, &mut app, theme))
                .map_err(term_err)?;
            if let (Some(r), Some(live)) = (&running, &app.live) {
                r.follow.store(live.following, Ordering::Relaxed);
            }
            let now = Instant::now();
            let mut requests = app.take_requests();
            if now >= next_look {
                next_look = now + look_every;
                requests.push(backend::Request::Refresh);
            }
            if detect_held && now >= detect_from {
                detect_held = false;
                requests.push(backend::Request::Detect);
            }
            for request in requests {
                if matches!(request, backend::Request::Detect) && Instant::now() < detect_from {
                    detect_held = true;
                    continue;
                }
                if request_tx.send(request).is_err() {
                    return Err(Error::Usage("the index worker stopped".into()));
                }
            }
            if app.quit {
                return Ok(());
            }
            let wait = next_look
                .min(if detect_held { detect_from } else { next_look })
                .saturating_duration_since(Instant::now());
            select! {
                recv(event_rx) -> ev => {
                    let Ok(ev) = ev else { return Ok(()) };
                    if is_suspend(&ev) {
                        suspend(&mut terminal)?;
                        continue;
                    }
                    app.on_event(&ev);
                }
                recv(reply_rx) -> reply => {
                    let Ok(reply) = reply else {
                        return Err(Error::Usage("the index worker stopped".into()));
                    };
                    if let backend::Reply::Detected { elapsed, .. } = &reply {
                        detect_from = Instant::now() + (*elapsed * 4).max(Duration::from_secs(1));
                    }
                    app.on_reply(reply);
                }
                recv(news_rx) -> news => {
                    if let Ok(news) = news {
                        app.on_live(news);
                    }
                }
                default(wait) => {}
            }
        }
    })();
    // Nothing reads the terminal once it is given back: what is typed after `q` is the shell's.
    input.stop();
    let _ = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    // The shell gets its cursor back (drawing hid it), on the screen the shell is on.
    let _ = execute!(io::stdout(), ratatui::crossterm::cursor::Show);
    // The ingest stops where it is: its last commit is kept, the next run completes it.
    let mut outcome = Outcome::default();
    if let Some(r) = &running {
        r.stop.store(true, Ordering::Relaxed);
        outcome.ingested = r.first.try_recv().ok();
        outcome.ingest_unfinished = !r.done.load(Ordering::Relaxed);
        outcome.ingest_failed = app.live.as_ref().and_then(|l| l.failed.clone());
    }
    // Marks, views and exports asked for just before quitting are carried out, not lost.
    drop(request_tx);
    let backend = worker.join().ok();
    for reply in reply_rx.try_iter() {
        if let backend::Reply::Message(text) = reply
            && text.starts_with("failed")
        {
            eprintln!("trawl: {}", crate::sanitize::escape_controls(&text));
        }
    }
    // Where the user was, for next time (after the worker's own saves).
    let saved = backend.map_or(Ok(()), |b| b.source().save_session(&app.session()));
    result.and(saved).map(|()| outcome)
}

/// The input thread: terminal reads turned into messages, until it is stopped.
struct Input {
    stop: Arc<AtomicBool>,
    thread: std::thread::JoinHandle<()>,
}

/// How long the input thread waits for a key before it looks whether it should stop: the most
/// quitting waits for it.
const INPUT_POLL: Duration = Duration::from_millis(50);

impl Input {
    fn spawn() -> (Input, Receiver<Event>) {
        let (tx, rx) = unbounded();
        let stop = Arc::new(AtomicBool::new(false));
        let stopped = Arc::clone(&stop);
        let thread = std::thread::spawn(move || {
            while !stopped.load(Ordering::Relaxed) {
                // A read only when a key is there: a thread blocked in a read would take the
                // shell's type-ahead once the timeline has quit (a whole line, in cooked mode).
                match event::poll(INPUT_POLL) {
                    Ok(false) => continue,
                    Ok(true) => {}
                    Err(_) => break,
                }
                let Ok(ev) = event::read() else { break };
                if tx.send(ev).is_err() {
                    break;
                }
            }
        });
        (Input { stop, thread }, rx)
    }

    /// Stops reading the terminal; returns within [`INPUT_POLL`].
    fn stop(self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.thread.join();
    }
}

fn is_suspend(ev: &Event) -> bool {
    matches!(ev, Event::Key(k) if k.kind == KeyEventKind::Press
        && k.code == KeyCode::Char('z')
        && k.modifiers.contains(KeyModifiers::CONTROL))
}

/// Ctrl-Z: give the terminal back, stop like any job, and take it again on `fg`.
fn suspend(terminal: &mut ratatui::DefaultTerminal) -> Result<()> {
    let _ = execute!(io::stdout(), DisableMouseCapture);
    ratatui::restore();
    // The shell gets its cursor back (drawing hid it), on the screen the shell is on.
    let _ = execute!(io::stdout(), ratatui::crossterm::cursor::Show);
    let _ = io::stdout().flush();
    // SIGTSTP to ourselves, without unsafe code: the job stops here until `fg`.
    let _ = std::process::Command::new("kill")
        .args(["-TSTP", &std::process::id().to_string()])
        .status();
    // Taken again by hand rather than with `ratatui::init` and `Terminal::clear`: both ask the
    // terminal for the cursor position, whose answer the input thread (reading the terminal since
    // before the stop) takes as a key, and the question then fails after a timeout.
    use ratatui::crossterm::terminal::{Clear, ClearType, EnterAlternateScreen, enable_raw_mode};
    enable_raw_mode().map_err(term_err)?;
    execute!(
        io::stdout(),
        EnterAlternateScreen,
        Clear(ClearType::All),
        EnableMouseCapture
    )
    .map_err(term_err)?;
    // A new terminal has empty buffers: the next draw paints every cell.
    *terminal = ratatui::Terminal::new(ratatui::backend::CrosstermBackend::new(io::stdout()))
        .map_err(term_err)?;
    Ok(())
}
