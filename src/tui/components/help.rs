//! The help overlay: every key.

use ratatui::Frame;
use ratatui::layout::Rect;
use ratatui::style::Color;
use ratatui::style::Modifier;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};

use crate::tui::keys;
use crate::tui::theme::Theme;

/// Draws the overlay from line `scroll` (clamped, so `u16::MAX` shows the end).
pub fn draw_help(frame: &mut Frame, theme: Theme, area: Rect, scroll: u16) {
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
    let visible = height.saturating_sub(2);
    let scroll = scroll.min((help.len() as u16).saturating_sub(visible));
    let more = if help.len() as u16 > visible {
        "j/k scroll, "
    } else {
        ""
    };
    let block = Block::default().borders(Borders::ALL).title(Span::styled(
        format!(" keys ({more}q, Esc or ? closes) "),
        theme.title(),
    ));
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
    frame.render_widget(
        Paragraph::new(lines).block(block).scroll((scroll, 0)),
        popup,
    );
}
