//! The log pane: the merged stream with a coloured `[slot pid]` prefix, or one slot's history.

use ratatui::layout::Rect;
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::style::Theme;
use crate::app::logs::{bottom_index, LogEntry, LogPosition};
use crate::app::{App, LogFilter};
use crate::protocol::LogStream;

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let lines = app.logs.lines(app.log_filter);
    let height = usize::from(area.height.saturating_sub(2));
    let shown: Vec<Line> = match bottom_index(lines, app.log_view.position) {
        Some(bottom) => {
            let top = (bottom + 1).saturating_sub(height);
            lines
                .range(top..=bottom)
                .map(|e| line(e, app, theme))
                .collect()
        }
        None => vec![Line::styled(" no output yet", theme.dim())],
    };
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title(app), theme.title()));
    frame.render_widget(Paragraph::new(shown).block(block), area);
}

fn title(app: &App) -> String {
    let which = match app.log_filter {
        LogFilter::All => "all workers".to_string(),
        LogFilter::Slot(slot) => format!("slot {slot} (a: all)"),
    };
    let mode = match app.log_view.position {
        LogPosition::Follow => "follow",
        LogPosition::Pinned(_) => "paused, f: follow",
    };
    let search = app
        .log_view
        .query
        .as_deref()
        .map(|q| format!(" — /{q}"))
        .unwrap_or_default();
    format!(" Logs: {which} [{mode}]{search} ")
}

fn line<'a>(entry: &'a LogEntry, app: &App, theme: Theme) -> Line<'a> {
    let prefix = match (entry.slot, entry.pid) {
        (Some(slot), Some(pid)) => Span::styled(format!("[{slot} {pid}] "), theme.slot(slot)),
        (Some(slot), None) => Span::styled(format!("[{slot}] "), theme.slot(slot)),
        (None, _) => Span::styled("[master] ", theme.label()),
    };
    let text_style = if entry.stream == LogStream::Stderr && looks_like_error(&entry.line) {
        theme.error()
    } else {
        Style::new()
    };
    let line = Line::from(vec![prefix, Span::styled(entry.line.as_str(), text_style)]);
    if app.log_view.current_match == Some(entry.seq) {
        line.style(theme.selected())
    } else {
        line
    }
}

/// Gunicorn's error-log levels that deserve colour.
fn looks_like_error(line: &str) -> bool {
    ["[ERROR]", "[CRITICAL]", "Traceback", "Error:"]
        .iter()
        .any(|m| line.contains(m))
}
