//! ASGI `send` for the `websocket` scope, in Rust, as `http_send.rs` is for `http`: each
//! message is framed and written when `send` is called, and what the app awaits is the shared
//! done `Ready` — no coroutine made, started and dropped per message, as an `async def` send
//! costs (the larger part of an echo's Python instructions, measured with callgrind).
//!
//! Only waiting goes back to the connection's Python half (asgi_conn.py's `Conn`): past the
//! high-water mark the app awaits `Conn._drain()` (ASGI: send blocks on a slow client). Every
//! message type is handled when `send` is called, so the order of the messages is the order
//! of the calls even when an app gathers them.

use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::PyString;
use pyo3::{PyTraverseError, PyVisit};

use super::http_send::{written, Ready};
use super::wire::Wire;

/// The `send` callable of a connection's WebSocket session (made once per session).
#[pyclass(unsendable)]
pub(super) struct WsSend {
    /// asgi_conn.py's `Conn`: its `disconnected`, `_drain`, `_watch_write`.
    conn: Py<PyAny>,
    wire: Py<Wire>,
    ready: Py<Ready>,
}

impl WsSend {
    pub(super) fn new(conn: Py<PyAny>, wire: Py<Wire>, ready: Py<Ready>) -> WsSend {
        WsSend { conn, wire, ready }
    }
}

#[pymethods]
impl WsSend {
    fn __call__(&self, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = message.py();
        let wire = self.wire.bind(py);
        // ASGI WebSocket spec: a send once the connection is closed raises an `OSError` (a
        // closed connection's wire has no socket left).
        if wire.try_borrow()?.is_closed() {
            return Err(PyOSError::new_err("the client has disconnected"));
        }
        let conn = self.conn.bind(py);
        // `message["type"]`: its `KeyError` when missing, as the spec's dict has it.
        let kind = message.get_item(pyo3::intern!(py, "type"))?;
        let pending = if is_data(&kind) {
            // The client left (its close frame, or the socket's end): the app's messages
            // have nowhere to go.
            if conn
                .getattr(pyo3::intern!(py, "disconnected"))?
                .is_truthy()?
            {
                return Err(PyOSError::new_err("the client has disconnected"));
            }
            wire.try_borrow_mut()?.ws_data(message)?
        } else {
            wire.try_borrow_mut()?.ws_control(&kind, message)?
        };
        written(conn, pending, &self.ready)
    }

    /// The app may keep `send` where the connection reaches it: the cycle is the collector's
    /// to see.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.conn)?;
        visit.call(&self.wire)?;
        visit.call(&self.ready)
    }
}

/// Is `kind` `websocket.send`, the session's usual message?
fn is_data(kind: &Bound<'_, PyAny>) -> bool {
    kind.cast::<PyString>()
        .is_ok_and(|k| k.to_str().is_ok_and(|k| k == "websocket.send"))
}
