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
    let lines = Paragraph::new(vec![server_line(app, theme), totals_line(app, theme)]);
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

/// `NAME binds  kind K  up U  master PID  gen G`, and FROZEN while the view is frozen.
fn server_line(app: &App, theme: Theme) -> Line<'static> {
    let s = &app.shown().stats;
    let label = |t: &'static str| Span::styled(t, theme.label());
    let or = |v: &str, default: &str| {
        if v.is_empty() {
            default.to_string()
        } else {
            v.to_string()
        }
    };
    let binds = if s.binds.is_empty() {
        "-".to_string()
    } else {
        s.binds.join(" ")
    };
    let mut spans = vec![
        Span::styled(format!(" {} ", or(&s.name, "gunicorn-rs")), theme.title()),
        Span::raw(binds),
        label("  kind "),
        Span::raw(or(&s.worker_class, "?")),
        label("  up "),
        Span::raw(fmt::opt(s.uptime, fmt::duration)),
        label("  master "),
        Span::raw(s.pid.to_string()),
        label("  gen "),
        Span::raw(s.generation.to_string()),
    ];
    if app.is_frozen() {
        spans.push(Span::styled("  FROZEN", theme.error()));
    }
    Line::from(spans)
}

/// `workers B busy I idle T total  req/s  p50  p99  backlog`.
fn totals_line(app: &App, theme: Theme) -> Line<'static> {
    let w = app.shown();
    let s = &w.stats;
    let label = |t: &'static str| Span::styled(t, theme.label());
    let total = w.rows.values().filter(|r| r.info.state.is_alive()).count();
    let busy_style = if w.busy() > 0 {
        theme.key()
    } else {
        theme.ok()
    };
    Line::from(vec![
        label(" workers "),
        Span::styled(format!("{} busy", w.busy()), busy_style),
        Span::raw(format!(" {} idle {total} total", w.idle())),
        label("  req/s "),
        Span::raw(fmt::opt(w.rate, fmt::rate)),
        label("  p50 "),
        Span::raw(fmt::opt(s.p50_ms, fmt::millis)),
        label("  p99 "),
        Span::raw(fmt::opt(s.p99_ms, fmt::millis)),
        label("  backlog "),
        Span::raw(fmt::opt(s.backlog, |b| b.to_string())),
    ])
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
