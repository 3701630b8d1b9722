//! One step of a request's coroutine for its connection's task (requests.rs), in the
//! request's own context: what a task does for its coroutine, below pyo3.

use pyo3::exceptions::PyStopIteration;
use pyo3::ffi;
use pyo3::prelude::*;

/// How a resumed request coroutine came back.
pub(super) enum Resumed {
    Yielded(Py<PyAny>),
    Returned,
    Raised(PyErr),
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
