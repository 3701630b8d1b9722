//! `start_response` and the `write` callable it returns (PEP 3333 "The start_response()
//! Callable"), over the worker's [`ResponseSink`].
//!
//! Status and headers are validated before anything is stored, so malformed bytes from the app
//! never reach the sink. The head goes out just before the first non-empty body bytes, or at
//! the end for an empty body (PEP 3333 "Buffering and Streaming").

use std::io;
use std::marker::PhantomData;
use std::os::fd::RawFd;
use std::ptr::NonNull;
use std::sync::{Mutex, MutexGuard};

use pyo3::exceptions::{PyAssertionError, PyOSError, PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBytes, PyString};

use super::{AppError, HeaderPair, ResponseSink};

/// The worker's sink, with its borrow's lifetime erased.
struct SinkPtr(NonNull<dyn ResponseSink>);

// SAFETY: the pointee is `ResponseSink: Send`. The pointer is only dereferenced with the state's
// mutex held, and `Responder` clears it before the borrow it came from ends.
unsafe impl Send for SinkPtr {}

/// A validated status line, e.g. `200 OK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Status {
    pub line: String,
    pub code: u16,
}

/// Why body bytes could not be sent.
#[derive(Debug)]
pub(crate) enum SendError {
    /// Body bytes before `start_response` (PEP 3333 requires it first).
    NoStartResponse,
    /// The request is over; the sink is gone.
    Closed,
    /// sendfile is not possible on this connection.
    Unsupported,
    /// The client went away.
    Io(io::Error),
}

impl SendError {
    pub(crate) fn into_app_error(self) -> AppError {
        match self {
            SendError::NoStartResponse => AppError::NoStartResponse,
            SendError::Closed => {
                AppError::ClientGone(io::Error::other("response already complete"))
            }
            SendError::Unsupported => AppError::ClientGone(io::ErrorKind::Unsupported.into()),
            SendError::Io(err) => AppError::ClientGone(err),
        }
    }
}

struct ResponseState {
    /// `None` once `App::call` has returned.
    sink: Option<SinkPtr>,
    status: Option<Status>,
    headers: Vec<HeaderPair>,
    /// The app's Content-Length, which bounds a sendfile.
    content_length: Option<u64>,
    /// Body bytes handed to the sink (Gunicorn's `resp.sent`).
    sent: u64,
    /// An invalid `start_response` or a failed `write()` seen from Python; reported even if
    /// the app catches the exception it raised.
    error: Option<AppError>,
}

impl ResponseState {
    fn sink(&mut self) -> Result<&mut dyn ResponseSink, SendError> {
        let ptr = self.sink.as_mut().ok_or(SendError::Closed)?;
        // SAFETY: live while Some (Responder's contract); the mutex makes the access exclusive.
        Ok(unsafe { ptr.0.as_mut() })
    }

    fn started(&mut self) -> bool {
        self.sink().is_ok_and(|sink| sink.started())
    }

    /// Send the head if it has not gone out yet.
    fn start(&mut self) -> Result<(), SendError> {
        let Some(ptr) = self.sink.as_mut() else {
            return Err(SendError::Closed);
        };
        // SAFETY: as in `sink()`; a separate borrow so status and headers can be read.
        let sink = unsafe { ptr.0.as_mut() };
        if sink.started() {
            return Ok(());
        }
        let status = self.status.as_ref().ok_or(SendError::NoStartResponse)?;
        sink.start(&status.line, &self.headers, self.content_length)
            .map_err(SendError::Io)
    }

    fn write(&mut self, data: &[u8]) -> Result<(), SendError> {
        self.start()?;
        self.sink()?.write(data).map_err(SendError::Io)?;
        self.sent += data.len() as u64;
        Ok(())
    }

    fn sendfile(&mut self, fd: RawFd, offset: u64) -> Result<(), SendError> {
        self.start()?;
        let count = self.content_length;
        match self.sink()?.sendfile(fd, offset, count) {
            Ok(n) => {
                self.sent += n;
                Ok(())
            }
            Err(err) if err.kind() == io::ErrorKind::Unsupported => Err(SendError::Unsupported),
            Err(err) => Err(SendError::Io(err)),
        }
    }

    fn finish(&mut self) -> Result<(), SendError> {
        self.start()?;
        self.sink()?.finish().map_err(SendError::Io)
    }

    fn pending(&mut self) -> bool {
        self.sink().is_ok_and(|sink| sink.pending())
    }

    fn drain(&mut self) -> Result<(), SendError> {
        self.sink()?.drain().map_err(SendError::Io)
    }
}

/// Run a sink operation with the GIL held — it never waits for the client — then, if the
/// client has not taken everything yet, wait for it with the GIL released. Keeping the GIL
/// for the usual write that fits the socket spares a hand-over to another thread and the wait
/// to get it back in the middle of the request.
fn send_then_drain<R>(
    py: Python<'_>,
    state: &Mutex<ResponseState>,
    op: impl FnOnce(&mut ResponseState) -> Result<R, SendError>,
) -> Result<R, SendError> {
    let lock = || state.lock().unwrap_or_else(|e| e.into_inner());
    let (result, pending) = {
        let mut guard = lock();
        let result = op(&mut guard);
        let pending = result.is_ok() && guard.pending();
        (result, pending)
    };
    let value = result?;
    if pending {
        super::blocking(py, || lock().drain())?;
    }
    Ok(value)
}

/// The `start_response` callable; its `write` method is PEP 3333's `write(data)`.
#[pyclass(frozen, module = "gunicorn_rs", name = "StartResponse")]
pub struct StartResponse {
    state: Mutex<ResponseState>,
}

impl StartResponse {
    fn lock(&self) -> MutexGuard<'_, ResponseState> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }
}

#[pymethods]
impl StartResponse {
    #[pyo3(signature = (status, headers, exc_info=None))]
    fn __call__<'py>(
        slf: &Bound<'py, Self>,
        status: &Bound<'py, PyAny>,
        headers: &Bound<'py, PyAny>,
        exc_info: Option<&Bound<'py, PyAny>>,
    ) -> PyResult<Bound<'py, PyAny>> {
        let this = slf.get();
        let exc_info = match exc_info {
            Some(exc_info) if exc_info.is_truthy()? => Some(exc_info),
            _ => None,
        };
        match exc_info {
            // PEP 3333: with exc_info, replace the status unless the head is already out; then
            // re-raise the app's exception so the server can abort the response.
            Some(exc_info) if this.lock().started() => {
                return Err(PyErr::from_value(exc_info.get_item(1)?));
            }
            None if this.lock().status.is_some() => {
                return Err(PyAssertionError::new_err("Response headers already set!"));
            }
            _ => {}
        }
        let parsed = super::validate::status(status)
            .and_then(|s| Ok((s, super::validate::headers(headers)?)));
        let mut state = this.lock();
        match parsed {
            Ok((status, (headers, content_length))) => {
                state.status = Some(status);
                state.headers = headers;
                state.content_length = content_length;
                if matches!(state.error, Some(AppError::InvalidResponse(_))) {
                    state.error = None;
                }
            }
            Err(invalid) => {
                state
                    .error
                    .get_or_insert(AppError::InvalidResponse(invalid.message().to_owned()));
                return Err(invalid.into());
            }
        }
        drop(state);
        static WRITE: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        super::method::bound(slf.as_any(), &WRITE, "write")
    }

    /// `environ['wsgi.early_hints'](headers)`: a `103 Early Hints` interim response with
    /// these `(name, value)` pairs, validated like response headers. Skipped on HTTP/1.0 and
    /// once the response has started (Gunicorn 25+).
    fn early_hints(&self, py: Python<'_>, headers: &Bound<'_, PyAny>) -> PyResult<()> {
        let (headers, _) = super::validate::headers(headers).map_err(PyErr::from)?;
        let sent = super::blocking(py, || {
            let mut state = self.lock();
            state
                .sink()
                .map_err(|_| io::Error::other("response already complete"))?
                .interim(103, &headers)
        });
        sent.map_err(|err| PyOSError::new_err(err.to_string()))
    }

    /// PEP 3333's imperative `write(data)`: sends the head if needed, then `data`, before
    /// returning.
    fn write(&self, py: Python<'_>, data: &Bound<'_, PyAny>) -> PyResult<()> {
        let Ok(bytes) = data.cast::<PyBytes>() else {
            let kind = data.get_type().name()?.to_string();
            return Err(PyTypeError::new_err(format!(
                "write() argument must be bytes, not {kind}{}",
                super::bytes_hint(&kind, "write(text.encode())", "write(b\"Hello\")")
            )));
        };
        let data = bytes.as_bytes();
        if data.is_empty() {
            return Ok(());
        }
        match send_then_drain(py, &self.state, |state| state.write(data)) {
            Ok(()) => Ok(()),
            Err(SendError::NoStartResponse) => {
                Err(PyAssertionError::new_err("write() before start_response()"))
            }
            Err(SendError::Io(err)) => {
                let raised = PyOSError::new_err(err.to_string());
                self.lock().error.get_or_insert(AppError::ClientGone(err));
                Err(raised)
            }
            Err(_) => Err(PyValueError::new_err(
                "write() after the response was complete",
            )),
        }
    }
}

/// Owns the `start_response` object for one request and keeps the worker's sink reachable
/// from it; dropping it cuts the object off from the sink (also on unwind).
pub(crate) struct Responder<'a> {
    obj: Py<StartResponse>,
    // Ties the guard to the sink's borrow (the type itself stays Sync for `detach`).
    _sink: PhantomData<&'a mut ()>,
}

impl<'a> Responder<'a> {
    pub(crate) fn new(py: Python<'_>, sink: &'a mut dyn ResponseSink) -> PyResult<Responder<'a>> {
        let ptr: NonNull<dyn ResponseSink + 'a> = NonNull::from(sink);
        // SAFETY: only the trait object's lifetime bound changes (same fat-pointer layout).
        // The pointer is cleared in `Drop` before `'a` ends, and never used after.
        let ptr: NonNull<dyn ResponseSink + 'static> = unsafe { std::mem::transmute(ptr) };
        let state = ResponseState {
            sink: Some(SinkPtr(ptr)),
            status: None,
            headers: Vec::new(),
            content_length: None,
            sent: 0,
            error: None,
        };
        let obj = Py::new(
            py,
            StartResponse {
                state: Mutex::new(state),
            },
        )?;
        Ok(Responder {
            obj,
            _sink: PhantomData,
        })
    }

    pub(crate) fn object<'py>(&self, py: Python<'py>) -> &Bound<'py, StartResponse> {
        self.obj.bind(py)
    }

    /// `wsgi.early_hints`: this request's `StartResponse.early_hints`, bound.
    pub(crate) fn early_hints<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        static EARLY_HINTS: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
        super::method::bound(self.obj.bind(py).as_any(), &EARLY_HINTS, "early_hints")
    }

    fn lock(&self) -> MutexGuard<'_, ResponseState> {
        self.obj.get().lock()
    }

    pub(crate) fn has_status(&self) -> bool {
        self.lock().status.is_some()
    }

    /// Send one body chunk (and the head first if needed).
    pub(crate) fn send(&self, py: Python<'_>, data: &[u8]) -> Result<(), AppError> {
        send_then_drain(py, &self.obj.get().state, |state| state.write(data))
            .map_err(SendError::into_app_error)
    }

    pub(crate) fn sendfile(&self, py: Python<'_>, fd: RawFd, offset: u64) -> Result<(), SendError> {
        super::blocking(py, || self.lock().sendfile(fd, offset))
    }

    /// End of the body: the head if it never went out (empty body), then the sink's finish.
    pub(crate) fn finish(&self, py: Python<'_>) -> Result<(), AppError> {
        send_then_drain(py, &self.obj.get().state, ResponseState::finish)
            .map_err(SendError::into_app_error)
    }

    /// The error recorded from the app's own calls (invalid status/header, failed write()).
    pub(crate) fn take_error(&self) -> Option<AppError> {
        self.lock().error.take()
    }

    /// The status code and headers the app set, for the access log.
    /// Taken, not copied: called once, when the app and the hooks are done with them.
    pub(crate) fn status_and_headers(&self) -> (Option<u16>, Vec<HeaderPair>) {
        let mut state = self.lock();
        (
            state.status.as_ref().map(|s| s.code),
            std::mem::take(&mut state.headers),
        )
    }
}

/// The response as it stood when the app was done (for `post_request`'s `resp`).
pub(crate) struct SentResponse {
    pub status: Option<Status>,
    pub headers: Vec<HeaderPair>,
    pub sent: u64,
    pub content_length: Option<u64>,
    pub headers_sent: bool,
}

impl Responder<'_> {
    pub(crate) fn sent_response(&self) -> SentResponse {
        let mut state = self.lock();
        SentResponse {
            status: state.status.clone(),
            headers: state.headers.clone(),
            sent: state.sent,
            content_length: state.content_length,
            headers_sent: state.started(),
        }
    }
}

impl Drop for Responder<'_> {
    fn drop(&mut self) {
        self.lock().sink = None;
    }
}

/// `str` check shared by the validators: PEP 3333 "native strings" for status and headers.
pub(crate) fn native_str<'a, 'py>(
    obj: &'a Bound<'py, PyAny>,
    what: &str,
) -> Result<&'a Bound<'py, PyString>, String> {
    obj.cast::<PyString>().map_err(|_| {
        let kind = obj
            .get_type()
            .name()
            .map_or_else(|_| "?".to_owned(), |n| n.to_string());
        format!("{what} must be str, not {kind}")
    })
}
