//! The two moves of a connection's task (requests.rs) that go below pyo3: one step of a
//! request's coroutine in the request's own context, and the wake-up of the task waiting
//! between requests, called directly instead of scheduled.

use pyo3::exceptions::PyStopIteration;
use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::PyList;

/// How a resumed request coroutine came back.
pub(super) enum Resumed {
    Yielded(Py<PyAny>),
    Returned,
    Raised(PyErr),
}

/// Settle the future the task waits on: its callback (the task's wake-up) called now when
/// `direct`, else scheduled by `set_result` for the loop's next turn. A future already
/// settled (the task was cancelled while it waited) is left as it is.
pub(super) fn wake(future: &Bound<'_, PyAny>, direct: bool) -> PyResult<()> {
    let py = future.py();
    if future
        .call_method0(pyo3::intern!(py, "done"))?
        .is_truthy()?
    {
        return Ok(());
    }
    let taken = match direct {
        true => take_callback(future)?,
        false => None,
    };
    future.call_method1(pyo3::intern!(py, "set_result"), (py.None(),))?;
    let Some((callback, context)) = taken else {
        return Ok(());
    };
    // The task's callback runs in the task's context, as the loop's handle would run it.
    // SAFETY: a live context object (`_callbacks` gives the one the task added); entering
    // raises if it is entered already.
    if unsafe { ffi::PyContext_Enter(context.as_ptr()) } < 0 {
        return Err(PyErr::fetch(py));
    }
    let called = callback.call1((future,));
    // SAFETY: the context entered above is the current one again.
    if unsafe { ffi::PyContext_Exit(context.as_ptr()) } < 0 {
        return Err(PyErr::fetch(py));
    }
    called.map(drop)
}

/// The future's one callback and its context, removed from it; `None` when it has other
/// callbacks or no `_callbacks` (asyncio's futures have had it since Python 3.4).
fn take_callback<'py>(
    future: &Bound<'py, PyAny>,
) -> PyResult<Option<(Bound<'py, PyAny>, Bound<'py, PyAny>)>> {
    let py = future.py();
    let Ok(callbacks) = future.getattr(pyo3::intern!(py, "_callbacks")) else {
        return Ok(None);
    };
    let Ok(callbacks) = callbacks.cast_into::<PyList>() else {
        return Ok(None);
    };
    if callbacks.len() != 1 {
        return Ok(None);
    }
    let entry = callbacks.get_item(0)?;
    let (callback, context) = entry.extract::<(Bound<'py, PyAny>, Bound<'py, PyAny>)>()?;
    if context.is_none() {
        return Ok(None);
    }
    future.call_method1(pyo3::intern!(py, "remove_done_callback"), (&callback,))?;
    Ok(Some((callback, context)))
}

/// Run the request's coroutine one step in its context (entered around the step, as a task
/// enters its own).
pub(super) fn resume(
    coro: &Bound<'_, PyAny>,
    context: &Bound<'_, PyAny>,
    value: Option<Bound<'_, PyAny>>,
    thrown: Option<PyErr>,
) -> Resumed {
    let py = coro.py();
    // SAFETY: a live context object; `PyContext_Enter` raises if it is entered already.
    if unsafe { ffi::PyContext_Enter(context.as_ptr()) } < 0 {
        return Resumed::Raised(PyErr::fetch(py));
    }
    let resumed = match thrown {
        None => send(coro, value),
        Some(err) => match coro.call_method1(pyo3::intern!(py, "throw"), (err.into_value(py),)) {
            Ok(awaited) => Resumed::Yielded(awaited.unbind()),
            Err(e) if e.is_instance_of::<PyStopIteration>(py) => Resumed::Returned,
            Err(e) => Resumed::Raised(e),
        },
    };
    // SAFETY: the context entered above is the current one again: the coroutine's step
    // exits whatever it enters.
    if unsafe { ffi::PyContext_Exit(context.as_ptr()) } < 0 {
        return Resumed::Raised(PyErr::fetch(py));
    }
    resumed
}

/// `coro.send(value)` through `PyIter_Send`, which tells a return from a yield without a
/// `StopIteration` made and caught.
fn send(coro: &Bound<'_, PyAny>, value: Option<Bound<'_, PyAny>>) -> Resumed {
    let py = coro.py();
    let value = value.unwrap_or_else(|| py.None().into_bound(py));
    let mut result: *mut ffi::PyObject = std::ptr::null_mut();
    // SAFETY: `coro` and `value` are live objects; `result` receives a new reference (a
    // yielded value or the return value) unless the call fails.
    let status = unsafe { ffi::PyIter_Send(coro.as_ptr(), value.as_ptr(), &mut result) };
    match status {
        ffi::PySendResult::PYGEN_NEXT => {
            // SAFETY: PYGEN_NEXT gives a new, non-null reference.
            Resumed::Yielded(unsafe { Bound::from_owned_ptr(py, result) }.unbind())
        }
        ffi::PySendResult::PYGEN_RETURN => {
            // SAFETY: PYGEN_RETURN gives a new reference to the return value, dropped here.
            drop(unsafe { Bound::from_owned_ptr(py, result) });
            Resumed::Returned
        }
        ffi::PySendResult::PYGEN_ERROR => Resumed::Raised(PyErr::fetch(py)),
    }
}
