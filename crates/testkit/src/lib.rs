//! What trawl's tests and benchmarks share: the bundled sample case, ingested once, and the
//! timeline driven without a terminal (keys in, backend answering synchronously, screens drawn
//! into ratatui's `TestBackend`).
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::path::PathBuf;
use std::sync::OnceLock;

use ratatui::Terminal;
use ratatui::backend::TestBackend;
use ratatui::crossterm::event::{Event, KeyCode, KeyEvent, KeyModifiers};

use trawl::case::Case;
use trawl::ingest::{IngestOptions, ingest};
use trawl::tui::app::App;
use trawl::tui::backend::Backend;
use trawl::tui::ui::{self, Theme};

/// The repository's root.
pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The bundled sample case, as the relative path `sample-logs` when run from the repository
/// (cargo runs tests from the package root), so that snapshots do not depend on where the
/// checkout lives.
pub fn sample_logs() -> PathBuf {
    let relative = PathBuf::from("sample-logs");
    if relative.join("README.md").is_file() {
        relative
    } else {
        repo().join("sample-logs")
    }
}

/// The sample case, ingested once for all tests.
pub fn case_dir() -> &'static PathBuf {
    static DIR: OnceLock<(tempfile::TempDir, PathBuf)> = OnceLock::new();
    &DIR.get_or_init(new_case).1
}

/// A case of its own, for tests that change it (marks, views, session).
pub fn new_case() -> (tempfile::TempDir, PathBuf) {
    let dir = tempfile::tempdir().expect("tempdir");
    let case_dir = dir.path().join("case");
    let mut case = Case::open_or_create(&case_dir).expect("case");
    let opts = IngestOptions::default();
    ingest(&mut case, &[sample_logs()], &opts, &trawl::progress::ignore).expect("ingest");
    let rules = trawl::rules::load(&[]).expect("rules").rules;
    trawl::hunt::ensure(&case, &rules).expect("detections");
    (dir, case_dir)
}

/// The timeline on an off-screen terminal.
pub struct Harness {
    pub app: App,
    pub backend: Backend,
    pub terminal: Terminal<TestBackend>,
}

impl Harness {
    /// The shared sample case, opened afresh: other tests running in parallel save their
    /// sessions into it, so the saved one is ignored here.
    pub fn new(width: u16, height: u16) -> Harness {
        Self::with_session(
            case_dir(),
            trawl::session::Session::default(),
            width,
            height,
        )
    }

    /// Opens a case as `trawl` does: where its last session left it.
    pub fn open(dir: &std::path::Path, width: u16, height: u16) -> Harness {
        let session = trawl::session::load_session(dir).expect("session");
        Self::with_session(dir, session, width, height)
    }

    pub fn with_session(
        dir: &std::path::Path,
        session: trawl::session::Session,
        width: u16,
        height: u16,
    ) -> Harness {
        let case = Case::open(dir).expect("open case");
        let backend = Backend::new(case).expect("backend");
        Self::with_backend(backend, session, width, height)
    }

    /// The timeline of a case wherever it is (a ClickHouse store).
    pub fn with_source(source: trawl::source::Source, width: u16, height: u16) -> Harness {
        let backend = Backend::of(source).expect("backend");
        Self::with_backend(backend, trawl::session::Session::default(), width, height)
    }

    fn with_backend(
        backend: Backend,
        session: trawl::session::Session,
        width: u16,
        height: u16,
    ) -> Harness {
        let names = trawl::tui::field_names(backend.source().manifest());
        let tags = backend.tags();
        let mut h = Harness {
            app: App::resume(names, session, tags),
            backend,
            terminal: Terminal::new(TestBackend::new(width, height)).expect("terminal"),
        };
        h.settle();
        h
    }

    pub fn command(&mut self, command: &str) -> &mut Self {
        self.key(KeyCode::Char(':'));
        for c in command.chars() {
            self.app.on_event(&Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        self.key(KeyCode::Enter)
    }

    pub fn type_text(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            self.app.on_event(&Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        self
    }

    /// Draws and answers requests until the app asks for nothing more.
    pub fn settle(&mut self) {
        for _ in 0..50 {
            self.terminal
                .draw(|f| ui::draw(f, &mut self.app, Theme { color: false }))
                .expect("draw");
            let requests = self.app.take_requests();
            if requests.is_empty() {
                return;
            }
            for r in requests {
                let reply = self.backend.handle(r);
                self.app.on_reply(reply);
            }
        }
        panic!("the app kept asking");
    }

    pub fn key(&mut self, code: KeyCode) -> &mut Self {
        self.key_with(code, KeyModifiers::NONE)
    }

    pub fn key_with(&mut self, code: KeyCode, modifiers: KeyModifiers) -> &mut Self {
        self.app
            .on_event(&Event::Key(KeyEvent::new(code, modifiers)));
        self.settle();
        self
    }

    pub fn keys(&mut self, text: &str) -> &mut Self {
        for c in text.chars() {
            self.key(KeyCode::Char(c));
        }
        self
    }

    pub fn query(&mut self, q: &str) -> &mut Self {
        self.key(KeyCode::Char('/'));
        // Clear what the bar holds, then type.
        for _ in 0..200 {
            self.app.on_event(&Event::Key(KeyEvent::new(
                KeyCode::Backspace,
                KeyModifiers::NONE,
            )));
        }
        for c in q.chars() {
            self.app.on_event(&Event::Key(KeyEvent::new(
                KeyCode::Char(c),
                KeyModifiers::NONE,
            )));
        }
        self.key(KeyCode::Enter)
    }

    pub fn screen(&self) -> String {
        self.terminal.backend().to_string()
    }

    pub fn current_ip(&self) -> Option<String> {
        self.app.current().and_then(|e| e.ip.clone())
    }
}
