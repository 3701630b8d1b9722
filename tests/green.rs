//! The greenlet workers (`-k gevent`, `-k eventlet`; issue 8), every test under both kinds:
//! slow requests overlap on one worker (a slow upstream called with `requests`, `time.sleep`),
//! a greenlet that blocks the hub is a WORKER TIMEOUT naming it while one that yields is not,
//! clients that leave mid-request or trickle their heads, 2,000 idle kept-alive connections,
//! `--worker-connections` as the cap on connections (and so on requests in the app), the
//! missing library, what the app sees, the class-path aliases, `show workers`; waits on slow
//! clients through the hub, long downloads, `--request-timeout`, TERM with a connection that
//! never sent a byte, and a burst of keep-alive connections split over two workers.
//! Keep-alive, bad input, the corpus and graceful stops: tests/green_keepalive.rs.
//!
//! The checks by theme in tests/green/: `concurrency.rs`, `clients.rs`, `timeouts.rs`; here
//! the kinds' tables, the harness (`green`), the missing library, what the app sees.
//!
//! Apps: tests/apps/green_app.py (Flask), stuck_app.py, hello.py — all from the test
//! virtualenv, which has gevent and eventlet.

use crate::support::*;
use std::process::Command;
use std::time::Instant;

mod concurrency;
pub(crate) use concurrency::*;
mod clients;
pub(crate) use clients::*;
mod timeouts;
pub(crate) use timeouts::*;

/// One `#[test]` per kind for each check `fn name(kind: &str)`: `green::gevent::name` and
/// `green::eventlet::name`.
macro_rules! per_kind {
    ($($check:ident),* $(,)?) => {
        mod gevent {
            $( #[test] fn $check() { super::$check("gevent") } )*
        }
        mod eventlet {
            $( #[test] fn $check() { super::$check("eventlet") } )*
        }
    };
}
pub(crate) use per_kind;

per_kind!(
    two_hundred_slow_requests_overlap_on_one_worker,
    a_greenlet_holding_the_gil_is_a_worker_timeout,
    a_long_request_that_yields_is_not_a_worker_timeout,
    a_client_that_leaves_mid_request_ends_its_greenlet_quietly,
    slowloris_does_not_stall_a_green_worker,
    two_thousand_idle_keep_alive_connections_on_one_worker,
    worker_connections_caps_the_requests_in_the_app,
    without_the_library_one_line_and_exit_3_before_binding,
    the_app_sees_a_green_single_threaded_worker,
    show_workers_lists_the_requests_in_flight_and_the_connections,
    waits_on_a_slow_client_let_the_other_greenlets_run,
    a_steady_download_longer_than_the_timeout_is_sent_whole,
    request_timeout_answers_504_and_interrupts_the_greenlet,
    term_closes_a_connection_that_sent_nothing_at_once,
    connections_opened_in_a_burst_spread_over_the_workers,
    a_burst_of_connections_is_accepted_without_stalls,
);

/// Checks that are not about greenlets, under the other kinds too. (Not the steady download
/// under sync: there, as in Gunicorn, `--timeout` bounds the whole request.)
mod gthread {
    #[test]
    fn a_steady_download_longer_than_the_timeout_is_sent_whole() {
        super::a_steady_download_longer_than_the_timeout_is_sent_whole("gthread")
    }
    #[test]
    fn term_closes_a_connection_that_sent_nothing_at_once() {
        super::term_closes_a_connection_that_sent_nothing_at_once("gthread")
    }
    #[test]
    fn a_burst_of_connections_is_accepted_without_stalls() {
        super::a_burst_of_connections_is_accepted_without_stalls("gthread")
    }
}
mod sync {
    #[test]
    fn term_closes_a_connection_that_sent_nothing_at_once() {
        super::term_closes_a_connection_that_sent_nothing_at_once("sync")
    }
    #[test]
    fn a_burst_of_connections_is_accepted_without_stalls() {
        super::a_burst_of_connections_is_accepted_without_stalls("sync")
    }
}

/// `app` from tests/apps under `-k kind`, `workers` workers, in the test virtualenv.
pub(crate) fn green(kind: &str, app: &str, extra: &[&str], workers: usize) -> Server {
    green_with(kind, app, extra, workers, Opts::default())
}

pub(crate) fn green_with(
    kind: &str,
    app: &str,
    extra: &[&str],
    workers: usize,
    base: Opts,
) -> Server {
    let mut args = vec!["-k", kind];
    args.extend_from_slice(extra);
    Server::app_with(app, &args, workers, base.with_venv())
}

fn only_worker(server: &Server) -> u32 {
    *server.worker_pids().iter().next().expect("one worker")
}

/// Without gevent (eventlet) in the interpreter: one error line naming the library and the
/// Python, exit code 3 (Gunicorn's worker-boot error), and nothing bound. The port is taken
/// beforehand, so a server that bound before it checked would say so (and retry).
fn without_the_library_one_line_and_exit_3_before_binding(kind: &str) {
    without_a_library_one_line_and_exit_3(&["-k", kind, "hello:app"], kind);
}

/// Runs `args` in a virtualenv without `library`: one error line naming it and the venv's
/// Python, exit code 3 (Gunicorn's worker-boot error), nothing on stdout, and nothing bound —
/// the port is taken beforehand, so a server that bound before it checked would say so.
pub(crate) fn without_a_library_one_line_and_exit_3(args: &[&str], library: &str) {
    let dir = tempfile::tempdir().expect("temp dir");
    let empty = dir.path().join("venv");
    let made = output_of(
        Command::new(venv().join("bin").join("python"))
            .args(["-m", "venv", "--without-pip"])
            .arg(&empty),
    );
    assert!(made.status.success(), "python -m venv {}", empty.display());
    let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = taken.local_addr().unwrap().to_string();
    let apps = apps();
    let mut argv = vec!["-b", &bind, "--chdir", &apps];
    argv.extend_from_slice(args);
    let started = Instant::now();
    let (status, stdout, stderr) = run(Opts::new(&argv).in_venv(&empty));
    eprintln!(
        "{library}: exit {status} after {:?}: {stderr}",
        started.elapsed()
    );
    assert_eq!(status.code(), Some(3), "{library}: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{library}: one line: {stderr}");
    let prefix = format!("Error: {library} is not installed in {}/", empty.display());
    let suffix = format!(": pip install {library}");
    assert!(
        lines[0].starts_with(&prefix) && lines[0].ends_with(&suffix),
        "{:?}, want {prefix:?}…{suffix:?}",
        lines[0]
    );
    assert_eq!(stdout, "", "{library}");
    drop(taken);
}

/// Under a green worker the app sees one thread per process (`wsgi.multithread` False: one
/// greenlet runs at a time), `wsgi.multiprocess` as Gunicorn sets it (workers > 1), a
/// standard library patched by the kind's library, and the log names the kind.
fn the_app_sees_a_green_single_threaded_worker(kind: &str) {
    let other = if kind == "gevent" {
        "eventlet"
    } else {
        "gevent"
    };
    for workers in [1, 2] {
        let server = green(kind, "green_app:app", &[], workers);
        let using = server.wait_for("Using worker: ", WAIT);
        assert!(using.ends_with(&format!("Using worker: {kind}")), "{using}");
        let seen = server.fetch("/patched").json();
        assert_eq!(seen["multithread"], false, "{kind}: {seen}");
        assert_eq!(
            seen["multiprocess"],
            workers > 1,
            "{kind} -w {workers}: {seen}"
        );
        assert_eq!(seen["run_once"], false, "{seen}");
        let socket = seen["socket"].as_str().unwrap();
        assert!(
            socket.starts_with(&format!("{kind}.")),
            "{kind}: socket from {socket}"
        );
        assert_eq!(
            (&seen[kind], &seen[other]),
            (&true.into(), &false.into()),
            "{seen}"
        );
    }
}

/// Gunicorn's names for the green workers start the same two kinds (gevent's pywsgi variants
/// included: here the Rust parser serves them all).
#[test]
fn class_paths_and_aliases_start_the_green_kinds() {
    for (name, kind) in [
        ("gevent_wsgi", "gevent"),
        ("gevent_pywsgi", "gevent"),
        ("gunicorn.workers.ggevent.GeventWorker", "gevent"),
        ("gunicorn.workers.ggevent.GeventPyWSGIWorker", "gevent"),
        ("gunicorn.workers.geventlet.EventletWorker", "eventlet"),
    ] {
        let server = green(name, "green_app:app", &[], 1);
        let using = server.wait_for("Using worker: ", WAIT);
        assert!(
            using.ends_with(&format!("Using worker: {kind}")),
            "{name}: {using}"
        );
        let seen = server.fetch("/patched").json();
        let socket = seen["socket"].as_str().unwrap();
        assert!(
            socket.starts_with(&format!("{kind}.")),
            "{name}: socket from {socket}"
        );
        assert_eq!(seen["multithread"], false, "{name}: {seen}");
    }
}
