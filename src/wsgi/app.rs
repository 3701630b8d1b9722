//! Loading the app (`module:name`, `module`, `module:factory(args)`) and calling it per request.
//!
//! Loading follows Gunicorn's `util.import_app` (the Python half is `import_app.py`, since
//! parsing `factory(args)` is Python's `ast` job). A call builds the environ, runs the app and
//! sends its result through the worker's sink (PEP 3333 "Specification Details"); whatever
//! the app does, the result's `close()` is called and the outcome comes back as data.

use std::ffi::CString;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyModule};

use super::environ::{EnvironCache, Streams};
use super::errors::ErrorStream;
use super::file_wrapper::{self, FileWrapper};
use super::hooks::WorkerHooks;
use super::input::InputGuard;
use super::interpreter::format_exception;
use super::response::Responder;
use super::{AppError, BodyRead, ConnInfo, Outcome, ResponseSink};
use crate::http::RequestHead;

const IMPORT_APP_PY: &str = include_str!("import_app.py");

/// The loaded WSGI callable.
pub struct App {
    app: Py<PyAny>,
    errors: Py<ErrorStream>,
    /// The environ's per-listener templates and header keys.
    environ: EnvironCache,
}

/// Why the app could not be loaded (worker exit code 4, Gunicorn's APP_LOAD_ERROR).
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Gunicorn's wording, e.g. `Failed to find attribute 'x' in 'mod'.`
    #[error("{0}")]
    Message(String),
    /// An exception while importing; the formatted traceback.
    #[error("{0}")]
    Exception(String),
}

fn exception(py: Python<'_>, err: &PyErr) -> AppError {
    AppError::Exception(format_exception(py, err))
}

/// Compile `import_app.py` as a private module.
fn import_helper(py: Python<'_>) -> PyResult<Bound<'_, PyModule>> {
    let code = CString::new(IMPORT_APP_PY)?;
    PyModule::from_code(
        py,
        &code,
        c"gunicorn_rs/import_app.py",
        c"_gunicorn_rs_import_app",
    )
}

impl App {
    /// The app `cfg` names: PasteDeploy's with `--paste`, else imported from `app_uri`.
    /// Needs the interpreter initialised.
    pub fn load_configured(cfg: &crate::config::Config) -> Result<App, LoadError> {
        let uri = cfg.app_uri.as_deref().unwrap_or_default();
        match &cfg.paste_global_conf {
            Some(global_conf) => Self::load_with(|helper| {
                let py = helper.py();
                let conf = pyo3::types::PyDict::new(py);
                for (key, value) in global_conf {
                    conf.set_item(key, value)?;
                }
                helper.getattr("load_paste")?.call1((uri, conf))
            }),
            None => Self::load(uri),
        }
    }

    /// Import the app named by `uri`. Needs the interpreter initialised.
    pub fn load(uri: &str) -> Result<App, LoadError> {
        Self::load_with(|helper| helper.getattr("import_app")?.call1((uri,)))
    }

    /// The app `find` gets from import_app.py; its `AppImportError` is a message for the
    /// user, anything else a traceback.
    fn load_with(
        find: impl for<'py> FnOnce(&Bound<'py, PyModule>) -> PyResult<Bound<'py, PyAny>>,
    ) -> Result<App, LoadError> {
        Python::attach(|py| {
            let as_exception = |err: PyErr| LoadError::Exception(format_exception(py, &err));
            let helper = import_helper(py).map_err(as_exception)?;
            let loaded = find(&helper);
            let app = match loaded {
                Ok(app) => app,
                Err(err) => {
                    let usage = helper
                        .getattr("AppImportError")
                        .is_ok_and(|t| err.matches(py, t).unwrap_or(false));
                    return Err(match usage {
                        true => LoadError::Message(err.value(py).to_string()),
                        false => as_exception(err),
                    });
                }
            };
            let errors = Py::new(py, ErrorStream).map_err(as_exception)?;
            Ok(App {
                app: app.unbind(),
                errors,
                environ: EnvironCache::default(),
            })
        })
    }

    /// The WSGI callable (for the hooks' `worker.wsgi`).
    pub(crate) fn callable(&self) -> &Py<PyAny> {
        &self.app
    }

    /// Run one request through the app.
    pub fn call(
        &self,
        head: &RequestHead,
        conn: &ConnInfo,
        body: &mut dyn BodyRead,
        sink: &mut dyn ResponseSink,
        environ_keys: &[String],
    ) -> Outcome {
        self.call_with_hooks(head, conn, body, sink, environ_keys, None)
    }

    /// Run one request through the app, between the `pre_request` and `post_request` hooks.
    pub fn call_with_hooks(
        &self,
        head: &RequestHead,
        conn: &ConnInfo,
        body: &mut dyn BodyRead,
        sink: &mut dyn ResponseSink,
        environ_keys: &[String],
        hooks: Option<&WorkerHooks>,
    ) -> Outcome {
        Python::attach(|py| {
            let (input, responder) =
                match InputGuard::new(py, body).and_then(|i| Ok((i, Responder::new(py, sink)?))) {
                    Ok(pair) => pair,
                    Err(err) => {
                        return Outcome {
                            error: Some(exception(py, &err)),
                            ..Outcome::default()
                        }
                    }
                };
            let file_wrapper = py.get_type::<FileWrapper>();
            let early_hints = match responder.early_hints(py) {
                Ok(method) => method,
                Err(err) => {
                    return Outcome {
                        error: Some(exception(py, &err)),
                        ..Outcome::default()
                    }
                }
            };
            let streams = Streams {
                input: input.object(py).as_any(),
                errors: self.errors.bind(py).as_any(),
                file_wrapper: file_wrapper.as_any(),
                early_hints: &early_hints,
            };
            let (environ, error) = self.run_hooked(py, head, conn, &streams, &responder, hooks);
            // What the app's own calls ran into outranks the exception it raised because of it.
            let error = input
                .take_error()
                .map(AppError::Body)
                .or_else(|| responder.take_error())
                .or(error);
            let (status, headers) = responder.status_and_headers();
            let environ_values = environ_keys
                .iter()
                .map(|key| lookup(environ.as_ref(), key))
                .collect();
            Outcome {
                status,
                headers,
                environ_values,
                error,
            }
        })
    }

    /// `pre_request`, the environ and the app, then `post_request` (also after errors, as
    /// Gunicorn's `finally`). Returns the environ (if built) and what went wrong.
    fn run_hooked<'py>(
        &self,
        py: Python<'py>,
        head: &RequestHead,
        conn: &ConnInfo,
        streams: &Streams<'_, 'py>,
        responder: &Responder<'_>,
        hooks: Option<&WorkerHooks>,
    ) -> (Option<Bound<'py, PyDict>>, Option<AppError>) {
        let (req, pre) = match hooks {
            Some(hooks) => hooks.pre_request(py, head, conn),
            None => (None, Ok(())),
        };
        let (environ, error) = match pre {
            Err(err) => (None, Some(exception(py, &err))),
            Ok(()) => match self.environ.build(py, head, conn, streams) {
                Ok(environ) => {
                    let error = self.run(py, &environ, responder).err();
                    (Some(environ), error)
                }
                Err(err) => (None, Some(err)),
            },
        };
        if let Some(hooks) = hooks {
            let resp = environ.as_ref().map(|_| responder.sent_response());
            hooks.post_request(py, req.as_ref(), environ.as_ref(), resp);
        }
        (environ, error)
    }

    /// Call the app, send what it returns, and always call the result's `close()`
    /// (PEP 3333: "the server must call close() upon completion", also on error).
    fn run(
        &self,
        py: Python<'_>,
        environ: &Bound<'_, PyDict>,
        responder: &Responder<'_>,
    ) -> Result<(), AppError> {
        let result = self
            .app
            .bind(py)
            .call1((environ, responder.object(py)))
            .map_err(|e| exception(py, &e))?;
        let sent = send_result(py, &result, responder);
        let closed = close_result(&result).map_err(|e| exception(py, &e));
        sent.and(closed)
    }
}

/// Send the app's iterable: the head before the first non-empty chunk, or at the end for an
/// empty body (PEP 3333 "Buffering and Streaming"). A `wsgi.file_wrapper` goes by sendfile
/// when it can.
fn send_result(
    py: Python<'_>,
    result: &Bound<'_, PyAny>,
    responder: &Responder<'_>,
) -> Result<(), AppError> {
    if let Ok(wrapper) = result.cast::<FileWrapper>() {
        if let Some(sent) = file_wrapper::try_sendfile(py, wrapper, responder) {
            return sent;
        }
    }
    for item in result.try_iter().map_err(|e| exception(py, &e))? {
        let item = item.map_err(|e| exception(py, &e))?;
        // PEP 3333 "Unicode Issues": body chunks are bytestrings, never str.
        let Ok(chunk) = item.cast::<PyBytes>() else {
            let kind = item
                .get_type()
                .name()
                .map_or_else(|_| "?".to_owned(), |n| n.to_string());
            return Err(AppError::InvalidResponse(format!(
                "response body items must be bytes, not {kind}{}",
                super::bytes_hint(&kind, "return [text.encode()]", "return [b\"Hello\"]")
            )));
        };
        if !chunk.as_bytes().is_empty() {
            responder.send(py, chunk.as_bytes())?;
        }
    }
    responder.finish(py)
}

fn close_result(result: &Bound<'_, PyAny>) -> PyResult<()> {
    let py = result.py();
    // A plain list or tuple has no close(); asking would build an AttributeError per request.
    if result.is_exact_instance_of::<pyo3::types::PyList>()
        || result.is_exact_instance_of::<pyo3::types::PyTuple>()
    {
        return Ok(());
    }
    if let Some(close) = result.getattr_opt(pyo3::intern!(py, "close"))? {
        close.call0()?;
    }
    Ok(())
}

/// An environ value for the access log's `{key}e` atom, as `str(value)`.
fn lookup(environ: Option<&Bound<'_, PyDict>>, key: &str) -> Option<String> {
    environ_item(environ?, key)
}

/// The environ's `key` for an access log's `%({key}e)s`, as text. Gunicorn looks the atom
/// up without regard to case (its atoms are the environ's keys lower-cased), so
/// `{remote_addr}e` is `REMOTE_ADDR`: an exact key first, else one equal but for case.
pub(crate) fn environ_item(environ: &Bound<'_, PyDict>, key: &str) -> Option<String> {
    let value = match environ.get_item(key).ok()? {
        Some(value) => value,
        None => environ.iter().find_map(|(k, v)| {
            let name = k.cast_into::<pyo3::types::PyString>().ok()?;
            name.to_str().ok()?.eq_ignore_ascii_case(key).then_some(v)
        })?,
    };
    value.str().ok().map(|s| s.to_string())
}
