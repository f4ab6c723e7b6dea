//! The findings pane: verdicts, inferences and rule hits, each a pivot.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::style::{Modifier, Style};
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;

use crate::rules::Severity;
use crate::sanitize::{escape_controls, thousands};
use crate::tui::app::App;
use crate::tui::backend::FindingRow;
use crate::tui::pane::Pane;
use crate::tui::theme::Theme;

/// The findings pane: detections and inferences, each a pivot.
#[derive(Debug, Clone, Default)]
pub struct FindingsState {
    pub rows: Option<Vec<FindingRow>>,
    pub cursor: usize,
    pub requested: bool,
}

pub fn severity_style(theme: Theme, severity: Severity, noise: bool) -> Style {
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

pub fn draw_findings(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    let focused = app.focus == Pane::Findings;
    let block = theme.pane(" findings (! · Enter pivots · e/E next hit) ", focused);
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
                // New or grown since last shown (events arriving live): `+` and bold.
                if r.fresh {
                    Span::styled(
                        format!("{:>6} ", format!("+{}", thousands(r.count))),
                        theme.fg(Color::Green).add_modifier(Modifier::BOLD),
                    )
                } else {
                    Span::styled(
                        format!("{:>6} ", thousands(r.count)),
                        theme.fg(Color::Yellow),
                    )
                },
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
