//! One request's exchange with the app, written once for every worker kind: the scoreboard
//! entry of the request, `100 Continue`, the `--request-timeout` watchdog, the app call, the
//! answer to its errors, the access-log line, `max_requests`, and whether the connection may
//! carry another request afterwards (RFC 9112 §9.3).

use std::net::IpAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use super::answer::{self, is_app_fault, Answer};
use super::batch::{Batch, HOLD_LIMIT};
use super::body::Body;
pub use super::lane::Lane;
use super::sink::Sink;
use super::Conn;
use crate::config::Config;
use crate::http::{self, BodyDecoder, ParserConfig, PeerTrust, RequestHead};
use crate::log::access::AccessFormat;
use crate::master::WorkerContext;
use crate::scoreboard::{ExitReason, RequestLine, Scoreboard, Slot, WorkerState};
use crate::sock::{Bound, Listener};
use crate::worker::signals;
use crate::worker::watchdog::{Claim, Fired, Interrupt, Watchdog};
use crate::wsgi::hooks::WorkerHooks;
use crate::wsgi::{App, ConnInfo, Outcome, Peer};

/// What every request of a worker shares, whichever of its lanes serves it.
pub struct Service<'a> {
    pub cfg: &'a Config,
    pub listeners: &'a [Listener],
    pub slot: &'a Slot,
    /// Every worker's slot, for what this worker reads of its siblings.
    pub board: &'a Scoreboard,
    /// The app, or the traceback of its failed import (`--reload` waits for a fix).
    app: Result<&'a App, String>,
    hooks: &'a WorkerHooks,
    pub parser: ParserConfig,
    pub(crate) access: Option<AccessFormat>,
    environ_keys: Vec<String>,
    watchdog: Option<Watchdog>,
    /// `wsgi.multithread`: several lanes run the app at once.
    multithread: bool,
    /// Requests left before a graceful recycle (`max_requests` + jitter); `None` = never.
    requests_left: Option<AtomicU64>,
    /// The longest a response write waits for the client.
    send_timeout: Duration,
}

/// What becomes of the connection after a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    /// It carries the next request (kept alive, or pipelined bytes are already here).
    KeepAlive,
    /// Every byte of the request was read and the client said it was its last (or the
    /// client has gone): a plain close loses nothing.
    Close,
    /// Bytes the server did not read may still come: close without an RST destroying the
    /// response in flight (RFC 9112 §9.6).
    Linger,
}

/// The request being served, as the helpers need it.
pub(super) struct Request<'h> {
    pub head: &'h RequestHead,
    pub peer: Option<std::net::SocketAddr>,
    pub started: Instant,
}

impl Request<'_> {
    pub fn peer_ip(&self) -> Option<IpAddr> {
        self.peer.map(|a| a.ip())
    }
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

    /// Serve the request whose head was just read from `conn` (`consumed` bytes of its
    /// buffer). `persist`: the kind and the request allow the connection to carry another.
    pub fn serve(
        &self,
        lane: &mut Lane,
        conn: &mut Conn,
        head: &RequestHead,
        consumed: usize,
        persist: bool,
    ) -> After {
        let req = Request {
            head,
            peer: conn.peer,
            started: Instant::now(),
        };
        let entry = lane.entry.and_then(|e| self.slot.lane(e));
        let last = self.begin(entry, conn, head);
        let persist = persist && !last && signals::is_alive() && !head.must_close;
        let buf = conn.take_buffer();
        let claim = match &self.watchdog {
            Some(w) => {
                let head_request = head.method == "HEAD";
                let fd = conn.stream.raw();
                w.arm(lane.index, lane.entry, fd, req.started, head_request)
            }
            None => Claim::free(),
        };
        let idle = self.cfg.header_timeout;
        let decoder = BodyDecoder::new(head.body, &self.parser);
        let mut body = Body::new(&conn.stream, buf, consumed, decoder, idle);
        let index = lane.index;
        lane.refresh_date();
        let sink = Sink::new(&conn.stream, claim, self.send_timeout, &mut lane.out)
            .with_sendfile(self.cfg.sendfile);
        let mut sink = sink
            .for_request(head, persist, &lane.date.1)
            .holding(lane.batch.may_hold().then_some(req.started));
        let answer = self.exchange(conn, &req, &mut body, &mut sink, index);
        set_state(entry, WorkerState::Writing);
        let keep = answer.clean && sink.persists() && sink.completed() && body.drain();
        let mut after = after_response(keep, body.nothing_unread() && head.must_close);
        let (buf, used) = body.into_buffer();
        // One clock read for the batch's limit and the latency (each read is ~130
        // instructions; the two were a few instructions apart).
        let elapsed = req.started.elapsed();
        if sink.holds() {
            let pipelined = buf.len() > used;
            after = hold_or_send(&mut sink, &mut lane.batch, after, pipelined, elapsed);
        }
        conn.finish_request(buf, used);
        self.slot.request_finished(entry);
        self.request_ended(answer.response, elapsed);
        set_state(entry, WorkerState::Idle);
        after
    }

    /// The request is on: the scoreboard shows it (in `entry`) and it is counted. `true` when
    /// it is the worker's last (Gunicorn's rule: the request that reaches max_requests is
    /// answered `close`).
    fn begin(
        &self,
        entry: Option<&crate::scoreboard::Lane>,
        conn: &mut Conn,
        head: &RequestHead,
    ) -> bool {
        let line = RequestLine {
            method: head.method.as_bytes(),
            path: head.uri.as_bytes(),
            client: conn.client().as_bytes(),
            version: head.version,
        };
        self.slot.request_started(entry, &line);
        set_state(entry, WorkerState::App);
        self.count_request()
    }

    /// `100 Continue`, the app, the watchdog's verdict, the answer to errors, the log line.
    fn exchange(
        &self,
        conn: &Conn,
        req: &Request<'_>,
        body: &mut Body<'_>,
        sink: &mut Sink<'_>,
        lane: usize,
    ) -> Answer {
        let head = req.head;
        let app = match &self.app {
            Ok(app) => *app,
            Err(traceback) => return answer::load_error(self, sink, req, traceback),
        };
        if head.expect_continue && sink.send(http::response::CONTINUE).is_err() {
            self.disarm(lane);
            return Answer::unclean();
        }
        let info = self.conn_info(conn, req.peer);
        let keys = &self.environ_keys;
        let mut outcome = app.call_with_hooks(head, &info, body, sink, keys, Some(self.hooks));
        match self.disarm(lane) {
            Fired::Answered => {
                // The watchdog answered 504 and logged the stacks and the access line.
                crate::debug!("Request {} {} ended after its 504", head.method, head.uri);
                return Answer::unclean_after(504, is_app_fault(&outcome));
            }
            Fired::Cut => {
                // The watchdog logged the stacks; the interrupt's traceback adds nothing.
                if let Some(error) = outcome.error.take() {
                    crate::debug!("After --request-timeout cut {}: {error}", head.uri);
                }
                let answer = answer::finish(self, req, &outcome, sink);
                return Answer {
                    clean: false,
                    ..answer
                };
            }
            Fired::No => {}
        }
        answer::finish(self, req, &outcome, sink)
    }

    /// A request is over, its response written (or not made: `None`): the one place every
    /// kind records its end — the scoreboard's counters and latency, and statsd's request
    /// metrics (sent here, after the response, so the client never waits on them).
    pub(crate) fn request_ended(&self, response: Option<(u16, bool)>, elapsed: Duration) {
        self.slot.record_latency(elapsed);
        if let Some((status, fault)) = response {
            self.slot.count_response(status, fault);
            crate::statsd::request(status, elapsed);
        }
    }

    fn disarm(&self, lane: usize) -> Fired {
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

    /// `{key}e` access-log atoms need these environ values.
    pub(super) fn log_access(
        &self,
        req: &Request<'_>,
        status: u16,
        bytes: Option<u64>,
        outcome: &Outcome,
    ) {
        answer::access_log(self, req, status, bytes, outcome);
    }
}

/// A complete response still queued: the lane's batch keeps it if the connection is kept
/// alive with nothing pipelined (the next request is the client's answer to this response)
/// and the request, `close()` and hooks included, stayed under the limit; otherwise it goes
/// now.
fn hold_or_send(
    sink: &mut Sink<'_>,
    batch: &mut Batch,
    after: After,
    pipelined: bool,
    elapsed: Duration,
) -> After {
    if after == After::KeepAlive && !pipelined && elapsed < HOLD_LIMIT {
        batch.hold(sink.unsent());
        return after;
    }
    match sink.release() {
        Ok(()) => after,
        Err(e) => {
            crate::debug!("Ignoring EPIPE: {e}");
            match after {
                After::KeepAlive => After::Close,
                other => other,
            }
        }
    }
}

/// What the connection does after a response: `keep` it (the response whole, the body read
/// or drained), or close — at once when the client said this request was its last and sent
/// nothing more (`client_done`), else lingering.
fn after_response(keep: bool, client_done: bool) -> After {
    match (keep, client_done) {
        (true, _) => After::KeepAlive,
        (false, true) => After::Close,
        // RFC 9112 §9.6: a client that did not say this request is its last may have sent
        // the next one already (pipelined, or crossing our `Connection: close`); a plain
        // close would answer its bytes with an RST that can destroy this response in flight.
        (false, false) => After::Linger,
    }
}

fn set_state(lane: Option<&crate::scoreboard::Lane>, state: WorkerState) {
    if let Some(lane) = lane {
        lane.set_state(state);
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
