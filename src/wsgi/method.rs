//! A method of one of our pyclasses, bound to an instance per request (`start_response`'s
//! `write`, `wsgi.early_hints`) without an attribute lookup.
//!
//! `obj.attr` on an object without a `__dict__` finds the class's method descriptor and calls
//! its `__get__` (the descriptor protocol, Python's "Descriptor HowTo Guide"). The search cost
//! about 210 instructions a call, twice a request; the descriptor is the same every time, so
//! it is found once and only its `__get__` runs per request: the same bound method, made the
//! same way.

use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

/// `getattr(obj, name)` for a method `name` defined on `obj`'s class (which has no subclasses
/// and no instance dict, so the class's descriptor is what the lookup would find), with the
/// descriptor kept in `descriptor`.
pub(crate) fn bound<'py>(
    obj: &Bound<'py, PyAny>,
    descriptor: &PyOnceLock<Py<PyAny>>,
    name: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let py = obj.py();
    let class: Bound<'py, PyType> = obj.get_type();
    let descr = descriptor.get_or_try_init(py, || class.getattr(name).map(Bound::unbind))?;
    let descr = descr.bind(py);
    // SAFETY: `descr` and `obj` are live objects (held by the lock and by the caller).
    // `tp_descr_get` is read from the descriptor's own type object, as CPython's attribute
    // lookup reads it, and called the way that lookup calls it: `(descr, obj, type(obj))`.
    // It returns a new reference, or NULL with an exception set, which becomes the `PyErr`.
    unsafe {
        let descr_type = pyo3::ffi::Py_TYPE(descr.as_ptr());
        let Some(get) = (*descr_type).tp_descr_get else {
            return obj.getattr(name);
        };
        let ptr = get(descr.as_ptr(), obj.as_ptr(), class.as_ptr());
        Bound::from_owned_ptr_or_err(py, ptr)
    }
}
