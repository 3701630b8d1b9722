//! gunicorn-rs: a pre-fork HTTP server for Python web apps.
//!
//! Dependency arrows (DESIGN.md §2) — an arrow means "may use":
//!
//! ```text
//! main ──► config, sock, master, worker, wsgi, log   (main is the only place that wires them)
//! master ──► config, sock, scoreboard, log, statsd, nix (not http, not wsgi, not pyo3, not tokio)
//! worker ──► http, wsgi, sock, scoreboard, log, statsd
//! wsgi   ──► http (head types), pyo3, log            (not sockets, not fork)
//! http   ──► memchr                                  (leaf: no I/O at all)
//! config ──► pyo3 (only to execute the Python config file)
//! tls    ──► config, rustls                           (certificates read and checked; no I/O on sockets)
//! statsd ──► config, log, sock                        (datagrams out; used by master, worker, main)
//! log    ──► config, sock                              (syslog's datagrams; Python only through a trait)
//! sock   ──► config                                    (the HOST:PORT split of --bind)
//! alloc  ──► libmimalloc-sys                           (leaf: the global allocator main installs)
//! ```

pub mod alloc;
pub mod config;
pub mod fd;
pub mod http;
pub mod log;
pub mod master;
pub mod proctitle;
pub mod scoreboard;
pub mod sock;
pub mod statsd;
pub mod tls;
pub mod worker;
pub mod wsgi;
