//! The top of the screen: the disconnected banner, the server line, the totals line and the
//! req/s sparkline (tui.md row 10–11).

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Paragraph, Sparkline};
use ratatui::Frame;

use super::fmt;
use super::style::Theme;
use crate::app::{App, Link};

pub fn render_banner(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let text = match &app.link {
        Link::Connected(_) => return,
        Link::Connecting => format!(" connecting to {} …", app.socket),
        Link::Disconnected { since, error } => {
            let secs = app.now.saturating_sub(*since).as_secs();
            format!(
                " ⚠ disconnected for {secs} s — reconnecting to {} ({error})",
                app.socket
            )
        }
    };
    frame.render_widget(
        Paragraph::new(fmt::truncate(&text, usize::from(area.width))).style(theme.banner()),
        area,
    );
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let w = app.shown();
    let s = &w.stats;
    let label = |t: &'static str| Span::styled(t, theme.label());
    let name = if s.name.is_empty() {
        "gunicorn-rs"
    } else {
        s.name.as_str()
    };
    let kind = if s.worker_class.is_empty() {
        "?"
    } else {
        s.worker_class.as_str()
    };
    let binds = if s.binds.is_empty() {
        "-".to_string()
    } else {
        s.binds.join(" ")
    };
    let mut server = vec![
        Span::styled(format!(" {name} "), theme.title()),
        Span::raw(binds),
        label("  kind "),
        Span::raw(kind.to_string()),
        label("  up "),
        Span::raw(fmt::opt(s.uptime, fmt::duration)),
        label("  master "),
        Span::raw(s.pid.to_string()),
        label("  gen "),
        Span::raw(s.generation.to_string()),
    ];
    if app.is_frozen() {
        server.push(Span::styled("  FROZEN", theme.error()));
    }
    let total = w.rows.values().filter(|r| r.info.state.is_alive()).count();
    let totals = vec![
        label(" workers "),
        Span::styled(
            format!("{} busy", w.busy()),
            if w.busy() > 0 {
                theme.key()
            } else {
                theme.ok()
            },
        ),
        Span::raw(format!(" {} idle {total} total", w.idle())),
        label("  req/s "),
        Span::raw(fmt::opt(w.rate, fmt::rate)),
        label("  p50 "),
        Span::raw(fmt::opt(s.p50_ms, fmt::millis)),
        label("  p99 "),
        Span::raw(fmt::opt(s.p99_ms, fmt::millis)),
        label("  backlog "),
        Span::raw(fmt::opt(s.backlog, |b| b.to_string())),
    ];
    let lines = Paragraph::new(vec![Line::from(server), Line::from(totals)]);
    frame.render_widget(
        lines,
        Rect {
            height: area.height.min(2),
            ..area
        },
    );
    if area.height > 2 {
        render_sparkline(
            frame,
            Rect {
                y: area.y + 2,
                height: 1,
                ..area
            },
            app,
            theme,
        );
    }
}

fn render_sparkline(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    const LABEL: &str = " req/s ";
    frame.render_widget(Paragraph::new(Span::styled(LABEL, theme.label())), area);
    let width = area.width.saturating_sub(LABEL.len() as u16);
    let history = &app.shown().rate_history;
    // The newest values, right-aligned like a scrolling chart.
    let data: Vec<u64> = history
        .iter()
        .skip(history.len().saturating_sub(usize::from(width)))
        .copied()
        .collect();
    let spark = Sparkline::default().data(&data).style(theme.ok());
    frame.render_widget(
        spark,
        Rect {
            x: area.x + LABEL.len() as u16,
            width,
            ..area
        },
    );
}
