//! The histogram of the selection over time.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};
use ratatui::style::Color;
use ratatui::style::Modifier;
use ratatui::text::Span;
use ratatui::widgets::Paragraph;

use crate::formats::time::format_ms;
use crate::sanitize::thousands;
use crate::tui::app::App;
use crate::tui::theme::Theme;

/// Eighths of a cell, for bars.
const BARS: [char; 9] = [' ', '▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

pub fn draw_histogram(frame: &mut Frame, app: &mut App, theme: Theme, area: Rect) {
    let [bars_area, axis] =
        Layout::vertical([Constraint::Length(3), Constraint::Length(1)]).areas(area);
    app.fit_histogram(bars_area.width.max(1) as usize);
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
    // The axis ends where the bars end (whole buckets rarely fill the width), its end label
    // under the last bar; what it says follows it when there is room, else sits inside.
    let bars = h.counts.len().min(width);
    let labels = start.len() + end.len();
    let text = if bars >= labels + middle.len() {
        let fill = bars - labels - middle.len();
        format!(
            "{start}{}{middle}{}{end}",
            "─".repeat(fill / 2),
            "─".repeat(fill - fill / 2)
        )
    } else if bars >= labels + 2 {
        format!("{start}{}{end}{middle}", "─".repeat(bars - labels))
    } else {
        // Fewer buckets than the labels take: the end label cannot sit under the last bar.
        format!("{start} .. {end}{middle}")
    };
    frame.render_widget(Paragraph::new(Span::styled(text, theme.dim())), axis);
}
