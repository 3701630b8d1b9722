//! The `sync` worker: one request at a time, one request per connection, `Connection: close`
//! (Gunicorn's semantics). Accepts on every inherited listener through epoll with
//! `EPOLLEXCLUSIVE`, so a new connection wakes one idle worker, not all of them.

mod request;

use super::reloader::Reloader;
use super::signals;
use super::watchdog::{self, Watchdog};
use crate::config::Config;
use crate::http::{self, ParserConfig, RequestHead};
use crate::log::access::AccessFormat;
use crate::master::WorkerContext;
use crate::scoreboard::{ExitReason, Slot, WorkerState};
use crate::sock::Listener;
use crate::wsgi::hooks::WorkerHooks;
use crate::wsgi::App;
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::os::fd::BorrowedFd;
use std::time::{Duration, Instant};

/// Wake-up token of the signal pipe in the epoll set (listeners use their index).
const WAKE_TOKEN: u64 = u64::MAX;
/// Token of the reloader's inotify descriptor.
const RELOAD_TOKEN: u64 = u64::MAX - 1;

/// What one request carries through the worker besides its sockets.
struct Request<'h> {
    head: &'h RequestHead,
    peer: Option<std::net::SocketAddr>,
    started: Instant,
}

pub struct SyncWorker<'a> {
    cfg: &'a Config,
    listeners: &'a [Listener],
    slot: &'a Slot,
    /// The app, or the traceback of its failed import (`--reload` waits for a fix).
    app: Result<&'a App, String>,
    reloader: Option<Reloader>,
    hooks: &'a WorkerHooks,
    master_pid: nix::unistd::Pid,
    parser: ParserConfig,
    access: Option<AccessFormat>,
    environ_keys: Vec<String>,
    epoll: Epoll,
    /// Requests left before a graceful recycle (`max_requests` + jitter); `None` = never.
    requests_left: Option<u64>,
    date: (i64, String),
    /// `--request-timeout`'s thread, when set.
    watchdog: Option<Watchdog>,
}

impl<'a> SyncWorker<'a> {
    pub fn new(
        ctx: &WorkerContext<'a>,
        app: Result<&'a App, String>,
        reloader: Option<Reloader>,
        hooks: &'a WorkerHooks,
    ) -> std::io::Result<SyncWorker<'a>> {
        let epoll = Epoll::new(EpollCreateFlags::EPOLL_CLOEXEC)?;
        for (i, l) in ctx.listeners.iter().enumerate() {
            epoll.add(
                l,
                EpollEvent::new(EpollFlags::EPOLLIN | EpollFlags::EPOLLEXCLUSIVE, i as u64),
            )?;
        }
        // SAFETY: the wake pipe lives as long as the process (installed before this).
        let wake = unsafe { BorrowedFd::borrow_raw(signals::wake_fd()) };
        epoll.add(wake, EpollEvent::new(EpollFlags::EPOLLIN, WAKE_TOKEN))?;
        if let Some(fd) = reloader.as_ref().and_then(Reloader::fd) {
            epoll.add(fd, EpollEvent::new(EpollFlags::EPOLLIN, RELOAD_TOKEN))?;
        }
        let access = crate::log::has_access_log()
            .then(|| AccessFormat::parse(&ctx.config.access_log_format));
        let environ_keys = access
            .as_ref()
            .map(AccessFormat::environ_keys)
            .unwrap_or_default();
        Ok(SyncWorker {
            cfg: ctx.config,
            listeners: ctx.listeners,
            slot: ctx.slot,
            app,
            reloader,
            hooks,
            master_pid: ctx.master_pid,
            parser: parser_config(ctx.config),
            watchdog: watchdog::start_for(ctx, access.clone())?,
            access,
            environ_keys,
            epoll,
            requests_left: max_requests(ctx.config),
            date: (0, String::new()),
        })
    }

    /// Serve until told to stop; returns the exit code.
    pub fn run(&mut self) -> i32 {
        self.slot.set_state(WorkerState::Idle);
        let wait = self.cfg.timeout.map_or(Duration::from_secs(1), |t| {
            (t / 2).min(Duration::from_secs(1))
        });
        let mut events = [EpollEvent::empty(); 8];
        while signals::is_alive() {
            self.slot.notify();
            if !self.is_parent_alive() {
                break;
            }
            if signals::take_reopen() {
                let _ = crate::log::reopen();
            }
            let timeout = EpollTimeout::try_from(wait).unwrap_or(EpollTimeout::NONE);
            let n = match self.epoll.wait(&mut events, timeout) {
                Ok(n) => n,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => {
                    crate::error!("epoll_wait failed: {e}");
                    self.slot.set_exit_reason(ExitReason::LoopFailed);
                    return 1;
                }
            };
            for event in &events[..n] {
                match event.data() {
                    WAKE_TOKEN => {
                        signals::drain_wake();
                        self.hooks.check_signals();
                    }
                    RELOAD_TOKEN => {}
                    i => self.accept_all(i as usize),
                }
            }
            self.check_reload();
        }
        self.slot.set_exit_reason_once(ExitReason::Shutdown);
        self.slot.set_state(WorkerState::Dead);
        0
    }

    /// `--reload`: exit (to be replaced with fresh code) when a watched file changed.
    fn check_reload(&mut self) {
        if let Some(path) = self.reloader.as_mut().and_then(Reloader::changed) {
            crate::info!("Worker reloading: {} modified", path.display());
            signals::stop();
            self.hooks.worker_int();
        }
    }

    /// Gunicorn's `is_parent_alive`: a worker whose master died exits.
    fn is_parent_alive(&self) -> bool {
        if nix::unistd::getppid() == self.master_pid {
            return true;
        }
        crate::info!("Parent changed, shutting down: {}", std::process::id());
        self.slot.set_exit_reason_once(ExitReason::ParentGone);
        false
    }

    /// Accept and serve until the listener has nothing queued (no epoll round trip per
    /// connection under load).
    ///
    /// The first accept happens even when the worker was just told to stop: with
    /// `EPOLLEXCLUSIVE` this worker alone was woken for the connection, and no sibling will be
    /// until the next one arrives, so leaving it would strand a client in the backlog.
    fn accept_all(&mut self, index: usize) {
        let Some(listener) = self.listeners.get(index) else {
            return;
        };
        let mut first = true;
        while std::mem::take(&mut first) || signals::is_alive() {
            match listener.accept() {
                Ok(accepted) => {
                    self.handle(accepted, listener);
                    self.slot.notify();
                }
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => {
                    // The master shut the listener down (graceful stop): stop watching it.
                    let _ = self.epoll.delete(listener);
                    break;
                }
                Err(e) if e.raw_os_error() == Some(libc::EINTR) => continue,
                Err(e) => {
                    crate::debug!("accept failed: {e}");
                    break;
                }
            }
        }
    }

    fn date(&mut self) -> String {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        if self.date.0 != now {
            self.date = (now, http::response::http_date(now));
        }
        self.date.1.clone()
    }

    fn count_request(&mut self) {
        if let Some(left) = self.requests_left.as_mut() {
            *left = left.saturating_sub(1);
            if *left == 0 {
                crate::info!("Autorestarting worker after current request.");
                self.slot.set_exit_reason_once(ExitReason::Recycled);
                signals::stop();
            }
        }
    }
}

pub fn parser_config(cfg: &Config) -> ParserConfig {
    ParserConfig {
        limit_request_line: cfg.limit_request_line,
        limit_request_fields: cfg.limit_request_fields,
        limit_request_field_size: cfg.limit_request_field_size,
        permit_obsolete_folding: cfg.permit_obsolete_folding,
        strip_header_spaces: cfg.strip_header_spaces,
        permit_unconventional_http_method: cfg.permit_unconventional_http_method,
        permit_unconventional_http_version: cfg.permit_unconventional_http_version,
        casefold_http_method: cfg.casefold_http_method,
        header_map: cfg.header_map,
        forwarder_headers: cfg.forwarder_headers.clone(),
        secure_scheme_headers: cfg.secure_scheme_headers.clone(),
        proxy_protocol: cfg.proxy_protocol,
    }
}

/// `max_requests + randint(0, jitter)` (jitter only when max_requests > 0).
fn max_requests(cfg: &Config) -> Option<u64> {
    if cfg.max_requests == 0 {
        return None;
    }
    let mut seed = [0u8; 8];
    // SAFETY: getrandom(2) fills the local 8-byte buffer it is given.
    let _ = unsafe { libc::getrandom(seed.as_mut_ptr().cast(), seed.len(), 0) };
    let jitter = if cfg.max_requests_jitter > 0 {
        u64::from_ne_bytes(seed) % (cfg.max_requests_jitter + 1)
    } else {
        0
    };
    Some(cfg.max_requests + jitter)
}
