//! The detail pane: every field of the selected event, its raw record and `file:line`.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::sanitize::{escape_controls, thousands};
use crate::tui::app::App;
use crate::tui::components::{chunk, clip};
use crate::tui::pane::Pane;
use crate::tui::theme::Theme;

pub fn draw_detail(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let focused = app.focus == Pane::Detail;
    let title = match app.current() {
        Some(ev) => format!(
            " event {} of {} — {} ",
            thousands(app.cursor + 1),
            thousands(app.total),
            escape_controls(&ev.location())
        ),
        None => " event ".into(),
    };
    let block = theme.pane(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(ev) = app.current() else {
        return;
    };
    let fields = app.detail_fields();
    let name_width = fields
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(4)
        .min(14);
    let value_width = (inner.width as usize).saturating_sub(name_width + 1).max(8);
    let mut lines: Vec<Line> = Vec::new();
    let mut selected_line = 0;
    for (i, (k, v)) in fields.iter().enumerate() {
        let style = if focused && i == app.detail_cursor {
            selected_line = lines.len();
            theme.selected()
        } else {
            Style::default()
        };
        // Values are cut into lines of the pane's width: a long path or agent has no spaces
        // to wrap at.
        let value = escape_controls(v);
        let chunks = chunk(&value, value_width);
        for (j, part) in chunks.iter().enumerate() {
            let name = if j == 0 {
                clip(&escape_controls(k), name_width)
            } else {
                String::new()
            };
            lines.push(
                Line::from(vec![
                    Span::styled(format!("{name:<name_width$} "), theme.fg(Color::Cyan)),
                    Span::raw(part.clone()),
                ])
                .style(style),
            );
        }
    }
    lines.push(Line::from(Span::styled("raw", theme.fg(Color::Cyan))));
    // A record over several lines (pretty-printed JSON, a quoted CSV newline, an event's XML)
    // keeps its lines; every other control character is shown escaped, and bytes that are not
    // UTF-8 as they are (`\x9b`), not as the replacement character.
    let raw = match &ev.raw_bytes {
        Some(bytes) => std::borrow::Cow::Owned(crate::sanitize::escape_invalid_utf8(bytes)),
        None => std::borrow::Cow::Borrowed(ev.raw.as_str()),
    };
    for raw_line in raw.split('\n') {
        let raw_line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        for part in chunk(&escape_controls(raw_line), inner.width.max(8) as usize) {
            lines.push(Line::from(part));
        }
    }
    if let Some(problem) = &ev.problem {
        lines.push(Line::from(Span::styled(
            escape_controls(problem),
            theme.error(),
        )));
    }
    let scroll = selected_line.saturating_sub(inner.height.saturating_sub(2) as usize) as u16;
    frame.render_widget(Paragraph::new(lines).scroll((scroll, 0)), inner);
}
