//! ASGI `receive` for the `websocket` scope, in Rust: what the app awaits is `WsReceiving`, an
//! awaitable that is its own iterator (no `async def` coroutine, nor the one it awaited, per
//! message — two frames and their bytecode before an echo's message reached the app).
//!
//! A message already decoded (`Exchange.ws_ready`, put there by the read callback) or whole in
//! the bytes read ahead ends the await at its first step. Otherwise it waits as a coroutine
//! awaiting a future does: it yields the connection's `receiving` future, which the task
//! (asyncio's `Task.__step`) takes as the one to wait on, and looks again when woken. Like a
//! coroutine it does nothing until awaited, so a `receive()` made and dropped takes nothing.

use std::cell::Cell;

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict};
use pyo3::{PyTraverseError, PyVisit};

use super::wire::Wire;

/// The `receive` callable of a connection's WebSocket session (made once per session).
#[pyclass(unsendable)]
pub(super) struct WsReceive {
    /// asgi_conn.py's `Conn`: its `disconnected`, `loop`, `receiving`,
    /// `reading`, `_watch_read`, `_watch_write`, `_eof`.
    conn: Py<PyAny>,
    wire: Py<Wire>,
    /// `websocket.connect` went to the app (ASGI WebSocket spec: the first message).
    greeted: Cell<bool>,
}

impl WsReceive {
    pub(super) fn new(conn: Py<PyAny>, wire: Py<Wire>) -> WsReceive {
        WsReceive {
            conn,
            wire,
            greeted: Cell::new(false),
        }
    }

    /// The app's next message, or `None` when there is none yet.
    fn next_message<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyAny>>> {
        if !self.greeted.replace(true) {
            let connect = PyDict::new(py);
            connect.set_item(pyo3::intern!(py, "type"), "websocket.connect")?;
            return Ok(Some(connect.into_any()));
        }
        let conn = self.conn.bind(py);
        let ready = self.wire.bind(py).try_borrow_mut()?.take_ws_ready();
        if let Some(ready) = ready {
            return Ok(Some(ready.into_bound(py)));
        }
        // Only what is buffered: a message that came while the app ran was read ahead, so
        // reading the socket here would almost always find nothing; the read callback
        // decodes what comes next.
        if self.wire.bind(py).try_borrow()?.has_bytes() {
            if let Some(message) = decode(conn, self.wire.bind(py))? {
                return Ok(Some(message));
            }
        }
        if conn
            .getattr(pyo3::intern!(py, "disconnected"))?
            .is_truthy()?
        {
            // Gone without a close frame (RFC 6455 §7.1.5: 1006).
            let gone = PyDict::new(py);
            gone.set_item(pyo3::intern!(py, "type"), "websocket.disconnect")?;
            gone.set_item(pyo3::intern!(py, "code"), 1006)?;
            return Ok(Some(gone.into_any()));
        }
        Ok(None)
    }

    /// Nothing to give yet: the future the read callback settles with a whole message or the
    /// client's end (`Conn.receiving`), the socket watched.
    fn wait<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        let conn = self.conn.bind(py);
        let future = conn
            .getattr(pyo3::intern!(py, "loop"))?
            .call_method0(pyo3::intern!(py, "create_future"))?;
        conn.setattr(pyo3::intern!(py, "receiving"), &future)?;
        if !conn.getattr(pyo3::intern!(py, "reading"))?.is_truthy()? {
            conn.call_method1(pyo3::intern!(py, "_watch_read"), (true,))?;
        }
        // What `Future.__await__` sets before it yields itself: the task waits on a future
        // yielded so, and refuses any other ("yield was used instead of yield from").
        future.setattr(pyo3::intern!(py, "_asyncio_future_blocking"), true)?;
        Ok(future)
    }

    /// The wait is over: the future settled (`woke`), or the await was thrown into or closed.
    /// As `Conn._woken_by_read`'s: the connection closed meanwhile counts as the client gone.
    fn stop_waiting(&self, py: Python<'_>, woke: bool) -> PyResult<()> {
        let conn = self.conn.bind(py);
        conn.setattr(pyo3::intern!(py, "receiving"), py.None())?;
        if woke && self.wire.bind(py).try_borrow()?.is_closed() {
            conn.setattr(pyo3::intern!(py, "disconnected"), true)?;
        }
        Ok(())
    }
}

#[pymethods]
impl WsReceive {
    fn __call__(slf: &Bound<'_, Self>) -> WsReceiving {
        WsReceiving {
            receive: slf.clone().unbind(),
            waiting: false,
            done: false,
        }
    }

    /// The app may keep `receive` where the connection reaches it: the cycle is the
    /// collector's to see.
    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.conn)?;
        visit.call(&self.wire)
    }
}

/// The wire's next WebSocket message, the pongs and close echoes it queued watched out, the
/// client's end handled (`Conn._eof`, and no message); what both the read callback
/// (readable.rs) and a `receive` that finds bytes buffered decode with.
pub(super) fn decode<'py>(
    conn: &Bound<'py, PyAny>,
    wire: &Bound<'py, Wire>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let py = conn.py();
    let message = wire.try_borrow_mut()?.ws_next(py)?.into_bound(py);
    if wire.try_borrow()?.unsent() > 0 {
        conn.call_method1(pyo3::intern!(py, "_watch_write"), (true,))?;
    }
    if message.is_instance_of::<PyBool>() {
        conn.call_method0(pyo3::intern!(py, "_eof"))?;
        return Ok(None);
    }
    Ok((!message.is_none()).then_some(message))
}

/// One `receive()`: awaited, its result is the app's next message.
///
/// It is also a coroutine as `collections.abc.Coroutine` has it (`send`, `throw`, `close`),
/// so `asyncio.create_task` and `asyncio.wait_for` take it as they took the `async def`'s.
#[pyclass(unsendable)]
pub(super) struct WsReceiving {
    receive: Py<WsReceive>,
    /// The connection's `receiving` future was yielded and is waited on.
    waiting: bool,
    /// The message was given (or the await ended by an exception).
    done: bool,
}

/// Where a step of the await ends: yielding a future to wait on, or with the message.
enum Step {
    Wait(Py<PyAny>),
    Done(Py<PyAny>),
}

impl WsReceiving {
    fn step(&mut self, py: Python<'_>) -> PyResult<Step> {
        if self.done {
            return Err(PyRuntimeError::new_err(
                "cannot reuse already awaited receive()",
            ));
        }
        let receive = self.receive.bind(py).borrow();
        if std::mem::take(&mut self.waiting) {
            receive.stop_waiting(py, true)?;
        }
        if let Some(message) = receive.next_message(py)? {
            self.done = true;
            return Ok(Step::Done(message.unbind()));
        }
        let future = receive.wait(py)?;
        self.waiting = true;
        Ok(Step::Wait(future.unbind()))
    }

    fn end(&mut self, py: Python<'_>) -> PyResult<()> {
        self.done = true;
        if std::mem::take(&mut self.waiting) {
            self.receive.bind(py).borrow().stop_waiting(py, false)?;
        }
        Ok(())
    }
}

#[pymethods]
impl WsReceiving {
    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    /// A step: the future to wait on, or the end with the message (PEP 380: a
    /// `StopIteration` carrying it is the value of the `await`).
    fn __next__(&mut self, py: Python<'_>) -> PyResult<Option<Py<PyAny>>> {
        match self.step(py)? {
            Step::Wait(future) => Ok(Some(future)),
            Step::Done(message) => Err(PyStopIteration::new_err((message,))),
        }
    }

    /// `coroutine.send`: a task steps its coroutine with `send(None)`.
    fn send(&mut self, py: Python<'_>, _value: &Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        match self.step(py)? {
            Step::Wait(future) => Ok(future),
            Step::Done(message) => Err(PyStopIteration::new_err((message,))),
        }
    }

    /// `coroutine.throw` (a task cancelled while it waits): the wait ends and the exception
    /// goes back out (`throw(exc)`, or the older `throw(type, value)`).
    #[pyo3(signature = (kind, value=None, _traceback=None))]
    fn throw(
        &mut self,
        kind: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<()> {
        self.end(kind.py())?;
        Err(PyErr::from_value(
            value.filter(|v| !v.is_none()).unwrap_or(kind).clone(),
        ))
    }

    /// `coroutine.close`: the wait ends.
    fn close(&mut self, py: Python<'_>) -> PyResult<()> {
        self.end(py)
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.receive)
    }
}
