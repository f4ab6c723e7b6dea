//! Laying out the timeline: which pane goes where; each pane draws itself
//! ([`super::components`]). Nothing here changes state except the sizes the app needs to know
//! (table height, histogram width).
//!
//! Every string that comes from a log goes through [`crate::sanitize::escape_controls`] before
//! it is drawn: logs are attacker-written and must never put raw control characters or escape
//! sequences on the terminal.

use ratatui::Frame;
use ratatui::layout::{Constraint, Layout, Rect};

use super::app::App;
use super::components::{detail, findings, help, histogram, query_bar, status, table, top_values};
use super::pane::{Mode, Pane};
pub use super::theme::Theme;

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
    query_bar::draw_query_bar(frame, app, theme, bar);
    histogram::draw_histogram(frame, app, theme, hist);
    let (table_area, side) = split_main(main, app.side_panes, app.focus != Pane::Table);
    table::draw_table(frame, app, theme, table_area);
    if let Some((detail, lower)) = side {
        detail::draw_detail(frame, app, theme, detail);
        if app.show_findings || app.focus == Pane::Findings {
            findings::draw_findings(frame, app, theme, lower);
        } else {
            top_values::draw_top(frame, app, theme, lower);
        }
    }
    status::draw_status(frame, app, theme, status);
    if app.mode == Mode::Help {
        help::draw_help(frame, theme, area, app.help_scroll);
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
