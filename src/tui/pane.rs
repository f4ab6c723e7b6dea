//! Which pane has the keyboard and what the keyboard is doing: shared by the app and the
//! keymap.

/// Which pane has the keyboard.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Pane {
    Table,
    Detail,
    Top,
    Findings,
}

/// What the keyboard is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Normal,
    /// Editing the query (`/`).
    Query,
    /// Typing a `:` command.
    Command,
    /// Typing a tag for the selected event (`t`).
    Tag,
    /// Writing a note on the selected event (`n`).
    Note,
    Help,
}
