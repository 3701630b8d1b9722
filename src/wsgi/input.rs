//! `wsgi.input`: the request body as a Python file-like object (PEP 3333 "Input and Error
//! Streams": `read(size)`, `readline(limit)`, `readlines(hint)`, `__iter__`).
//!
//! It streams from the worker's [`BodyRead`] through a bounded buffer, so a 1 GiB upload never
//! sits in memory unless the app asks for all of it at once. Reads block on the socket, so they
//! run detached from the interpreter. A body error raises [`RequestBodyError`] (an `OSError`) in
//! the app and is also recorded, so the worker answers 400 or closes even if the app swallows it.

use std::marker::PhantomData;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList};

use super::{BodyError, BodyRead};

/// How much is read from the socket at a time, and so the most buffered beyond what the app
/// asked for.
const CHUNK: usize = 64 * 1024;

pyo3::create_exception!(
    gunicorn_rs,
    RequestBodyError,
    PyOSError,
    "Reading the request body failed (bad framing, or the client went away)."
);

/// The worker's body reader, with its borrow's lifetime erased.
struct ReaderPtr(NonNull<dyn BodyRead>);

// SAFETY: the pointee is `BodyRead: Send`. The pointer is only dereferenced with the state's
// mutex held, and `InputGuard` clears it before the borrow it came from ends.
unsafe impl Send for ReaderPtr {}

/// Why a read could not return data.
enum ReadFailure {
    /// The request is over: the reader is gone.
    Closed,
    /// The body failed now or earlier; the message is repeated to every later read.
    Body(String),
}

impl From<ReadFailure> for PyErr {
    fn from(failure: ReadFailure) -> PyErr {
        match failure {
            ReadFailure::Closed => PyValueError::new_err("I/O operation on closed file."),
            ReadFailure::Body(msg) => RequestBodyError::new_err(msg),
        }
    }
}

struct InputState {
    /// `None` once `App::call` has returned.
    reader: Option<ReaderPtr>,
    /// Bytes read from the socket and not yet given to the app: `buf[pos..]`.
    buf: Vec<u8>,
    pos: usize,
    eof: bool,
    /// The first body error, for `App::call` to report.
    error: Option<BodyError>,
    failed: Option<String>,
}

impl InputState {
    fn available(&self) -> &[u8] {
        &self.buf[self.pos..]
    }

    /// Read one more chunk into the buffer. `Ok(false)` at the end of the body.
    fn fill(&mut self) -> Result<bool, ReadFailure> {
        if let Some(msg) = &self.failed {
            return Err(ReadFailure::Body(msg.clone()));
        }
        if self.eof {
            return Ok(false);
        }
        let Some(reader) = self.reader.as_mut() else {
            return Err(ReadFailure::Closed);
        };
        self.buf.drain(..self.pos);
        self.pos = 0;
        let old = self.buf.len();
        self.buf.resize(old + CHUNK, 0);
        // SAFETY: the pointer is live while `reader` is Some (InputGuard's contract) and the
        // mutex around this state gives us exclusive access to it.
        let result = unsafe { reader.0.as_mut() }.read(&mut self.buf[old..]);
        let n = result.as_ref().map_or(0, |&n| n.min(CHUNK));
        self.buf.truncate(old + n);
        match result {
            Ok(0) => {
                self.eof = true;
                Ok(false)
            }
            Ok(_) => Ok(true),
            Err(err) => {
                let msg = err.to_string();
                self.failed = Some(msg.clone());
                self.error.get_or_insert(err);
                Err(ReadFailure::Body(msg))
            }
        }
    }

    fn take(&mut self, n: usize) -> Vec<u8> {
        let n = n.min(self.available().len());
        let out = self.available()[..n].to_vec();
        self.pos += n;
        out
    }

    fn check_open(&self) -> Result<(), ReadFailure> {
        match self.reader {
            Some(_) => Ok(()),
            None => Err(ReadFailure::Closed),
        }
    }

    /// Up to `size` bytes (fewer only at the end of the body); everything when `None`.
    fn read(&mut self, size: Option<usize>) -> Result<Vec<u8>, ReadFailure> {
        self.check_open()?;
        let want = size.unwrap_or(usize::MAX);
        while self.available().len() < want && self.fill()? {}
        Ok(self.take(want))
    }

    /// One line including its `\n`, at most `limit` bytes.
    fn readline(&mut self, limit: Option<usize>) -> Result<Vec<u8>, ReadFailure> {
        self.check_open()?;
        let limit = limit.unwrap_or(usize::MAX);
        let mut scanned = 0;
        loop {
            let avail = self.available();
            let end = avail.len().min(limit);
            if let Some(i) = memchr::memchr(b'\n', &avail[scanned..end]) {
                return Ok(self.take(scanned + i + 1));
            }
            if end == limit {
                return Ok(self.take(limit));
            }
            scanned = end;
            if !self.fill()? {
                return Ok(self.take(usize::MAX));
            }
        }
    }
}

/// The `wsgi.input` object.
#[pyclass(frozen, module = "gunicorn_rs", name = "Body")]
pub struct Input {
    state: Mutex<InputState>,
}

impl Input {
    fn lock(&self) -> MutexGuard<'_, InputState> {
        // A panic while reading leaves plain bytes behind, nothing half-updated that matters.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `None` and negative sizes mean "no limit", as for `io` streams.
fn limit(size: Option<isize>) -> Option<usize> {
    size.and_then(|n| usize::try_from(n).ok())
}

#[pymethods]
impl Input {
    #[pyo3(signature = (size=None))]
    fn read<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        // Detached: the read may block on the client, and other Python threads must run.
        let data = super::blocking(py, || self.lock().read(limit(size)))?;
        Ok(PyBytes::new(py, &data))
    }

    #[pyo3(signature = (size=None))]
    fn readline<'py>(&self, py: Python<'py>, size: Option<isize>) -> PyResult<Bound<'py, PyBytes>> {
        let data = super::blocking(py, || self.lock().readline(limit(size)))?;
        Ok(PyBytes::new(py, &data))
    }

    /// Lines until their total size reaches `hint` (all lines when `hint` <= 0).
    #[pyo3(signature = (hint=None))]
    fn readlines<'py>(&self, py: Python<'py>, hint: Option<isize>) -> PyResult<Bound<'py, PyList>> {
        let hint = limit(hint).filter(|&h| h > 0).unwrap_or(usize::MAX);
        let lines = PyList::empty(py);
        let mut total = 0;
        while total < hint {
            let line = super::blocking(py, || self.lock().readline(None))?;
            if line.is_empty() {
                break;
            }
            total += line.len();
            lines.append(PyBytes::new(py, &line))?;
        }
        Ok(lines)
    }

    fn __iter__(slf: Bound<'_, Self>) -> Bound<'_, Self> {
        slf
    }

    fn __next__<'py>(&self, py: Python<'py>) -> PyResult<Option<Bound<'py, PyBytes>>> {
        let line = super::blocking(py, || self.lock().readline(None))?;
        Ok((!line.is_empty()).then(|| PyBytes::new(py, &line)))
    }
}

/// Keeps the worker's reader reachable from a `wsgi.input` object for one request.
///
/// The guard borrows the reader for `'a`; dropping it (at the latest when `App::call` returns,
/// also on unwind) cuts the object off, so an app that kept `wsgi.input` gets `ValueError`
/// instead of a dangling pointer.
pub(crate) struct InputGuard<'a> {
    input: Py<Input>,
    // Ties the guard to the reader's borrow (the type itself stays Sync).
    _reader: PhantomData<&'a mut ()>,
}

impl<'a> InputGuard<'a> {
    pub(crate) fn new(py: Python<'_>, reader: &'a mut dyn BodyRead) -> PyResult<InputGuard<'a>> {
        let ptr: NonNull<dyn BodyRead + 'a> = NonNull::from(reader);
        // SAFETY: only the trait object's lifetime bound changes (same fat-pointer layout).
        // The pointer is cleared in `Drop` before `'a` ends, and never used after.
        let ptr: NonNull<dyn BodyRead + 'static> = unsafe { std::mem::transmute(ptr) };
        let state = InputState {
            reader: Some(ReaderPtr(ptr)),
            buf: Vec::new(),
            pos: 0,
            eof: false,
            error: None,
            failed: None,
        };
        let input = Py::new(
            py,
            Input {
                state: Mutex::new(state),
            },
        )?;
        Ok(InputGuard {
            input,
            _reader: PhantomData,
        })
    }

    pub(crate) fn object<'py>(&self, py: Python<'py>) -> &Bound<'py, Input> {
        self.input.bind(py)
    }

    /// The body error the app ran into, if any (reported even if the app caught it).
    pub(crate) fn take_error(&self) -> Option<BodyError> {
        self.input.get().lock().error.take()
    }
}

impl Drop for InputGuard<'_> {
    fn drop(&mut self) {
        // Waits for a read in progress on another thread (it holds the mutex, not the GIL).
        self.input.get().lock().reader = None;
    }
}
