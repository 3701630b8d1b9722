//! The dashboard in a real terminal (tmux, see `tmux.rs`), over real servers: `--tui` shows
//! one row per worker pid, `+` adds one, a request stuck in C shows its path and elapsed time,
//! `g` `d` shows the stuck worker's Python stack, `q` stops the server and every worker;
//! `Q` detaches and leaves it serving; `attach` finds a server, shows its workers and
//! reconnects across a restart; a killed dashboard takes its dev server with it.

use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::TcpStream;

use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;

use crate::support::{self, apps, bin, children, is_alive, poll, Opts, Server, WAIT};
use crate::tmux::{row_of, row_pids, tui_port, Tmux};

/// `gunicorn-rs --tui` on `app` with `workers`, on a free port.
fn tui(app: &str, workers: usize, extra: &[&str]) -> Tmux {
    let w = workers.to_string();
    let apps = apps();
    let mut args = vec![
        bin(),
        "--tui",
        "-b",
        "127.0.0.1:0",
        "-w",
        &w,
        "--chdir",
        &apps,
        "--graceful-timeout",
        "3",
    ];
    args.extend_from_slice(extra);
    args.push(app);
    Tmux::run(&args)
}

/// The dashboard's child (the master), then `n` live workers of it.
fn master_and_workers(dashboard: u32, n: usize) -> (u32, BTreeSet<u32>) {
    let master = poll(WAIT, "the master, child of the dashboard", || {
        children(dashboard).into_iter().next()
    });
    let workers = poll(WAIT, &format!("{n} workers of {master}"), || {
        let pids = children(master);
        (pids.len() == n).then_some(pids)
    });
    (master, workers)
}

/// Waits until the table shows exactly these pids.
fn wait_rows(t: &Tmux, pids: &BTreeSet<u32>) {
    t.wait(&format!("rows for workers {pids:?}"), |s| {
        (row_pids(s) == *pids).then_some(())
    });
}

fn wait_all_gone(pids: impl IntoIterator<Item = u32>) {
    let pids: Vec<u32> = pids.into_iter().collect();
    poll(WAIT, &format!("{pids:?} to exit"), || {
        pids.iter().all(|&p| !is_alive(p)).then_some(())
    });
}

fn get(port: u16, path: &str) -> String {
    let mut s = TcpStream::connect(("127.0.0.1", port)).expect("connect");
    s.set_read_timeout(Some(support::IO_TIMEOUT)).unwrap();
    write!(s, "GET {path} HTTP/1.0\r\nHost: x\r\n\r\n").unwrap();
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    out
}

/// SIGTERM to a pid at the end of a test, passed or failed.
struct StopOnDrop(u32);

impl Drop for StopOnDrop {
    fn drop(&mut self) {
        if is_alive(self.0) {
            let _ = kill(Pid::from_raw(self.0 as i32), Signal::SIGTERM);
        }
    }
}

#[test]
fn tui_rows_follow_the_workers_plus_adds_one_and_q_stops_everything() {
    let t = tui("hello:app", 2, &[]);
    let dashboard = t.program_pid();
    let (master, workers) = master_and_workers(dashboard, 2);
    wait_rows(&t, &workers);

    t.keys("+");
    let (_, grown) = master_and_workers(dashboard, 3);
    assert!(grown.is_superset(&workers), "{grown:?} ⊇ {workers:?}");
    wait_rows(&t, &grown);

    t.keys("q");
    t.wait_text("[exit 0]");
    wait_all_gone(grown.iter().copied().chain([master, dashboard]));
}

/// A key typed the moment the first row shows (or before: while the dashboard connects) is
/// acted on, not lost.
#[test]
fn a_plus_typed_as_soon_as_a_row_shows_adds_a_worker() {
    let t = tui("hello:app", 1, &[]);
    let dashboard = t.program_pid();
    t.keys("+");
    t.wait("a worker row", |s| (!row_pids(s).is_empty()).then_some(()));
    t.keys("+");
    let (master, workers) = master_and_workers(dashboard, 3);
    wait_rows(&t, &workers);
    t.keys("q");
    t.wait_text("[exit 0]");
    wait_all_gone(workers.iter().copied().chain([master, dashboard]));
}

#[test]
fn a_request_stuck_in_c_shows_its_path_elapsed_time_and_python_stack() {
    let t = tui("stuck_app:app", 2, &[]);
    let dashboard = t.program_pid();
    let (master, workers) = master_and_workers(dashboard, 2);
    wait_rows(&t, &workers);
    let port = tui_port(&t.socket_dir(), dashboard);
    // The request never finishes: the client is left behind and dropped with the server.
    std::thread::spawn(move || get(port, "/c"));
    let stuck: u32 = poll(WAIT, "the request in the app", || {
        let names = std::fs::read_dir(t.dir.path()).ok()?;
        names
            .flatten()
            .find_map(|e| e.file_name().to_str()?.strip_prefix("c-")?.parse().ok())
    });
    let row = t.wait("the stuck request's row with an elapsed time", |s| {
        let row = row_of(s, stuck)?;
        let after = row.split("GET /c").nth(1)?;
        let elapsed = after.split_whitespace().next()?;
        let shown = elapsed.ends_with('s') && elapsed.starts_with(|c: char| c.is_ascii_digit());
        shown.then(|| row.to_string())
    });
    assert!(row.contains(" app "), "state app: {row}");

    // Stalled first: the stuck worker is the top row; `d` dumps it into its detail view.
    t.keys("g");
    t.keys("d");
    let screen = t.wait_text("burn_in_c");
    assert!(screen.contains(&format!("pid {stuck}")), "{screen}");
    assert!(screen.contains("stuck_app.py"), "{screen}");

    // A request in flight: `q` asks first.
    t.keys("q");
    t.wait_text("in flight");
    t.keys("y");
    t.wait_text("[exit 0]");
    wait_all_gone(workers.iter().copied().chain([master, dashboard]));
}

#[test]
fn detach_leaves_the_server_serving_and_attach_finds_it() {
    let t = tui("hello:app", 1, &[]);
    let dashboard = t.program_pid();
    let (master, workers) = master_and_workers(dashboard, 1);
    wait_rows(&t, &workers);
    let port = tui_port(&t.socket_dir(), dashboard);

    // The detached master outlives its dashboard; it must not outlive a failed test.
    let _stop = StopOnDrop(master);
    t.keys("Q");
    let screen = t.wait_text("[exit 0]");
    let socket = screen
        .lines()
        .find_map(|l| l.trim().strip_prefix("gunicorn-rs attach "))
        .unwrap_or_else(|| panic!("the attach command is printed:\n{screen}"))
        .trim()
        .to_string();
    assert!(!is_alive(dashboard));
    assert!(get(port, "/").contains("200 OK"), "still serving");
    assert_eq!(children(master), workers);

    assert!(
        socket.starts_with(&t.socket_dir().display().to_string()),
        "{socket}"
    );

    // `attach` with no argument finds it: the only server in that runtime dir.
    let env_dir = t.dir.path().display().to_string();
    let a = Tmux::run(&[
        "env",
        &format!("XDG_RUNTIME_DIR={env_dir}"),
        bin(),
        "attach",
    ]);
    wait_rows(&a, &workers);
    // Attached, `q` leaves the server running.
    a.keys("q");
    a.wait_text("[exit 0]");
    assert!(
        get(port, "/").contains("200 OK"),
        "still serving after attach q"
    );

    kill(Pid::from_raw(master as i32), Signal::SIGTERM).unwrap();
    wait_all_gone(workers.iter().copied().chain([master]));
}

/// `--tui --control-socket PATH` serves on PATH: another terminal's `ctl` and `attach` reach
/// it there, and `Q` names it.
#[test]
fn tui_serves_the_control_socket_it_is_given() {
    let named = tempfile::tempdir().unwrap();
    let path = named.path().join("ctl.sock");
    let sock = path.to_str().unwrap();
    let t = tui("hello:app", 2, &["--control-socket", sock]);
    let dashboard = t.program_pid();
    let (master, workers) = master_and_workers(dashboard, 2);
    let _stop = StopOnDrop(master);
    wait_rows(&t, &workers);

    let rows = crate::control::ctl_json(&path, &["show", "workers"]);
    let listed: BTreeSet<u32> = rows["workers"]
        .as_array()
        .unwrap_or_else(|| panic!("rows: {rows}"))
        .iter()
        .map(|w| w["pid"].as_u64().and_then(|p| u32::try_from(p).ok()))
        .collect::<Option<_>>()
        .unwrap_or_else(|| panic!("pids: {rows}"));
    assert_eq!(listed, workers);

    let a = Tmux::run(&[bin(), "attach", sock]);
    wait_rows(&a, &workers);
    a.keys("q");
    a.wait_text("[exit 0]");

    t.keys("Q");
    let screen = t.wait_text("[exit 0]");
    assert!(
        screen.contains(&format!("gunicorn-rs attach {sock}")),
        "{screen}"
    );
    kill(Pid::from_raw(master as i32), Signal::SIGTERM).unwrap();
    wait_all_gone(workers.iter().copied().chain([master]));
    assert!(!path.exists(), "the master removed its socket");
}

#[test]
fn a_killed_dashboard_stops_its_server() {
    let t = tui("hello:app", 2, &[]);
    let dashboard = t.program_pid();
    let (master, workers) = master_and_workers(dashboard, 2);
    wait_rows(&t, &workers);
    kill(Pid::from_raw(dashboard as i32), Signal::SIGKILL).unwrap();
    wait_all_gone(workers.iter().copied().chain([master]));
}

#[test]
fn sigterm_to_the_dashboard_restores_the_terminal_and_stops_the_server() {
    let t = tui("hello:app", 1, &[]);
    let dashboard = t.program_pid();
    let (master, workers) = master_and_workers(dashboard, 1);
    wait_rows(&t, &workers);
    assert!(t.alternate_on());
    kill(Pid::from_raw(dashboard as i32), Signal::SIGTERM).unwrap();
    t.wait_text("[exit 143]");
    assert!(!t.alternate_on(), "the terminal is back on the main screen");
    wait_all_gone(workers.iter().copied().chain([master]));
}

#[test]
fn attach_shows_a_headless_server_and_reconnects_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let socket = dir.path().join("ctl.sock");
    let sock = socket.to_str().unwrap();
    let server = Server::app_with("hello:app", &["--control-socket", sock], 2, Opts::default());
    let t = Tmux::run(&[bin(), "attach", sock]);
    wait_rows(&t, &server.worker_pids());

    drop(server);
    t.wait_text("reconnecting");
    let again = Server::app_with("hello:app", &["--control-socket", sock], 1, Opts::default());
    let pids = again.worker_pids();
    t.wait(&format!("the banner gone and rows {pids:?}"), |s| {
        (!s.contains("reconnecting") && row_pids(s) == pids).then_some(())
    });
    t.keys("q");
    t.wait_text("[exit 0]");
    assert!(
        is_alive(again.pid()),
        "attached q leaves the server running"
    );
}

/// The lifeline without a dashboard: a FIFO stands in for the pipe (`master::lifeline`).
fn lifeline_server(dir: &std::path::Path) -> (Server, std::fs::File) {
    let fifo = dir.join("lifeline");
    nix::unistd::mkfifo(&fifo, nix::sys::stat::Mode::S_IRWXU).unwrap();
    let apps = apps();
    let fifo_s = fifo.to_str().unwrap().to_string();
    let opts = Opts::new(&[
        "-b",
        "127.0.0.1:0",
        "-w",
        "1",
        "--chdir",
        &apps,
        "hello:app",
    ])
    .program(&["sh", "-c", "exec \"$0\" \"$@\" 3<\"$LIFELINE_FIFO\"", bin()])
    .env("LIFELINE_FIFO", &fifo_s)
    .env("GUNICORN_RS_LIFELINE", "3");
    let server = Server::spawn(opts);
    // Opening the write end waits for the shell to open the read end.
    let writer = std::fs::OpenOptions::new().write(true).open(&fifo).unwrap();
    server.wait_workers(1);
    (server, writer)
}

#[test]
fn the_lifeline_stops_the_master_at_eof_unless_it_detached_first() {
    let dir = tempfile::tempdir().unwrap();
    let (mut server, writer) = lifeline_server(dir.path());
    drop(writer);
    server.wait_for("Dashboard gone; shutting down", WAIT);
    assert!(server.wait_exit(WAIT).success());

    let dir = tempfile::tempdir().unwrap();
    let (mut server, mut writer) = lifeline_server(dir.path());
    writer.write_all(b"D").unwrap();
    server.wait_for("Dashboard detached; running headless", WAIT);
    drop(writer);
    // The loop goes on after the EOF: a TTIN is handled, and the master still runs.
    server.signal(Signal::SIGTTIN);
    server.wait_live_workers(2);
    assert!(server.is_running());
}

/// A gthread worker is one row with `busy/threads`; Enter lists one line per thread with the
/// request each is serving.
#[test]
fn a_gthread_worker_shows_busy_threads_and_one_line_per_thread() {
    let t = tui("hello:app", 1, &["-k", "gthread", "--threads", "3"]);
    let dashboard = t.program_pid();
    let (master, workers) = master_and_workers(dashboard, 1);
    wait_rows(&t, &workers);
    let worker = *workers.iter().next().expect("one worker");
    let port = tui_port(&t.socket_dir(), dashboard);
    // Two requests stay in the app while the screen is read; their clients end with the server.
    for n in 1..=2 {
        std::thread::spawn(move || get(port, &format!("/sleep?s=30&n={n}")));
    }
    let row = t.wait("the worker's row with two of three threads busy", |s| {
        row_of(s, worker)
            .filter(|r| r.contains("2/3"))
            .map(str::to_string)
    });
    assert!(row.contains("GET /sleep"), "its longest request: {row}");
    t.keys("g");
    t.keys("\r");
    let screen = t.wait("one line per thread", |s| {
        let lines = s.lines().filter(|l| l.contains("thread ")).count();
        (lines >= 3 && s.contains("n=1") && s.contains("n=2")).then(|| s.to_string())
    });
    assert!(
        screen.contains("idle"),
        "the third thread is idle:\n{screen}"
    );
    t.keys("\x1b");
    t.keys("q");
    t.wait_text("in flight");
    t.keys("y");
    t.wait_text("[exit 0]");
    wait_all_gone(workers.iter().copied().chain([master, dashboard]));
}
