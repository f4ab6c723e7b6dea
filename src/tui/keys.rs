//! The keymap: one table maps keys to actions and also writes the help screen, so the two
//! cannot disagree. Keys follow less, vim and lnav.

use ratatui::crossterm::event::{KeyCode, KeyEvent, KeyModifiers};

use super::pane::Pane;

/// Everything a key can do in normal mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Quit,
    Back,
    Dismiss,
    Help,
    EditQuery,
    Command,
    Down,
    Up,
    HalfPageDown,
    HalfPageUp,
    PageDown,
    PageUp,
    Top,
    Bottom,
    NextPane,
    PrevPane,
    ColumnLeft,
    ColumnRight,
    ScrollLeft,
    ScrollRight,
    Include,
    Exclude,
    PivotIp,
    PivotUa,
    PivotPath,
    ExcludeIp,
    ExcludeUa,
    ExcludePath,
    PopFilter,
    ToggleFilters,
    Context,
    ZoomIn,
    ZoomOut,
    FilterToZoom,
    TopField,
    TopOrder,
    ToggleSidePanes,
    NextHit,
    PrevHit,
    Findings,
    Bookmark,
    NextBookmark,
    PrevBookmark,
    Tag,
    Note,
    Marked,
    Enter,
}

/// A binding: the keys as shown in help, a matcher, the action, and what it does.
struct Binding {
    keys: &'static str,
    matches: fn(&KeyEvent) -> bool,
    action: Action,
    help: &'static str,
    /// Only in this pane (None: everywhere).
    pane: Option<Pane>,
}

fn plain(k: &KeyEvent, code: KeyCode) -> bool {
    k.code == code
        && !k
            .modifiers
            .intersects(KeyModifiers::CONTROL | KeyModifiers::ALT)
}

fn ctrl(k: &KeyEvent, c: char) -> bool {
    k.code == KeyCode::Char(c) && k.modifiers.contains(KeyModifiers::CONTROL)
}

fn ch(k: &KeyEvent, c: char) -> bool {
    plain(k, KeyCode::Char(c))
}

macro_rules! bind {
    ($keys:expr, $action:ident, $help:expr, |$k:ident| $m:expr) => {
        Binding {
            keys: $keys,
            matches: |$k: &KeyEvent| $m,
            action: Action::$action,
            help: $help,
            pane: None,
        }
    };
    ($keys:expr, $action:ident, $help:expr, $pane:ident, |$k:ident| $m:expr) => {
        Binding {
            keys: $keys,
            matches: |$k: &KeyEvent| $m,
            action: Action::$action,
            help: $help,
            pane: Some(Pane::$pane),
        }
    };
}

const BINDINGS: &[Binding] = &[
    bind!(
        "j ↓",
        Down,
        "next row (or next line of the focused pane)",
        |k| ch(k, 'j') || plain(k, KeyCode::Down)
    ),
    bind!("k ↑", Up, "previous row", |k| ch(k, 'k')
        || plain(k, KeyCode::Up)),
    bind!("Ctrl-d", HalfPageDown, "half a page down", |k| ctrl(k, 'd')),
    bind!("Ctrl-u", HalfPageUp, "half a page up", |k| ctrl(k, 'u')),
    bind!("PgDn Space", PageDown, "page down", |k| plain(
        k,
        KeyCode::PageDown
    ) || ch(k, ' ')),
    bind!("PgUp b", PageUp, "page up", |k| plain(k, KeyCode::PageUp)
        || ch(k, 'b')),
    bind!("g Home", Top, "first event (oldest)", |k| ch(k, 'g')
        || plain(k, KeyCode::Home)),
    bind!("G End", Bottom, "last event (newest)", |k| ch(k, 'G')
        || plain(k, KeyCode::End)),
    bind!(
        "h ←",
        ColumnLeft,
        "focus the column to the left",
        Table,
        |k| ch(k, 'h') || plain(k, KeyCode::Left)
    ),
    bind!(
        "l →",
        ColumnRight,
        "focus the column to the right",
        Table,
        |k| ch(k, 'l') || plain(k, KeyCode::Right)
    ),
    bind!(
        "< >",
        ScrollLeft,
        "scroll long values left / right",
        |k| ch(k, '<')
    ),
    bind!(">", ScrollRight, "", |k| ch(k, '>')),
    bind!(
        "/",
        EditQuery,
        "edit the query (↑/↓ history, Tab completes field names)",
        |k| ch(k, '/')
    ),
    bind!(
        ":",
        Command,
        "commands: :goto TIME :tag/:untag NAME :note TEXT :view [save|rm] NAME :export FILE (:w! replaces) :follow",
        |k| ch(k, ':')
    ),
    bind!(
        "+",
        Include,
        "keep only events whose focused field has this value",
        |k| ch(k, '+') || ch(k, '=')
    ),
    bind!(
        "-",
        Exclude,
        "exclude events whose focused field has this value",
        |k| ch(k, '-')
    ),
    bind!("i", PivotIp, "keep only the row's client address", |k| ch(
        k, 'i'
    )),
    bind!(
        "a",
        PivotUa,
        "keep only the row's user agent (events: command line)",
        |k| ch(k, 'a')
    ),
    bind!(
        "p",
        PivotPath,
        "keep only the row's path (events: program or file)",
        |k| ch(k, 'p')
    ),
    bind!(
        "I A P",
        ExcludeIp,
        "exclude the row's client / user agent / path",
        |k| ch(k, 'I')
    ),
    bind!("A", ExcludeUa, "", |k| ch(k, 'A')),
    bind!("P", ExcludePath, "", |k| ch(k, 'P')),
    bind!("Backspace", PopFilter, "remove the last filter", |k| plain(
        k,
        KeyCode::Backspace
    )),
    bind!(
        "Ctrl-f F",
        ToggleFilters,
        "switch all filters off / on",
        |k| ctrl(k, 'f') || ch(k, 'F')
    ),
    bind!(
        "c",
        Context,
        "context: the selected event among all events around it (q/Esc returns)",
        |k| ch(k, 'c')
    ),
    bind!(
        "z",
        ZoomIn,
        "zoom the histogram in around the selected event",
        |k| ch(k, 'z')
    ),
    bind!("Z", ZoomOut, "zoom the histogram out", |k| ch(k, 'Z')),
    bind!(
        "T",
        FilterToZoom,
        "filter to the histogram's time window",
        |k| ch(k, 'T')
    ),
    bind!(
        "f",
        TopField,
        "top values: next field (ip, ua, path, status, user, host…)",
        |k| ch(k, 'f')
    ),
    bind!(
        "r",
        TopOrder,
        "top values: most frequent / rarest first",
        |k| ch(k, 'r')
    ),
    bind!(
        "e",
        NextHit,
        "next detection hit in time (medium severity or worse)",
        |k| ch(k, 'e')
    ),
    bind!("E", PrevHit, "previous detection hit", |k| ch(k, 'E')),
    bind!(
        "m",
        Bookmark,
        "bookmark the selected event (again: remove)",
        |k| ch(k, 'm')
    ),
    bind!(
        "u U",
        NextBookmark,
        "next / previous bookmark in time",
        |k| ch(k, 'u')
    ),
    bind!("U", PrevBookmark, "", |k| ch(k, 'U')),
    bind!(
        "t",
        Tag,
        "tag the selected event (Tab completes; again: untag)",
        |k| ch(k, 't')
    ),
    bind!(
        "n",
        Note,
        "write a note on the selected event (empty: remove)",
        |k| ch(k, 'n')
    ),
    bind!(
        "M",
        Marked,
        "keep only marked events (bookmarked, tagged or noted)",
        |k| ch(k, 'M')
    ),
    bind!(
        "!",
        Findings,
        "findings: web shells, suspects, rule hits (Enter pivots); again: top values",
        |k| ch(k, '!')
    ),
    bind!(
        "Tab",
        NextPane,
        "next pane: table, detail, top values, findings",
        |k| plain(k, KeyCode::Tab)
    ),
    bind!("Shift-Tab", PrevPane, "previous pane", |k| k.code
        == KeyCode::BackTab),
    bind!(
        "v",
        ToggleSidePanes,
        "show / hide the detail and top-values panes",
        |k| ch(k, 'v')
    ),
    bind!(
        "Enter",
        Enter,
        "open the detail (table) / pivot in (top values, findings)",
        |k| plain(k, KeyCode::Enter)
    ),
    bind!("? F1", Help, "this help", |k| ch(k, '?')
        || plain(k, KeyCode::F(1))),
    bind!(
        "q",
        Back,
        "back (from context, from a pane), then quit",
        |k| ch(k, 'q')
    ),
    bind!(
        "Esc",
        Dismiss,
        "back from context or a pane, dismiss a message; never quits",
        |k| plain(k, KeyCode::Esc)
    ),
    bind!("Ctrl-c", Quit, "quit", |k| ctrl(k, 'c')),
];

/// The action of a key in normal mode, given the focused pane.
pub fn action_for(key: KeyEvent, pane: Pane) -> Option<Action> {
    BINDINGS
        .iter()
        .find(|b| b.pane.is_none_or(|p| p == pane) && (b.matches)(&key))
        .map(|b| b.action)
}

/// Help lines: keys and what they do.
pub fn help() -> Vec<(&'static str, &'static str)> {
    BINDINGS
        .iter()
        .filter(|b| !b.help.is_empty())
        .map(|b| (b.keys, b.help))
        .chain(OUTSIDE_THE_KEYMAP)
        .collect()
}

/// Keys handled before the keymap (they act on the terminal, not the timeline).
const OUTSIDE_THE_KEYMAP: [(&str, &str); 2] = [
    ("Ctrl-z", "suspend trawl (fg brings it back)"),
    ("mouse wheel", "scroll the table"),
];

#[cfg(test)]
mod tests {
    use super::*;

    fn key(code: KeyCode) -> KeyEvent {
        KeyEvent::new(code, KeyModifiers::NONE)
    }

    #[test]
    fn vim_and_less_keys() {
        assert_eq!(
            action_for(key(KeyCode::Char('j')), Pane::Table),
            Some(Action::Down)
        );
        assert_eq!(
            action_for(key(KeyCode::Char('G')), Pane::Table),
            Some(Action::Bottom)
        );
        assert_eq!(
            action_for(
                KeyEvent::new(KeyCode::Char('d'), KeyModifiers::CONTROL),
                Pane::Table
            ),
            Some(Action::HalfPageDown)
        );
        assert_eq!(action_for(key(KeyCode::Char('h')), Pane::Detail), None);
        assert_eq!(action_for(key(KeyCode::Char('x')), Pane::Table), None);
    }

    #[test]
    fn every_action_is_documented() {
        let help = help();
        assert!(help.iter().any(|(k, _)| *k == "c"));
        assert!(help.len() > 25);
    }
}
