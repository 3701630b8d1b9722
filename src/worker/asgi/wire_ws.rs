//! The WebSocket half of a connection's `Wire` (RFC 6455 through ASGI's `websocket` scope):
//! the handshake's answer, frames out, messages in. The session's framing is `ws.rs`'s; the
//! app's `receive` and `send` callables are `ws_receive.rs`'s and `ws_send.rs`'s.

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::fields::sendable;
use super::wire::Wire;
use super::wire_response::field;
use super::ws;
use super::ws_receive::WsReceive;
use super::ws_send::WsSend;

impl Wire {
    /// `websocket.send` (ASGI WebSocket spec 2.x: `bytes` or `text`, the other absent or
    /// None): the bytes the socket has not taken yet.
    pub(super) fn ws_data(&mut self, message: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = message.py();
        let text = field(message, pyo3::intern!(py, "text"))?;
        let bytes = field(message, pyo3::intern!(py, "bytes"))?;
        let text = text.as_ref().map(|t| t.cast::<PyString>()).transpose()?;
        let bytes = bytes.as_ref().map(|b| b.cast::<PyBytes>()).transpose()?;
        let text = text.map(|t| t.to_str()).transpose()?;
        self.ws_send(text, bytes.map(|b| b.as_bytes()))
    }

    /// The session's other messages (`kind`: the message's `type`): `websocket.accept`,
    /// `websocket.close`, the Denial Response's `websocket.http.response.*`; any other type is
    /// the app's mistake (a `RuntimeError`). The bytes the socket has not taken yet.
    pub(super) fn ws_control(
        &mut self,
        kind: &Bound<'_, PyAny>,
        message: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        let py = message.py();
        let name = kind.cast::<PyString>().ok();
        match name.as_ref().map(|k| k.to_str()).transpose()? {
            Some("websocket.accept") => {
                let subprotocol = field(message, pyo3::intern!(py, "subprotocol"))?;
                let subprotocol = subprotocol.map(|p| p.extract::<String>()).transpose()?;
                let headers = match field(message, pyo3::intern!(py, "headers"))? {
                    Some(headers) => sendable(&headers)?,
                    None => Vec::new(),
                };
                self.ws_accept(subprotocol.as_deref(), &headers)
            }
            Some("websocket.close") => {
                let code = field(message, pyo3::intern!(py, "code"))?;
                let code = code.map(|c| c.extract::<u16>()).transpose()?;
                let reason = field(message, pyo3::intern!(py, "reason"))?;
                let reason = reason.as_ref().map(|r| r.cast::<PyString>()).transpose()?;
                let reason = reason.map(|r| r.to_str()).transpose()?;
                self.ws_close(code.unwrap_or(1000), reason.unwrap_or(""))
            }
            Some(name @ ("websocket.http.response.start" | "websocket.http.response.body")) => {
                // The Denial Response extension: the handshake answered by an HTTP response,
                // its messages those of the `http` scope under another name.
                self.ws_deny_with_response()?;
                let http = PyDict::new(py);
                http.update(message.cast::<pyo3::types::PyMapping>()?)?;
                http.set_item(pyo3::intern!(py, "type"), &name["websocket.".len()..])?;
                self.send(http.as_any())
            }
            _ => Err(PyRuntimeError::new_err(format!(
                "unexpected ASGI message {}",
                kind.repr()?
            ))),
        }
    }

    /// `websocket.accept` with the app's `headers` (checked): the bytes the socket has not
    /// taken yet.
    fn ws_accept(
        &mut self,
        subprotocol: Option<&str>,
        extra: &[(String, Vec<u8>)],
    ) -> PyResult<usize> {
        let date = self.shared.date();
        let Some(ex) = self.exchange.as_mut() else {
            return Err(PyOSError::new_err("no request"));
        };
        let Some(session) = ex.ws.as_mut() else {
            return Err(PyOSError::new_err("not a WebSocket"));
        };
        if session.phase != ws::Phase::Connecting {
            return Err(PyRuntimeError::new_err("websocket.accept sent twice"));
        }
        // The subprotocol is checked as `http.response.start`'s fields are (RFC 9110 §5.5,
        // `sendable` for the headers): an app echoing a client's text into them must not
        // split the 101.
        if let Some(p) = subprotocol {
            super::fields::sendable_field(b"Sec-WebSocket-Protocol", p.as_bytes())?;
        }
        session.accept(&mut self.out, &ex.head, subprotocol, extra, &date);
        ex.status = 101;
        self.push()
    }

    /// The WebSocket Denial Response extension (`websocket.http.response.start`, ASGI
    /// WebSocket spec 2.4): before `websocket.accept`, the app answers the handshake with an
    /// HTTP response of its own, which the request's HTTP side then frames and sends; the
    /// connection ends after it (the client asked to switch protocols, RFC 9110 §7.8).
    fn ws_deny_with_response(&mut self) -> PyResult<()> {
        let Some(ex) = self.exchange.as_mut() else {
            return Err(PyOSError::new_err("no request"));
        };
        match ex.ws.as_ref().map(|s| s.phase) {
            Some(ws::Phase::Connecting) => {
                ex.ws = None;
                ex.head.must_close = true;
                Ok(())
            }
            // Its start went already: the body follows on the HTTP side.
            None => Ok(()),
            Some(_) => Err(PyRuntimeError::new_err(
                "websocket.http.response after websocket.accept or websocket.close",
            )),
        }
    }

    /// `websocket.send` (text or bytes).
    pub(super) fn ws_send(&mut self, text: Option<&str>, bytes: Option<&[u8]>) -> PyResult<usize> {
        let queued = self.unsent();
        let Some(session) = self.exchange.as_mut().and_then(|ex| ex.ws.as_mut()) else {
            return Err(PyOSError::new_err("not a WebSocket"));
        };
        if session.phase != ws::Phase::Open {
            return Err(PyOSError::new_err("the WebSocket is closed"));
        }
        match self.conn.as_ref() {
            Some(conn) if queued == 0 => session
                .send_now(conn, &mut self.out, text, bytes)
                .map_err(|e| PyOSError::new_err(e.to_string()))?,
            _ => session.send(&mut self.out, text, bytes),
        }
        self.push()
    }

    /// The next `websocket.receive` or `websocket.disconnect` from what is buffered and what
    /// the socket has now; `None` when more bytes are needed, `False` when the client is gone
    /// without a close frame.
    pub(super) fn ws_next(&mut self, py: Python<'_>) -> PyResult<Py<PyAny>> {
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(py.None());
        };
        let Some(session) = ex.ws.as_mut() else {
            return Ok(py.None());
        };
        ex.buf.drain(..ex.used);
        ex.used = 0;
        let incoming = session.next_reading(self.conn.as_ref(), &mut ex.buf, &mut self.out);
        let Some(incoming) = incoming else {
            self.push()?;
            return Ok(py.None());
        };
        // The keys and types interned once: a `&str` would be a new string, hashed anew, for
        // each of them in every message.
        let (kind, receive) = (
            pyo3::intern!(py, "type"),
            pyo3::intern!(py, "websocket.receive"),
        );
        let d = PyDict::new(py);
        match incoming {
            ws::Incoming::Text(t) => {
                d.set_item(kind, receive)?;
                d.set_item(pyo3::intern!(py, "text"), t)?;
            }
            ws::Incoming::Binary(b) => {
                d.set_item(kind, receive)?;
                d.set_item(pyo3::intern!(py, "bytes"), PyBytes::new(py, &b))?;
            }
            ws::Incoming::Disconnect(code) => {
                d.set_item(kind, pyo3::intern!(py, "websocket.disconnect"))?;
                d.set_item(pyo3::intern!(py, "code"), code)?;
                ex.complete = true;
                ex.head.must_close = true;
            }
            ws::Incoming::Gone => {
                return Ok(false.into_pyobject(py)?.to_owned().into_any().unbind());
            }
        }
        self.push()?;
        Ok(d.into_any().unbind())
    }

    /// Keep `message` for the `receive` the read callback wakes (readable.rs).
    pub(super) fn set_ws_ready(&mut self, message: Py<PyAny>) {
        if let Some(ex) = self.exchange.as_mut() {
            ex.ws_ready = Some(message);
        }
    }

    /// The message the read callback decoded, if `receive` has not taken it yet.
    pub(super) fn take_ws_ready(&mut self) -> Option<Py<PyAny>> {
        self.exchange.as_mut().and_then(|ex| ex.ws_ready.take())
    }
}

#[pymethods]
impl Wire {
    /// The `receive` and `send` of `conn`'s WebSocket session (asgi_conn.py's `Conn`, whose
    /// wire this is).
    fn ws_calls(slf: Bound<'_, Self>, conn: Py<PyAny>) -> (WsReceive, WsSend) {
        let py = slf.py();
        let ready = slf.borrow().shared.ready.clone_ref(py);
        let wire = slf.unbind();
        let receive = WsReceive::new(conn.clone_ref(py), wire.clone_ref(py));
        (receive, WsSend::new(conn, wire, ready))
    }

    /// The worker is going away with this session open (a graceful stop past its
    /// `--graceful-timeout`): a close frame with 1001, "going away, such as a server going
    /// down" (RFC 6455 §7.4.1), so the client learns why instead of seeing its connection
    /// vanish without the closing handshake (1006, §7.1.5). A handshake not answered yet, or
    /// a session whose close frame went out already, is left as it is. The bytes the socket
    /// has not taken yet.
    fn ws_going_away(&mut self) -> PyResult<usize> {
        let open = self
            .exchange
            .as_ref()
            .and_then(|ex| ex.ws.as_ref())
            .is_some_and(|session| matches!(session.phase, ws::Phase::Open));
        match open {
            true => self.ws_close(1001, ""),
            false => Ok(0),
        }
    }

    /// `websocket.close`: a close frame, or before the handshake was answered, a 403.
    pub(super) fn ws_close(&mut self, code: u16, reason: &str) -> PyResult<usize> {
        let date = self.shared.date();
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(0);
        };
        let Some(session) = ex.ws.as_mut() else {
            return Ok(0);
        };
        match session.phase {
            ws::Phase::Connecting => {
                session.deny(&mut self.out, &date);
                ex.status = 403;
            }
            // RFC 6455 §7.4.1: 1005, 1006 and 1015 "MUST NOT be set as a status code in a
            // Close control frame", and codes outside the registered ranges fail the peer's
            // side (§7.4.2): the app's mistake is a `ValueError` (uvicorn raises too), and
            // its failing then closes with 1011.
            ws::Phase::Open if !crate::http::websocket::valid_close_code(code) => {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "Invalid WebSocket close code: {code}"
                )));
            }
            _ => session.close(&mut self.out, code, reason),
        }
        ex.complete = true;
        ex.head.must_close = true;
        self.push()
    }
}
