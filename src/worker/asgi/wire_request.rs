//! The request half of a connection's `Wire`: heads read into ASGI `http` (or `websocket`)
//! scopes, bodies decoded into `http.request` messages, a malformed body refused, a body the
//! app left unread drained for the next request — with the parser and limits every kind uses.

use std::time::Instant;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict};

use super::requests::Requests;
use super::scope::{build_scope, tornado_request, Addresses};
use super::wire::{Exchange, Wire};
use super::wire_hooks::Hooked;
use super::{with_service, ws};
use crate::http::response::{self, Framing};
use crate::http::{BodyDecoder, BodyKind, ParseError, RequestHead};
use crate::scoreboard::{RequestLine, WorkerState};
use crate::worker::conn::{refuse_head, warn_invalid, Conn, HeadProgress};
use crate::wsgi::BodyError;

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

#[pymethods]
impl Wire {
    /// Has the client sent bytes that are not read from the socket yet? A graceful stop
    /// closes an idle connection only when it has not: a request that crossed the stop is
    /// answered (with `Connection: close`), as the thread kinds answer it (dispatch/stop.rs).
    fn bytes_waiting(&self) -> bool {
        self.conn
            .as_ref()
            .is_some_and(|conn| conn.stream.input_waiting())
    }

    /// The next request's scope: `None` while its head is incomplete, `False` when the
    /// connection must close (malformed: its error page is written; or the client left).
    fn head(&mut self, py: Python<'_>, state: &Bound<'_, PyDict>) -> PyResult<Py<PyAny>> {
        let (head, consumed, decoder) = match self.read_head() {
            Read::Head(head, consumed, decoder) => (head, consumed, decoder),
            Read::Partial => return Ok(py.None()),
            Read::Close => return connection_closes(py),
        };
        // tornado answers upgrades itself (its WebSocketHandler takes the socket: `detach`).
        let websocket =
            (!self.shared.tornado && ws::is_upgrade(&head)).then(|| ws::subprotocols(&head));
        let session = websocket.is_some().then(|| {
            ws::Session::new(
                self.shared.websocket_max_message,
                self.shared.websocket_deflate,
            )
        });
        let Some(scope) = self.scope(py, &head, state, websocket)? else {
            return connection_closes(py);
        };
        // Gunicorn's asgi worker runs the request hooks for HTTP requests, not WebSocket
        // sessions.
        let (hooked, raised) = match session {
            Some(_) => (Hooked::Not, None),
            None => self.pre_request(py, &head),
        };
        let mut exchange = self.open_exchange(head, consumed, decoder, session);
        exchange.hooked = hooked;
        self.exchange = Some(exchange);
        let Some(traceback) = raised else {
            return Ok(scope.into_any().unbind());
        };
        // The hook raised: the request fails as if the app had (a 500, logged), and the
        // connection closes (Gunicorn answers an error with a close).
        self.fail(Some(&traceback));
        self.finish(py, true);
        connection_closes(py)
    }

    /// The coroutine that serves the connection's requests in its task (requests.rs):
    /// `run` is `Conn._run`, `options` how the task is made (its loop, its name).
    fn requests(slf: Bound<'_, Self>, run: Py<PyAny>, options: Py<PyDict>) -> PyResult<Requests> {
        Requests::new(slf.py(), run, slf.unbind(), options)
    }

    /// `head`, and once the head is whole `requests.begin(scope)`: the connection's task,
    /// else what `head` gave (`None`, `False`). One call from the read callback where two
    /// were (about 300 instructions a request).
    fn start_request(
        slf: &Bound<'_, Self>,
        state: &Bound<'_, PyDict>,
        requests: &Bound<'_, Requests>,
    ) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        // The wire's borrow ends before `begin`, which shows the request on the scoreboard
        // through it.
        let scope = slf.try_borrow_mut()?.head(py, state)?;
        if scope.is_none(py) || scope.bind(py).is_instance_of::<pyo3::types::PyBool>() {
            return Ok(scope);
        }
        Requests::begin(requests, scope)
    }

    /// Seconds since the request's head was read (for a dump); 0 between requests.
    fn elapsed(&self) -> f64 {
        self.exchange
            .as_ref()
            .map_or(0.0, |ex| ex.started.elapsed().as_secs_f64())
    }

    /// Has the request a scoreboard entry (else a dump names it under its stack itself)?
    fn shown(&self) -> bool {
        self.exchange.as_ref().is_some_and(|ex| ex.entry.is_some())
    }

    /// The request's task is `task`: its scoreboard entry shows `id(task)`, so a dump's
    /// `Task 0x…` section is put under its request.
    pub(super) fn shown_as(&self, task: &Bound<'_, PyAny>) {
        let Some(entry) = self.exchange.as_ref().and_then(|ex| ex.entry) else {
            return;
        };
        // CPython's `id()` is the object's address (without the call to `id` in Python).
        let ident = task.as_ptr() as usize as u64;
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

    /// The client's end came before the body's: `http.disconnect` for the app. Cut inside
    /// chunked framing it is also the framing error (a 400 if nothing of the response went
    /// out, as the WSGI kinds answer, conn/body.rs); cut inside a length the client is simply
    /// gone (Gunicorn's NoMoreData: a debug line, no response, no "Invalid request").
    fn body_eof(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyDict>>> {
        let error = match self.exchange.as_ref() {
            Some(ex) if !ex.body_done && !ex.refused => ex.decoder.eof().err(),
            _ => None,
        };
        match error {
            Some(e) if e.status().is_some() => self.refuse_body(py, &e),
            Some(_) => {
                crate::debug!(
                    "Ignored premature client disconnection. {}",
                    BodyError::Disconnected
                );
                if let Some(ex) = self.exchange.as_mut() {
                    ex.head.must_close = true;
                }
                Ok(None)
            }
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
}

impl Wire {
    /// Read the next head from the connection: whole, not yet whole, or the connection is
    /// done (a malformed head is refused here, its error page written).
    fn read_head(&mut self) -> Read {
        let Some(conn) = self.conn.as_mut() else {
            return Read::Close;
        };
        with_service(|svc| {
            let mut spare = Vec::new();
            let trust = conn.trust(svc);
            match conn.read_head(&svc.parser, trust, &mut spare) {
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
        })
        .unwrap_or(Read::Close)
    }

    /// The scope of the request `head`: tornado's request, or the ASGI `http` (`websocket`
    /// when `websocket` holds the offered subprotocols) scope. `None` without a connection.
    fn scope<'py>(
        &mut self,
        py: Python<'py>,
        head: &RequestHead,
        state: &Bound<'py, PyDict>,
        websocket: Option<Vec<String>>,
    ) -> PyResult<Option<Bound<'py, PyDict>>> {
        let Some(conn) = self.conn.as_ref() else {
            return Ok(None);
        };
        let addresses = match &mut self.addresses {
            Some(known) => known,
            unknown => unknown.insert(Addresses::new(py, &self.shared, conn, self.server)?),
        };
        let scope = match self.shared.tornado {
            true => tornado_request(py, conn, addresses, head)?,
            false => build_scope(py, &self.shared, conn, addresses, head, state, websocket)?,
        };
        Ok(Some(scope))
    }

    /// The request whose head was just read: counted (the scoreboard's entry, max-requests)
    /// and given the connection's buffer.
    fn open_exchange(
        &mut self,
        head: RequestHead,
        consumed: usize,
        decoder: BodyDecoder,
        session: Option<ws::Session>,
    ) -> Exchange {
        let entry = self.shared.entries.borrow_mut().pop();
        let last = self.request_started(&head, entry);
        let buf = self.conn.as_mut().map_or_else(Vec::new, Conn::take_buffer);
        Exchange {
            continue_owed: head.expect_continue,
            body_done: head.body == BodyKind::Empty,
            last_given: false,
            client_closes: head.must_close,
            head,
            started: Instant::now(),
            buf,
            used: consumed,
            decoder,
            status: 0,
            reason: None,
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
            last,
            trailers: false,
            trailer_started: None,
            hooked: Hooked::Not,
            environ: None,
            ws_ready: None,
            warned_no_body: false,
        }
    }

    /// Count the request `head` as started: on the scoreboard (in the lane of `entry`, when
    /// one was free) and towards max-requests; whether it is the last the worker serves.
    fn request_started(&mut self, head: &RequestHead, entry: Option<usize>) -> bool {
        let client = self.conn.as_mut().map_or("", |conn| conn.client());
        with_service(|svc| {
            let line = RequestLine {
                method: head.method.as_bytes(),
                path: head.uri.as_bytes(),
                client: client.as_bytes(),
                version: head.version,
            };
            let shown = entry.and_then(|e| svc.slot.lane(e));
            svc.slot.request_started(shown, &line);
            if let Some(shown) = shown {
                shown.set_state(WorkerState::App);
            }
            // Gunicorn's rule: the request that reaches max_requests is answered `close`.
            svc.count_request()
        })
        .unwrap_or(false)
    }

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
                let page = response::for_request(&page, &ex.head.method);
                ex.sent = response::page_body_len(page);
                self.out.extend_from_slice(page);
            }
        }
        self.push()?;
        let d = PyDict::new(py);
        d.set_item("type", "http.disconnect")?;
        Ok(Some(d.unbind()))
    }
}

/// What `head` returns when the connection must close: Python's `False`.
fn connection_closes(py: Python<'_>) -> PyResult<Py<PyAny>> {
    Ok(false.into_pyobject(py)?.to_owned().into_any().unbind())
}
