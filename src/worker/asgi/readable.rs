//! The loop's reader callback of a connection (`loop.add_reader(fd, ...)`). The case that
//! comes once per WebSocket message — the app waits in `receive` and the socket has the next
//! frames — is served here, in Rust: the message decoded, handed to `receive` and its waiter
//! woken, without the four Python frames (`Conn.read`, `_read_for_app`, `_ws_read`,
//! `_ws_next`) it cost before. Everything else (a head, body bytes, the client's end, a lingering close) goes to
//! asgi_conn.py's `Conn.read` as it did.

use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use super::http_send::settle;
use super::wire::Wire;
use super::ws_receive::decode;

/// asgi_base.py's `APP`: the connection's request (or WebSocket session) is the app's.
const APP: u8 = 1;

/// A connection's reader callback (made once per connection, `Conn.on_readable`).
#[pyclass(unsendable)]
pub(super) struct OnReadable {
    /// asgi_conn.py's `Conn`: its `state`, `receiving`, `read`.
    conn: Py<PyAny>,
    wire: Py<Wire>,
}

impl OnReadable {
    pub(super) fn new(conn: Py<PyAny>, wire: Py<Wire>) -> OnReadable {
        OnReadable { conn, wire }
    }

    /// asgi_conn.py's `_read_for_app` would take the WebSocket branch: a session under way
    /// and the app waiting in `receive` (`Conn.receiving`, set by ws_receive.rs).
    fn app_awaits_message(&self, conn: &Bound<'_, PyAny>) -> PyResult<bool> {
        let py = conn.py();
        if !self.wire.bind(py).try_borrow()?.in_websocket() {
            return Ok(false);
        }
        if conn.getattr(pyo3::intern!(py, "receiving"))?.is_none() {
            return Ok(false);
        }
        let state: u8 = conn.getattr(pyo3::intern!(py, "state"))?.extract()?;
        Ok(state == APP)
    }
}

#[pymethods]
impl OnReadable {
    fn __call__(&self, py: Python<'_>) -> PyResult<()> {
        let conn = self.conn.bind(py);
        if !self.app_awaits_message(conn)? {
            conn.call_method0(pyo3::intern!(py, "read"))?;
            return Ok(());
        }
        // A whole message goes to `receive` (`Exchange.ws_ready`) and wakes it; a part of
        // one waits for more bytes.
        let wire = self.wire.bind(py);
        if let Some(message) = decode(conn, wire)? {
            wire.try_borrow_mut()?.set_ws_ready(message.unbind());
            settle(&conn.getattr(pyo3::intern!(py, "receiving"))?)?;
        }
        Ok(())
    }

    /// The connection refers to this and this to it: the cycle is the collector's to see
    /// (`Conn._end` also breaks it).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.conn)?;
        visit.call(&self.wire)
    }
}
