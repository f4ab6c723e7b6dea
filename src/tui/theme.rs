//! Styles, with or without colour.

use ratatui::style::{Color, Modifier, Style};

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

    pub fn fg(&self, c: Color) -> Style {
        if self.color {
            Style::default().fg(c)
        } else {
            Style::default()
        }
    }

    /// A side pane's frame: the focused one (where `j`/`k` go) has a thick, coloured border,
    /// seen at a glance without colour too.
    pub fn pane<'a>(
        &self,
        title: impl Into<ratatui::text::Line<'a>>,
        focused: bool,
    ) -> ratatui::widgets::Block<'a> {
        use ratatui::widgets::{Block, BorderType, Borders};
        let title: ratatui::text::Line<'a> = title.into();
        let block = Block::default().borders(Borders::ALL);
        if focused {
            let border = if self.color {
                Style::default().fg(Color::Cyan)
            } else {
                Style::default()
            };
            block
                .border_type(BorderType::Thick)
                .border_style(border)
                .title(title.style(self.title()))
        } else {
            block.title(title.style(self.dim()))
        }
    }

    pub fn title(&self) -> Style {
        Style::default().add_modifier(Modifier::BOLD)
    }

    pub fn dim(&self) -> Style {
        if self.color {
            Style::default().fg(Color::DarkGray)
        } else {
            Style::default().add_modifier(Modifier::DIM)
        }
    }

    pub fn selected(&self) -> Style {
        if self.color {
            Style::default().bg(Color::Blue).fg(Color::White)
        } else {
            Style::default().add_modifier(Modifier::REVERSED)
        }
    }

    pub fn focused_cell(&self) -> Style {
        Style::default().add_modifier(Modifier::REVERSED | Modifier::BOLD)
    }

    pub fn error(&self) -> Style {
        self.fg(Color::Red).add_modifier(Modifier::BOLD)
    }

    pub fn chip(&self) -> Style {
        if self.color {
            Style::default().fg(Color::Black).bg(Color::Cyan)
        } else {
            Style::default().add_modifier(Modifier::UNDERLINED)
        }
    }
}
