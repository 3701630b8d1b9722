//! The worker detail card (Enter): the worker's figures, the request in flight (one line per
//! thread for a threaded worker, per listed request for a greenlet one), the last stack dump,
//! and the post-mortem of the slot's previous worker (exit reason, last request, its last stack
//! and log lines) — "what was this worker doing?" answered on one screen.

use ratatui::layout::Rect;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Paragraph};
use ratatui::Frame;

use super::fmt;
use super::style::Theme;
use crate::app::{App, PostMortem, Row};
use crate::protocol::{Dump, RequestInfo, ThreadInfo, WorkerInfo};
use crate::stacks::{self, StackLine};

/// Log lines of a dead worker shown on its post-mortem card.
const POST_MORTEM_LINES: usize = 5;

pub fn render(frame: &mut Frame, area: Rect, app: &App, slot: u32, theme: Theme) {
    let row = app.shown().rows.get(&slot);
    let title = match row {
        Some(r) => format!(
            " Worker slot {slot} · pid {} · {} (Esc: back) ",
            r.info.pid,
            r.info.state.label()
        ),
        None => format!(" Worker slot {slot} · gone (Esc: back) "),
    };
    let mut lines = Vec::new();
    if let Some(row) = row {
        summary(&mut lines, row, theme);
        if row.info.is_green() {
            greenlets(&mut lines, row, theme);
        } else if row.info.is_threaded() {
            threads(&mut lines, row, theme);
        } else {
            request(&mut lines, row, theme);
        }
        stack(&mut lines, app, row, theme);
    }
    if let Some(death) = app.history.last_death(slot) {
        post_mortem(&mut lines, app, death, theme);
    }
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.title()));
    frame.render_widget(Paragraph::new(lines).block(block), area);
}

fn pair(label: &'static str, value: String, theme: Theme) -> [Span<'static>; 2] {
    [Span::styled(label, theme.label()), Span::raw(value)]
}

fn summary(lines: &mut Vec<Line<'static>>, row: &Row, theme: Theme) {
    let i = &row.info;
    let s = i.status;
    let mut first = vec![Span::styled(
        i.state.label().to_string(),
        theme.state(i.state),
    )];
    first.extend(pair("  up ", fmt::age(i.uptime), theme));
    first.extend(pair("  requests ", i.requests.to_string(), theme));
    first.extend(pair("  req/s ", fmt::opt(row.rate, fmt::rate), theme));
    first.extend(pair("  p50 ", fmt::opt(i.p50_ms, fmt::millis), theme));
    first.extend(pair("  p99 ", fmt::opt(i.p99_ms, fmt::millis), theme));
    let mut second = Vec::new();
    second.extend(pair(
        "2xx/3xx/4xx/5xx ",
        format!("{}/{}/{}/{}", s.s2xx, s.s3xx, s.s4xx, s.s5xx),
        theme,
    ));
    second.extend(pair(
        "  cpu ",
        fmt::opt(row.cpu_percent(), |c| format!("{c:.0}%")),
        theme,
    ));
    second.extend(pair("  rss ", fmt::opt(row.rss_bytes(), fmt::bytes), theme));
    second.extend(pair("  restarts ", i.restarts.to_string(), theme));
    second.extend(pair(
        "  heartbeat ",
        fmt::opt(i.last_heartbeat, |h| format!("{} ago", fmt::duration(h))),
        theme,
    ));
    second.extend(pair("  gen ", i.generation.to_string(), theme));
    lines.push(Line::from(first));
    lines.push(Line::from(second));
}

fn request_text(r: &RequestInfo) -> String {
    let client = if r.client.is_empty() {
        String::new()
    } else {
        format!(" from {}", r.client)
    };
    format!("{} {}{client}", r.method, r.path)
}

fn request(lines: &mut Vec<Line<'static>>, row: &Row, theme: Theme) {
    let Some(r) = row
        .info
        .request
        .as_ref()
        .filter(|_| row.info.state.is_busy())
    else {
        lines.push(Line::styled("no request in flight", theme.dim()));
        return;
    };
    let mut spans = vec![
        Span::styled("request ", theme.label()),
        Span::styled(request_text(r), theme.key()),
    ];
    spans.extend(pair("  running ", fmt::duration(r.elapsed), theme));
    if let Some(t) = row.info.timeout_in {
        spans.push(Span::styled(
            format!("  kill {}", fmt::countdown(t)),
            theme.error(),
        ));
    }
    lines.push(Line::from(spans));
}

/// A threaded worker: its thread and connection counts and the kill countdown, then one line
/// per thread (the longest request is among them, so it gets no line of its own).
fn threads(lines: &mut Vec<Line<'static>>, row: &Row, theme: Theme) {
    let i = &row.info;
    let mut spans = Vec::new();
    spans.extend(pair(
        "threads ",
        format!("{}/{} busy", i.threads_busy, i.threads_total),
        theme,
    ));
    spans.extend(pair("  connections ", i.connections.to_string(), theme));
    spans.extend(pair("  keep-alive ", i.keepalive.to_string(), theme));
    // Beside the threads: a greenlet worker of an older server (which sends no `kind`) serves
    // more requests than it has entries.
    let in_flight = i.requests_in_flight().to_string();
    spans.extend(pair("  in flight ", in_flight, theme));
    kill_in(&mut spans, i, theme);
    lines.push(Line::from(spans));
    lines.extend(
        i.threads
            .iter()
            .map(|t| lane_line(t, format!("  thread {:<3}", t.thread), theme)),
    );
}

/// A greenlet worker: its requests in flight and connections, then a line per request with a
/// scoreboard entry (its longest-running ones), longest first. No thread count: its entries
/// are not threads, and they bound nothing.
fn greenlets(lines: &mut Vec<Line<'static>>, row: &Row, theme: Theme) {
    let i = &row.info;
    let listed = stacks::longest_first(&i.threads);
    let mut spans = Vec::new();
    spans.extend(pair(
        "requests in flight ",
        i.requests_in_flight().to_string(),
        theme,
    ));
    if listed.len() < i.requests_in_flight() {
        let shown = format!(" ({} longest shown)", listed.len());
        spans.push(Span::styled(shown, theme.dim()));
    }
    spans.extend(pair("  connections ", i.connections.to_string(), theme));
    spans.extend(pair("  keep-alive ", i.keepalive.to_string(), theme));
    kill_in(&mut spans, i, theme);
    lines.push(Line::from(spans));
    // As wide as `  thread N  `, so the columns line up with a threaded worker's.
    let word = crate::protocol::entry_word(&i.kind);
    let label = || format!("  {word:<10}");
    lines.extend(listed.into_iter().map(|t| lane_line(t, label(), theme)));
}

/// `  kill T-1.0s` while the worker serves a request and a clock runs.
fn kill_in(spans: &mut Vec<Span<'static>>, i: &WorkerInfo, theme: Theme) {
    if let Some(t) = i.timeout_in.filter(|_| i.state.is_busy()) {
        spans.push(Span::styled(
            format!("  kill {}", fmt::countdown(t)),
            theme.error(),
        ));
    }
}

/// `thread 2  app       3.4s  deadline T-26s   GET /x from 10.0.0.7:5123`, under `label`.
fn lane_line(t: &ThreadInfo, label: String, theme: Theme) -> Line<'static> {
    let mut spans = vec![
        Span::styled(label, theme.label()),
        Span::styled(format!("{:<9}", t.state.label()), theme.state(t.state)),
    ];
    if let Some(r) = &t.request {
        let deadline = stacks::deadline_text(t).unwrap_or_default();
        let late = t.timed_out || t.deadline_in.is_some_and(|d| d < 5.0);
        spans.push(Span::raw(format!("{:>7}  ", fmt::duration(r.elapsed))));
        spans.push(Span::styled(
            format!("{deadline:<17}"),
            if late { theme.error() } else { theme.dim() },
        ));
        spans.push(Span::styled(request_text(r), theme.key()));
    }
    Line::from(spans)
}

fn stack(lines: &mut Vec<Line<'static>>, app: &App, row: &Row, theme: Theme) {
    lines.push(Line::raw(""));
    let pid = row.info.pid;
    match app.history.dump_of(pid) {
        _ if app.history.is_dumping(pid) => {
            lines.push(Line::styled("dumping Python stacks…", theme.dim()))
        }
        Some(dump) => dump_lines(lines, dump, "Python stacks", theme),
        None => lines.push(Line::styled(
            "no stack dump yet — d dumps this worker's Python stacks",
            theme.dim(),
        )),
    }
}

fn dump_lines(lines: &mut Vec<Line<'static>>, dump: &Dump, what: &str, theme: Theme) {
    let during = dump
        .request
        .as_ref()
        .map(|r| format!(" during {}", request_text(r)))
        .unwrap_or_default();
    lines.push(Line::styled(
        format!("{what} of pid {}{during}:", dump.pid),
        theme.title(),
    ));
    if let Some(err) = &dump.error {
        lines.push(Line::styled(format!("  {err}"), theme.error()));
    }
    // Without thread identities the stacks cannot say whose they are: the requests of that
    // moment are listed above them instead.
    if dump.threads.len() > 1 && stacks::has_unmatched_busy(&dump.stack, &dump.threads) {
        let busy = dump.threads.iter().filter(|t| t.request.is_some());
        let owner = |t| format!("  {}", stacks::owner_text(t, dump.entry_word()));
        lines.extend(busy.map(|t| Line::styled(owner(t), theme.label())));
    }
    for line in stacks::annotate(&dump.stack, &dump.threads) {
        lines.push(match line {
            StackLine::Text(text) => Line::raw(format!("  {text}")),
            StackLine::Owner(t) => Line::styled(
                format!("    » {}", stacks::owner_text(t, dump.entry_word())),
                theme.key(),
            ),
        });
    }
}

fn post_mortem(lines: &mut Vec<Line<'static>>, app: &App, death: &PostMortem, theme: Theme) {
    lines.push(Line::raw(""));
    let during = death
        .last_request
        .as_ref()
        .map(|r| format!(" while serving {}", request_text(r)))
        .unwrap_or_default();
    lines.push(Line::styled(
        format!(
            "post-mortem: worker {} died: {}{during}",
            death.pid,
            death.reason.describe()
        ),
        theme.error(),
    ));
    if let Some(dump) = app.history.dump_of(death.pid) {
        dump_lines(lines, dump, "last stacks", theme);
    }
    let tail = app
        .logs
        .tail_of_pid(death.slot, death.pid, POST_MORTEM_LINES);
    if !tail.is_empty() {
        lines.push(Line::styled(
            format!("last output of pid {}:", death.pid),
            theme.label(),
        ));
        lines.extend(tail.iter().map(|e| Line::raw(format!("  {}", e.line))));
    }
}
