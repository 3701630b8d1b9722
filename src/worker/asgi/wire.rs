//! One client connection of the asgi worker, as the loop's Python half sees it: reads without
//! blocking, request heads parsed into ASGI `http` scopes, bodies decoded into `http.request`
//! messages, responses framed and written — all HTTP in Rust (the same parser, limits and
//! response head as every kind); the loop only says when the socket is ready.
//!
//! Here: the connection itself, the request's end (counted, logged) and the close. The request
//! side is `wire_request.rs`, the response side `wire_response.rs` (the app's fields checked
//! in `fields.rs`, its `send` in `http_send.rs`), WebSocket `wire_ws.rs` and tornado's extras
//! `wire_tornado.rs` (pyo3's multiple `#[pymethods]` blocks).

use std::rc::Rc;
use std::time::Instant;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;

use super::http_send::HttpSend;
use super::readable::OnReadable;
use super::scope::Addresses;
use super::{wire_hooks, with_service, ws, Shared};
use crate::http::response::{self, Framing};
use crate::http::{BodyDecoder, RequestHead};
use crate::log::access::AccessRecord;
use crate::worker::conn::{Conn, Service};

/// The request being served: its head, where its body stands, its response.
pub(super) struct Exchange {
    pub(super) head: RequestHead,
    pub(super) started: Instant,
    /// The read buffer while the request owns it, and how far the body has been taken.
    pub(super) buf: Vec<u8>,
    pub(super) used: usize,
    pub(super) decoder: BodyDecoder,
    pub(super) body_done: bool,
    /// The message with `more_body: False` went to the app.
    pub(super) last_given: bool,
    /// `100 Continue` is owed before the first body read (RFC 9110 §10.1.1).
    pub(super) continue_owed: bool,
    pub(super) status: u16,
    /// The app's own reason phrase (tornado's `ResponseStartLine.reason`); `None`: the
    /// registered one (ASGI gives only a code).
    pub(super) reason: Option<String>,
    pub(super) headers: Vec<(String, Vec<u8>)>,
    pub(super) framing: Option<Framing>,
    /// Body bytes still allowed by the app's Content-Length.
    pub(super) remaining: u64,
    pub(super) sent: u64,
    pub(super) complete: bool,
    pub(super) failed: bool,
    /// The scoreboard entry that shows the request (the first 32 in flight have one).
    pub(super) entry: Option<usize>,
    /// Body bytes dropped unread after the app's response.
    pub(super) discarded: usize,
    /// A WebSocket session (the request was an opening handshake).
    pub(super) ws: Option<ws::Session>,
    /// The body's framing was malformed: answered 400, the app is told the client left.
    pub(super) refused: bool,
    /// The request reached `--max-requests`: answered `Connection: close`.
    pub(super) last: bool,
    /// The client said this request is its last (RFC 9112 §9.6: it sends nothing after).
    pub(super) client_closes: bool,
    /// The app will send `http.response.trailers` (the body is chunked, its end deferred).
    pub(super) trailers: bool,
    /// The last chunk's `0` line went out; trailer fields follow.
    pub(super) trailer_started: Option<()>,
    /// Where the request hooks stand (`pre_request`'s `req`, for `post_request`).
    pub(super) hooked: wire_hooks::Hooked,
    /// The environ a WSGI app under tornado got (`wire_tornado.rs`), for `post_request` and
    /// the access log's `{key}e`.
    pub(super) environ: Option<Py<pyo3::types::PyDict>>,
    /// A WebSocket message the read callback decoded for an app waiting in `receive`
    /// (readable.rs), until `receive` takes it (ws_receive.rs).
    pub(super) ws_ready: Option<Py<PyAny>>,
    /// Body bytes of a response that has none (HEAD, 204, 304) were dropped and said so.
    pub(super) warned_no_body: bool,
}

/// `Wire.finish`'s flags (asgi_base.py has the same numbers).
const FINISH_PERSIST: u8 = 1;
const FINISH_UNSENT: u8 = 2;
const FINISH_BODY_LEFT: u8 = 4;
const FINISH_PIPELINED: u8 = 8;

#[pyclass(unsendable)]
pub struct Wire {
    /// The connection; `None` once closed (the descriptor is closed with it, at once).
    pub(super) conn: Option<Conn>,
    pub(super) server: Option<std::net::SocketAddr>,
    /// The connection's addresses as its scopes give them; made at its first request.
    pub(super) addresses: Option<Addresses>,
    pub(super) shared: Rc<Shared>,
    pub(super) exchange: Option<Exchange>,
    /// Response bytes; the socket has taken `out[..out_sent]`.
    pub(super) out: Vec<u8>,
    /// Where the socket's writes stand in `out`: a large response (a 16 MiB WebSocket
    /// message) is written in many pieces, and moving the rest to the front after each would
    /// copy it over and over.
    pub(super) out_sent: usize,
    #[pyo3(get)]
    pub(super) fd: i32,
    /// Should closing after the last response linger (see `finish`)?
    #[pyo3(get)]
    pub(super) lingers: bool,
    /// The descriptor went to the app (`detach`): still counted open until `close`.
    pub(super) detached: bool,
}

impl Wire {
    /// `server`: the listener's address (the scope's `server`; `None` on a Unix socket).
    pub(super) fn new(
        conn: Conn,
        server: Option<std::net::SocketAddr>,
        shared: Rc<Shared>,
    ) -> Wire {
        let fd = conn.stream.raw();
        with_service(|svc| svc.slot.count_connections(1, 0));
        Wire {
            conn: Some(conn),
            server,
            addresses: None,
            shared,
            exchange: None,
            out: Vec::new(),
            out_sent: 0,
            fd,
            lingers: true,
            detached: false,
        }
    }

    pub(super) fn push(&mut self) -> PyResult<usize> {
        let Some(conn) = self.conn.as_ref() else {
            return Err(PyOSError::new_err("the connection is closed"));
        };
        while self.out_sent < self.out.len() {
            match conn.stream.write_now(&self.out[self.out_sent..]) {
                Ok(0) => break,
                Ok(n) => self.out_sent += n,
                Err(e) => return Err(PyOSError::new_err(e.to_string())),
            }
        }
        if self.out_sent == self.out.len() {
            self.out.clear();
            self.out_sent = 0;
        } else if self.out_sent > self.out.len() / 2 {
            // Moved once the sent part is the larger: each byte moves at most once on average.
            self.out.drain(..self.out_sent);
            self.out_sent = 0;
        }
        Ok(self.unsent())
    }

    /// Response bytes the socket has not taken yet.
    pub(super) fn unsent(&self) -> usize {
        self.out.len() - self.out_sent
    }

    /// Is the connection closed (`close`: its descriptor gone)?
    pub(super) fn is_closed(&self) -> bool {
        self.conn.is_none()
    }

    /// Is a WebSocket session (or its handshake) what the connection carries now?
    pub(super) fn in_websocket(&self) -> bool {
        self.exchange.as_ref().is_some_and(|ex| ex.ws.is_some())
    }
}

#[pymethods]
impl Wire {
    /// The `send` of `conn`'s `http` requests (asgi_conn.py's `Conn`, whose wire this is).
    fn http_send(slf: Bound<'_, Self>, conn: Py<PyAny>) -> HttpSend {
        let ready = slf.borrow().shared.ready.clone_ref(slf.py());
        HttpSend::new(conn, slf.unbind(), ready)
    }

    /// The loop's reader callback for `conn` (readable.rs).
    fn on_readable(slf: Bound<'_, Self>, conn: Py<PyAny>) -> OnReadable {
        OnReadable::new(conn, slf.unbind())
    }

    /// Read what the socket has: bytes read, 0 at the client's end, -1 when nothing yet.
    fn fill(&mut self) -> PyResult<i64> {
        let target = match self.exchange.as_mut() {
            Some(ex) => &mut ex.buf,
            // Between requests the head read takes the bytes itself (`head`).
            None => return Ok(-1),
        };
        let Some(conn) = self.conn.as_ref() else {
            return Ok(0);
        };
        match conn.stream.recv_append(target, 16 * 1024) {
            Ok(Some(n)) => Ok(n as i64),
            Ok(None) => Ok(-1),
            Err(_) => Ok(0),
        }
    }

    /// How many bytes are read and not yet used.
    fn unread(&self) -> usize {
        match &self.exchange {
            Some(ex) => ex.buf.len() - ex.used.min(ex.buf.len()),
            None => self.conn.as_ref().map_or(0, |c| c.buffered().len()),
        }
    }

    /// Bytes received and not yet used (the rest of a head, a body, a pipelined request).
    pub(super) fn has_bytes(&self) -> bool {
        match &self.exchange {
            Some(ex) => ex.buf.len() > ex.used,
            None => self.conn.as_ref().is_some_and(Conn::has_pipelined),
        }
    }

    /// `METHOD URI` of the request being served (the raw target), as the error log names a
    /// request under every kind (Gunicorn 27's `Error handling request %s %s`).
    #[getter]
    fn request_line(&self) -> Option<String> {
        let head = &self.exchange.as_ref()?.head;
        Some(format!("{} {}", head.method, head.uri))
    }

    /// The app raised: a 500 when nothing of the response went out, else a response not
    /// yet whole is cut (a whole one stands, and the connection goes on: `finish`). The
    /// traceback goes to the error log; without one, the client has left (the app raised
    /// its leaving) and nothing more is written to it.
    pub(super) fn fail(&mut self, traceback: Option<&str>) {
        if let Some(traceback) = traceback {
            crate::error!("{traceback}");
        }
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        ex.failed = true;
        if let Some(session) = ex.ws.as_mut() {
            match session.phase {
                // The stream carries frames now: a close, 1011 "an unexpected condition"
                // (RFC 6455 §7.4.1), not an HTTP page inside it.
                ws::Phase::Open => {
                    session.close(&mut self.out, 1011, "");
                    ex.complete = true;
                    ex.head.must_close = true;
                    let _ = self.push();
                    return;
                }
                ws::Phase::Closed => return,
                // The handshake unanswered: the 500 below is its answer (and the session's
                // end, so the close that follows the app adds no 403 after it).
                ws::Phase::Connecting => session.phase = ws::Phase::Closed,
            }
        }
        if traceback.is_none() {
            ex.head.must_close = true;
            return;
        }
        if ex.framing.is_none() {
            ex.status = 500;
            ex.head.must_close = true;
            let page = response::error_page(500, "Internal Server Error", "");
            let page = response::for_request(&page, &ex.head.method);
            ex.sent = response::page_body_len(page);
            self.out.extend_from_slice(page);
            let _ = self.push();
        }
    }

    /// The app returned: count and log the request. What the connection does next, as
    /// flags (one call where three were): `FINISH_PERSIST` when it may carry another request,
    /// `FINISH_UNSENT` when response bytes still wait for the socket, `FINISH_PIPELINED` when
    /// bytes of the next request are already read.
    ///
    /// Unless `drained`, a request whose body the app left unread is not finished:
    /// `FINISH_BODY_LEFT` says to drain it first (so the connection can carry the next).
    pub(super) fn finish(&mut self, py: Python<'_>, drained: bool) -> u8 {
        // An unread body is drained only for a connection that goes on: one that closes
        // lingers instead (its late bytes read and dropped, `Conn.close`), with no wait first.
        let drain = |ex: &Exchange| !ex.body_done && !ex.head.must_close;
        if !drained && self.exchange.as_ref().is_some_and(drain) {
            return FINISH_BODY_LEFT;
        }
        let unsent = match self.unsent() {
            0 => 0,
            _ => FINISH_UNSENT,
        };
        let Some(ex) = self.exchange.take() else {
            return unsent;
        };
        // A client that said `close` sends nothing more: no lingering needed after a body
        // read whole (RFC 9112 §9.6), so the descriptor goes as soon as the response is out.
        self.lingers = !(ex.client_closes && ex.body_done && !ex.refused);
        let short = matches!(ex.framing, Some(Framing::Length(_))) && ex.remaining > 0;
        // An app that raised after its response was complete (Starlette's
        // ServerErrorMiddleware sends its whole 500, then re-raises for the server to log)
        // leaves the connection framed: it persists, as its head said (RFC 9112 §9.3).
        // `fail` marks every other failure `must_close`, or leaves the response incomplete.
        let persist = ex.complete && !short && !ex.head.must_close && ex.body_done;
        let peer = self.conn.as_ref().and_then(|c| c.peer);
        let last = with_service(|svc| finished(py, svc, peer, &ex)).unwrap_or(true);
        if let Some(entry) = ex.entry {
            self.shared.entries.borrow_mut().push(entry);
        }
        let pipelined = match self.conn.as_mut() {
            Some(conn) => {
                conn.finish_request(ex.buf, ex.used);
                match conn.has_pipelined() {
                    true => FINISH_PIPELINED,
                    false => 0,
                }
            }
            None => 0,
        };
        match persist && !last && self.shared.persist_allowed() {
            true => FINISH_PERSIST | unsent | pipelined,
            false => unsent | pipelined,
        }
    }

    /// Our FIN (the first half of a lingering close); `False` when the connection is gone.
    fn shutdown_write(&self) -> bool {
        match self.conn.as_ref() {
            Some(conn) => {
                conn.stream.shutdown_write();
                true
            }
            None => false,
        }
    }

    /// While lingering: read and drop what the client still sends — bytes read, 0 at its
    /// end, -1 when nothing now.
    fn discard_input(&self) -> i64 {
        let Some(conn) = self.conn.as_ref() else {
            return 0;
        };
        let mut scratch = [0u8; 8192];
        match conn.stream.recv_now(&mut scratch) {
            Ok(Some(n)) => n as i64,
            Ok(None) => -1,
            Err(_) => 0,
        }
    }

    fn close(&mut self, py: Python<'_>) {
        if let Some(ex) = self.exchange.take() {
            // Closed under a request (a stop past its graceful timeout, a client gone while
            // its response waited): it ends here, and post_request still runs (Gunicorn's
            // asgi worker calls it in a `finally`).
            let peer = self.conn.as_ref().and_then(|c| c.peer);
            wire_hooks::post_request(py, &ex, peer);
            with_service(|svc| {
                svc.slot
                    .request_finished(ex.entry.and_then(|e| svc.slot.lane(e)))
            });
            if let Some(entry) = ex.entry {
                self.shared.entries.borrow_mut().push(entry);
            }
        }
        if self.conn.take().is_some() || std::mem::take(&mut self.detached) {
            // Dropped: the descriptor is closed now, not when Python frees the wire.
            with_service(|svc| svc.slot.count_connections(-1, 0));
            self.fd = -1;
        }
    }
}

/// A request ended: the scoreboard's counters, the access-log line, `--max-requests`.
/// `true` when it was the worker's last.
fn finished(
    py: Python<'_>,
    svc: &Service<'_>,
    peer: Option<std::net::SocketAddr>,
    ex: &Exchange,
) -> bool {
    let elapsed = ex.started.elapsed();
    wire_hooks::post_request(py, ex, peer);
    svc.slot
        .request_finished(ex.entry.and_then(|e| svc.slot.lane(e)));
    svc.request_ended(Some((ex.status, ex.failed)), elapsed);
    if let Some(format) = &svc.access {
        let head = &ex.head;
        let path_info = String::from_utf8_lossy(&crate::http::percent_decode(head.path.as_bytes()))
            .into_owned();
        let environ = wire_hooks::environ_values(py, svc.environ_keys(), ex, peer);
        let told = head.told_client().and_then(|(addr, _)| addr.parse().ok());
        let record = AccessRecord {
            peer: told.or(peer.map(|p| p.ip())),
            method: &head.method,
            uri: &head.uri,
            path_info: &path_info,
            query: &head.query,
            version: head.version,
            request_headers: &head.headers,
            status: ex.status,
            bytes: Some(ex.sent),
            response_headers: &ex.headers,
            duration: elapsed,
            environ: &environ,
        };
        crate::log::access(format, &record);
    }
    ex.last
}
