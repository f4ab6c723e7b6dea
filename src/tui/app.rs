//! The timeline's state and how keys and backend replies change it. No terminal and no index
//! here: the app emits [`Request`]s for the backend and the drawing code reads its fields.

use std::collections::VecDeque;
use std::sync::Arc;

use ratatui::crossterm::event::{
    Event, KeyCode, KeyEvent, KeyEventKind, KeyModifiers, MouseEventKind,
};
use tui_input::Input;
use tui_input::backend::crossterm::EventHandler;

use super::backend::{Histogram, MarkAction, Reply, Request};
use super::components::findings::FindingsState;
use super::components::table::{COLUMNS, RowCache};
use super::components::top_values::{TOP_FIELDS, TopState};
use super::keys::{Action, action_for};
pub use super::pane::{Mode, Pane};
use crate::event::names;
use crate::query;
use crate::selection::Order;
pub use crate::session::{Filter, Session, View};
use crate::view::EventView;

/// What `i`, `a` and `p` pivot on, in order: the web field, then its stand-in in Windows events
/// (the logon or network address; the command line; the program or the file written).
const CLIENT_LIKE: [&str; 2] = [names::CLIENT, names::IP];
const AGENT_LIKE: [&str; 3] = [names::UA, "CommandLine", "ScriptBlockText"];
const PATH_LIKE: [&str; 6] = [
    names::PATH,
    "Image",
    "NewProcessName",
    "TargetFilename",
    "ServiceName",
    "Cmdlet",
];

/// A place to return to from the context view.
#[derive(Debug, Clone)]
struct Saved {
    view: View,
    cursor: u64,
}

/// An ingest running beside the timeline, as the status line tells it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct LiveState {
    /// The evidence is being read (the first round), this far.
    pub ingesting: Option<IngestProgress>,
    /// Followed paths are watched for more (`--follow`, `:follow`).
    pub following: bool,
    /// What the last round did, or why it failed.
    pub last: Option<String>,
    /// Why the last round failed (cleared by one that succeeds).
    pub failed: Option<String>,
}

/// How far the first round of a live ingest has got.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct IngestProgress {
    pub percent: u8,
    pub files_done: u64,
    pub files_total: u64,
    pub events: u64,
    pub mb_per_s: f64,
    pub eta_s: Option<u64>,
}

/// What the ingest beside the timeline reports.
#[derive(Debug, Clone, PartialEq)]
pub enum LiveNews {
    Progress(IngestProgress),
    /// A round ended: the first (the whole evidence) or a later one (what changed).
    Round {
        first: bool,
        new_events: u64,
        new_malformed: u64,
        unrecognised: u64,
    },
    Failed(String),
}

/// The whole state of the timeline.
pub struct App {
    pub view: View,
    pub generation: u64,
    /// Set while the newest query has not answered.
    pub running: bool,
    pub total: u64,
    pub all: u64,
    pub span: Option<(i64, i64)>,
    pub histogram: Option<Histogram>,
    pub cursor: u64,
    pub scroll: u64,
    pub rows: RowCache,
    /// Rows being fetched: (generation, start).
    fetching: Option<(u64, u64)>,
    /// Focused table column (index in [`COLUMNS`]).
    pub column: usize,
    /// Horizontal offset into long values.
    pub hscroll: usize,
    pub focus: Pane,
    pub mode: Mode,
    pub input: Input,
    pub history: Vec<String>,
    history_pos: Option<usize>,
    pub query_error: Option<(String, usize)>,
    pub message: Option<String>,
    /// First line of the help overlay shown (it scrolls on small terminals).
    pub help_scroll: u16,
    pub top: TopState,
    pub findings: FindingsState,
    /// Which pane the lower right shows when not focused: top values or findings.
    pub show_findings: bool,
    pub detail_cursor: usize,
    back: Vec<Saved>,
    /// The last view whose query ran, and its generation: a bad query falls back to it.
    applied: (View, u64),
    /// Set after `Locate`/`RankAt`: move the cursor to the rank when it arrives.
    pending_jump: bool,
    /// Size of the table and histogram at the last draw.
    pub table_height: usize,
    pub histogram_bins: usize,
    /// Field names for completion.
    pub field_names: Vec<String>,
    /// Tags in use, for completion.
    pub tags: Vec<String>,
    pub quit: bool,
    outbox: VecDeque<Request>,
    /// The side panes are shown (toggled with `v`).
    pub side_panes: bool,
    /// An ingest beside the timeline (`trawl PATH…` opens before it ends).
    pub live: Option<LiveState>,
    /// Events that arrived away from the end while following (`G` goes to them).
    pub unseen: u64,
    /// The selection's size before the case grew, while its query runs again.
    grown_from: Option<u64>,
    /// Go to the last event when the query answers (following the end, like `less +F`).
    to_end: bool,
    /// The cursor's distance from the top of the table, kept while the case grows.
    keep_offset: Option<u64>,
    /// Rules are running over new events; run them again when they end.
    detecting: bool,
    detect_again: bool,
    /// Compromise hits at the last detection run, to say when there are new ones.
    hits: Option<u64>,
    /// Each finding's count when the responder last looked at the findings pane: one that is
    /// new or higher is marked until they look again.
    seen_findings: Option<std::collections::HashMap<String, u64>>,
    /// The findings pane has had the focus since the counts were taken.
    findings_looked: bool,
}

impl App {
    /// A new timeline showing every event.
    pub fn new(field_names: Vec<String>) -> App {
        Self::resume(field_names, Session::default(), Vec::new())
    }

    /// A timeline where the last session left it (query, filters, zoom, selected event).
    pub fn resume(field_names: Vec<String>, session: Session, tags: Vec<String>) -> App {
        let mut view = session.view;
        if view == View::default() {
            view = View::all();
        }
        let mut app = App {
            view,
            generation: 0,
            running: false,
            total: 0,
            all: 0,
            span: None,
            histogram: None,
            cursor: 0,
            scroll: 0,
            rows: RowCache::default(),
            fetching: None,
            column: 6,
            hscroll: 0,
            focus: Pane::Table,
            mode: Mode::Normal,
            input: Input::default(),
            history: Vec::new(),
            history_pos: None,
            query_error: None,
            message: None,
            top: TopState {
                field: 0,
                order: Order::Top,
                values: None,
                cursor: 0,
            },
            findings: FindingsState::default(),
            show_findings: false,
            detail_cursor: 0,
            back: Vec::new(),
            applied: (View::default(), 0),
            pending_jump: false,
            table_height: 20,
            histogram_bins: 60,
            field_names,
            tags,
            quit: false,
            help_scroll: 0,
            outbox: VecDeque::new(),
            side_panes: true,
            live: None,
            unseen: 0,
            grown_from: None,
            to_end: false,
            keep_offset: None,
            detecting: false,
            detect_again: false,
            hits: None,
            seen_findings: None,
            findings_looked: false,
        };
        app.history = session.history;
        app.run_query();
        if let Some(at) = session.selected {
            app.locate(at);
        }
        app
    }

    /// Moves the cursor to an event (or where its time falls) of the current query when the
    /// backend answers.
    fn locate(&mut self, (ts_ms, file_id, line): (i64, u64, u64)) {
        self.pending_jump = true;
        self.outbox.push_back(Request::Locate {
            generation: self.generation,
            ts_ms,
            file_id,
            line,
        });
    }

    /// Where the user is, to save.
    pub fn session(&self) -> Session {
        Session {
            view: self.view.clone(),
            selected: self.current().map(|e| (e.ts_ms, e.file_id, e.line)),
            history: self.history.iter().rev().take(100).rev().cloned().collect(),
        }
    }

    /// Requests for the backend, oldest first.
    pub fn take_requests(&mut self) -> Vec<Request> {
        self.outbox.drain(..).collect()
    }

    /// The event under the cursor, if fetched.
    pub fn current(&self) -> Option<&Arc<EventView>> {
        self.rows.get(self.cursor)
    }

    fn run_query(&mut self) {
        self.generation += 1;
        self.running = true;
        self.outbox.push_back(Request::Query {
            generation: self.generation,
            text: self.view.text(),
            bins: self.histogram_bins,
            range: self.view.zoom.last().copied(),
        });
        // Ask for the visible rows in the same breath, so they follow the count at once.
        let height = self.table_height.max(1) as u64;
        let start = self.scroll.saturating_sub(height);
        self.fetching = Some((self.generation, start));
        self.outbox.push_back(Request::Rows {
            generation: self.generation,
            start,
            count: (height * 3) as usize,
        });
    }

    /// Applies a new view, keeping the old one's position for nothing: the cursor goes to the
    /// top of the new selection.
    /// Runs a new query or a saved view, from its first event.
    fn set_view(&mut self, view: View) {
        self.change_view(view, false);
    }

    /// Changes the filters: the selected event stays selected (or, when the new filters leave
    /// it out, the event nearest its time is), so widening and narrowing never lose the place.
    fn refilter(&mut self, view: View) {
        self.change_view(view, true);
    }

    fn change_view(&mut self, view: View, keep_place: bool) {
        let keep = keep_place
            .then(|| self.current().map(|ev| (ev.ts_ms, ev.file_id, ev.line)))
            .flatten();
        self.view = view;
        self.cursor = 0;
        self.scroll = 0;
        self.run_query();
        if let Some(at) = keep {
            self.locate(at);
        }
        // Every change of view is saved at once: a crash loses nothing but the keystroke.
        self.outbox.push_back(Request::SaveSession(self.session()));
    }

    /// The case grew (a commit landed): the view runs again. While following, a cursor on
    /// the last event stays on the last event; otherwise the selected event stays where it is
    /// on the screen, and what arrived is counted.
    fn reload_view(&mut self) {
        let following = self.live.as_ref().is_some_and(|l| l.following);
        let at_end = self.cursor + 1 >= self.total;
        let keep = self
            .current()
            .map(|ev| (ev.ts_ms, ev.file_id, ev.line))
            .filter(|_| !(following && at_end));
        let offset = self.cursor.saturating_sub(self.scroll);
        self.grown_from = Some(self.total);
        self.to_end = following && at_end;
        self.run_query();
        if let Some(at) = keep {
            self.keep_offset = Some(offset);
            self.locate(at);
        }
        if self.findings.rows.is_some() {
            self.outbox.push_back(Request::Findings {
                generation: self.generation,
            });
        }
    }

    /// News from the ingest beside the timeline.
    pub fn on_live(&mut self, news: LiveNews) {
        let live = self.live.get_or_insert_with(LiveState::default);
        match news {
            LiveNews::Progress(p) => live.ingesting = Some(p),
            LiveNews::Round {
                first,
                new_events,
                new_malformed,
                unrecognised,
            } => {
                live.ingesting = None;
                live.failed = None;
                let mut text = format!("+{} events", crate::sanitize::thousands(new_events));
                if new_malformed > 0 {
                    text += &format!(", {new_malformed} malformed");
                }
                if unrecognised > 0 {
                    text += &format!(", {unrecognised} files unrecognised");
                }
                live.last = Some(if first {
                    format!("ingested: {text} (summary printed on quit)")
                } else {
                    format!("{text} at {}", chrono::Utc::now().format("%H:%M:%SZ"))
                });
                // The commit is there: no need to wait for the next look.
                self.outbox.push_back(Request::Refresh);
            }
            LiveNews::Failed(e) => {
                live.ingesting = None;
                live.last = Some(format!("ingest failed: {e}"));
                live.failed = Some(e);
            }
        }
    }

    fn push_filter(&mut self, filter: Filter) {
        let mut view = self.view.clone();
        view.filters_on = true;
        if !view.filters.contains(&filter) {
            view.filters.push(filter);
        }
        self.refilter(view);
    }

    /// Handles a terminal event.
    pub fn on_event(&mut self, event: &Event) {
        match event {
            Event::Key(key) if key.kind != KeyEventKind::Release => self.on_key(*key, event),
            Event::Mouse(m) => match m.kind {
                MouseEventKind::ScrollDown => self.move_cursor(3),
                MouseEventKind::ScrollUp => self.move_cursor(-3),
                _ => {}
            },
            _ => {}
        }
    }

    fn on_key(&mut self, key: KeyEvent, event: &Event) {
        self.message = None;
        match self.mode {
            Mode::Query | Mode::Command | Mode::Tag | Mode::Note => self.on_edit_key(key, event),
            Mode::Help => match key.code {
                KeyCode::Esc | KeyCode::Char('q' | '?') | KeyCode::F(1) => {
                    self.mode = Mode::Normal;
                }
                KeyCode::Char('j') | KeyCode::Down => self.help_scroll += 1,
                KeyCode::Char('k') | KeyCode::Up => {
                    self.help_scroll = self.help_scroll.saturating_sub(1);
                }
                KeyCode::PageDown | KeyCode::Char(' ') => self.help_scroll += 10,
                KeyCode::PageUp | KeyCode::Char('b') => {
                    self.help_scroll = self.help_scroll.saturating_sub(10);
                }
                KeyCode::Char('g') | KeyCode::Home => self.help_scroll = 0,
                KeyCode::Char('G') | KeyCode::End => self.help_scroll = u16::MAX,
                _ => {}
            },
            Mode::Normal => {
                if let Some(action) = action_for(key, self.focus) {
                    self.act(action);
                }
            }
        }
    }

    fn on_edit_key(&mut self, key: KeyEvent, event: &Event) {
        let ctrl = key.modifiers.contains(KeyModifiers::CONTROL);
        match key.code {
            KeyCode::Esc => {
                self.mode = Mode::Normal;
                self.history_pos = None;
            }
            KeyCode::Char('c') if ctrl => self.mode = Mode::Normal,
            KeyCode::Enter => {
                let text = self.input.value().to_string();
                match self.mode {
                    Mode::Query => self.submit_query(text),
                    Mode::Tag => {
                        self.mode = Mode::Normal;
                        self.mark(MarkAction::ToggleTag(text.trim().to_string()));
                    }
                    Mode::Note => {
                        self.mode = Mode::Normal;
                        self.mark(MarkAction::Note(text));
                    }
                    _ => {
                        self.mode = Mode::Normal;
                        self.command(&text);
                    }
                }
            }
            KeyCode::Up if self.mode == Mode::Query => self.history_step(-1),
            KeyCode::Down if self.mode == Mode::Query => self.history_step(1),
            KeyCode::Tab if self.mode == Mode::Query => self.complete_field(),
            KeyCode::Tab if self.mode == Mode::Tag => self.complete_tag(),
            _ => {
                self.input.handle_event(event);
                if self.mode == Mode::Query {
                    // Syntax feedback as you type; field names are checked on submit.
                    self.query_error = query::check_syntax(self.input.value())
                        .err()
                        .map(|e| (e.message, e.column));
                }
            }
        }
    }

    fn submit_query(&mut self, text: String) {
        if let Err(e) = query::check_syntax(&text) {
            self.query_error = Some((e.message, e.column));
            return;
        }
        self.mode = Mode::Normal;
        self.history_pos = None;
        if !text.trim().is_empty() && self.history.last() != Some(&text) {
            self.history.push(text.clone());
        }
        let unindexed = query::unindexed_words(&text);
        let mut view = self.view.clone();
        view.query = text;
        self.set_view(view);
        // As the command line says it: a silent 0 would read as "not in the logs".
        if !unindexed.is_empty() {
            self.message = Some(format!(
                "{} not searched as a word (runs of 5+ digits, hex runs of 8+): ask its field, e.g. ProcessId:23392",
                unindexed.join(", ")
            ));
        }
    }

    fn history_step(&mut self, delta: i64) {
        if self.history.is_empty() {
            return;
        }
        let last = self.history.len() as i64 - 1;
        let pos = match self.history_pos {
            None if delta < 0 => last,
            None => return,
            Some(p) => p as i64 + delta,
        };
        if pos > last {
            self.history_pos = None;
            self.input = Input::default();
            return;
        }
        let pos = pos.clamp(0, last) as usize;
        self.history_pos = Some(pos);
        self.input = Input::new(self.history[pos].clone());
    }

    /// Completes the field name being typed before the cursor.
    fn complete_field(&mut self) {
        let value = self.input.value().to_string();
        let cursor = self.input.cursor();
        let before: String = value.chars().take(cursor).collect();
        let start = before
            .rfind(|c: char| c.is_whitespace() || c == '(' || c == '-' || c == '+')
            .map_or(0, |i| i + 1);
        let prefix = &before[start..];
        if prefix.is_empty() || prefix.contains(':') {
            return;
        }
        let lower = prefix.to_ascii_lowercase();
        let matches: Vec<&String> = self
            .field_names
            .iter()
            .filter(|f| f.to_ascii_lowercase().starts_with(&lower))
            .collect();
        match matches.as_slice() {
            [] => self.message = Some(format!("no field starts with '{prefix}'")),
            [one] => {
                let after: String = value.chars().skip(cursor).collect();
                let completed = format!("{}{}:", &before[..start], one);
                let new_cursor = completed.chars().count();
                self.input = Input::new(format!("{completed}{after}")).with_cursor(new_cursor);
            }
            many => {
                let names: Vec<&str> = many.iter().take(8).map(|s| s.as_str()).collect();
                self.message = Some(format!("fields: {}", names.join(" ")));
            }
        }
    }

    /// Completes the tag being typed from the tags in use.
    fn complete_tag(&mut self) {
        let typed = self.input.value().to_lowercase();
        let matches: Vec<&String> = self
            .tags
            .iter()
            .filter(|t| t.to_lowercase().starts_with(&typed))
            .collect();
        match matches.as_slice() {
            [] => self.message = Some("no tag starts like this".into()),
            [one] => {
                let end = one.chars().count();
                self.input = Input::new((*one).clone()).with_cursor(end);
            }
            many => {
                let names: Vec<&str> = many.iter().take(10).map(|s| s.as_str()).collect();
                self.message = Some(format!("tags: {}", names.join(" ")));
            }
        }
    }

    /// Marks the selected event.
    fn mark(&mut self, action: MarkAction) {
        let Some(ev) = self.current().cloned() else {
            self.message = Some("no event selected".into());
            return;
        };
        if let MarkAction::ToggleTag(tag) = &action
            && !crate::marks::valid_tag(tag)
        {
            self.message = Some(format!("'{tag}' is not a tag: letters, digits and - _ . :"));
            return;
        }
        self.outbox.push_back(Request::Mark {
            generation: self.generation,
            targets: vec![crate::marks::Target {
                file_id: ev.file_id,
                file: ev.file.clone(),
                line: ev.line,
                ts: ev.ts.clone(),
            }],
            action,
        });
    }

    fn command(&mut self, text: &str) {
        let mut parts = text.trim().splitn(2, char::is_whitespace);
        let name = parts.next().unwrap_or("");
        let arg = parts.next().unwrap_or("").trim();
        match name {
            "goto" | "g" => match query::parse_time_spec(arg) {
                Some((ts, _)) => {
                    self.pending_jump = true;
                    self.outbox.push_back(Request::RankAt {
                        generation: self.generation,
                        ts_ms: ts,
                    });
                }
                None => self.message = Some(format!("not a time: '{arg}' (e.g. 2021-03-05T17:42)")),
            },
            "tag" | "untag" => {
                if crate::marks::valid_tag(arg) {
                    self.outbox.push_back(Request::TagSelection {
                        generation: self.generation,
                        tag: arg.to_string(),
                        on: name == "tag",
                    });
                } else {
                    self.message = Some(format!(
                        "'{arg}' is not a tag: letters, digits and - _ . : (:tag NAME tags every event shown)"
                    ));
                }
            }
            // Without text, edit the note rather than silently removing it.
            "note" if arg.is_empty() => self.act(Action::Note),
            "note" => self.mark(MarkAction::Note(arg.to_string())),
            "view" => {
                let mut words = arg.split_whitespace();
                match (words.next(), words.next()) {
                    (Some("save"), Some(name)) => self.outbox.push_back(Request::SaveView {
                        name: name.to_string(),
                        view: self.view.clone(),
                    }),
                    (Some("rm" | "delete"), Some(name)) => {
                        self.outbox.push_back(Request::DeleteView {
                            name: name.to_string(),
                        })
                    }
                    (Some(name), None) => self.outbox.push_back(Request::OpenView {
                        name: name.to_string(),
                    }),
                    _ => self.outbox.push_back(Request::ListViews),
                }
            }
            "views" => self.outbox.push_back(Request::ListViews),
            "export" | "w" | "export!" | "w!" => {
                let mut words = arg.split_whitespace();
                let Some(path) = words.next() else {
                    self.message = Some(
                        "usage: :export FILE [csv|jsonl|timesketch-csv|timesketch-jsonl|ecs]"
                            .into(),
                    );
                    return;
                };
                let format = match words.next().map(crate::export::Format::parse) {
                    None => None,
                    Some(Ok(f)) => Some(f),
                    Some(Err(e)) => {
                        self.message = Some(e);
                        return;
                    }
                };
                self.outbox.push_back(Request::Export {
                    generation: self.generation,
                    path: path.to_string(),
                    format,
                    replace: name.ends_with('!'),
                });
            }
            "follow" => match &mut self.live {
                Some(live) => {
                    live.following = !live.following;
                    self.message = Some(
                        if live.following {
                            "following: new lines and files are read as they come (G keeps to the end)"
                        } else {
                            "not following"
                        }
                        .into(),
                    );
                }
                None => self.message = Some(
                    "nothing to follow: open the timeline with the paths (trawl --follow PATH…)"
                        .into(),
                ),
            },
            "q" | "quit" => self.quit = true,
            "" => {}
            other => {
                self.message = Some(format!(
                    "unknown command ':{other}' (:goto :tag :untag :note :view :views :export :follow :q)"
                ))
            }
        }
    }

    /// Performs a key's action.
    pub fn act(&mut self, action: Action) {
        let page = self.table_height.max(1) as i64;
        match action {
            Action::Quit => self.quit = true,
            Action::Back => self.back_or_quit(),
            Action::Dismiss => self.dismiss(),
            Action::Help => {
                self.mode = Mode::Help;
                self.help_scroll = 0;
            }
            Action::EditQuery => {
                self.mode = Mode::Query;
                self.input = Input::new(self.view.query.clone());
                self.query_error = None;
            }
            Action::Command => {
                self.mode = Mode::Command;
                self.input = Input::default();
            }
            Action::Down => self.move_focused(1),
            Action::Up => self.move_focused(-1),
            Action::HalfPageDown => self.move_cursor(page / 2),
            Action::HalfPageUp => self.move_cursor(-page / 2),
            Action::PageDown => self.move_cursor(page),
            Action::PageUp => self.move_cursor(-page),
            Action::Top => {
                self.pending_jump = false;
                self.to_end = false;
                self.jump(0);
            }
            Action::Bottom => {
                self.unseen = 0;
                self.pending_jump = false;
                if self.running {
                    // The count is the old view's: the end is taken when the new one answers.
                    self.to_end = true;
                } else {
                    self.jump(self.total.saturating_sub(1));
                }
            }
            Action::NextPane => self.cycle_pane(1),
            Action::PrevPane => self.cycle_pane(-1),
            Action::ColumnLeft => self.column = self.column.saturating_sub(1),
            Action::ColumnRight => self.column = (self.column + 1).min(COLUMNS.len() - 1),
            Action::ScrollLeft => self.hscroll = self.hscroll.saturating_sub(8),
            Action::ScrollRight => self.hscroll += 8,
            Action::Include => self.pivot_focused(false),
            Action::Exclude => self.pivot_focused(true),
            Action::PivotIp => self.pivot_row(&CLIENT_LIKE, false),
            Action::PivotUa => self.pivot_row(&AGENT_LIKE, false),
            Action::PivotPath => self.pivot_row(&PATH_LIKE, false),
            Action::ExcludeIp => self.pivot_row(&CLIENT_LIKE, true),
            Action::ExcludeUa => self.pivot_row(&AGENT_LIKE, true),
            Action::ExcludePath => self.pivot_row(&PATH_LIKE, true),
            Action::PopFilter => {
                let mut view = self.view.clone();
                if view.filters.pop().is_some() {
                    self.refilter(view);
                } else {
                    self.message = Some("no filter to remove".into());
                }
            }
            Action::ToggleFilters => {
                let mut view = self.view.clone();
                view.filters_on = !view.filters_on;
                self.refilter(view);
            }
            Action::Context => self.context(),
            Action::ZoomIn => self.zoom_in(),
            Action::ZoomOut => {
                if self.view.zoom.pop().is_some() {
                    self.request_histogram();
                }
            }
            // Exactly what the histogram shows: its columns are aligned on round times, so
            // they start before the zoom window and end after it.
            Action::FilterToZoom => match self
                .histogram
                .as_ref()
                .map(|h| (h.start_ms, h.start_ms + h.width_ms * h.counts.len() as i64))
                .or_else(|| self.histogram_window())
            {
                Some((from_ms, to_ms)) => self.push_filter(Filter::Time { from_ms, to_ms }),
                None => self.message = Some("nothing to filter".into()),
            },
            Action::TopField => {
                self.top.field = (self.top.field + 1) % TOP_FIELDS.len();
                self.top.cursor = 0;
                self.request_top();
            }
            Action::TopOrder => {
                self.top.order = match self.top.order {
                    Order::Top => Order::Rare,
                    Order::Rare => Order::Top,
                };
                self.top.cursor = 0;
                self.request_top();
            }
            Action::ToggleSidePanes => {
                self.side_panes = !self.side_panes;
                if !self.side_panes {
                    self.focus = Pane::Table;
                    self.focused_pane_changed();
                }
            }
            Action::NextHit => self.next_hit(true, false),
            Action::PrevHit => self.next_hit(false, false),
            Action::NextBookmark => self.next_hit(true, true),
            Action::PrevBookmark => self.next_hit(false, true),
            Action::Bookmark => self.mark(MarkAction::ToggleBookmark),
            Action::Tag => {
                if self.current().is_some() {
                    self.mode = Mode::Tag;
                    self.input = Input::default();
                }
            }
            Action::Note => {
                if let Some(ev) = self.current() {
                    let existing = ev.note.clone().unwrap_or_default();
                    let end = existing.chars().count();
                    self.mode = Mode::Note;
                    self.input = Input::new(existing).with_cursor(end);
                }
            }
            Action::Marked => self.pivot_on("marked", "true", false),
            // Again from the findings: back to the top values they replaced.
            Action::Findings => {
                self.focus = if self.focus == Pane::Findings {
                    Pane::Top
                } else {
                    Pane::Findings
                };
                self.focused_pane_changed();
            }
            Action::Enter => match self.focus {
                Pane::Top | Pane::Findings => self.pivot_focused(false),
                Pane::Table => {
                    self.side_panes = true;
                    self.focus = Pane::Detail;
                }
                Pane::Detail => {}
            },
        }
    }

    /// Esc: like `q`, except at the top, where it only clears what is shown: a responder
    /// pressing it to dismiss an error must not lose the timeline.
    fn dismiss(&mut self) {
        if self.back.is_empty() && self.focus == Pane::Table {
            self.query_error = None;
            self.message = Some("q quits".into());
        } else {
            self.back_or_quit();
        }
    }

    fn back_or_quit(&mut self) {
        if let Some(saved) = self.back.pop() {
            self.view = saved.view;
            self.cursor = saved.cursor;
            self.scroll = saved.cursor.saturating_sub(self.table_height as u64 / 2);
            self.run_query();
            self.message = Some("back from context".into());
        } else if self.focus != Pane::Table {
            self.focus = Pane::Table;
            self.focused_pane_changed();
        } else {
            self.quit = true;
        }
    }

    /// Shows the selected event among all events around it (no query, no filters).
    fn context(&mut self) {
        let Some(ev) = self.current().cloned() else {
            return;
        };
        self.back.push(Saved {
            view: self.view.clone(),
            cursor: self.cursor,
        });
        self.view = View::all();
        self.run_query();
        self.pending_jump = true;
        self.outbox.push_back(Request::Locate {
            generation: self.generation,
            ts_ms: ev.ts_ms,
            file_id: ev.file_id,
            line: ev.line,
        });
        self.message = Some(format!("context of {} (Esc/q returns)", ev.location()));
    }

    fn cycle_pane(&mut self, delta: i64) {
        let panes = [Pane::Table, Pane::Detail, Pane::Top, Pane::Findings];
        let i = panes.iter().position(|p| *p == self.focus).unwrap_or(0) as i64;
        self.focus = panes[(i + delta).rem_euclid(panes.len() as i64) as usize];
        self.focused_pane_changed();
    }

    fn focused_pane_changed(&mut self) {
        // Leaving the findings: what they showed has been seen.
        if self.focus != Pane::Findings
            && std::mem::take(&mut self.findings_looked)
            && let Some(rows) = &mut self.findings.rows
        {
            for row in rows.iter_mut() {
                row.fresh = false;
            }
            self.seen_findings = Some(rows.iter().map(|r| (r.label.clone(), r.count)).collect());
        }
        if self.focus != Pane::Table {
            self.side_panes = true;
        }
        match self.focus {
            Pane::Top => {
                self.show_findings = false;
                if self.top.values.is_none() {
                    self.request_top();
                }
            }
            Pane::Findings => {
                self.show_findings = true;
                self.findings_looked = true;
                if !self.findings.requested {
                    self.findings.requested = true;
                    self.outbox.push_back(Request::Findings {
                        generation: self.generation,
                    });
                }
            }
            Pane::Table | Pane::Detail => {}
        }
    }

    /// Moves to the next (or previous) detection hit, or bookmark, of the selection.
    fn next_hit(&mut self, forward: bool, bookmark: bool) {
        let Some(ev) = self.current().cloned() else {
            return;
        };
        self.pending_jump = true;
        self.outbox.push_back(Request::NextHit {
            generation: self.generation,
            ts_ms: ev.ts_ms,
            file_id: ev.file_id,
            line: ev.line,
            forward,
            bookmark,
        });
    }

    fn move_focused(&mut self, delta: i64) {
        match self.focus {
            Pane::Table => self.move_cursor(delta),
            Pane::Detail => {
                let n = self.detail_fields().len();
                self.detail_cursor = step(self.detail_cursor, delta, n);
            }
            Pane::Top => {
                let n = self.top.values.as_ref().map_or(0, |v| v.values.len());
                self.top.cursor = step(self.top.cursor, delta, n);
            }
            Pane::Findings => {
                let n = self.findings.rows.as_ref().map_or(0, Vec::len);
                self.findings.cursor = step(self.findings.cursor, delta, n);
            }
        }
    }

    fn move_cursor(&mut self, delta: i64) {
        // A key typed before the place the view was to keep came back wins over it (keys
        // arrive together over SSH).
        self.pending_jump = false;
        self.to_end = false;
        if self.total == 0 {
            return;
        }
        let target = (self.cursor as i64 + delta).clamp(0, self.total as i64 - 1) as u64;
        self.jump(target);
    }

    /// Moves the cursor to a rank and scrolls to keep it visible.
    pub fn jump(&mut self, rank: u64) {
        self.cursor = rank.min(self.total.saturating_sub(1));
        let height = self.table_height.max(1) as u64;
        if self.cursor < self.scroll {
            self.scroll = self.cursor;
        } else if self.cursor >= self.scroll + height {
            self.scroll = self.cursor + 1 - height;
        }
        // Never a window past the last event (a scroll kept from a longer view).
        self.scroll = self.scroll.min(self.total.saturating_sub(height));
        self.detail_cursor = 0;
        self.ensure_rows();
    }

    /// Asks for rows when the visible window is not fetched yet (a page on each side too).
    pub fn ensure_rows(&mut self) {
        if self.running || self.total == 0 {
            return;
        }
        let height = self.table_height.max(1) as u64;
        let (start, end) = (self.scroll, (self.scroll + height).min(self.total));
        if self.rows.covers(start, end)
            || self.fetching == Some((self.generation, start.saturating_sub(height)))
        {
            return;
        }
        let fetch_start = start.saturating_sub(height);
        let count = (height * 3) as usize;
        self.fetching = Some((self.generation, fetch_start));
        self.outbox.push_back(Request::Rows {
            generation: self.generation,
            start: fetch_start,
            count,
        });
    }

    fn request_top(&mut self) {
        self.top.values = None;
        self.outbox.push_back(Request::Top {
            generation: self.generation,
            field: TOP_FIELDS[self.top.field].to_string(),
            order: self.top.order,
            limit: 200,
        });
    }

    /// The histogram has as many buckets as its area has columns: the first frame and every
    /// resize ask for it again at the new width.
    pub fn fit_histogram(&mut self, columns: usize) {
        if columns != self.histogram_bins {
            self.histogram_bins = columns;
            self.request_histogram();
        }
    }

    fn request_histogram(&mut self) {
        self.outbox.push_back(Request::Histogram {
            generation: self.generation,
            bins: self.histogram_bins,
            range: self.view.zoom.last().copied(),
        });
    }

    /// The time window the histogram shows.
    pub fn histogram_window(&self) -> Option<(i64, i64)> {
        self.view
            .zoom
            .last()
            .copied()
            .or_else(|| self.span.map(|(a, b)| (a, b + 1)))
    }

    fn zoom_in(&mut self) {
        let Some((from, to)) = self.histogram_window() else {
            return;
        };
        let center = self.current().map_or((from + to) / 2, |e| e.ts_ms);
        let half = ((to - from) / 8).max(500);
        self.view.zoom.push((center - half, center + half));
        self.request_histogram();
    }

    /// The (field, value) under the focus: the table's focused cell, the detail pane's line or
    /// the top-values pane's value.
    pub fn focused_value(&self) -> Option<(String, String)> {
        match self.focus {
            Pane::Table => {
                let ev = self.current()?;
                let field = COLUMNS[self.column];
                Some((field.to_string(), ev.value_of(field)?))
            }
            Pane::Detail => {
                let (name, value) = self.detail_fields().into_iter().nth(self.detail_cursor)?;
                // A source's own column named like a canonical field (a Windows event's
                // `Status`, `Path`, `Computer`) is pivoted on as that column.
                let canonical = self.current().map_or(0, |ev| ev.canonical().len());
                if self.detail_cursor >= canonical && query::is_canonical_name(&name) {
                    return Some((query::quoted_column(&name), value));
                }
                Some((name, value))
            }
            Pane::Top => {
                let values = self.top.values.as_ref()?;
                let v = values.values.get(self.top.cursor)?;
                Some((values.field.clone(), v.value.clone()))
            }
            Pane::Findings => {
                let row = self.findings.rows.as_ref()?.get(self.findings.cursor)?;
                Some((row.field.clone(), row.value.clone()))
            }
        }
    }

    /// The fields listed in the detail pane, in order.
    pub fn detail_fields(&self) -> Vec<(String, String)> {
        let Some(ev) = self.current() else {
            return Vec::new();
        };
        ev.canonical()
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .chain(ev.fields.iter().cloned())
            .collect()
    }

    fn pivot_focused(&mut self, exclude: bool) {
        match self.focused_value() {
            Some((field, value)) => self.pivot(&field, value, exclude),
            None => self.message = Some("nothing to pivot on here".into()),
        }
    }

    /// Pivots on the first of `fields` the row has: a web request's client, agent or path, or
    /// what stands for them in a Windows event.
    fn pivot_row(&mut self, fields: &[&str], exclude: bool) {
        let found = self
            .current()
            .and_then(|ev| fields.iter().find_map(|f| ev.value_of(f).map(|v| (*f, v))));
        match found {
            Some((field, value)) => self.pivot(field, value, exclude),
            None => self.message = Some(format!("this event has no {}", fields[0])),
        }
    }

    /// Pivots on a field's value, as the pivot keys do.
    pub fn pivot_on(&mut self, field: &str, value: &str, exclude: bool) {
        self.pivot(field, value.to_string(), exclude);
    }

    fn pivot(&mut self, field: &str, value: String, exclude: bool) {
        let filter = match field {
            names::TS => match query::parse_time_spec(&value) {
                Some((from_ms, to_ms)) => Filter::Time { from_ms, to_ms },
                None => return,
            },
            // A file pivot matches on the path; a line alone means nothing.
            names::LINE => {
                self.message = Some("pivot on file instead of line".into());
                return;
            }
            _ => Filter::Value {
                field: field.to_string(),
                value,
                exclude,
            },
        };
        self.focus = Pane::Table;
        self.focused_pane_changed();
        self.push_filter(filter);
    }

    /// Applies a backend reply; replies for older queries are ignored.
    pub fn on_reply(&mut self, reply: Reply) {
        match reply {
            Reply::Selected {
                generation,
                total,
                all,
                span,
                histogram,
            } if generation == self.generation => {
                self.running = false;
                self.query_error = None;
                self.applied = (self.view.clone(), generation);
                self.total = total;
                self.all = all;
                self.span = span;
                self.histogram = histogram;
                self.rows = RowCache::default();
                if let Some(before) = self.grown_from.take()
                    && !self.to_end
                    && self.live.as_ref().is_some_and(|l| l.following)
                {
                    self.unseen += total.saturating_sub(before);
                }
                if !self.pending_jump {
                    self.cursor = self.cursor.min(total.saturating_sub(1));
                }
                if std::mem::take(&mut self.to_end) {
                    self.unseen = 0;
                    self.scroll = total.saturating_sub(self.table_height.max(1) as u64);
                    self.cursor = total.saturating_sub(1);
                }
                self.jump(self.cursor);
                if self.side_panes {
                    self.request_top();
                }
            }
            Reply::Histogram {
                generation,
                histogram,
            } if generation == self.generation => self.histogram = histogram,
            Reply::Rows {
                generation,
                start,
                rows,
            } if generation == self.generation => {
                self.fetching = None;
                self.rows = RowCache { start, rows };
            }
            Reply::Top {
                generation, values, ..
            } if generation == self.generation => {
                self.top.cursor = self.top.cursor.min(values.values.len().saturating_sub(1));
                self.top.values = Some(values);
            }
            Reply::NoHit { generation } if generation == self.generation => {
                self.pending_jump = false;
                self.message = Some("nothing further in this direction".into());
            }
            Reply::Marked { message, tags } => {
                self.message = Some(message);
                self.tags = tags;
                // Fetch the rows again to show the marks; a query naming marks runs again.
                let text = self.view.text().to_lowercase();
                if ["tag:", "marked:", "noted:"]
                    .iter()
                    .any(|f| text.contains(f))
                {
                    self.run_query();
                } else {
                    self.rows = RowCache::default();
                    self.fetching = None;
                    self.ensure_rows();
                }
            }
            Reply::View { name, view } => {
                self.set_view(view);
                self.message = Some(format!("view '{name}'"));
            }
            Reply::Message(text) if !text.is_empty() => self.message = Some(text),
            // Findings are about the whole case, whatever query was running.
            Reply::Findings { mut rows, .. } => {
                // A finding that is new or has grown since the responder last looked is marked.
                let seen = self.seen_findings.get_or_insert_with(|| {
                    rows.iter().map(|r| (r.label.clone(), r.count)).collect()
                });
                for row in &mut rows {
                    row.fresh = seen.get(&row.label).is_none_or(|n| row.count > *n);
                }
                self.findings.cursor = self.findings.cursor.min(rows.len().saturating_sub(1));
                self.findings.rows = Some(rows);
            }
            // Unless a key moved the cursor since it was asked for.
            Reply::Rank { generation, rank }
                if generation == self.generation && self.pending_jump =>
            {
                self.pending_jump = false;
                // As the case grows the selected event keeps its line on the screen.
                let offset = self
                    .keep_offset
                    .take()
                    .unwrap_or(self.table_height as u64 / 2);
                self.scroll = rank.saturating_sub(offset);
                self.jump(rank);
            }
            Reply::Changed {
                all: _,
                detections_current,
            } => {
                self.reload_view();
                // Not while the evidence is first read: rules over a half-read case would
                // take the ingest's time to say what the end of the read will say again.
                let reading = self.live.as_ref().is_some_and(|l| l.ingesting.is_some());
                if !detections_current && !reading {
                    if self.detecting {
                        self.detect_again = true;
                    } else {
                        self.detecting = true;
                        self.outbox.push_back(Request::Detect);
                    }
                }
            }
            Reply::Detected { hits, .. } => {
                self.detecting = false;
                self.outbox.push_back(Request::ReloadDetections);
                if std::mem::take(&mut self.detect_again) {
                    self.detecting = true;
                    self.outbox.push_back(Request::Detect);
                }
                if let Some(before) = self.hits
                    && hits > before
                {
                    self.message = Some(format!(
                        "{} new detection hit(s) (! findings, e next hit)",
                        hits - before
                    ));
                }
                self.hits = Some(hits);
            }
            Reply::BadQuery {
                generation,
                message,
                column,
            } if generation == self.generation => {
                // Keep the previous results: go back to the last view that ran, and let the
                // user fix the text.
                let bad = std::mem::replace(&mut self.view, self.applied.0.clone()).query;
                self.generation = self.applied.1;
                self.running = false;
                self.to_end = false;
                self.query_error = Some((message, column));
                self.mode = Mode::Query;
                let end = bad.chars().count();
                self.input = Input::new(bad).with_cursor(end);
            }
            Reply::Error {
                generation,
                message,
            } if generation == self.generation => {
                self.running = false;
                self.to_end = false;
                self.message = Some(message);
            }
            _ => {}
        }
    }
}

fn step(current: usize, delta: i64, len: usize) -> usize {
    if len == 0 {
        return 0;
    }
    (current as i64 + delta).clamp(0, len as i64 - 1) as usize
}
