//! The status line: messages, keys.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;

use crate::sanitize::{escape_controls, thousands};
use crate::tui::app::App;
use crate::tui::pane::Mode;
use crate::tui::theme::Theme;

pub fn draw_status(frame: &mut Frame, app: &App, theme: Theme, area: Rect) {
    // The findings pane is narrow: the focused finding is read in full here.
    let finding = (app.focus == crate::tui::pane::Pane::Findings)
        .then(|| {
            app.findings
                .rows
                .as_ref()
                .and_then(|rows| rows.get(app.findings.cursor))
        })
        .flatten();
    let text = match (&app.message, app.mode) {
        (Some(m), _) => Span::raw(escape_controls(m).into_owned()),
        (None, Mode::Normal) if finding.is_some() => {
            let f = finding.map_or(String::new(), |f| {
                format!(
                    "{} ({} events; Enter shows them)",
                    f.label,
                    thousands(f.count)
                )
            });
            Span::raw(escape_controls(&f).into_owned())
        }
        (None, Mode::Query) => Span::styled(
            "Enter run · Esc cancel · ↑/↓ history · Tab complete field",
            theme.dim(),
        ),
        (None, Mode::Command) => Span::styled(
            ":goto TIME · :tag NAME · :note TEXT · :view [save|rm] NAME · :export FILE [FORMAT] · :follow · :q",
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
    let mut spans = Vec::new();
    if let Some(live) = live_text(app) {
        spans.push(Span::styled(live, theme.title()));
        spans.push(Span::styled(" │ ", theme.dim()));
    }
    spans.push(text);
    frame.render_widget(Paragraph::new(ratatui::text::Line::from(spans)), area);
}

/// The ingest beside the timeline: progress while it reads, then following and what arrived.
fn live_text(app: &App) -> Option<String> {
    let live = app.live.as_ref()?;
    let mut parts = Vec::new();
    if let Some(p) = live.ingesting {
        let eta = p.eta_s.map_or(String::new(), |s| {
            format!(" · ETA {}:{:02}", s / 60, s % 60)
        });
        parts.push(format!(
            "ingesting {}% · {}/{} files · {} events · {:.0} MB/s{eta}",
            p.percent,
            thousands(p.files_done),
            thousands(p.files_total),
            thousands(p.events),
            p.mb_per_s
        ));
    } else if let Some(last) = &live.last {
        parts.push(escape_controls(last).into_owned());
    }
    if live.following {
        parts.push("following".into());
    }
    if app.unseen > 0 {
        parts.push(format!("{} new below (G)", thousands(app.unseen)));
    }
    (!parts.is_empty()).then(|| parts.join(" · "))
}
