//! `--metrics-bind`: the master's metrics and health listener (issue 11), served from the
//! master's own poll loop like the control socket — no thread, no runtime (DESIGN §1, §3).
//! Everything it answers comes from the scoreboard, /proc and the master's book, never from a
//! worker, so it answers while every worker is stuck in the app.
//!
//! - `wire`: the little HTTP/1.1 it speaks (one GET per connection, then close);
//! - `client`: one connection, non-blocking, under a deadline;
//! - `exposition`: the Prometheus text format;
//! - `catalog`: every metric family's name, type and help;
//! - `families`, `per_worker`: what `/metrics` reports, server-wide and per worker;
//! - `health`: what `/healthz` and `/readyz` answer.

mod catalog;
mod client;
mod exposition;
mod families;
mod health;
mod per_worker;
mod wire;

use crate::master::Master;
use crate::sock::{self, Address, Listener};
use client::Client;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
use std::time::Instant;
use wire::Response;

/// Connections served at once; more are closed at accept (a scrape and two probes need three).
const MAX_CLIENTS: usize = 32;

/// The listener and its connections.
pub(super) struct MetricsServer {
    listener: Listener,
    clients: Vec<Client>,
}

impl MetricsServer {
    /// Bind `address`. SO_REUSEPORT, so the new master of a USR2 upgrade can bind it while the
    /// old one still serves it (both answer for their own workers until the old one leaves).
    pub fn bind(address: &Address) -> Result<MetricsServer, sock::SockError> {
        let opts = sock::BindOptions {
            backlog: MAX_CLIENTS as i32,
            reuse_port: true,
            umask: 0,
        };
        Ok(MetricsServer {
            listener: sock::bind(address, opts)?,
            clients: Vec::new(),
        })
    }

    /// `http://HOST:PORT`, the bound port even when 0 was asked for.
    pub fn url(&self) -> String {
        self.listener.to_string()
    }

    /// The descriptors for the master's poll: the listener, then each client (with whether it
    /// has output waiting).
    pub fn poll_fds(&self) -> impl Iterator<Item = (BorrowedFd<'_>, bool)> {
        std::iter::once((self.listener.as_fd(), false))
            .chain(self.clients.iter().map(|c| (c.fd(), c.wants_write())))
    }

    /// In a new worker: close the inherited listener and connections (a worker holding a
    /// client's descriptor would keep the connection open after the master answered).
    pub fn close_in_child(&self) {
        for (fd, _) in self.poll_fds() {
            // SAFETY: descriptors inherited from the master that the worker never uses; their
            // owners are never dropped in the child (it ends in process::exit).
            unsafe { libc::close(fd.as_raw_fd()) };
        }
    }

    fn accept_clients(&mut self, now: Instant) {
        loop {
            let accepted = match self.listener.accept() {
                Ok(accepted) => accepted,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            if self.clients.len() >= MAX_CLIENTS {
                // Closed at once: the client sees a reset instead of waiting on a full server.
                continue;
            }
            self.clients.push(Client::new(accepted.fd, now));
        }
    }
}

impl Master<'_> {
    /// Serve the metrics listener once (called from `sleep` after every poll): accept, read
    /// heads, answer the complete ones, write, drop the clients that are done or out of time.
    pub(in crate::master) fn serve_metrics(&mut self) {
        let Some(mut server) = self.metrics.take() else {
            return;
        };
        let now = Instant::now();
        server.accept_clients(now);
        for client in &mut server.clients {
            client.flush();
            let Some(asked) = client.read() else {
                continue;
            };
            let out = match asked {
                Ok(asked) => self.answer_metrics(&asked.path).encode(asked.head_only),
                Err(refused) => refused.encode(false),
            };
            client.respond(out);
        }
        server.clients.retain(|c| !c.is_done(now));
        self.metrics = Some(server);
    }

    fn answer_metrics(&mut self, path: &str) -> Response {
        let (ok, line) = match path {
            "/metrics" => {
                return Response {
                    status: 200,
                    content_type: exposition::CONTENT_TYPE,
                    body: self.exposition(),
                }
            }
            "/healthz" => self.liveness(),
            "/readyz" => self.readiness(),
            _ => return Response::not_found(),
        };
        Response::text(if ok { 200 } else { 503 }, &line)
    }
}
