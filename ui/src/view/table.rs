//! The worker table: one row per slot, the current request with its elapsed time and the
//! countdown to the timeout kill, counters and /proc figures. Columns drop out by priority as
//! the terminal narrows, so 80 columns keep what matters for a stuck worker. A threaded server
//! (`gthread`) adds busy/threads and the kept-alive connections; its rows show the longest
//! request, and Enter lists every thread.

use ratatui::layout::{Constraint, Rect};
use ratatui::style::Style;
use ratatui::text::{Line, Span};
use ratatui::widgets::{Block, Borders, Cell, Row as TableRow, Table};
use ratatui::Frame;

use super::fmt;
use super::layout;
use super::style::Theme;
use crate::app::{App, Row};

/// A column of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Col {
    Slot,
    Pid,
    State,
    /// Busy threads of all threads: `3/8`; requests in flight alone when beyond the threads.
    Busy,
    Request,
    Elapsed,
    KillIn,
    Requests,
    /// Idle kept-alive connections the worker holds open.
    KeepAlive,
    Rate,
    P50,
    P99,
    Codes,
    Cpu,
    Rss,
    Age,
    Restarts,
    LastExit,
}

/// Display order, with title, fixed width, and priority (0 = always shown; larger drops first).
const COLUMNS: [(Col, &str, u16, u8); 18] = [
    (Col::Slot, "#", 2, 0),
    (Col::Pid, "PID", 7, 0),
    (Col::State, "STATE", 9, 0),
    (Col::Busy, "BUSY", 5, 0),
    (Col::Request, "REQUEST", 0, 0),
    (Col::Elapsed, "ELAPSED", 7, 1),
    (Col::KillIn, "KILL IN", 7, 1),
    (Col::Requests, "REQS", 5, 2),
    (Col::KeepAlive, "K-ALIVE", 7, 2),
    (Col::Rate, "REQ/S", 5, 4),
    (Col::P50, "P50", 6, 8),
    (Col::P99, "P99", 6, 5),
    (Col::Codes, "2XX/4XX/5XX", 13, 5),
    (Col::Cpu, "CPU%", 5, 3),
    (Col::Rss, "RSS", 6, 3),
    (Col::Age, "AGE", 5, 7),
    (Col::Restarts, "RST", 3, 6),
    (Col::LastExit, "LAST EXIT", 16, 5),
];

/// The request column never gets narrower than this while lower-priority columns are shown.
const REQUEST_MIN: u16 = 14;

/// The columns that fit in `width`, in display order, with their widths. Busy/threads and
/// keep-alive only for a `threaded` server: a sync worker serves one request and keeps no
/// connection, so its table stays as it was.
pub fn columns(width: u16, threaded: bool) -> Vec<(Col, &'static str, u16)> {
    let shown = |c: &&(Col, &str, u16, u8)| threaded || !matches!(c.0, Col::Busy | Col::KeepAlive);
    let mut by_priority: Vec<_> = COLUMNS.iter().filter(shown).collect();
    by_priority.sort_by_key(|c| c.3);
    let mut used = REQUEST_MIN;
    let mut chosen = Vec::new();
    for &(col, _, w, prio) in by_priority {
        if col == Col::Request {
            continue;
        }
        // Strict priority: once a column does not fit, no less important one is shown.
        if prio > 0 && used + w + 1 > width {
            break;
        }
        used += w + 1;
        chosen.push(col);
    }
    COLUMNS
        .iter()
        .filter(|c| c.0 == Col::Request || chosen.contains(&c.0))
        .map(|&(c, t, w, _)| (c, t, w))
        .collect()
}

pub fn render(frame: &mut Frame, area: Rect, app: &App, theme: Theme) {
    let workers = app.shown();
    let order = app.sort.order(workers);
    let arrow = if app.sort.inverted { "↑" } else { "↓" };
    let title = format!(" Workers — sort: {} {arrow} (s, I) ", app.sort.key.label());
    let block = Block::default()
        .borders(Borders::ALL)
        .title(Span::styled(title, theme.title()));
    let cols = columns(area.width.saturating_sub(2), workers.threaded());
    let selected = app
        .selected
        .and_then(|s| order.iter().position(|r| r.info.slot == s));
    let offset = layout::table_offset(selected.unwrap_or(0), layout::table_visible_rows(area));
    let timeout = workers.stats.timeout;
    let rows = order.iter().enumerate().skip(offset).map(|(i, row)| {
        let cells = cols.iter().map(|(c, _, _)| cell(*c, row, timeout, theme));
        let style = if Some(i) == selected {
            theme.selected()
        } else {
            Style::new()
        };
        TableRow::new(cells).style(style)
    });
    let header = TableRow::new(cols.iter().map(|(_, t, _)| Cell::from(*t))).style(theme.label());
    let widths = cols.iter().map(|(c, _, w)| {
        if *c == Col::Request {
            Constraint::Min(REQUEST_MIN)
        } else {
            Constraint::Length(*w)
        }
    });
    let table = Table::new(rows, widths)
        .header(header)
        .block(block)
        .column_spacing(1);
    frame.render_widget(table, area);
    if workers.rows.is_empty() {
        let msg = if workers.loaded {
            " no workers"
        } else {
            " waiting for the server…"
        };
        let inner = Rect {
            x: area.x + 1,
            y: layout::table_first_row_y(area),
            width: area.width.saturating_sub(2),
            height: 1,
        };
        frame.render_widget(Span::styled(msg, theme.dim()), inner.intersection(area));
    }
}

/// One cell. `timeout` (the server's `--timeout`) sets the colour ramp of the elapsed time.
pub fn cell(col: Col, row: &Row, timeout: f64, theme: Theme) -> Cell<'static> {
    let info = &row.info;
    let busy = info.state.is_busy();
    let request = info.request.as_ref().filter(|_| busy);
    let urgency = if timeout > 0.0 {
        theme.urgency(row.elapsed() / timeout)
    } else {
        Style::new()
    };
    let dash = || Cell::from("-");
    match col {
        Col::Slot => Cell::from(info.slot.to_string()),
        Col::Pid => Cell::from(if info.pid > 0 {
            info.pid.to_string()
        } else {
            "-".into()
        }),
        Col::State => Cell::from(Span::styled(info.state.label(), theme.state(info.state))),
        Col::Busy => busy_threads(row, theme),
        Col::Request => match request {
            Some(r) => Cell::from(Line::from(vec![
                Span::styled(format!("{} ", r.method), theme.key()),
                Span::raw(r.path.clone()),
            ])),
            None => Cell::from(""),
        },
        Col::Elapsed => request.map_or_else(dash, |r| {
            Cell::from(Span::styled(fmt::duration(r.elapsed), urgency))
        }),
        Col::KillIn => match info.timeout_in.filter(|_| busy) {
            Some(t) => Cell::from(Span::styled(fmt::countdown(t), urgency)),
            None => dash(),
        },
        Col::Requests => Cell::from(fmt::count(info.requests)),
        Col::KeepAlive => Cell::from(fmt::count(u64::from(info.keepalive))),
        Col::Rate => Cell::from(fmt::opt(row.rate, fmt::rate)),
        Col::P50 => Cell::from(fmt::opt(info.p50_ms, fmt::millis)),
        Col::P99 => Cell::from(fmt::opt(info.p99_ms, fmt::millis)),
        Col::Codes => codes(row, theme),
        Col::Cpu => Cell::from(fmt::opt(row.cpu_percent(), |c| format!("{c:.0}"))),
        Col::Rss => Cell::from(fmt::opt(row.rss_bytes(), fmt::bytes)),
        Col::Age => Cell::from(if info.state.is_alive() {
            fmt::age(info.uptime)
        } else {
            "-".into()
        }),
        Col::Restarts => Cell::from(info.restarts.to_string()),
        Col::LastExit => Cell::from(fmt::opt(info.last_exit.as_ref(), |e| e.describe())),
    }
}

/// `3/8`: in red when every thread is busy (the next request waits), `-` from a server that
/// does not count threads. More requests than threads (a greenlet worker, whose threads are
/// only the entries of its longest requests) show as the count alone: no thread limit there.
/// A greenlet worker's count is never coloured: its entries are no limit, and the one it has
/// (`--worker-connections`) is not known here.
fn busy_threads(row: &Row, theme: Theme) -> Cell<'static> {
    let (busy, total) = (row.info.requests_in_flight(), row.info.threads_total);
    let style = match busy {
        _ if total == 0 || busy == 0 || row.info.is_green() => Style::new(),
        b if b == total as usize => theme.error(),
        _ => theme.key(),
    };
    Cell::from(Span::styled(fmt::worker_busy(&row.info), style))
}

fn codes(row: &Row, theme: Theme) -> Cell<'static> {
    let s = row.info.status;
    let five = if s.s5xx > 0 {
        theme.error()
    } else {
        Style::new()
    };
    Cell::from(Line::from(vec![
        Span::raw(format!("{}/{}/", fmt::count(s.s2xx), fmt::count(s.s4xx))),
        Span::styled(fmt::count(s.s5xx), five),
    ]))
}
