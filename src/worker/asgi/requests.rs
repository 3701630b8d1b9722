//! A connection's requests as one coroutine, which one `asyncio.Task` runs for the life of the
//! connection: each request is `Conn._run(scope)` (asgi_conn.py), run in a context of its
//! own; between requests the coroutine waits on a future, which the read callback settles
//! when the next head is whole.
//!
//! Why not a task per request, as uvicorn makes: a task's making and end cost about 6,200
//! instructions of the 33,300 a hello-world request took (callgrind,
//! benches/callgrind_asgi.sh: `Task.__init__` with its `call_soon` and its registration in
//! asyncio's `WeakSet` of tasks, its dealloc with that set's weakref callback). Here the
//! task is made at a connection's first request, and a future made and settled per request
//! costs a fraction of that (31,300 instructions a request in all, measured the same way).
//!
//! The future is asyncio's own (`loop.create_future()`), not an object of this crate's
//! with the methods a task looks for: the task takes its own futures by a shortcut, and a
//! foreign one costs it about 4,000 instructions more per wait (attribute lookups,
//! `result` found by a name made afresh each time; measured). Its `set_result` schedules
//! the task for the loop's next turn, as for any future. Calling the task's callback from
//! the read callback instead (the request run at once, as Python 3.12's eager tasks start)
//! was measured too: 4 % more hello-world requests, but 15 % fewer FastAPI requests at 16
//! connections, the reads of a turn no longer done together before the apps run.
//!
//! What an app sees is what a task per request gives it: `asyncio.current_task()` is a task
//! (the connection's), and the contextvars of each request start afresh (a copy of the
//! context the connection was accepted in, as `create_task` copies it for uvicorn), so
//! nothing one request sets is seen by the next.

use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyDict;
use pyo3::{PyTraverseError, PyVisit};

use super::step::{resume, Resumed};
use super::wire::Wire;

/// Where the connection's coroutine stands.
enum Turn {
    /// Between requests: the next is started at the coroutine's next step, or it waits.
    Between,
    /// A request is served: its coroutine (`Conn._run(scope)`) and the context it runs in.
    Serving { coro: Py<PyAny>, context: Py<PyAny> },
    /// Returned or raised: the task is over; a request after it gets a new task.
    Over,
}

#[pyclass(unsendable)]
pub(super) struct Requests {
    /// `Conn._run`; dropped once the connection closed (it refers to the connection).
    run: Option<Py<PyAny>>,
    wire: Py<Wire>,
    /// How the task is made: `asyncio.Task` and its options (loop, name).
    task_type: Py<PyAny>,
    options: Py<PyDict>,
    /// The options' loop, read once: where the task waits, and where the app may have set a
    /// task factory.
    event_loop: Py<PyAny>,
    /// The context each request's is copied from.
    base: Py<PyAny>,
    /// A scope whose request waits for the one being served (pipelined).
    next: Option<Py<PyAny>>,
    turn: Turn,
    /// The future the task waits on between requests.
    waiting: Option<Py<PyAny>>,
    task: Option<Py<PyAny>>,
    /// The connection closed: the coroutine returns instead of waiting again.
    closing: bool,
}

impl Requests {
    pub(super) fn new(
        py: Python<'_>,
        run: Py<PyAny>,
        wire: Py<Wire>,
        options: Py<PyDict>,
    ) -> PyResult<Requests> {
        let task_type = wire.bind(py).try_borrow()?.shared.task_type.clone_ref(py);
        let event_loop = options
            .bind(py)
            .get_item(pyo3::intern!(py, "loop"))?
            .ok_or_else(|| pyo3::exceptions::PyKeyError::new_err("loop"))?;
        // SAFETY: the GIL is held; a new reference (or NULL with the error set).
        let base = unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_CopyCurrent())? };
        Ok(Requests {
            run: Some(run),
            wire,
            task_type,
            options,
            base: base.unbind(),
            event_loop: event_loop.unbind(),
            next: None,
            turn: Turn::Between,
            waiting: None,
            task: None,
            closing: false,
        })
    }

    /// The connection's task, made now if there is none (the connection's first request, or
    /// its task ended): `asyncio.Task`, or the loop's task factory when the app set one.
    fn task_for(slf: &Bound<'_, Self>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        let mut me = slf.try_borrow_mut()?;
        if let (Some(task), false) = (&me.task, matches!(me.turn, Turn::Over)) {
            return Ok(task.clone_ref(py));
        }
        me.turn = Turn::Between;
        let options = me.options.bind(py).clone();
        let task_type = me.task_type.clone_ref(py);
        let event_loop = me.event_loop.bind(py).clone();
        drop(me);
        let factory = event_loop.call_method0(pyo3::intern!(py, "get_task_factory"))?;
        let task = match factory.is_none() {
            true => task_type.bind(py).call((slf,), Some(&options))?,
            false => event_loop.call_method1(pyo3::intern!(py, "create_task"), (slf,))?,
        };
        slf.try_borrow_mut()?.task = Some(task.clone().unbind());
        Ok(task.unbind())
    }

    /// Resume the coroutine: send it `value` (`None`), or throw `thrown` into it. What it
    /// yields goes to the task; `None` when it returned.
    fn advance(
        slf: &Bound<'_, Self>,
        mut value: Option<Bound<'_, PyAny>>,
        mut thrown: Option<PyErr>,
    ) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        loop {
            // No borrow is held while the request runs: it may call `begin` (a pipelined
            // head read at its end) or `end`.
            let serving = match &slf.try_borrow()?.turn {
                Turn::Serving { coro, context } => {
                    Some((coro.clone_ref(py), context.clone_ref(py)))
                }
                Turn::Between => None,
                Turn::Over => return Err(PyRuntimeError::new_err("the connection's task is over")),
            };
            let Some((coro, context)) = serving else {
                if let Some(err) = thrown.take() {
                    return Self::cancelled_between(slf, err);
                }
                if Self::start_next(slf)? {
                    continue;
                }
                return Self::wait(slf);
            };
            match resume(coro.bind(py), context.bind(py), value.take(), thrown.take()) {
                Resumed::Yielded(awaited) => return Ok(Some(awaited)),
                Resumed::Returned => slf.try_borrow_mut()?.turn = Turn::Between,
                Resumed::Raised(err) => {
                    slf.try_borrow_mut()?.turn = Turn::Over;
                    return Err(err);
                }
            }
        }
    }

    /// Thrown into the task between requests (it was cancelled): the task ends so, and a
    /// request that came meanwhile gets a task of its own.
    fn cancelled_between(slf: &Bound<'_, Self>, err: PyErr) -> PyResult<Option<Py<PyAny>>> {
        let pending = {
            let mut me = slf.try_borrow_mut()?;
            me.turn = Turn::Over;
            me.next.is_some()
        };
        if pending {
            Self::task_for(slf)?;
        }
        Err(err)
    }

    /// Start the request that waits (`Conn._run(scope)` in a fresh copy of the base
    /// context); false when none does.
    fn start_next(slf: &Bound<'_, Self>) -> PyResult<bool> {
        let py = slf.py();
        let mut me = slf.try_borrow_mut()?;
        let Some(scope) = me.next.take() else {
            return Ok(false);
        };
        let Some(run) = me.run.as_ref().map(|run| run.clone_ref(py)) else {
            return Ok(false);
        };
        // Makes the coroutine; none of its code runs until it is sent to.
        let coro = run.bind(py).call1((scope,))?.unbind();
        // SAFETY: `base` is a live context object; a new reference (or NULL with the error
        // set).
        let context =
            unsafe { Bound::from_owned_ptr_or_err(py, ffi::PyContext_Copy(me.base.as_ptr()))? };
        me.turn = Turn::Serving {
            coro,
            context: context.unbind(),
        };
        Ok(true)
    }

    /// Nothing to serve: wait for the next request (a fresh future yielded to the task), or
    /// return when the connection is gone — and with it what refers back to the connection.
    fn wait(slf: &Bound<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        let py = slf.py();
        let mut me = slf.try_borrow_mut()?;
        if me.closing {
            me.turn = Turn::Over;
            me.run = None;
            me.task = None;
            return Ok(None);
        }
        let future = me
            .event_loop
            .bind(py)
            .call_method0(pyo3::intern!(py, "create_future"))?;
        // What `await future` sets before it yields the future to the task (asyncio takes a
        // future yielded without it for a `yield` in place of `yield from`).
        future.setattr(pyo3::intern!(py, "_asyncio_future_blocking"), true)?;
        let future = future.unbind();
        me.waiting = Some(future.clone_ref(py));
        Ok(Some(future))
    }
}

#[pymethods]
impl Requests {
    /// The next request's head is whole (`Conn.read`): serve `scope`. A task waiting
    /// between requests is woken (it starts the request at its next step); otherwise the
    /// request is started when the one being served returns, or at the new task's first
    /// step. Returns the connection's task.
    pub(super) fn begin(slf: &Bound<'_, Self>, scope: Py<PyAny>) -> PyResult<Py<PyAny>> {
        let py = slf.py();
        // The task first, the scope after: a task factory that runs a task's first step at
        // once (Python 3.12's eager tasks) then finds nothing to serve and waits, and the
        // request never runs inside this call, before the caller has marked it begun.
        let task = Self::task_for(slf)?;
        let mut me = slf.try_borrow_mut()?;
        me.next = Some(scope);
        me.wire.bind(py).try_borrow()?.shown_as(task.bind(py));
        let Some(future) = me.waiting.take() else {
            return Ok(task);
        };
        drop(me);
        wake(future.bind(py))?;
        Ok(task)
    }

    /// The connection closed (`Conn._end`): the task returns once its request has, or now if
    /// it waits between requests.
    fn end(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let mut me = slf.try_borrow_mut()?;
        me.closing = true;
        me.next = None;
        let Some(future) = me.waiting.take() else {
            return Ok(());
        };
        drop(me);
        wake(future.bind(py))
    }

    /// The connection's task (None before its first request and once it closed): what
    /// `Conn` cancels after the disconnect grace, and what a dump walks down.
    #[getter]
    fn task(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        self.task.as_ref().map(|task| task.clone_ref(py))
    }

    /// The request being served's coroutine, for a dump's walk down the awaited chain
    /// (asgi_loop.py's `stacks`).
    #[getter]
    fn cr_await(&self, py: Python<'_>) -> Option<Py<PyAny>> {
        match &self.turn {
            Turn::Serving { coro, .. } => Some(coro.clone_ref(py)),
            _ => None,
        }
    }

    /// No frame of its own (it is not Python code).
    #[getter]
    fn cr_frame(&self) -> Option<Py<PyAny>> {
        None
    }

    // The coroutine protocol (`collections.abc.Coroutine`), as `Task` drives it.

    fn __await__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__(slf: &Bound<'_, Self>) -> PyResult<Option<Py<PyAny>>> {
        Self::advance(slf, None, None)
    }

    fn send(slf: &Bound<'_, Self>, value: Bound<'_, PyAny>) -> PyResult<Py<PyAny>> {
        Self::advance(slf, Some(value), None)?.ok_or_else(|| PyStopIteration::new_err(()))
    }

    #[pyo3(signature = (kind, value=None, _traceback=None))]
    fn throw(
        slf: &Bound<'_, Self>,
        kind: &Bound<'_, PyAny>,
        value: Option<&Bound<'_, PyAny>>,
        _traceback: Option<&Bound<'_, PyAny>>,
    ) -> PyResult<Py<PyAny>> {
        let err = PyErr::from_value(value.filter(|v| !v.is_none()).unwrap_or(kind).clone());
        Self::advance(slf, None, Some(err))?.ok_or_else(|| PyStopIteration::new_err(()))
    }

    /// `coroutine.close`: the request being served (if any) is closed with it.
    fn close(slf: &Bound<'_, Self>) -> PyResult<()> {
        let py = slf.py();
        let turn = std::mem::replace(&mut slf.try_borrow_mut()?.turn, Turn::Over);
        if let Turn::Serving { coro, .. } = turn {
            coro.bind(py).call_method0(pyo3::intern!(py, "close"))?;
        }
        Ok(())
    }

    fn __traverse__(&self, visit: PyVisit<'_>) -> Result<(), PyTraverseError> {
        visit.call(&self.run)?;
        visit.call(&self.wire)?;
        visit.call(&self.next)?;
        visit.call(&self.waiting)?;
        visit.call(&self.task)?;
        if let Turn::Serving { coro, context } = &self.turn {
            visit.call(coro)?;
            visit.call(context)?;
        }
        Ok(())
    }

    fn __clear__(&mut self) {
        self.run = None;
        self.next = None;
        self.waiting = None;
        self.task = None;
        self.turn = Turn::Over;
    }
}

/// Settle the future the task waits on (its callback, the task's wake-up, is scheduled for
/// the loop's next turn); one already settled (the task was cancelled while it waited) is
/// left as it is.
fn wake(future: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = future.py();
    if future
        .call_method0(pyo3::intern!(py, "done"))?
        .is_truthy()?
    {
        return Ok(());
    }
    future.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
    Ok(())
}
