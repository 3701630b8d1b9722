//! Test harness: the real `gunicorn-rs` binary as a black box.
//!
//! `Server` starts the binary on port 0 in its own temp dir, collects stderr (the error log) and
//! stdout (the access log with `--access-logfile -`) on reader threads, and gives tests events to
//! wait for: log lines, process state in /proc, marker files the test apps write. Every wait is
//! bounded; nothing sleeps for readiness (house rule 11). Dropping a `Server` stops it by pid.
//!
//! Split by job, every name re-exported here so `support::X` paths stay as they were:
//! [`process`] starts and stops servers, [`server`] is what a test asks of a running one,
//! [`lines`] collects a process's output, [`client`] is the HTTP client, [`response`] its parser,
//! [`load`] the load generator, [`python`] the Python client scripts, [`proc`] what /proc says,
//! [`command`] runs external commands with a bound.

mod client;
mod command;
mod lines;
mod load;
mod proc;
mod process;
mod python;
mod response;
mod server;

pub use client::*;
pub use command::*;
pub use lines::*;
pub use load::*;
pub use proc::*;
pub use process::*;
pub use python::*;
pub use response::*;

use std::path::PathBuf;
use std::time::{Duration, Instant};

/// The longest any single wait may take. Tests run two at a time on two cores, so this is generous.
pub const WAIT: Duration = Duration::from_secs(20);
/// How long a client waits for a response before the test fails.
pub const IO_TIMEOUT: Duration = Duration::from_secs(15);

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_gunicorn-rs")
}

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

pub fn apps_dir() -> PathBuf {
    repo().join("tests").join("apps")
}

pub fn apps() -> String {
    apps_dir().to_string_lossy().into_owned()
}

/// The virtualenv with flask, django and requests that CI creates (`.ci/run`). Tests that need it
/// fail loudly when it is missing: a skipped venv test would hide exactly what it checks.
pub fn venv() -> PathBuf {
    let path = std::env::var_os("GUNICORN_RS_TEST_VENV")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo().join(".venv"));
    assert!(
        path.join("bin").join("python").exists() && path.join("pyvenv.cfg").exists(),
        "no virtualenv at {} (set GUNICORN_RS_TEST_VENV, or create it: python3 -m venv .venv && \
         .venv/bin/pip install flask django requests)",
        path.display()
    );
    path.canonicalize().expect("venv path resolves")
}

/// Polls `check` every 20 ms until it returns `Some`, for state that has no event (/proc, files).
pub fn poll<T>(timeout: Duration, what: &str, check: impl FnMut() -> Option<T>) -> T {
    poll_explained(timeout, || what.to_string(), check)
}

/// As [`poll`]; on a timeout the panic says `what()`, made then (a log read at the moment the
/// wait gave up says why it did).
pub fn poll_explained<T>(
    timeout: Duration,
    what: impl FnOnce() -> String,
    mut check: impl FnMut() -> Option<T>,
) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = check() {
            return v;
        }
        if Instant::now() >= deadline {
            panic!("timed out after {timeout:?} waiting for {}", what());
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The harness's own parser must be able to say "incomplete" and "two responses", or the
/// truncation and smuggling tests that rely on it could not fail.
#[cfg(test)]
mod harness_self_test {
    use super::*;

    #[test]
    fn response_parser_detects_truncation_and_extra_responses() {
        let short = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello";
        let (r, _) = parse_response(short, false).unwrap();
        assert!(!r.complete && r.body == b"hello");

        let no_last_chunk = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n";
        let (r, _) = parse_response(no_last_chunk, false).unwrap();
        assert!(r.chunked && !r.complete && r.body == b"hello");

        let full =
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n";
        let (r, used) = parse_response(full, false).unwrap();
        assert!(r.complete && used == full.len());

        let two = b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
        assert_eq!(parse_all(two, false).len(), 2);
        assert_eq!(count_status_lines(two), 2);
        let glued = b"HTTP/1.1 200 OK\r\n\r\nbodyHTTP/1.1 200 OK\r\n\r\n\nHTTP/1.1 500 X\r\n";
        assert_eq!(count_status_lines(glued), 2);
    }
}

/// The bound on external commands holds, and a timeout takes the command's children with it.
#[cfg(test)]
mod command_self_test {
    use super::*;

    #[test]
    fn a_command_past_its_bound_is_killed_with_its_children() {
        let started = Instant::now();
        let failed = std::panic::catch_unwind(|| {
            output_within(
                std::process::Command::new("sh").args(["-c", "sleep 60 & echo $!; wait"]),
                None,
                Duration::from_millis(500),
            )
        });
        let message = *failed
            .expect_err("a command past its bound fails the test")
            .downcast::<String>()
            .expect("a formatted panic message");
        assert!(started.elapsed() < WAIT, "{:?}", started.elapsed());
        assert!(message.contains("still running after"), "{message}");
        let sleeper: u32 = message
            .split("stdout:\n")
            .nth(1)
            .and_then(|rest| rest.lines().next())
            .and_then(|line| line.trim().parse().ok())
            .unwrap_or_else(|| panic!("the background sleep's pid in: {message}"));
        poll(WAIT, "the background sleep to be gone", || {
            (!is_alive(sleeper)).then_some(())
        });
    }
}
