//! Screen tests: whole screens through `TestBackend` as insta text snapshots at 80×24 and
//! 120×40 (the scenarios come from `testing.rs` on a fixed clock, so they are deterministic),
//! and single widgets against a `Buffer`.

use crossterm::event::KeyCode;
use ratatui::buffer::Buffer;
use ratatui::layout::Constraint;
use ratatui::layout::Rect;
use ratatui::widgets::Row as TableRow;
use ratatui::widgets::{Table, Widget};

use super::fmt;
use super::style::Theme;
use super::table::{self, Col};
use crate::app::{App, Event};
use crate::testing::*;

fn screen(source: FakeSource, width: u16, height: u16, keys: &[Event]) -> String {
    let mut app: App = app(width, height);
    source.play(&mut app);
    for k in keys {
        app.update(k.clone());
    }
    draw(&app)
}

macro_rules! both_sizes {
    ($name:ident, $source:expr, $keys:expr) => {
        #[test]
        fn $name() {
            insta::assert_snapshot!(
                concat!(stringify!($name), "_80x24"),
                screen($source, 80, 24, $keys)
            );
            insta::assert_snapshot!(
                concat!(stringify!($name), "_120x40"),
                screen($source, 120, 40, $keys)
            );
        }
    };
}

both_sizes!(idle_workers, scenario_idle(), &[]);
both_sizes!(busy_workers, scenario_busy(), &[]);
both_sizes!(stuck_29_of_30, scenario_stuck(), &[key('g')]);
both_sizes!(
    dead_worker_post_mortem,
    scenario_dead(),
    &[key('g'), key('j'), key('j'), code(KeyCode::Enter)]
);
both_sizes!(
    disconnected_banner,
    scenario_idle()
        .at(
            9,
            Event::Disconnected("Connection refused (os error 111)".into())
        )
        .at(21, Event::Tick(std::time::Duration::from_secs(21))),
    &[]
);
both_sizes!(help_overlay, scenario_idle(), &[key('?')]);
both_sizes!(confirm_kill, scenario_stuck(), &[key('g'), key('X')]);
both_sizes!(gthread_workers, scenario_gthread(), &[]);
both_sizes!(
    gthread_worker_detail,
    scenario_gthread(),
    &[key('g'), code(KeyCode::Enter)]
);
both_sizes!(gevent_workers, scenario_gevent(), &[]);
both_sizes!(
    gevent_worker_detail,
    scenario_gevent(),
    &[key('g'), code(KeyCode::Enter)]
);
both_sizes!(
    search_prompt,
    scenario_idle(),
    &[key('/'), key('r'), key('e'), key('p')]
);

#[test]
fn tiny_terminal_does_not_panic() {
    for (w, h) in [(1, 1), (20, 5), (40, 10), (80, 3)] {
        screen(scenario_dead(), w, h, &[key('?')]);
        screen(scenario_dead(), w, h, &[code(KeyCode::Enter)]);
    }
}

#[test]
fn columns_drop_by_priority_and_keep_the_request() {
    let names = |w| {
        table::columns(w, false)
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        names(78),
        "# PID STATE REQUEST ELAPSED KILL IN REQS REQ/S CPU% RSS"
    );
    assert_eq!(names(40), "# PID STATE REQUEST");
    assert_eq!(names(52), "# PID STATE REQUEST ELAPSED KILL IN");
    assert!(
        names(118).contains("2XX/4XX/5XX")
            && names(118).contains("P99")
            && names(118).contains("LAST EXIT")
    );
    assert!(table::columns(10, false)
        .iter()
        .any(|c| c.0 == Col::Request));
}

#[test]
fn threaded_servers_get_busy_threads_and_keep_alive_columns() {
    let names = |w, threaded| {
        table::columns(w, threaded)
            .iter()
            .map(|c| c.1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(
        names(78, true),
        "# PID STATE BUSY REQUEST ELAPSED KILL IN REQS K-ALIVE CPU%"
    );
    assert_eq!(names(40, true), "# PID STATE BUSY REQUEST");
    assert!(!names(200, false).contains("BUSY") && !names(200, false).contains("K-ALIVE"));
}

#[test]
fn busy_threads_cell_is_red_when_every_thread_is_busy() {
    let cols = [Col::State, Col::Busy, Col::Request, Col::Elapsed];
    let all: Vec<(u32, &str, f64)> = (0..THREADS).map(|n| (n, "/x", 1.0)).collect();
    let buf = row_buffer(gthread(0, 4101, 9, &all), &cols, 46);
    let text: String = (0..46).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert!(text.starts_with("app     8/8"), "{text}");
    assert_eq!(buf[(8, 0)].fg, ratatui::style::Color::Red);
    let buf = row_buffer(idle(0, 4101, 9), &cols, 46);
    let text: String = (0..46).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert!(
        text.starts_with("idle    -"),
        "a server without thread counts: {text}"
    );
}

#[test]
fn busy_cell_shows_requests_beyond_the_threads_alone() {
    let cols = [Col::State, Col::Busy, Col::Request, Col::Elapsed];
    let all: Vec<(u32, &str, f64)> = (0..THREADS).map(|n| (n, "/x", 1.0)).collect();
    // A greenlet worker: its thread entries hold only its longest requests.
    let green = crate::protocol::WorkerInfo {
        in_flight: 500,
        ..gthread(0, 4101, 9, &all)
    };
    let buf = row_buffer(green, &cols, 46);
    let text: String = (0..46).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert!(text.starts_with("app     500 "), "{text}");
    assert_ne!(
        buf[(8, 0)].fg,
        ratatui::style::Color::Red,
        "no thread limit is reached"
    );
    assert_eq!(fmt::busy(3, 8), "3/8");
    assert_eq!(fmt::busy(12_345, 32), "12.3k");
    assert_eq!(fmt::busy(1, 0), "-");
}

#[test]
fn a_greenlet_workers_busy_cell_is_its_requests_never_red() {
    let cols = [Col::State, Col::Busy, Col::Request, Col::Elapsed];
    // Every entry holds a request: all 32 in flight, and still no limit reached.
    let all: Vec<(u32, &str, f64)> = (0..GREEN_LANES).map(|n| (n, "/x", 1.0)).collect();
    let buf = row_buffer(gevent(0, 4101, 9, 32, &all), &cols, 46);
    let text: String = (0..46).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert!(text.starts_with("app     32 "), "{text}");
    assert_eq!(buf[(8, 0)].fg, ratatui::style::Color::Reset);
    let buf = row_buffer(gevent(0, 4101, 9, 3, &all[..3]), &cols, 46);
    let text: String = (0..46).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert!(text.starts_with("app     3 "), "not 3/32: {text}");
}

#[test]
fn a_greenlet_workers_detail_says_when_more_requests_than_entries_are_in_flight() {
    let text = screen(
        scenario_gevent(),
        120,
        40,
        &[key('g'), key('j'), code(KeyCode::Enter)],
    );
    assert!(
        text.contains("requests in flight 500 (32 longest shown)  connections 509"),
        "{text}"
    );
    assert!(
        text.contains("│  greenlet  app        11.6s  deadline T-18s   GET /feed/9 "),
        "longest first: {text}"
    );
    assert!(!text.contains("thread"), "{text}");
}

/// One row rendered into a buffer: the request, its elapsed time and the countdown.
fn row_buffer(info: crate::protocol::WorkerInfo, cols: &[Col], width: u16) -> Buffer {
    let row = crate::app::Row {
        info,
        rate: Some(2.5),
        proc: None,
    };
    let theme = Theme { color: true };
    let cells: Vec<_> = cols
        .iter()
        .map(|c| table::cell(*c, &row, TIMEOUT, theme))
        .collect();
    let widths = [
        Constraint::Length(7),
        Constraint::Length(20),
        Constraint::Length(7),
        Constraint::Length(8),
    ];
    let mut buf = Buffer::empty(Rect::new(0, 0, width, 1));
    Widget::render(
        Table::new([TableRow::new(cells)], widths),
        buf.area,
        &mut buf,
    );
    buf
}

#[test]
fn stuck_row_shows_request_elapsed_and_countdown_in_red() {
    let cols = [Col::State, Col::Request, Col::Elapsed, Col::KillIn];
    let buf = row_buffer(busy(2, 4103, 61, "/export/orders.csv", 29.0), &cols, 46);
    let text: String = (0..46).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert_eq!(text, "app     GET /export/orders.c 29.0s   T-1.0s   ");
    assert_eq!(
        buf[(29, 0)].fg,
        ratatui::style::Color::Red,
        "elapsed is red near the timeout"
    );
    assert_eq!(
        buf[(37, 0)].fg,
        ratatui::style::Color::Red,
        "so is the countdown"
    );
}

#[test]
fn idle_row_has_no_request_and_dashes() {
    let cols = [Col::State, Col::Request, Col::Elapsed, Col::KillIn];
    let buf = row_buffer(idle(0, 4101, 5), &cols, 46);
    let text: String = (0..46).map(|x| buf[(x, 0)].symbol().to_string()).collect();
    assert_eq!(text.trim_end(), "idle                         -       -");
    assert_eq!(buf[(0, 0)].fg, ratatui::style::Color::Green);
}

#[test]
fn no_color_uses_no_colours_at_all() {
    let mut app = app(80, 24);
    app.color = false;
    scenario_dead().play(&mut app);
    app.update(Event::Disconnected("gone".into()));
    let mut terminal = ratatui::Terminal::new(ratatui::backend::TestBackend::new(80, 24)).unwrap();
    terminal.draw(|f| super::render(f, &app)).unwrap();
    let buf = terminal.backend().buffer();
    let coloured = buf
        .content()
        .iter()
        .filter(|c| c.fg != ratatui::style::Color::Reset || c.bg != ratatui::style::Color::Reset)
        .count();
    assert_eq!(coloured, 0);
}
