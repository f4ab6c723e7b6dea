//! The query bar and the pivot chips.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::sanitize::{escape_controls, thousands};
use crate::tui::app::App;
use crate::tui::pane::Mode;
use crate::tui::theme::Theme;

pub fn draw_query_bar(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let [first, second] =
        Layout::vertical([Constraint::Length(1), Constraint::Length(1)]).areas(area);
    let count = if app.running {
        "searching…".to_string()
    } else {
        format!("{} of {} events", thousands(app.total), thousands(app.all))
    };
    let [query_area, count_area] = Layout::horizontal([
        Constraint::Min(10),
        Constraint::Length(count.chars().count() as u16 + 1),
    ])
    .areas(first);
    frame.render_widget(
        Paragraph::new(Span::styled(count, theme.title())).right_aligned(),
        count_area,
    );
    let editing = matches!(
        app.mode,
        Mode::Query | Mode::Command | Mode::Tag | Mode::Note
    );
    let prompt = match app.mode {
        Mode::Command => ":",
        Mode::Tag => "tag:",
        Mode::Note => "note:",
        _ => "/",
    };
    if editing {
        let offset = prompt.chars().count() as u16 + 1;
        let width = query_area.width.saturating_sub(offset) as usize;
        let scroll = app.input.visual_scroll(width);
        let value: String = app.input.value().chars().skip(scroll).collect();
        frame.render_widget(
            Paragraph::new(Line::from(vec![
                Span::styled(prompt, theme.title()),
                Span::raw(" "),
                Span::raw(escape_controls(&value).into_owned()),
            ])),
            query_area,
        );
        let x = query_area.x + offset + (app.input.visual_cursor().saturating_sub(scroll)) as u16;
        frame.set_cursor_position((x.min(query_area.right().saturating_sub(1)), query_area.y));
    } else {
        let q = if app.view.query.trim().is_empty() {
            Span::styled("(all events: / to search)", theme.dim())
        } else {
            Span::raw(escape_controls(&app.view.query).into_owned())
        };
        frame.render_widget(
            Paragraph::new(Line::from(vec![Span::styled("/ ", theme.dim()), q])),
            query_area,
        );
    }
    // Second line: the error, or the pivot chips.
    let line = if let Some((message, column)) = &app.query_error {
        Line::from(vec![
            Span::styled(format!("✗ column {column}: "), theme.error()),
            Span::styled(escape_controls(message).into_owned(), theme.error()),
        ])
    } else if app.view.filters.is_empty() {
        Line::from(Span::styled(
            "no filters (+/- or i/a/p on a row to pivot)",
            theme.dim(),
        ))
    } else {
        let mut spans = Vec::new();
        for f in &app.view.filters {
            let style = if app.view.filters_on {
                theme.chip()
            } else {
                theme.dim()
            };
            spans.push(Span::styled(
                format!(" {} ", escape_controls(&f.label())),
                style,
            ));
            spans.push(Span::raw(" "));
        }
        if !app.view.filters_on {
            spans.push(Span::styled("(filters off: F)", theme.dim()));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), second);
}
