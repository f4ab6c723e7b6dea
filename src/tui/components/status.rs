//! The status line: messages, keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;

use crate::sanitize::escape_controls;
use crate::tui::app::App;
use crate::tui::pane::Mode;
use crate::tui::theme::Theme;

pub fn draw_status(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let text = match (&app.message, app.mode) {
        (Some(m), _) => Span::raw(escape_controls(m).into_owned()),
        (None, Mode::Query) => Span::styled(
            "Enter run · Esc cancel · ↑/↓ history · Tab complete field",
            theme.dim(),
        ),
        (None, Mode::Command) => Span::styled(
            ":goto TIME · :tag NAME · :note TEXT · :view [save|rm] NAME · :export FILE [FORMAT] · :q",
            theme.dim(),
        ),
        (None, Mode::Tag) => Span::styled(
            "Enter tags the selected event (again removes) · Tab completes · Esc cancels",
            theme.dim(),
        ),
        (None, Mode::Note) => Span::styled(
            "Enter saves the note (empty removes) · Esc cancels",
            theme.dim(),
        ),
        _ => Span::styled(
            "? help · / query · i a p pivot client/agent/path · + - filter · ⌫ pop · c context · Tab pane · q quit",
            theme.dim(),
        ),
    };
    frame.render_widget(Paragraph::new(text), area);
}
