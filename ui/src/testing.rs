//! Test fixtures: a scripted fake server ([`FakeSource`]) that plays events into an [`App`] on a
//! fixed clock, and the scenarios the screen tests draw (idle, busy, a worker stuck 29 s of 30,
//! a dead worker with its post-mortem, a lost connection, gthread workers with a stuck thread,
//! gevent workers with hundreds of requests in flight).

use std::time::Duration;

use crossterm::event::{KeyCode, KeyEvent, KeyModifiers};
use ratatui::backend::TestBackend;
use ratatui::Terminal;

use crate::app::{App, Effect, Event, Ownership};
use crate::protocol::{
    Dump, Event as ServerEvent, ExitCause, ExitReason, Hello, LogLine, LogStream, RequestInfo,
    Snapshot, Stats, StatusCounts, ThreadInfo, WorkerInfo, WorkerState,
};

mod green;
pub use green::*;

pub const TIMEOUT: f64 = 30.0;
pub const MASTER: i32 = 4000;

/// A scripted server: events with the dashboard clock at which they arrive.
#[derive(Default)]
pub struct FakeSource {
    script: Vec<(Duration, Event)>,
}

impl FakeSource {
    pub fn at(mut self, secs: u64, event: Event) -> Self {
        self.script.push((Duration::from_secs(secs), event));
        self
    }

    /// Plays the script: a tick to each event's time, then the event. Returns all effects.
    pub fn play(self, app: &mut App) -> Vec<Effect> {
        let mut effects = Vec::new();
        for (at, event) in self.script {
            effects.extend(app.update(Event::Tick(at)));
            effects.extend(app.update(event));
        }
        effects
    }
}

pub fn key(c: char) -> Event {
    Event::Key(KeyEvent::new(KeyCode::Char(c), KeyModifiers::NONE))
}

pub fn code(code: KeyCode) -> Event {
    Event::Key(KeyEvent::new(code, KeyModifiers::NONE))
}

pub fn hello() -> Event {
    Event::Connected(Hello {
        server: "gunicorn-rs".into(),
        protocol: 1,
        pid: MASTER,
        ..Default::default()
    })
}

/// A snapshot of a `class` server that has served `requests`, with `workers`.
pub fn snapshot_of(class: &str, requests: u64, workers: Vec<WorkerInfo>) -> Event {
    let mut stats = stats(requests);
    stats.worker_class = class.into();
    Event::Snapshot(Box::new(Snapshot { stats, workers }))
}

pub fn stats(requests: u64) -> Stats {
    Stats {
        uptime: Some(3725.0),
        pid: MASTER,
        name: "shop".into(),
        worker_class: "sync".into(),
        binds: vec!["127.0.0.1:8000".into()],
        requests,
        p50_ms: Some(3.2),
        p99_ms: Some(41.0),
        backlog: Some(0),
        timeout: TIMEOUT,
        ..Default::default()
    }
}

pub fn idle(slot: u32, pid: i32, requests: u64) -> WorkerInfo {
    WorkerInfo {
        pid,
        age: u64::from(slot) + 1,
        booted: true,
        last_heartbeat: Some(0.3),
        slot,
        state: WorkerState::Idle,
        uptime: 3700.0,
        requests,
        status: StatusCounts {
            s2xx: requests,
            ..Default::default()
        },
        p50_ms: Some(3.0),
        p99_ms: Some(40.0),
        rss_bytes: Some(13 * 1024 * 1024),
        cpu_percent: Some(1.0),
        ..Default::default()
    }
}

pub fn busy(slot: u32, pid: i32, requests: u64, path: &str, elapsed: f64) -> WorkerInfo {
    WorkerInfo {
        state: WorkerState::App,
        request: Some(RequestInfo {
            method: "GET".into(),
            path: path.into(),
            client: "10.0.0.7:51234".into(),
            elapsed,
            ..Default::default()
        }),
        timeout_in: Some(TIMEOUT - elapsed),
        ..idle(slot, pid, requests)
    }
}

pub fn snapshot(requests: u64, workers: Vec<WorkerInfo>) -> Event {
    Event::Snapshot(Box::new(Snapshot {
        stats: stats(requests),
        workers,
    }))
}

fn log(slot: u32, pid: i32, line: &str) -> LogLine {
    LogLine {
        slot: Some(slot),
        pid: Some(pid),
        stream: LogStream::Stderr,
        line: line.into(),
        ts: None,
    }
}

pub fn logs() -> Event {
    Event::LogLines(vec![
        LogLine {
            stream: LogStream::Master,
            line: "[INFO] Listening at: http://127.0.0.1:8000 (4000)".into(),
            ..Default::default()
        },
        log(0, 4101, "[INFO] Booting worker with pid: 4101"),
        log(1, 4102, "[INFO] Booting worker with pid: 4102"),
        log(2, 4103, "[INFO] Booting worker with pid: 4103"),
        log(3, 4104, "[INFO] Booting worker with pid: 4104"),
        log(1, 4102, "GET /api/cart 200 3ms"),
        log(2, 4103, "GET /report 200 812ms"),
    ])
}

/// Four idle workers, one second of traffic recorded for the sparkline.
pub fn scenario_idle() -> FakeSource {
    let workers = |r| {
        (0..4)
            .map(|s| idle(s, 4101 + s as i32, r + u64::from(s)))
            .collect::<Vec<_>>()
    };
    FakeSource::default()
        .at(0, hello())
        .at(0, logs())
        .at(0, snapshot(100, workers(20)))
        .at(1, snapshot(130, workers(27)))
        .at(2, snapshot(150, workers(32)))
}

/// Two busy workers, two idle.
pub fn scenario_busy() -> FakeSource {
    let workers = |r: u64| {
        vec![
            busy(0, 4101, r, "/api/cart", 0.012),
            idle(1, 4102, r + 3),
            busy(2, 4103, r + 1, "/report?year=2024", 4.5),
            idle(3, 4104, r + 2),
        ]
    };
    scenario_idle()
        .at(3, snapshot(300, workers(60)))
        .at(4, snapshot(420, workers(90)))
}

/// Slot 2 stuck in `/export` for 29 s of its 30 s timeout: it sorts first, in red.
pub fn scenario_stuck() -> FakeSource {
    let workers = vec![
        idle(0, 4101, 120),
        busy(1, 4102, 123, "/api/cart", 0.004),
        // Stuck: no request finished since the last snapshot.
        busy(2, 4103, 91, "/export/orders.csv", 29.0),
        idle(3, 4104, 122),
    ];
    scenario_busy().at(5, snapshot(500, workers))
}

/// Slot 2's worker was killed for a timeout while on `/export`; 4105 replaced it.
pub fn scenario_dead() -> FakeSource {
    let reason = ExitReason {
        cause: ExitCause::Timeout,
        signal: Some(9),
        code: None,
        at: None,
    };
    let request = RequestInfo {
        method: "GET".into(),
        path: "/export/orders.csv".into(),
        client: "10.0.0.7:51234".into(),
        elapsed: 31.0,
        ..Default::default()
    };
    let dump = Dump {
        pid: 4103,
        slot: Some(2),
        request: Some(request.clone()),
        stack: "Thread 0x7f01 (most recent call first):\n  File \"shop/export.py\", line 88 in render_rows\n  File \"shop/views.py\", line 12 in export".into(),
        error: None,
        at: None,
        ..Default::default()
    };
    let replacement = WorkerInfo {
        state: WorkerState::Booting,
        uptime: 0.5,
        requests: 0,
        restarts: 1,
        last_exit: Some(reason.clone()),
        ..idle(2, 4105, 0)
    };
    let workers = vec![
        idle(0, 4101, 140),
        idle(1, 4102, 145),
        replacement,
        idle(3, 4104, 142),
    ];
    scenario_stuck()
        .at(
            6,
            Event::ServerEvent(ServerEvent::DumpTaken {
                dump: Box::new(dump),
            }),
        )
        .at(
            6,
            Event::LogLines(vec![log(2, 4103, "[CRITICAL] WORKER TIMEOUT (pid:4103)")]),
        )
        .at(
            7,
            Event::ServerEvent(ServerEvent::WorkerExited {
                slot: 2,
                pid: 4103,
                reason,
                last_request: Some(request),
            }),
        )
        .at(7, snapshot(520, workers))
}

/// Threads of a gthread worker in the scenarios.
pub const THREADS: u32 = 8;

/// A gthread worker of [`THREADS`] threads; `serving` lists (thread, path, elapsed) of those
/// with a request, and the row's request is the longest of them.
pub fn gthread(slot: u32, pid: i32, requests: u64, serving: &[(u32, &str, f64)]) -> WorkerInfo {
    WorkerInfo {
        kind: "gthread".into(),
        ..laned(slot, pid, requests, THREADS, serving)
    }
}

/// A worker of `lanes` scoreboard entries; `serving` lists (entry, path, elapsed) of those
/// with a request, and the row's request is the longest of them.
pub fn laned(
    slot: u32,
    pid: i32,
    requests: u64,
    lanes: u32,
    serving: &[(u32, &str, f64)],
) -> WorkerInfo {
    let threads: Vec<ThreadInfo> = (0..lanes)
        .map(|n| {
            let serving = serving.iter().find(|b| b.0 == n);
            ThreadInfo {
                thread: n,
                state: serving.map_or(WorkerState::Idle, |_| WorkerState::App),
                request: serving.map(|&(_, path, elapsed)| RequestInfo {
                    method: "GET".into(),
                    path: path.into(),
                    client: format!("10.0.0.{n}:5123{n}"),
                    elapsed,
                    ..Default::default()
                }),
                deadline_in: serving.map(|b| TIMEOUT - b.2),
                timed_out: false,
                ident: Some(format!("{:#018x}", 0x7f00 + n)),
            }
        })
        .collect();
    let longest = threads
        .iter()
        .filter_map(|t| t.request.clone().map(|r| (t.thread, r)))
        .max_by(|a, b| a.1.elapsed.total_cmp(&b.1.elapsed));
    let mut info = match &longest {
        Some((_, r)) => busy(slot, pid, requests, &r.path, r.elapsed),
        None => idle(slot, pid, requests),
    };
    info.request = longest.map(|(n, r)| RequestInfo {
        thread: Some(n),
        ..r
    });
    WorkerInfo {
        threads_busy: serving.len() as u32,
        threads_total: lanes,
        connections: serving.len() as u32 + 9,
        keepalive: 9,
        in_flight: serving.len() as u32,
        threads,
        ..info
    }
}

/// Two gthread workers of eight threads: slot 0 serves three requests (3/8), one of them
/// stuck 29 s of its 30 s deadline; slot 1 is idle and holds kept-alive connections. A dump
/// of slot 0 names each stack's thread.
pub fn scenario_gthread() -> FakeSource {
    let workers = |r: u64| {
        vec![
            gthread(
                0,
                4101,
                r,
                &[
                    (2, "/export/orders.csv", 29.0),
                    (5, "/api/cart", 0.012),
                    (6, "/report?year=2024", 4.5),
                ],
            ),
            gthread(1, 4102, r + 7, &[]),
        ]
    };
    let snap = |requests, workers| snapshot_of("gthread", requests, workers);
    let busy = workers(60).swap_remove(0);
    let stack = |n: u32, frame: &str| {
        format!(
            "Thread {:#018x} (most recent call first):\n  File \"shop/{frame}\n\n",
            0x7f00 + n
        )
    };
    let dump = Dump {
        pid: 4101,
        slot: Some(0),
        stack: [
            stack(6, "report.py\", line 40 in totals"),
            stack(5, "cart.py\", line 12 in cart"),
            stack(2, "export.py\", line 88 in render_rows"),
            "Current thread 0x00007f3c1a2b4740 (most recent call first):\n  <no Python frame>"
                .into(),
        ]
        .concat(),
        request: busy.request,
        threads: busy.threads,
        ..Default::default()
    };
    FakeSource::default()
        .at(0, hello())
        .at(0, logs())
        .at(1, snap(300, workers(60)))
        .at(2, snap(420, workers(90)))
        .at(
            2,
            Event::ServerEvent(ServerEvent::DumpTaken {
                dump: Box::new(dump),
            }),
        )
}

/// A fresh app of the given size, with colour (the text snapshots do not show it anyway).
pub fn app(width: u16, height: u16) -> App {
    let mut app = App::new(
        Ownership::Owned,
        "/run/user/1000/gunicorn-rs/shop-4000.sock",
    );
    app.size = (width, height);
    app
}

/// The screen as text, for insta.
pub fn draw(app: &App) -> String {
    let (w, h) = app.size;
    let mut terminal = Terminal::new(TestBackend::new(w, h)).expect("TestBackend never fails");
    terminal
        .draw(|f| crate::view::render(f, app))
        .expect("TestBackend never fails");
    terminal.backend().to_string()
}
