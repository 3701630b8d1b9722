//! What is drawn over the screen: the help overlay and the confirmation dialogs.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Clear, Paragraph};
use ratatui::Frame;

use super::style::Theme;
use crate::app::keymap::HELP;
use crate::app::Confirm;

/// A rectangle of at most `w`×`h`, centred in `area`.
fn centered(area: Rect, w: u16, h: u16) -> Rect {
    let w = w.min(area.width);
    let h = h.min(area.height);
    Rect::new(
        area.x + (area.width - w) / 2,
        area.y + (area.height - h) / 2,
        w,
        h,
    )
}

pub fn render_help(frame: &mut Frame, area: Rect, theme: Theme) {
    let key_width = HELP
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut lines: Vec<Line> = HELP
        .iter()
        .map(|(keys, what)| {
            Line::from(vec![
                Span::styled(format!(" {keys:<key_width$}  "), theme.key()),
                Span::raw(*what),
            ])
        })
        .collect();
    lines.push(Line::styled(" any key closes this help", theme.dim()));
    let width = HELP
        .iter()
        .map(|(_, w)| w.chars().count())
        .max()
        .unwrap_or(0)
        + key_width
        + 6;
    let rect = centered(area, width as u16, lines.len() as u16 + 2);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(" Keys ", theme.title()));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}

pub fn render_confirm(frame: &mut Frame, area: Rect, confirm: Confirm, theme: Theme) {
    let (title, question) = match confirm {
        Confirm::Kill { slot, pid } => (
            " Kill worker ",
            format!("Send SIGKILL to worker {pid} (slot {slot})?"),
        ),
        Confirm::Quit { in_flight } => (
            " Stop the server ",
            format!("{in_flight} request(s) in flight. Stop the server gracefully?"),
        ),
    };
    let lines = vec![
        Line::raw(question.clone()),
        Line::raw(""),
        Line::from(vec![
            Span::styled("y", theme.key()),
            Span::raw(" yes   "),
            Span::styled("n", theme.key()),
            Span::raw(" / Esc no"),
        ]),
    ];
    let rect = centered(area, question.chars().count() as u16 + 4, 5);
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.error()));
    frame.render_widget(Clear, rect);
    frame.render_widget(Paragraph::new(lines).block(block), rect);
}
