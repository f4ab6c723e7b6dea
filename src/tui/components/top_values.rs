//! The top-values pane: exact counts of a field's values in the selection.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::event::names;
use crate::sanitize::{escape_controls, thousands};
use crate::selection::{Order, TopValues};
use crate::tui::app::App;
use crate::tui::pane::Pane;
use crate::tui::theme::Theme;

/// Fields the top-values pane cycles through.
pub const TOP_FIELDS: [&str; 9] = [
    names::CLIENT,
    names::IP,
    names::UA,
    names::PATH,
    names::STATUS,
    names::USER,
    names::HOST,
    names::METHOD,
    names::SOURCE,
];

/// The top-values pane.
#[derive(Debug, Clone)]
pub struct TopState {
    pub field: usize,
    pub order: Order,
    pub values: Option<TopValues>,
    pub cursor: usize,
}

pub fn draw_top(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let focused = app.focus == Pane::Top;
    let field = TOP_FIELDS[app.top.field];
    let order = match app.top.order {
        Order::Top => "most frequent",
        Order::Rare => "rarest",
    };
    let distinct = app.top.values.as_ref().map_or(String::new(), |v| {
        format!(", {} distinct", thousands(v.distinct))
    });
    let title = format!(" {field}: {order}{distinct} (f, r) ");
    let block = theme.pane(title, focused);
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(values) = &app.top.values else {
        frame.render_widget(
            Paragraph::new(Span::styled("counting…", theme.dim())),
            inner,
        );
        return;
    };
    let height = inner.height as usize;
    let first = app.top.cursor.saturating_sub(height.saturating_sub(1));
    let width = values
        .values
        .first()
        .map_or(1, |v| thousands(v.count).len())
        .max(values.values.last().map_or(1, |v| thousands(v.count).len()));
    let lines: Vec<Line> = values
        .values
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, v)| {
            let style = if focused && i == app.top.cursor {
                theme.selected()
            } else {
                Style::default()
            };
            Line::from(vec![
                Span::styled(
                    format!("{:>width$} ", thousands(v.count)),
                    theme.fg(Color::Yellow),
                ),
                Span::raw(escape_controls(&v.value).into_owned()),
            ])
            .style(style)
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}
