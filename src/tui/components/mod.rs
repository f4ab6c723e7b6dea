//! The timeline's panes. Each pane has a module with its state (where it keeps one beyond the
//! [`App`](super::app::App)'s) and its drawing; [`super::ui`] lays them out.

pub mod detail;
pub mod findings;
pub mod help;
pub mod histogram;
pub mod query_bar;
pub mod status;
pub mod table;
pub mod top_values;

/// At most `width` characters, with `…` when cut.
pub fn clip(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// Cuts text into pieces of at most `width` characters (at least one piece).
pub fn chunk(text: &str, width: usize) -> Vec<String> {
    let chars: Vec<char> = text.chars().collect();
    if chars.is_empty() {
        return vec![String::new()];
    }
    chars
        .chunks(width.max(1))
        .map(|c| c.iter().collect())
        .collect()
}
