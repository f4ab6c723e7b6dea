//! Drawing the timeline: one function per pane, reading the [`App`]; nothing here changes
//! state except the sizes the app needs to know (table height, histogram width).
//!
//! Every string that comes from a log goes through [`escape_controls`] first: logs are
//! attacker-written and must never put raw control characters or escape sequences on the
//! terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::{Color, Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Clear, Paragraph, Row, Table};

use super::app::{App, COLUMNS, Mode, Pane, TOP_FIELDS};
use super::keys;
use crate::event::names;
use crate::formats::time::format_ms;
use crate::rules::Severity;
use crate::sanitize::{escape_controls, thousands};
use crate::schema::strip_exchange_boilerplate;
use crate::selection::Order;
use crate::view::EventView;

/// Styles, with or without colour (`NO_COLOR`).
#[derive(Debug, Clone, Copy)]
pub struct Theme {
    pub color: bool,
}

impl Theme {
    /// Colour unless the `NO_COLOR` environment variable is set to anything non-empty.
    pub fn from_env() -> Theme {
        Theme {
            color: std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty()),
        }
    }

    fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    fn selected(&self) -> Style {
        if self.color {
            Style::default().bg(Color::Blue).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    fn focused_cell(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    fn chip(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::default().add_modifier(Modifier::UNDERLINED)
        }
    }
}

/// Draws the whole screen.
pub fn draw(frame: &mut Frame, app: &mut App, theme: Theme) {
    let area = frame.area();
    let [bar, hist, main, status] = Layout::vertical([
        Constraint::Length(2),
        Constraint::Length(4),
        Constraint::Min(3),
        Constraint::Length(1),
    ])
    .areas(area);
    draw_query_bar(frame, app, theme, bar);
    draw_histogram(frame, app, theme, hist);
    let (table_area, side) = split_main(main, app.side_panes, app.focus != Pane::Table);
    draw_table(frame, app, theme, table_area);
    if let Some((detail, lower)) = side {
        draw_detail(frame, app, theme, detail);
        if app.show_findings || app.focus == Pane::Findings {
            draw_findings(frame, app, theme, lower);
        } else {
            draw_top(frame, app, theme, lower);
        }
    }
    draw_status(frame, app, theme, status);
    if app.mode == Mode::Help {
        draw_help(frame, theme, area);
    }
}

/// Table beside the side panes on wide terminals, above them on narrow ones, where a focused
/// side pane gets the larger share.
fn split_main(area: Rect, side_panes: bool, side_focused: bool) -> (Rect, Option<(Rect, Rect)>) {
    if !side_panes {
        return (area, None);
    }
    if area.width >= 140 {
        let [table, side] =
            Layout::horizontal([Constraint::Percentage(62), Constraint::Percentage(38)])
                .areas(area);
        let [detail, top] =
            Layout::vertical([Constraint::Percentage(60), Constraint::Percentage(40)]).areas(side);
        (table, Some((detail, top)))
    } else {
        let table_share = if side_focused { 35 } else { 55 };
        let [table, below] = Layout::vertical([
            Constraint::Percentage(table_share),
            Constraint::Percentage(100 - table_share),
        ])
        .areas(area);
        let [detail, top] =
            Layout::horizontal([Constraint::Percentage(58), Constraint::Percentage(42)])
                .areas(below);
        (table, Some((detail, top)))
    }
}

fn draw_query_bar(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
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

/// At most `width` characters, with `…` when cut.
fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

fn draw_histogram(frame: &mut Frame, app: &mut App, theme: Theme, area: Rect) {
    let [bars_area, axis] =
        Layout::vertical([Constraint::Length(3), Constraint::Length(1)]).areas(area);
    app.histogram_bins = bars_area.width.max(1) as usize;
    let Some(h) = &app.histogram else {
        frame.render_widget(
            Paragraph::new(Span::styled("(no events)", theme.dim())),
            bars_area,
        );
        return;
    };
    let max = h.counts.iter().copied().max().unwrap_or(0).max(1);
    let levels = u64::from(bars_area.height) * 8;
    let cursor_bucket = app
        .current()
        .map(|e| (e.ts_ms - h.start_ms).div_euclid(h.width_ms.max(1)));
    let buf = frame.buffer_mut();
    for (i, &count) in h.counts.iter().enumerate().take(bars_area.width as usize) {
        // Any non-zero bucket gets at least one eighth: a lone attacker request must show.
        let height = if count == 0 {
            0
        } else {
            (count * levels).div_ceil(max).max(1)
        };
        let hit = h.hits.get(i).copied().unwrap_or(false);
        let style = if cursor_bucket == Some(i as i64) {
            theme.fg(Color::Yellow).add_modifier(Modifier::BOLD)
        } else if hit {
            theme.fg(Color::Red).add_modifier(Modifier::BOLD)
        } else {
            theme.fg(Color::Green)
        };
        for row in 0..bars_area.height {
            let from_bottom = u64::from(bars_area.height - 1 - row);
            let fill = height.saturating_sub(from_bottom * 8).min(8) as usize;
            let x = bars_area.x + i as u16;
            let y = bars_area.y + row;
            buf[(x, y)].set_char(BARS[fill]).set_style(style);
        }
        if cursor_bucket == Some(i as i64) && height == 0 {
            buf[(bars_area.x + i as u16, bars_area.bottom() - 1)]
                .set_char('·')
                .set_style(style);
        }
        // Without colour, a hit bucket shows a mark above its bar.
        if hit && !theme.color && height <= levels.saturating_sub(8) {
            buf[(bars_area.x + i as u16, bars_area.y)]
                .set_char('!')
                .set_style(style);
        }
    }
    let start = format_ms(h.start_ms);
    let end = format_ms(h.start_ms + h.width_ms * h.counts.len() as i64);
    let zoom = if app.view.zoom.is_empty() {
        String::new()
    } else {
        format!(" zoom ×{}", app.view.zoom.len())
    };
    let middle = format!(" {} per column, max {}{zoom} ", h.label, thousands(max));
    let width = axis.width as usize;
    let fill = width.saturating_sub(start.len() + end.len() + middle.len());
    let text = format!(
        "{start}{}{middle}{}{end}",
        "─".repeat(fill / 2),
        "─".repeat(fill - fill / 2)
    );
    frame.render_widget(Paragraph::new(Span::styled(text, theme.dim())), axis);
}

/// The cell text of one column for one event.
fn cell_text(ev: &EventView, column: &str, hscroll: usize, narrow: bool) -> String {
    let raw = match column {
        // Narrow screens drop the year (the histogram's axis shows it).
        names::TS if narrow => ev.ts[5..].trim_end_matches('Z').replacen('T', " ", 1),
        names::TS => ev.ts.trim_end_matches('Z').replacen('T', " ", 1),
        names::PATH => match (
            &ev.path,
            ev.query.as_deref().map(strip_exchange_boilerplate),
        ) {
            (Some(p), Some(q)) if !q.is_empty() => format!("{p}?{q}"),
            (Some(p), _) => p.clone(),
            _ => ev
                .fields
                .iter()
                .find(|(k, _)| {
                    ["message", "cmd", "eventdata"].contains(&k.to_ascii_lowercase().as_str())
                })
                .map_or(String::new(), |(_, v)| v.clone()),
        },
        other => ev.value_of(other).unwrap_or_default(),
    };
    let shown: String = if matches!(column, names::PATH | names::UA) {
        raw.chars().skip(hscroll).collect()
    } else {
        raw
    };
    escape_controls(&shown).into_owned()
}

fn column_width(column: &str, area_width: u16) -> Constraint {
    let narrow = area_width < 110;
    match column {
        names::TS => Constraint::Length(if narrow { 18 } else { 23 }),
        names::HOST => Constraint::Length(if narrow { 5 } else { 8 }),
        names::SOURCE => Constraint::Length(if narrow { 4 } else { 9 }),
        names::IP | names::CLIENT => Constraint::Length(15),
        names::METHOD => Constraint::Length(if narrow { 4 } else { 7 }),
        names::STATUS => Constraint::Length(3),
        names::PATH => Constraint::Fill(3),
        _ => Constraint::Fill(2),
    }
}

fn draw_table(frame: &mut Frame, app: &mut App, theme: Theme, area: Rect) {
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
        .chain(COLUMNS.iter().map(|c| column_width(c, inner.width)))
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
                        let cell = Cell::from(cell_text(ev, c, app.hscroll, inner.width < 110));
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
        frame.render_widget(
            Paragraph::new(Span::styled("no events match", theme.dim())),
            Rect {
                y: inner.y + 1,
                height: 1,
                ..inner
            },
        );
    }
}

fn draw_detail(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
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
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        title,
        if focused { theme.title() } else { theme.dim() },
    ));
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
    for part in chunk(&escape_controls(&ev.raw), inner.width.max(8) as usize) {
        lines.push(Line::from(part));
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

/// Cuts text into pieces of at most `width` characters (at least one piece).
fn chunk(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(width.max(1))
        .map(|c| c.iter().collect())
        .collect()
}

fn draw_top(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
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
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        title,
        if focused { theme.title() } else { theme.dim() },
    ));
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

fn severity_style(theme: Theme, severity: Severity, noise: bool) -> Style {
    if noise {
        return theme.dim();
    }
    match severity {
        Severity::High => theme.fg(Color::Red).add_modifier(Modifier::BOLD),
        Severity::Medium => theme.fg(Color::Yellow),
        Severity::Low => theme.fg(Color::Cyan),
        Severity::Info => theme.dim(),
    }
}

fn draw_findings(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let focused = app.focus == Pane::Findings;
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        " findings (! · Enter pivots · e/E next hit) ",
        if focused { theme.title() } else { theme.dim() },
    ));
    let inner = block.inner(area);
    frame.render_widget(block, area);
    let Some(rows) = &app.findings.rows else {
        frame.render_widget(Paragraph::new(Span::styled("hunting…", theme.dim())), inner);
        return;
    };
    if rows.is_empty() {
        frame.render_widget(
            Paragraph::new(Span::styled(
                "no finding (trawl hunt runs the rules)",
                theme.dim(),
            )),
            inner,
        );
        return;
    }
    let height = inner.height as usize;
    let first = app.findings.cursor.saturating_sub(height.saturating_sub(1));
    let lines: Vec<Line> = rows
        .iter()
        .enumerate()
        .skip(first)
        .take(height)
        .map(|(i, r)| {
            let sev = if r.noise {
                "noise".to_string()
            } else {
                r.severity.to_string()
            };
            let line = Line::from(vec![
                Span::styled(
                    format!("{sev:<6} "),
                    severity_style(theme, r.severity, r.noise),
                ),
                Span::styled(
                    format!("{:>6} ", thousands(r.count)),
                    theme.fg(Color::Yellow),
                ),
                Span::raw(escape_controls(&r.label).into_owned()),
            ]);
            if focused && i == app.findings.cursor {
                line.style(theme.selected())
            } else {
                line
            }
        })
        .collect();
    frame.render_widget(Paragraph::new(lines), inner);
}

fn draw_status(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
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

fn draw_help(frame: &mut Frame, theme: Theme, area: Rect) {
    let help = keys::help();
    let width = area.width.saturating_sub(4).min(96);
    let height = (help.len() as u16 + 4).min(area.height.saturating_sub(2));
    let popup = Rect {
        x: area.x + (area.width.saturating_sub(width)) / 2,
        y: area.y + (area.height.saturating_sub(height)) / 2,
        width,
        height,
    };
    frame.render_widget(Clear, popup);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" keys (q, Esc or ? closes) ", theme.title()));
    let lines: Vec<Line> = help
        .iter()
        .map(|(k, h)| {
            Line::from(vec![
                Span::styled(
                    format!("{k:<12}"),
                    theme.fg(Color::Cyan).add_modifier(Modifier::BOLD),
                ),
                Span::raw(*h),
            ])
        })
        .collect();
    frame.render_widget(Paragraph::new(lines).block(block), popup);
}
