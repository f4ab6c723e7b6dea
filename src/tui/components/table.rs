//! The virtualised table of events.

use chrono::Datelike;
use std::sync::Arc;

use ratatui::Frame;
use ratatui::layout::{Constraint, Rect};
use ratatui::style::Color;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Paragraph, Row, Table};

use crate::event::names;
use crate::sanitize::escape_controls;
use crate::schema::strip_exchange_boilerplate;
use crate::tui::app::App;
use crate::tui::pane::Pane;
use crate::tui::theme::Theme;
use crate::view::EventView;

/// Table columns and the field each shows.
pub const COLUMNS: [&str; 8] = [
    names::TS,
    names::HOST,
    names::SOURCE,
    names::CLIENT,
    names::METHOD,
    names::STATUS,
    names::PATH,
    names::UA,
];

/// The rows fetched around the visible window.
#[derive(Debug, Default, Clone)]
pub struct RowCache {
    pub start: u64,
    pub rows: Vec<Arc<EventView>>,
}

impl RowCache {
    pub fn get(&self, rank: u64) -> Option<&Arc<EventView>> {
        let i = rank.checked_sub(self.start)?;
        self.rows.get(usize::try_from(i).ok()?)
    }

    pub fn covers(&self, start: u64, end: u64) -> bool {
        start >= self.start && end <= self.start + self.rows.len() as u64
    }
}

/// The cell text of one column for one event; `short_time` drops the year (see
/// [`short_time`]).
pub fn cell_text(ev: &EventView, column: &str, hscroll: usize, short_time: bool) -> String {
    let raw = match column {
        names::TS if short_time => ev.ts[5..].trim_end_matches('Z').replacen('T', " ", 1),
        names::TS => ev.ts.trim_end_matches('Z').replacen('T', " ", 1),
        names::PATH => match (
            &ev.path,
            ev.query.as_deref().map(strip_exchange_boilerplate),
        ) {
            (Some(p), Some(q)) if !q.is_empty() => format!("{p}?{q}"),
            (Some(p), _) => p.clone(),
            // Event logs and other records without a path: what happened, in a line.
            _ => ev
                .summary()
                .or_else(|| ev.value_of("EventData"))
                .unwrap_or_default(),
        },
        // Where a web event has its status, a Windows event shows its id.
        names::STATUS => ev
            .status
            .map(|s| s.to_string())
            .or_else(|| ev.value_of("EventID"))
            .unwrap_or_default(),
        other => ev.value_of(other).unwrap_or_default(),
    };
    let shown: String = if matches!(column, names::PATH | names::UA) {
        raw.chars().skip(hscroll).collect()
    } else {
        raw
    };
    escape_controls(&shown).into_owned()
}

/// Whether the time column drops the year: on a narrow table, when the whole view is within one
/// year (the histogram's axis shows which); never across years, where it would be ambiguous.
pub fn short_time(area_width: u16, span: Option<(i64, i64)>) -> bool {
    let year = |ms: i64| chrono::DateTime::from_timestamp_millis(ms).map(|t| t.year());
    area_width < 110 && span.is_some_and(|(a, b)| year(a) == year(b))
}

pub fn column_width(column: &str, area_width: u16, short_time: bool) -> Constraint {
    let narrow = area_width < 110;
    match column {
        names::TS => Constraint::Length(if short_time { 18 } else { 23 }),
        names::HOST => Constraint::Length(if narrow { 5 } else { 8 }),
        names::SOURCE => Constraint::Length(if narrow { 4 } else { 9 }),
        names::IP | names::CLIENT => Constraint::Length(15),
        names::METHOD => Constraint::Length(if narrow { 4 } else { 7 }),
        names::STATUS => Constraint::Length(4),
        names::PATH => Constraint::Fill(3),
        _ => Constraint::Fill(2),
    }
}

pub fn draw_table(frame: &mut Frame, app: &mut App, theme: Theme, area: Rect) {
    let focused = app.focus == Pane::Table;
    let block = Block::default().borders(Borders::TOP).title(Span::styled(
        " timeline (UTC) ",
        if focused { theme.title() } else { theme.dim() },
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    // Header row plus rows.
    let height = inner.height.saturating_sub(1) as usize;
    if app.table_height != height {
        app.table_height = height.max(1);
        app.jump(app.cursor);
    }
    let header = Row::new(
        std::iter::once(Cell::from(" ")).chain(COLUMNS.iter().enumerate().map(|(i, c)| {
            let name = if *c == names::TS { "time (UTC)" } else { c };
            let style = if i == app.column && focused {
                theme.title().add_modifier(Modifier::UNDERLINED)
            } else {
                theme.title()
            };
            Cell::from(name).style(style)
        })),
    );
    let widths: Vec<Constraint> = std::iter::once(Constraint::Length(2))
        .chain(
            COLUMNS
                .iter()
                .map(|c| column_width(c, inner.width, short_time(inner.width, app.span))),
        )
        .collect();
    let mut rows = Vec::with_capacity(height);
    for rank in app.scroll..(app.scroll + height as u64).min(app.total) {
        let selected = rank == app.cursor;
        let row = match app.rows.get(rank) {
            Some(ev) => {
                // First column: `!` for a detection hit, `*` a bookmark, `#` a tag or note.
                let mark = if ev.bookmark {
                    "*"
                } else if !ev.tags.is_empty() || ev.note.is_some() {
                    "#"
                } else {
                    " "
                };
                let hit = if ev.rules.is_empty() { " " } else { "!" };
                let marker = Cell::from(Line::from(vec![
                    Span::styled(hit, theme.fg(Color::Red).add_modifier(Modifier::BOLD)),
                    Span::styled(mark, theme.fg(Color::Magenta).add_modifier(Modifier::BOLD)),
                ]));
                Row::new(
                    std::iter::once(marker).chain(COLUMNS.iter().enumerate().map(|(i, c)| {
                        let cell = Cell::from(cell_text(
                            ev,
                            c,
                            app.hscroll,
                            short_time(inner.width, app.span),
                        ));
                        if selected && focused && i == app.column {
                            cell.style(theme.focused_cell())
                        } else {
                            cell
                        }
                    })),
                )
            }
            None => Row::new([Cell::from(Span::styled("…", theme.dim()))]),
        };
        rows.push(if selected {
            row.style(theme.selected())
        } else {
            row
        });
    }
    let table = Table::new(rows, widths).header(header).column_spacing(1);
    frame.render_widget(table, inner);
    if app.total == 0 && !app.running {
        // Pivots narrow what is already shown: say so, and how to step back.
        let narrowing = usize::from(!app.view.query.trim().is_empty())
            + if app.view.filters_on {
                app.view.filters.len()
            } else {
                0
            };
        let text = if narrowing > 1 {
            format!(
                "no events match all {narrowing} conditions together (Backspace drops the last)"
            )
        } else {
            "no events match".to_string()
        };
        frame.render_widget(
            Paragraph::new(Span::styled(text, theme.dim())),
            Rect {
                y: inner.y + 1,
                height: 1,
                ..inner
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_year_is_dropped_only_within_one_year() {
        let ms = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("time")
                .timestamp_millis()
        };
        let one_year = Some((ms("2021-03-03T00:00:00Z"), ms("2021-12-31T23:59:59Z")));
        let years = Some((ms("2019-05-24T01:33:53Z"), ms("2026-01-02T00:00:00Z")));
        assert!(short_time(100, one_year));
        assert!(!short_time(100, years));
        assert!(!short_time(160, one_year));
        let ev = EventView {
            ts: "2019-05-24T01:33:53.112Z".into(),
            ..EventView::default()
        };
        assert_eq!(cell_text(&ev, names::TS, 0, true), "05-24 01:33:53.112");
        assert_eq!(
            cell_text(&ev, names::TS, 0, short_time(100, years)),
            "2019-05-24 01:33:53.112"
        );
    }
}
