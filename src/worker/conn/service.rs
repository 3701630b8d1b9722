//! What every request of a worker shares, whichever of its lanes serves it: the settings,
//! the listeners, the scoreboard slot, the app, the `--request-timeout` watchdog and the
//! `max_requests` count. One request's exchange with the app is `exchange.rs`.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::Conn;
use crate::config::Config;
use crate::http::{ParserConfig, PeerTrust};
use crate::log::access::AccessFormat;
use crate::master::WorkerContext;
use crate::scoreboard::{ExitReason, Scoreboard, Slot};
use crate::sock::{Bound, Listener};
use crate::worker::signals;
use crate::worker::watchdog::{Fired, Interrupt, Watchdog};
use crate::wsgi::hooks::WorkerHooks;
use crate::wsgi::{App, ConnInfo, Peer};

/// What every request of a worker shares, whichever of its lanes serves it.
pub struct Service<'a> {
    pub cfg: &'a Config,
    pub listeners: &'a [Listener],
    pub slot: &'a Slot,
    /// Every worker's slot, for what this worker reads of its siblings.
    pub board: &'a Scoreboard,
    /// The app, or the traceback of its failed import (`--reload` waits for a fix). Seen by
    /// `exchange.rs`, which calls it.
    pub(super) app: Result<&'a App, String>,
    hooks: &'a WorkerHooks,
    pub parser: ParserConfig,
    pub(crate) access: Option<AccessFormat>,
    environ_keys: Vec<String>,
    /// The `--request-timeout` watchdog; `exchange.rs` arms it for each request.
    pub(super) watchdog: Option<Watchdog>,
    /// `wsgi.multithread`: several lanes run the app at once.
    multithread: bool,
    /// Requests left before a graceful recycle (`max_requests` + jitter); `None` = never.
    requests_left: Option<AtomicU64>,
    /// The longest a response write waits for the client.
    send_timeout: Duration,
}

impl<'a> Service<'a> {
    pub fn new(
        ctx: &WorkerContext<'a>,
        app: Result<&'a App, String>,
        hooks: &'a WorkerHooks,
        lanes: usize,
    ) -> std::io::Result<Service<'a>> {
        let access = crate::log::has_access_log()
            .then(|| AccessFormat::parse(&ctx.config.access_log_format));
        let environ_keys = access
            .as_ref()
            .map(AccessFormat::environ_keys)
            .unwrap_or_default();
        Ok(Service {
            cfg: ctx.config,
            listeners: ctx.listeners,
            slot: ctx.slot,
            board: ctx.board,
            app,
            hooks,
            parser: parser_config(ctx.config),
            watchdog: crate::worker::watchdog::start_for(ctx, access.clone(), lanes)?,
            access,
            environ_keys,
            // Several threads run the app (gthread); greenlets are not threads (the issue and
            // PEP 3333's meaning: a thread-safe app is not needed).
            multithread: lanes > 1 && !ctx.config.worker_class.is_green(),
            requests_left: max_requests(ctx.config).map(AtomicU64::new),
            send_timeout: ctx.config.timeout.unwrap_or(Duration::from_secs(30)),
        })
    }

    /// A lane's thread, before its first request: how `--request-timeout` interrupts it.
    pub fn register_lane(&self, lane: usize, interrupt: Interrupt) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.register(lane, interrupt);
        }
    }

    /// A greenlet worker now shows `lane`'s request in scoreboard `entry`.
    pub fn moved(&self, lane: usize, entry: usize) {
        if let Some(watchdog) = &self.watchdog {
            watchdog.moved(lane, entry);
        }
    }

    /// Does `lane` still run the request the watchdog armed as `seq`?
    pub fn is_armed(&self, lane: usize, seq: u64) -> bool {
        self.watchdog
            .as_ref()
            .is_some_and(|w| w.is_armed(lane, seq))
    }

    /// The stream for a connection just accepted: with a TLS session when the server serves
    /// TLS. `None` (the connection closes) when the session cannot be made.
    pub fn stream(&self, fd: std::os::fd::OwnedFd) -> Option<super::Stream> {
        let Some(config) = &self.cfg.tls_server else {
            return Some(super::Stream::new(fd));
        };
        let ragged_eof_ok = self.cfg.tls.as_ref().is_none_or(|t| t.suppress_ragged_eofs);
        super::Stream::with_tls(fd, std::sync::Arc::clone(config), ragged_eof_ok)
            .map_err(|e| crate::debug!("TLS session not made: {e}"))
            .ok()
    }

    pub fn hooks(&self) -> &WorkerHooks {
        self.hooks
    }

    /// The environ keys the access-log format's `{key}e` atoms ask for.
    pub fn environ_keys(&self) -> &[String] {
        &self.environ_keys
    }

    /// The longest a response write waits for the client.
    pub fn send_timeout(&self) -> Duration {
        self.send_timeout
    }

    /// What the peer may tell us (`forwarded_allow_ips`, `proxy_allow_from`,
    /// `uwsgi_allow_ips`).
    pub fn trust(&self, peer: Option<std::net::SocketAddr>) -> PeerTrust {
        let ip = peer.map(|a| a.ip());
        PeerTrust {
            forwarded: self.cfg.forwarded_allow_ips.allows(ip),
            proxy: self.cfg.proxy_allow_ips.allows(ip),
            uwsgi: self.cfg.uwsgi_allow_ips.allows(ip),
        }
    }

    /// The request on `lane` is over: the watchdog stands down, and says whether it fired.
    pub(super) fn disarm(&self, lane: usize) -> Fired {
        self.watchdog.as_ref().map_or(Fired::No, |w| w.disarm(lane))
    }

    /// Count a request against `max_requests`; `true` when it is the last one this worker
    /// serves (the worker then stops gracefully, as Gunicorn's does).
    pub(crate) fn count_request(&self) -> bool {
        let Some(left) = &self.requests_left else {
            return false;
        };
        let before = left
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| n.checked_sub(1))
            .unwrap_or(0);
        if before == 1 {
            crate::info!("Autorestarting worker after current request.");
            self.slot.set_exit_reason_once(ExitReason::Recycled);
            signals::stop();
        }
        before <= 1
    }

    /// What the environ needs of `conn` and this worker (`wsgi::ConnInfo`).
    pub(crate) fn conn_info(&self, conn: &Conn, peer: Option<std::net::SocketAddr>) -> ConnInfo {
        let (server, unix_path) = match self.listeners.get(conn.listener).map(|l| &l.bound) {
            Some(Bound::Tcp(sa)) => (Some(*sa), None),
            Some(Bound::Unix(p)) => (None, Some(p.display().to_string())),
            None => (None, None),
        };
        ConnInfo {
            peer: peer.map_or(Peer::Unix, Peer::Tcp),
            server,
            unix_path,
            is_tls: conn.stream.is_tls(),
            client_cert: conn.stream.peer_certificate_pem(),
            multiprocess: self.cfg.workers > 1,
            multithread: self.multithread,
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
        protocol: cfg.protocol,
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
