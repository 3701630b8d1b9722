//! The `sync` worker: one request at a time, one request per connection, `Connection: close`
//! (Gunicorn's semantics). Accepts on every inherited listener through epoll with
//! `EPOLLEXCLUSIVE`, so a new connection wakes one idle worker, not all of them.

use super::conn::{self, Body, HeadError, Stream};
use super::reloader::Reloader;
use super::signals;
use super::sink::Sink;
use super::watchdog::{self, Fired, Watchdog};
use crate::config::Config;
use crate::http::{self, BodyDecoder, ParserConfig, PeerTrust, RequestHead};
use crate::log::access::{AccessFormat, AccessRecord};
use crate::master::WorkerContext;
use crate::scoreboard::{ExitReason, RequestLine, Slot, WorkerState};
use crate::sock::{Accepted, Bound, Listener};
use crate::wsgi::hooks::WorkerHooks;
use crate::wsgi::{App, AppError, BodyError, ConnInfo, Outcome, Peer};
use nix::sys::epoll::{Epoll, EpollCreateFlags, EpollEvent, EpollFlags, EpollTimeout};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd};
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

    /// One connection: read the head, run the app, answer, close.
    fn handle(&mut self, accepted: Accepted, listener: &Listener) {
        let started = Instant::now();
        self.slot.set_state(WorkerState::Reading);
        let send_timeout = self.cfg.timeout.unwrap_or(Duration::from_secs(30));
        let stream = Stream::new(accepted.fd, send_timeout);
        let peer_ip = accepted.peer.map(|a| a.ip());
        let trust = PeerTrust {
            forwarded: self.cfg.forwarded_allow_ips.allows(peer_ip),
            proxy: self.cfg.proxy_allow_ips.allows(peer_ip),
        };
        let deadline = started + self.cfg.header_timeout;
        let (head, buf, consumed) = match conn::read_head(&stream, &self.parser, trust, deadline) {
            Ok(parts) => parts,
            Err(e) => return self.head_failed(e, stream, peer_ip),
        };
        let mut client = [0u8; 64];
        self.slot.request_started(&RequestLine {
            method: head.method.as_bytes(),
            path: head.uri.as_bytes(),
            client: format_peer(accepted.peer, &mut client),
            version: head.version,
        });
        self.slot.set_state(WorkerState::App);
        let request = Request {
            head: &head,
            peer: accepted.peer,
            started,
        };
        let clean = match &self.app {
            _ if head.expect_continue && stream.write_all(http::response::CONTINUE).is_err() => {
                true
            }
            Ok(app) => self.serve(app, &stream, &request, listener, buf, consumed),
            Err(traceback) => self.answer_load_error(&stream, &request, &traceback.clone()),
        };
        if clean {
            drop(stream);
        } else {
            stream.lingering_close();
        }
        self.slot.request_finished();
        self.slot.record_latency(started.elapsed());
        self.slot.set_state(WorkerState::Idle);
        self.count_request();
    }

    /// Run the app for one request; `true` when the request's bytes were all read (a plain
    /// close is then safe).
    fn serve(
        &mut self,
        app: &App,
        stream: &Stream,
        req: &Request<'_>,
        listener: &Listener,
        buf: Vec<u8>,
        consumed: usize,
    ) -> bool {
        let head = req.head;
        let info = conn_info(self.cfg, listener, req.peer);
        let decoder = BodyDecoder::new(head.body, &self.parser);
        let mut body = Body::new(stream, buf, consumed, decoder, self.cfg.header_timeout);
        let mut sink = Sink::new(stream, head.version, head.method == "HEAD", self.date());
        if let Some(watchdog) = &self.watchdog {
            watchdog.arm(stream.as_fd().as_raw_fd(), req.started);
        }
        let mut outcome = app.call_with_hooks(
            head,
            &info,
            &mut body,
            &mut sink,
            &self.environ_keys,
            Some(self.hooks),
        );
        let fired = self.watchdog.as_ref().map_or(Fired::No, Watchdog::disarm);
        self.slot.set_state(WorkerState::Writing);
        if fired == Fired::Answered {
            // The watchdog answered 504 and logged the stacks and the access line.
            crate::debug!("Request {} {} ended after its 504", head.method, head.uri);
            self.slot.count_response(504, is_app_fault(&outcome));
            return body.is_consumed();
        }
        if fired == Fired::Cut {
            // The watchdog logged the stacks; the interrupt's traceback adds nothing.
            if let Some(error) = outcome.error.take() {
                crate::debug!("After --request-timeout cut {}: {error}", head.uri);
            }
        }
        let peer_ip = req.peer.map(|a| a.ip());
        let status = self.finish_response(head, &outcome, stream, &mut sink, peer_ip);
        self.slot.count_response(status, is_app_fault(&outcome));
        let bytes = Some(sink.body_bytes);
        self.access_log(
            head,
            peer_ip,
            status,
            bytes,
            &outcome,
            req.started.elapsed(),
        );
        body.is_consumed()
    }

    /// `--reload` after a failed import: every request gets a 500 with the traceback, until a
    /// change to the app's files replaces this worker (Gunicorn serves the traceback too).
    fn answer_load_error(&self, stream: &Stream, req: &Request<'_>, traceback: &str) -> bool {
        let body = format!("The application failed to load; gunicorn-rs reloads it when its files change.\n\n{traceback}\n");
        let head = format!(
            "HTTP/1.1 500 Internal Server Error\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        let _ = stream.write_all(&[head.as_bytes(), body.as_bytes()].concat());
        let outcome = Outcome::default();
        self.slot.count_response(500, true);
        let peer_ip = req.peer.map(|a| a.ip());
        self.access_log(
            req.head,
            peer_ip,
            500,
            Some(body.len() as u64),
            &outcome,
            req.started.elapsed(),
        );
        false
    }

    /// After the app: answer its errors. Returns the status for the access log.
    fn finish_response(
        &self,
        head: &RequestHead,
        outcome: &Outcome,
        stream: &Stream,
        sink: &mut Sink<'_>,
        peer: Option<std::net::IpAddr>,
    ) -> u16 {
        let Some(error) = &outcome.error else {
            return sink.status;
        };
        match error {
            AppError::Body(BodyError::Parse(e)) => {
                crate::warning!(
                    "Invalid request from ip={}: {e}",
                    peer.map(|ip| ip.to_string()).unwrap_or_default()
                );
                return answer_if_unstarted(
                    sink,
                    stream,
                    e.status().unwrap_or(400),
                    &e.error_page(),
                );
            }
            AppError::Body(e) => crate::debug!("Ignored premature client disconnection. {e}"),
            AppError::ClientGone(e) => crate::debug!("Ignoring EPIPE: {e}"),
            AppError::Exception(tb) => crate::error!(
                "Error handling request {} {}\n{}",
                head.method,
                head.uri,
                tb.trim_end()
            ),
            other => crate::error!(
                "Error handling request {} {}\n{other}",
                head.method,
                head.uri
            ),
        }
        match error {
            AppError::Body(_) | AppError::ClientGone(_) => sink.status,
            _ => answer_if_unstarted(
                sink,
                stream,
                500,
                &http::response::error_page(500, "Internal Server Error", ""),
            ),
        }
    }

    fn head_failed(&self, error: HeadError, stream: Stream, peer: Option<std::net::IpAddr>) {
        match error {
            HeadError::Parse(e) => {
                let ip = peer.map(|ip| ip.to_string()).unwrap_or_default();
                match e.status() {
                    Some(_) => {
                        crate::warning!("Invalid request from ip={ip}: {e}");
                        let _ = stream.write_all(&e.error_page());
                        stream.lingering_close();
                    }
                    None => crate::debug!("Ignored premature client disconnection. {e}"),
                }
            }
            HeadError::Closed => crate::debug!("Ignored premature client disconnection."),
            HeadError::TimedOut => crate::debug!(
                "Closing connection: no complete request head within {:?}",
                self.cfg.header_timeout
            ),
            HeadError::Io(e) => crate::debug!("Socket error reading the request head: {e}"),
        }
        self.slot.set_state(WorkerState::Idle);
    }

    fn access_log(
        &self,
        head: &RequestHead,
        peer: Option<std::net::IpAddr>,
        status: u16,
        bytes: Option<u64>,
        outcome: &Outcome,
        duration: Duration,
    ) {
        let Some(format) = &self.access else { return };
        let path_info =
            String::from_utf8_lossy(&http::percent_decode(head.path.as_bytes())).into_owned();
        let record = AccessRecord {
            peer,
            method: &head.method,
            uri: &head.uri,
            path_info: &path_info,
            query: &head.query,
            version: head.version,
            request_headers: &head.headers,
            status,
            bytes,
            response_headers: &outcome.headers,
            duration,
            environ: &outcome.environ_values,
        };
        crate::log::write_access(&format.render(&record));
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

/// Send an error page if nothing of the response went out yet; else the connection is cut
/// (the truncation stays visible to the client). Returns the status that was logged.
fn answer_if_unstarted(sink: &Sink<'_>, stream: &Stream, status: u16, page: &[u8]) -> u16 {
    use crate::wsgi::ResponseSink;
    if sink.started() {
        return sink.status;
    }
    let _ = stream.write_all(page);
    status
}

/// Did the app fail (raise, skip or botch `start_response`), for the slot's counter?
fn is_app_fault(outcome: &Outcome) -> bool {
    matches!(
        outcome.error,
        Some(AppError::Exception(_) | AppError::NoStartResponse | AppError::InvalidResponse(_))
    )
}

/// `ip:port` into `buf`, without allocating; empty for a Unix-socket peer.
fn format_peer(peer: Option<std::net::SocketAddr>, buf: &mut [u8; 64]) -> &[u8] {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    if let Some(peer) = peer {
        let _ = write!(cursor, "{peer}");
    }
    let n = cursor.position() as usize;
    &buf[..n]
}

fn conn_info(cfg: &Config, listener: &Listener, peer: Option<std::net::SocketAddr>) -> ConnInfo {
    let (server, unix_path) = match &listener.bound {
        Bound::Tcp(sa) => (Some(*sa), None),
        Bound::Unix(p) => (None, Some(p.display().to_string())),
    };
    ConnInfo {
        peer: peer.map_or(Peer::Unix, Peer::Tcp),
        server,
        unix_path,
        is_tls: false,
        multiprocess: cfg.workers > 1,
        multithread: false,
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
