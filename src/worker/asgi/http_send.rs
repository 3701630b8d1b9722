//! ASGI `send` for the `http` scope, in Rust: what the app awaits is `Ready` (done at once)
//! whenever the socket took the bytes or may take the rest later, so an `await send(message)`
//! is one call — no coroutine made, started and dropped per message, as an `async def` send
//! costs (two per hello-world request; about 1,400 instructions each, measured).
//!
//! Only waiting goes back to the connection's Python half (asgi_conn.py's `Conn`): past the
//! high-water mark the app awaits `Conn._drain()` (backpressure), and the client's leaving
//! is `Conn._lost()`. The message is handled when `send` is called, not when its result is
//! awaited (as granian does; an `async def` send does nothing until awaited): an app awaits
//! what `send` returns at once, and the order of messages is the order of the calls.

use pyo3::exceptions::{PyOSError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::{PyTraverseError, PyVisit};

use super::wire::Wire;

/// Past this many bytes the socket has not taken, `send` waits for the client (ASGI: send
/// blocks on a slow client). asgi_base.py's `HIGH_WATER`, the same number.
const HIGH_WATER: usize = 64 * 1024;

/// An awaitable already done, with the result `None`: `__await__` is itself, and its first
/// `__next__` ends the iteration (pyo3 turns `None` into the iterator's end without raising,
/// which CPython's `SEND` takes as the result `None`). It holds nothing, so the worker makes
/// one and every `send` returns it.
///
/// It is also a coroutine as `collections.abc.Coroutine` has it (`send`, `throw`, `close`),
/// so what an `async def` send returned can still be given to `asyncio.create_task`, which
/// takes coroutines only.
#[pyclass(frozen)]
pub(super) struct Ready;

#[pymethods]
impl Ready {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(&self) -> Option<Py<PyAny>> {
        None
    }

    /// `coroutine.send`: done already, so it returns at once (`StopIteration`: `None`).
    fn send(&self, _value: &Bound<'_, PyAny>) -> PyResult<()> {
        Err(PyStopIteration::new_err(()))
    }

    /// `coroutine.throw`: nothing inside to catch it, so the exception goes back out
    /// (`throw(exc)`, or the older `throw(type, value)`).
    #[pyo3(signature = (kind, value=None, _traceback=None))]
    fn throw(
        &self,
        kind: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        Err(PyErr::from_value(
            value.filter(|v| !v.is_none()).unwrap_or(kind).clone(),
        ))
    }

    /// `coroutine.close`: nothing to close.
    fn close(&self) {}
}

/// The `send` callable of a connection's `http` requests (made once per connection).
#[pyclass(unsendable)]
pub(super) struct HttpSend {
    /// asgi_conn.py's `Conn`: its `disconnected`, `receiving`, `_drain`, `_watch_write`,
    /// `_lost`.
    conn: Py<PyAny>,
    wire: Py<Wire>,
    ready: Py<Ready>,
}

impl HttpSend {
    pub(super) fn new(conn: Py<PyAny>, wire: Py<Wire>, ready: Py<Ready>) -> HttpSend {
        HttpSend { conn, wire, ready }
    }
}

#[pymethods]
impl HttpSend {
    fn __call__(&self, message: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        let py = message.py();
        let conn = self.conn.bind(py);
        let wire = self.wire.bind(py);
        // ASGI HTTP spec: a send after the client has gone raises an `OSError` (a closed
        // connection's wire has no socket left).
        if conn
            .getattr(pyo3::intern!(py, "disconnected"))?
            .is_truthy()?
            || wire.try_borrow()?.is_closed()
        {
            return Err(PyOSError::new_err("the client has disconnected"));
        }
        let sent = wire.try_borrow_mut()?.send(message);
        let pending = match sent {
            Ok(pending) => pending,
            Err(e) => {
                if e.is_instance_of::<PyOSError>(py) && is_body(message) {
                    // The socket failed under the body: the client is gone.
                    conn.call_method0(pyo3::intern!(py, "_lost"))?;
                }
                return Err(e);
            }
        };
        if wire.try_borrow()?.response_complete() {
            // Whoever waits in `receive` (a task listening for the client's leaving) hears
            // that the response is done.
            settle(&conn.getattr(pyo3::intern!(py, "receiving"))?)?;
        }
        written(conn, pending, &self.ready)
    }

    /// The connection refers to this and this to it: the cycle is the collector's to see
    /// (`Conn._end` also breaks it).
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.conn)?;
        visit.call(&self.wire)
    }
}

/// What a `send` returns once its message is written and `pending` bytes wait for the socket
/// (ws_send.rs's too): past the high-water mark, `Conn._drain()` to await; else the done
/// `ready`, the socket watched for writing while bytes wait.
pub(super) fn written(
    conn: &Bound<'_, PyAny>,
    pending: usize,
    ready: &Py<Ready>,
) -> PyResult<Py<PyAny>> {
    let py = conn.py();
    if pending > HIGH_WATER {
        return Ok(conn.call_method0(pyo3::intern!(py, "_drain"))?.unbind());
    }
    if pending > 0 {
        conn.call_method1(pyo3::intern!(py, "_watch_write"), (true,))?;
    }
    Ok(ready.clone_ref(py).into_any())
}

/// Is `message` an `http.response.body`?
fn is_body(message: &Bound<'_, PyAny>) -> bool {
    message
        .get_item(pyo3::intern!(message.py(), "type"))
        .and_then(|kind| kind.eq(pyo3::intern!(message.py(), "http.response.body")))
        .unwrap_or(false)
}

/// asgi_base.py's `_settle`: wake whoever awaits `waiter` (a future, or None).
pub(super) fn settle(waiter: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = waiter.py();
    if waiter.is_none()
        || waiter
            .call_method0(pyo3::intern!(py, "done"))?
            .is_truthy()?
    {
        return Ok(());
    }
    waiter.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
    Ok(())
}
