//! The bottom line: the search prompt while typing, a status message for a few seconds after an
//! action, otherwise the most useful keys for the current screen (process-compose's bar).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::Paragraph;
use ratatui::Frame;

use super::style::Theme;
use crate::app::{App, Modal, Screen};

/// Most useful first: the bar is cut at the terminal's width, and `?` shows the rest.
const TABLE_HINTS: &[(&str, &str)] = &[
    ("↑↓", "select"),
    ("⏎", "detail"),
    ("d", "dump"),
    ("x", "stop"),
    ("X", "kill"),
    ("+-", "workers"),
    ("?", "help"),
    ("q", "quit"),
    ("Q", "detach"),
    ("/", "search"),
    ("r", "replace"),
    ("R", "reload"),
    ("space", "freeze"),
];

const DETAIL_HINTS: &[(&str, &str)] = &[
    ("Esc", "back"),
    ("↑↓", "worker"),
    ("d", "dump"),
    ("x", "stop"),
    ("X", "kill"),
    ("r", "replace"),
    ("H", "hold"),
    ("?", "help"),
];

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let line = if let Modal::Search(typed) = &app.modal {
        Line::from(vec![
            Span::styled("/", theme.key()),
            Span::raw(format!("{typed}▏")),
            Span::styled("  ⏎ search  Esc cancel", theme.dim()),
        ])
    } else if let Some(status) = &app.status {
        Line::styled(
            format!(" {}", status.text),
            if status.is_error {
                theme.error()
            } else {
                theme.ok()
            },
        )
    } else {
        let hints = if let Screen::Detail(_) = app.screen {
            DETAIL_HINTS
        } else {
            TABLE_HINTS
        };
        let mut spans = Vec::new();
        for (key, what) in hints {
            spans.push(Span::styled(format!(" {key}"), theme.key()));
            spans.push(Span::styled(format!(" {what}"), theme.dim()));
        }
        Line::from(spans)
    };
    frame.render_widget(Paragraph::new(line), area);
}
