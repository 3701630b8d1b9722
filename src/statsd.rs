//! statsd (`--statsd-host`): Gunicorn's metrics, names, types and line format exactly
//! (`gunicorn/instrument/statsd.py`), sent from Rust without ever blocking a request.
//!
//! Datagrams `PREFIX.NAME:VALUE|TYPE[|@RATE][|#TAGS]`, one metric each, as Gunicorn sends them:
//! - per request, by the worker that served it, once the response is written (its access-log
//!   bookkeeping, `worker::conn`, one place for every kind): `gunicorn.request.duration` (ms,
//!   `|ms`), `gunicorn.requests` and `gunicorn.request.status.CODE` (`|c|@1.0`);
//! - by the process that logs it: `gunicorn.log.{critical,error,warning,exception}`;
//! - by the master, from its loop: `gunicorn.workers` (`|g`, when the count changes) and, with
//!   `--enable-backlog-metric`, `gunicorn.backlog` (`|h`).
//!
//! The socket is made once, in the master before the first fork; every worker inherits it, as
//! Gunicorn's workers inherit its logger's socket. It is non-blocking: a datagram that would
//! block (a full socket buffer) or fails (no receiver: ECONNREFUSED, a removed Unix socket:
//! ENOENT) is dropped — never retried, never waited on, never logged (a log line per request
//! would be the failure's own cost, and counting log lines sends to statsd again).

use std::net::UdpSocket;
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::sync::RwLock;
use std::time::Duration;

use crate::config::{LogLevel, StatsdSettings, StatsdTarget};

#[derive(Debug, thiserror::Error)]
pub enum StatsdError {
    #[error("cannot resolve the statsd host {0}: {1}")]
    Resolve(String, std::io::Error),
    #[error("cannot open the statsd socket: {0}")]
    Socket(std::io::Error),
}

/// The emitter of this process: set in the master (at start and on HUP, single-threaded),
/// only read afterwards — by each worker's request threads, greenlets or loop, which a read
/// lock never makes wait, since nobody in a worker writes it.
static EMITTER: RwLock<Option<Emitter>> = RwLock::new(None);

enum Socket {
    /// Connected once to the resolved address (Gunicorn resolves once too).
    Udp(UdpSocket),
    /// Connected by the master when the receiver is there at start, so workers that switch
    /// to another user (`--user`) send through the master's permission, as Gunicorn's do.
    /// A receiver that starts later, or restarts with a new socket file, is sent to by path
    /// (a connected socket would stay dead).
    Unix(UnixDatagram, PathBuf),
}

struct Emitter {
    socket: Socket,
    prefix: String,
    /// `|#TAGS`, or empty.
    tags: String,
}

/// Open the statsd socket for `settings` (statsd off when `None`) and make it this process's;
/// the children forked afterwards share it.
pub fn install(settings: Option<&StatsdSettings>) -> Result<(), StatsdError> {
    let emitter = settings.map(Emitter::open).transpose()?;
    if emitter.is_some() {
        crate::log::observe(count_log_record);
    }
    *EMITTER.write().unwrap_or_else(|e| e.into_inner()) = emitter;
    Ok(())
}

impl Emitter {
    fn open(settings: &StatsdSettings) -> Result<Emitter, StatsdError> {
        let socket = match &settings.target {
            StatsdTarget::Udp { host, port } => {
                let shown = format!("{host}:{port}");
                let address = crate::sock::resolve(host, *port)
                    .map_err(|e| StatsdError::Resolve(shown, e))?;
                Socket::Udp(crate::sock::udp_sender(address).map_err(StatsdError::Socket)?)
            }
            StatsdTarget::Unix(path) => {
                let socket = UnixDatagram::unbound().map_err(StatsdError::Socket)?;
                // Not there yet: fine, each datagram is then sent to the path.
                let _ = socket.connect(path);
                Socket::Unix(socket, path.clone())
            }
        };
        match &socket {
            Socket::Udp(s) => s.set_nonblocking(true),
            Socket::Unix(s, _) => s.set_nonblocking(true),
        }
        .map_err(StatsdError::Socket)?;
        Ok(Emitter {
            socket,
            prefix: settings.prefix.clone(),
            tags: match settings.tags.as_str() {
                "" => String::new(),
                tags => format!("|#{tags}"),
            },
        })
    }

    /// One datagram, `PREFIX NAME:VALUE|KIND TAGS`; dropped if it cannot go out at once.
    fn send(&self, name: &str, value: &str, kind: &str) {
        let line = format!("{}{name}:{value}|{kind}{}", self.prefix, self.tags);
        let _ = match &self.socket {
            Socket::Udp(socket) => socket.send(line.as_bytes()),
            Socket::Unix(socket, path) => match socket.send(line.as_bytes()) {
                // Never connected, or the receiver went away (Linux then disconnects the
                // socket): by path, which reaches a receiver that is back.
                Err(e) if matches!(e.raw_os_error(), Some(libc::ENOTCONN | libc::ECONNREFUSED)) => {
                    socket.send_to(line.as_bytes(), path)
                }
                sent => sent,
            },
        };
    }
}

fn with_emitter(f: impl FnOnce(&Emitter)) {
    let emitter = EMITTER.read().unwrap_or_else(|e| e.into_inner());
    if let Some(emitter) = emitter.as_ref() {
        f(emitter);
    }
}

/// A request's response is written: Gunicorn's `Statsd.access` (duration first, in ms with
/// microseconds, as Python prints `seconds * 1000 + microseconds / 10**3`).
pub fn request(status: u16, elapsed: Duration) {
    with_emitter(|e| {
        e.send("gunicorn.request.duration", &milliseconds(elapsed), "ms");
        e.send("gunicorn.requests", "1", "c|@1.0");
        e.send(&format!("gunicorn.request.status.{status}"), "1", "c|@1.0");
    });
}

/// The master's worker count changed (Gunicorn's `manage_workers`, sent on change).
pub fn workers(count: usize) {
    with_emitter(|e| e.send("gunicorn.workers", &count.to_string(), "g"));
}

/// Connections waiting in the listeners' accept queues (`--enable-backlog-metric`).
pub fn backlog(queued: u64) {
    with_emitter(|e| e.send("gunicorn.backlog", &queued.to_string(), "h"));
}

/// The log observer: Gunicorn's Statsd logger counts `critical`, `error`, `warning` and
/// `exception` calls — whatever the log level lets through. gunicorn-rs writes an exception's
/// traceback into an ERROR record's message; that record is what Gunicorn's
/// `log.exception(...)` wrote, so it counts as `exception` (and, as there, not as `error`).
fn count_log_record(level: LogLevel, message: &str) {
    let name = match level {
        LogLevel::Critical => "gunicorn.log.critical",
        LogLevel::Error if message.contains("Traceback (most recent call last)") => {
            "gunicorn.log.exception"
        }
        LogLevel::Error => "gunicorn.log.error",
        LogLevel::Warning => "gunicorn.log.warning",
        LogLevel::Info | LogLevel::Debug => return,
    };
    with_emitter(|e| e.send(name, "1", "c|@1.0"));
}

/// `12.345`, `1000.0`: the value Python's `str()` gives Gunicorn's float of milliseconds.
fn milliseconds(elapsed: Duration) -> String {
    let micros = elapsed.as_micros();
    let fraction = format!("{:03}", micros % 1000);
    let fraction = match fraction.trim_end_matches('0') {
        "" => "0",
        digits => digits,
    };
    format!("{}.{fraction}", micros / 1000)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn milliseconds_print_as_python_prints_them() {
        let ms = |us: u64| milliseconds(Duration::from_micros(us));
        assert_eq!(ms(12_345), "12.345");
        assert_eq!(ms(12_300), "12.3");
        assert_eq!(ms(1_000_000), "1000.0");
        assert_eq!(ms(7), "0.007");
        assert_eq!(ms(0), "0.0");
    }
}
