//! One client connection of the asgi worker, as the loop's Python half sees it: reads without
//! blocking, request heads parsed into ASGI `http` scopes, bodies decoded into `http.request`
//! messages, responses framed and written — all HTTP in Rust (the same parser, limits and
//! response head as every kind); the loop only says when the socket is ready.

use std::rc::Rc;
use std::time::Instant;

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::scope::{build_scope, tornado_request};
use super::{with_service, ws, Shared};
use crate::http::response::{self, Framing};
use crate::http::ParseError;
use crate::http::{BodyDecoder, BodyKind, RequestHead};
use crate::log::access::AccessRecord;
use crate::scoreboard::{RequestLine, WorkerState};
use crate::worker::conn::{refuse_head, warn_invalid, Conn, HeadProgress, Service};

/// How much of a body the app left unread is drained to keep the connection (Gunicorn's
/// gthread: 64 KiB); past it the connection closes.
const DRAIN_BOUND: usize = 64 * 1024;

/// What reading a head came to.
#[allow(clippy::large_enum_variant)]
enum Read {
    Head(RequestHead, usize, BodyDecoder),
    Partial,
    Close,
}

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
}

#[pyclass(unsendable)]
pub struct Wire {
    /// The connection; `None` once closed (the descriptor is closed with it, at once).
    pub(super) conn: Option<Conn>,
    pub(super) server: Option<std::net::SocketAddr>,
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

    /// The response head, framed by what the app said and, for a body sent whole, its size.
    fn write_head(&mut self, first_body: usize, more: bool) {
        let shared = Rc::clone(&self.shared);
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        let declared = ex
            .headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))
            .and_then(|(_, v)| std::str::from_utf8(v).ok()?.trim().parse::<u64>().ok());
        if ex.trailers && ex.head.may_chunk() {
            // Trailer fields need the chunked coding (RFC 9112 §7.1.2): no length.
            ex.headers
                .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
        }
        let declared = declared.filter(|_| !(ex.trailers && ex.head.may_chunk()));
        let length = match (declared, more || ex.trailers) {
            (Some(n), _) => Some(n),
            (None, false) => {
                let n = first_body as u64;
                ex.headers
                    .push(("content-length".into(), n.to_string().into_bytes()));
                Some(n)
            }
            (None, true) => None,
        };
        let is_head = ex.head.method == "HEAD";
        let framing = Framing::decide(is_head, ex.head.may_chunk(), ex.status, length);
        ex.remaining = length.unwrap_or(u64::MAX);
        ex.framing = Some(framing);
        let persist = shared.persist_allowed()
            && !ex.head.must_close
            && !ex.last
            && framing != Framing::Close;
        let connection = if persist { "keep-alive" } else { "close" };
        let status = format!("{} {}", ex.status, response::registered_reason(ex.status));
        let date = shared.date();
        response::write_head(
            &mut self.out,
            ex.head.version,
            &status,
            &date,
            connection,
            framing,
            &ex.headers,
        );
        if !persist {
            ex.head.must_close = true;
        }
    }
}

#[pymethods]
impl Wire {
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
        let mut chunk = [0u8; 16 * 1024];
        match conn.stream.recv_now(&mut chunk) {
            Ok(Some(0)) => Ok(0),
            Ok(Some(n)) => {
                target.extend_from_slice(&chunk[..n]);
                Ok(n as i64)
            }
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
    fn has_bytes(&self) -> bool {
        match &self.exchange {
            Some(ex) => ex.buf.len() > ex.used,
            None => self.conn.as_ref().is_some_and(Conn::has_pipelined),
        }
    }

    /// The next request's scope: `None` while its head is incomplete, `False` when the
    /// connection must close (malformed: its error page is written; or the client left).
    fn head(&mut self, py: Python<'_>, state: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let Some(conn) = self.conn.as_mut() else {
            return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind());
        };
        let read = with_service(|svc| {
            let mut spare = Vec::new();
            match conn.read_head(&svc.parser, svc.trust(conn.peer), &mut spare) {
                HeadProgress::Complete { head, consumed } => {
                    let decoder = BodyDecoder::new(head.body, &svc.parser);
                    Read::Head(head, consumed, decoder)
                }
                HeadProgress::Partial => Read::Partial,
                HeadProgress::Refused(e) => {
                    let _ = refuse_head(svc, conn, &e);
                    Read::Close
                }
                HeadProgress::Closed(_) | HeadProgress::Failed(_) => Read::Close,
            }
        });
        let (head, consumed, decoder) = match read {
            Some(Read::Head(head, consumed, decoder)) => (head, consumed, decoder),
            Some(Read::Partial) => return Ok(py.None()),
            Some(Read::Close) | None => {
                return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind())
            }
        };
        // tornado answers upgrades itself (its WebSocketHandler takes the socket: `detach`).
        let tornado = self.shared.tornado;
        let websocket = (!tornado && ws::is_upgrade(&head)).then(|| ws::subprotocols(&head));
        let session = websocket.is_some().then(|| {
            ws::Session::new(
                self.shared.websocket_max_message,
                self.shared.websocket_deflate,
            )
        });
        let scope = match tornado {
            true => tornado_request(py, conn, &head)?,
            false => build_scope(py, &self.shared, conn, self.server, &head, state, websocket)?,
        };
        // Gunicorn's rule: the request that reaches max_requests is answered `close`.
        let last = with_service(|svc| svc.count_request()).unwrap_or(false);
        let entry = self.shared.entries.borrow_mut().pop();
        let client = conn.client().as_bytes().to_vec();
        with_service(|svc| {
            let line = RequestLine {
                method: head.method.as_bytes(),
                path: head.uri.as_bytes(),
                client: &client,
                version: head.version,
            };
            let shown = entry.and_then(|e| svc.slot.lane(e));
            svc.slot.request_started(shown, &line);
            if let Some(shown) = shown {
                shown.set_state(WorkerState::App);
            }
        });
        let client_closes = head.must_close;
        self.exchange = Some(Exchange {
            continue_owed: head.expect_continue,
            body_done: head.body == BodyKind::Empty,
            last_given: false,
            head,
            started: Instant::now(),
            buf: conn.take_buffer(),
            used: consumed,
            decoder,
            status: 0,
            headers: Vec::new(),
            framing: None,
            remaining: 0,
            sent: 0,
            complete: false,
            failed: false,
            entry,
            discarded: 0,
            ws: session,
            refused: false,
            client_closes,
            last,
            trailers: false,
            trailer_started: None,
        });
        Ok(scope.into_any().unbind())
    }

    /// Has the request a scoreboard entry (else a dump names it under its stack itself)?
    fn shown(&self) -> bool {
        self.exchange.as_ref().is_some_and(|ex| ex.entry.is_some())
    }

    /// The request's task is `ident` (`id(task)`): its scoreboard entry says so, so a dump's
    /// `Task 0x…` section is put under its request.
    fn shown_as(&self, ident: u64) {
        let Some(entry) = self.exchange.as_ref().and_then(|ex| ex.entry) else {
            return;
        };
        with_service(|svc| {
            if let Some(lane) = svc.slot.lane(entry) {
                lane.set_thread_id(ident);
            }
        });
    }

    /// The next `http.request` message from what is buffered, or `None` when more bytes are
    /// needed (or, the body given whole, only the client's leaving is left to report).
    fn body(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyDict>>> {
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(None);
        };
        if ex.last_given || ex.refused {
            return Ok(None);
        }
        if ex.continue_owed {
            ex.continue_owed = false;
            if ex.status == 0 && !ex.body_done {
                self.out.extend_from_slice(b"HTTP/1.1 100 Continue\r\n\r\n");
            }
        }
        let mut data = Vec::new();
        while !ex.body_done {
            let step = match ex.decoder.decode(&ex.buf[ex.used..]) {
                Ok(step) => step,
                Err(e) => return self.refuse_body(py, &e),
            };
            data.extend_from_slice(&ex.buf[ex.used..][step.data.clone()]);
            ex.used += step.consumed;
            ex.body_done = ex.decoder.is_done();
            if step.consumed == 0 {
                break;
            }
        }
        if data.is_empty() && !ex.body_done {
            self.push()?;
            return Ok(None);
        }
        ex.last_given = ex.body_done;
        let d = PyDict::new(py);
        d.set_item(pyo3::intern!(py, "type"), pyo3::intern!(py, "http.request"))?;
        d.set_item(pyo3::intern!(py, "body"), PyBytes::new(py, &data))?;
        d.set_item(pyo3::intern!(py, "more_body"), !ex.body_done)?;
        self.push()?;
        Ok(Some(d.unbind()))
    }

    /// The client's end came before the body's: the framing error (a 400 if nothing of the
    /// response went out) and `http.disconnect` for the app.
    fn body_eof(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyDict>>> {
        let error = match self.exchange.as_ref() {
            Some(ex) if !ex.body_done && !ex.refused => ex.decoder.eof().err(),
            _ => None,
        };
        match error {
            Some(e) => self.refuse_body(py, &e),
            None => Ok(None),
        }
    }

    /// Drop what is buffered of a body the app did not read, so the connection can carry the
    /// next request: `True` once the body is over, `False` when more must be read, `None`
    /// past the drain bound (the connection then closes).
    fn discard(&mut self) -> Option<bool> {
        let ex = self.exchange.as_mut()?;
        while !ex.body_done {
            let step = ex.decoder.decode(&ex.buf[ex.used..]).ok()?;
            ex.used += step.consumed;
            ex.discarded += step.data.len();
            ex.body_done = ex.decoder.is_done();
            if step.consumed == 0 {
                break;
            }
        }
        if ex.used == ex.buf.len() {
            ex.buf.clear();
            ex.used = 0;
        }
        match (ex.body_done, ex.discarded > DRAIN_BOUND) {
            (true, _) => Some(true),
            (false, true) => None,
            (false, false) => Some(false),
        }
    }

    /// Is the app still owed body bytes from the socket?
    fn wants_body(&self) -> bool {
        self.exchange.as_ref().is_some_and(|ex| !ex.body_done)
    }

    /// `http.response.start`.
    #[pyo3(signature = (status, headers, trailers=false))]
    fn start(
        &mut self,
        status: u16,
        headers: Vec<(Vec<u8>, Vec<u8>)>,
        trailers: bool,
    ) -> PyResult<()> {
        let Some(ex) = self.exchange.as_mut() else {
            return Err(PyOSError::new_err("no request"));
        };
        if ex.refused {
            return Err(PyOSError::new_err(
                "the request was refused: the client has gone",
            ));
        }
        if ex.status != 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "http.response.start sent twice",
            ));
        }
        ex.headers = sendable(headers)?;
        ex.status = status;
        ex.trailers = trailers;
        Ok(())
    }

    /// `http.response.body`: frame `data` and write what the socket takes; the bytes left.
    fn write(&mut self, data: &[u8], more: bool) -> PyResult<usize> {
        let first = match self.exchange.as_ref() {
            Some(ex) if ex.refused => {
                return Err(PyOSError::new_err(
                    "the request was refused: the client has gone",
                ))
            }
            Some(ex) if ex.status == 0 => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "http.response.body before http.response.start",
                ))
            }
            Some(ex) => ex.framing.is_none(),
            None => return Err(PyOSError::new_err("no request")),
        };
        if first {
            self.write_head(data.len(), more);
        }
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(0);
        };
        match ex.framing {
            Some(Framing::Length(_)) => {
                let n = (data.len() as u64).min(ex.remaining) as usize;
                self.out.extend_from_slice(&data[..n]);
                ex.remaining -= n as u64;
                ex.sent += n as u64;
            }
            Some(Framing::Chunked) => {
                if !data.is_empty() {
                    response::write_chunk(&mut self.out, data);
                }
                if !more && !ex.trailers {
                    self.out.extend_from_slice(response::LAST_CHUNK);
                }
                ex.sent += data.len() as u64;
            }
            Some(Framing::Close) => {
                self.out.extend_from_slice(data);
                ex.sent += data.len() as u64;
            }
            Some(Framing::NoBody) | None => {}
        }
        if !more && !ex.trailers {
            ex.complete = true;
        }
        self.push()
    }

    /// `http.response.trailers`: the last chunk with the fields, sent to a client that said
    /// `TE: trailers` (RFC 9110 §6.5.1; to others the body just ends).
    fn trailers(&mut self, headers: Vec<(Vec<u8>, Vec<u8>)>, more: bool) -> PyResult<usize> {
        let headers = sendable(headers)?;
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(0);
        };
        if ex.framing != Some(Framing::Chunked) || ex.complete {
            ex.complete = true;
            return self.push();
        }
        let accepts = ex.head.headers.iter().any(|(n, v)| {
            n == "TE"
                && String::from_utf8_lossy(v)
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
        if ex.trailer_started.is_none() {
            self.out.extend_from_slice(b"0\r\n");
            ex.trailer_started = Some(());
        }
        for (name, value) in headers.iter().filter(|_| accepts) {
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        if !more {
            self.out.extend_from_slice(b"\r\n");
            ex.complete = true;
        }
        self.push()
    }

    /// Gunicorn's `http.response.informational` (103 Early Hints, RFC 8297): an interim
    /// response before the final one, to HTTP/1.1 clients only (RFC 9110 §15.2).
    fn informational(&mut self, status: u16, headers: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<usize> {
        let Some(ex) = self.exchange.as_ref() else {
            return Ok(0);
        };
        if !ex.head.may_chunk() || ex.framing.is_some() || !(100..200).contains(&status) {
            return Ok(self.unsent());
        }
        let fields = sendable(headers)?;
        response::write_interim(&mut self.out, status, &fields);
        self.push()
    }

    /// Write what is left; the bytes the socket still has not taken.
    fn flush(&mut self) -> PyResult<usize> {
        self.push()
    }

    fn pending(&self) -> usize {
        self.unsent()
    }

    /// The app raised: a 500 when nothing of the response went out, else the connection is
    /// cut. The traceback goes to the error log.
    fn fail(&mut self, traceback: Option<&str>) {
        if let Some(traceback) = traceback {
            crate::error!("{traceback}");
        }
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        ex.failed = true;
        if ex.framing.is_none() {
            ex.status = 500;
            ex.head.must_close = true;
            let page = response::error_page(500, "Internal Server Error", "");
            ex.sent = response::page_body_len(&page);
            self.out.extend_from_slice(&page);
            let _ = self.push();
        }
    }

    /// The app returned: count and log the request; may the connection carry another?
    fn finish(&mut self) -> bool {
        let Some(ex) = self.exchange.take() else {
            return false;
        };
        // A client that said `close` sends nothing more: no lingering needed after a body
        // read whole (RFC 9112 §9.6), so the descriptor goes as soon as the response is out.
        self.lingers = !(ex.client_closes && ex.body_done && !ex.refused);
        let short = matches!(ex.framing, Some(Framing::Length(_))) && ex.remaining > 0;
        let persist = ex.complete && !ex.failed && !short && !ex.head.must_close && ex.body_done;
        let peer = self.conn.as_ref().and_then(|c| c.peer);
        let last = with_service(|svc| finished(svc, peer, &ex)).unwrap_or(true);
        if let Some(entry) = ex.entry {
            self.shared.entries.borrow_mut().push(entry);
        }
        if let Some(conn) = self.conn.as_mut() {
            conn.finish_request(ex.buf, ex.used);
        }
        persist && !last && self.shared.persist_allowed()
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

    fn close(&mut self) {
        if let Some(ex) = self.exchange.take() {
            // Closed under a request (a stop past its graceful timeout): it ends here.
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

impl Wire {
    /// A malformed body: Gunicorn's warning, the error page when nothing of the response
    /// went out, and `http.disconnect` for the app (the connection is done).
    fn refuse_body(&mut self, py: Python<'_>, error: &ParseError) -> PyResult<Option<Py<PyDict>>> {
        warn_invalid(
            self.conn.as_ref().and_then(|c| c.peer).map(|p| p.ip()),
            error,
        );
        if let Some(ex) = self.exchange.as_mut() {
            ex.refused = true;
            ex.head.must_close = true;
            if ex.framing.is_none() {
                ex.status = error.status().unwrap_or(400);
                ex.framing = Some(Framing::NoBody);
                let page = error.error_page();
                ex.sent = response::page_body_len(&page);
                self.out.extend_from_slice(&page);
            }
        }
        self.push()?;
        let d = PyDict::new(py);
        d.set_item("type", "http.disconnect")?;
        Ok(Some(d.unbind()))
    }
}

/// The app's response fields, each checked (`response::is_sendable_field`): a `ValueError`
/// for the app, as uvicorn raises, rather than a field that could split the response.
pub(super) fn sendable(headers: Vec<(Vec<u8>, Vec<u8>)>) -> PyResult<Vec<(String, Vec<u8>)>> {
    headers
        .into_iter()
        .map(
            |(name, value)| match response::is_sendable_field(&name, &value) {
                true => Ok((String::from_utf8_lossy(&name).into_owned(), value)),
                false => Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "Invalid HTTP header: {:?}: {:?}",
                    String::from_utf8_lossy(&name),
                    String::from_utf8_lossy(&value)
                ))),
            },
        )
        .collect()
}

/// A request ended: the scoreboard's counters, the access-log line, `--max-requests`.
/// `true` when it was the worker's last.
fn finished(svc: &Service<'_>, peer: Option<std::net::SocketAddr>, ex: &Exchange) -> bool {
    let elapsed = ex.started.elapsed();
    svc.slot
        .request_finished(ex.entry.and_then(|e| svc.slot.lane(e)));
    svc.slot.count_response(ex.status, ex.failed);
    svc.slot.record_latency(elapsed);
    if let Some(format) = &svc.access {
        let head = &ex.head;
        let path_info = String::from_utf8_lossy(&crate::http::percent_decode(head.path.as_bytes()))
            .into_owned();
        let environ = vec![None; format.environ_keys().len()];
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
        crate::log::write_access(&format.render(&record));
    }
    ex.last
}
