//! The control socket, served from the master's own poll loop (DESIGN §5): no thread, no
//! runtime — Gunicorn runs asyncio in a thread and must stop it around every fork.
//!
//! - `listener`: the socket file (private directory, mode, SO_PEERCRED, removal);
//! - `client`: one connection (frame decoder in, bounded queue out);
//! - `book`: what the master remembers for the replies (per-slot history, counters, rates);
//! - `rows`: `show workers` / `show stats` rows from the scoreboard, /proc and the book;
//! - `threads`: each worker's threads (scoreboard lanes) in those rows and in dumps;
//! - `commands`: each command's effect on the master, and its reply;
//! - `serve`: one pass of the loop — accept, read, answer, push, write.
//!
//! The protocol (framing, commands, data shapes) is `ui::protocol`'s, so Gunicorn 27's
//! `gunicornc`, `gunicorn-rs ctl` and the dashboard all talk to it.

mod backlog;
mod book;
mod client;
mod commands;
mod listener;
mod procstat;
mod rows;
mod serve;
mod threads;

pub(super) use backlog::queued as listen_queue;
pub(super) use book::unix_now;
pub(super) use book::Book;
pub(super) use procstat::{cpu_ticks, ticks_per_second};
pub(super) use rows::request_info;
pub(super) use rows::state_of;
pub(super) use serve::{line_time, LOG_BACKLOG};
pub(super) use threads::{dump_lanes, thread_rows};

use client::Client;
use std::os::fd::{AsFd, BorrowedFd};
use std::path::Path;
use std::time::{Duration, Instant};

/// Connections served at once; more are closed at accept.
const MAX_CLIENTS: usize = 64;

/// The listening socket and its clients.
pub(super) struct ControlServer {
    bound: listener::Bound,
    clients: Vec<Client>,
    next_id: u64,
    euid: u32,
}

impl ControlServer {
    /// Bind the socket `cfg` asks for; `None` when it is off. A failure is logged as Gunicorn
    /// does (`Failed to start control socket: …`) and the server runs without one.
    pub fn open(cfg: &crate::config::Config, pid: u32, suffix: &str) -> Option<ControlServer> {
        let path = listener::socket_path(&cfg.control_socket, cfg.proc_name(), pid, suffix)?;
        let private = cfg.control_socket == crate::config::ControlSocket::PerServer;
        match listener::bind(&path, cfg.control_socket_mode, private) {
            Ok(bound) => {
                crate::info!("Control socket listening at {}", path.display());
                Some(ControlServer {
                    bound,
                    clients: Vec::new(),
                    next_id: 1,
                    euid: nix::unistd::geteuid().as_raw(),
                })
            }
            Err(e) => {
                crate::warning!("Failed to start control socket: {e}");
                None
            }
        }
    }

    /// The descriptors for the master's poll: the listener, then each client (with whether it
    /// has output waiting).
    pub fn poll_fds(&self) -> impl Iterator<Item = (BorrowedFd<'_>, bool)> {
        std::iter::once((self.bound.listener.as_fd(), false))
            .chain(self.clients.iter().map(|c| (c.fd(), c.wants_write())))
    }

    /// How long the loop may sleep before a subscriber's next snapshot is due.
    pub fn next_push_in(&self, now: Instant) -> Option<Duration> {
        self.clients
            .iter()
            .filter(|c| c.sub.is_some_and(|s| s.snapshot_ms.is_some()))
            .map(|c| c.next_snapshot.saturating_duration_since(now))
            .min()
    }

    pub fn wants_logs(&self) -> bool {
        self.clients.iter().any(|c| c.sub.is_some_and(|s| s.logs))
    }

    pub fn wants_events(&self) -> bool {
        self.clients.iter().any(|c| c.sub.is_some_and(|s| s.events))
    }

    /// Take every waiting connection; refuse peers of another user (SO_PEERCRED).
    fn accept_clients(&mut self) {
        loop {
            let stream = match self.bound.listener.accept() {
                Ok((stream, _)) => stream,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(_) => return,
            };
            let uid = listener::peer_uid(&stream);
            if !uid
                .as_ref()
                .is_ok_and(|&u| listener::is_peer_allowed(u, self.euid))
            {
                crate::warning!("Control socket: refused a client of uid {uid:?}");
                refuse(&stream, "Permission denied: not the server's user");
                continue;
            }
            if self.clients.len() >= MAX_CLIENTS || stream.set_nonblocking(true).is_err() {
                refuse(&stream, "Too many control clients");
                continue;
            }
            self.clients.push(Client::new(self.next_id, stream));
            self.next_id += 1;
        }
    }

    /// In a new worker: close the inherited listener and connections (a worker holding a
    /// client's descriptor would keep it open after the master closed it).
    pub fn close_in_child(&self) {
        for (fd, _) in self.poll_fds() {
            // SAFETY: descriptors inherited from the master that the worker never uses; their
            // owners are never dropped in the child (it ends in process::exit).
            unsafe { libc::close(std::os::fd::AsRawFd::as_raw_fd(&fd)) };
        }
    }

    /// Final shutdown: remove the socket file (if it is still ours).
    pub fn close(self) {
        self.bound.remove();
    }

    /// After promotion (USR2): take the configured path.
    pub fn rename(&mut self, to: &Path) {
        if let Err(e) = self.bound.rename(to) {
            crate::warning!("Cannot rename the control socket to {}: {e}", to.display());
        }
    }

    pub fn path(&self) -> &Path {
        &self.bound.path
    }
}

/// Best effort: one error frame to a refused peer, then close.
fn refuse(stream: &std::os::unix::net::UnixStream, why: &str) {
    use std::io::Write;
    if let Ok(frame) = ui::protocol::encode(&ui::protocol::Reply::error(0, why)) {
        let _ = stream.set_nonblocking(true);
        let _ = (&*stream).write(&frame);
    }
}
