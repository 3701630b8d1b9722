//! What the tornado kind asks of a connection's `Wire` beyond HTTP: a refusal by tornado's
//! own rules, its `101 Switching Protocols`, handing the socket over (`detach`), and for a
//! WSGI app in tornado's `WSGIContainer`, the environ every WSGI kind gives (`wsgi::environ`)
//! and its `wsgi.early_hints`.

use std::cell::OnceCell;

use pyo3::exceptions::{PyOSError, PyRuntimeError};
use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyString};

use super::fields::{sendable, sendable_field};
use super::wire::Wire;
use super::with_service;
use crate::http::response::{self, Framing};
use crate::wsgi::environ::{EnvironCache, Streams};
use crate::wsgi::errors::ErrorStream;
use crate::wsgi::file_wrapper::FileWrapper;
use crate::wsgi::ConnInfo;

/// What a WSGI app's environ needs under tornado, made once per worker: the templates and
/// header keys of the environ builder, and the `wsgi.errors` stream.
#[derive(Default)]
pub(super) struct WsgiEnviron {
    cache: EnvironCache,
    errors: OnceCell<Py<ErrorStream>>,
}

#[pymethods]
impl Wire {
    /// Is the connection TLS (its session in Rust, so it cannot be detached)?
    #[getter]
    fn tls(&self) -> bool {
        self.conn.as_ref().is_some_and(|c| c.stream.is_tls())
    }

    /// tornado's `write_headers` for any response but a 101: the status and its reason
    /// phrase (the app's: a WSGI app's own words reach the client), the fields as tornado
    /// holds them (`HTTPHeaders.get_all()`: text pairs) less the `Server` field it gives
    /// every response (`default_server`: the response names this server), and the first
    /// body bytes. The bytes the socket has not taken.
    fn respond(
        &mut self,
        status: u16,
        reason: &str,
        fields: &Bound<'_, PyAny>,
        default_server: &str,
        chunk: &[u8],
    ) -> PyResult<usize> {
        let mut headers = Vec::new();
        for pair in fields.try_iter()? {
            let (name, value): (Bound<'_, PyString>, Bound<'_, PyString>) = pair?.extract()?;
            let name = name.to_str()?;
            if name == "Server" && value.to_str().is_ok_and(|v| v == default_server) {
                continue;
            }
            let value = latin1(&value)?;
            if !response::is_sendable_field(name.as_bytes(), &value) {
                return Err(pyo3::exceptions::PyValueError::new_err(format!(
                    "Invalid HTTP header: {name:?}: {:?}",
                    String::from_utf8_lossy(&value)
                )));
            }
            headers.push((name.to_string(), value));
        }
        self.begin(status, headers, false)?;
        if let Some(ex) = self.exchange.as_mut() {
            ex.reason = Some(reason_phrase(reason)?);
        }
        self.write(chunk, true)
    }

    /// The app's framework refused the request (tornado's `HTTPInputError`): `status` with
    /// the error page and a close, when nothing of the response went out.
    fn refuse(&mut self, status: u16, reason: &str) -> PyResult<usize> {
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(0);
        };
        ex.head.must_close = true;
        if ex.framing.is_none() {
            ex.status = status;
            ex.framing = Some(Framing::NoBody);
            ex.complete = true;
            let page = response::error_page(status, reason, reason);
            let page = response::for_request(&page, &ex.head.method);
            ex.sent = response::page_body_len(page);
            self.out.extend_from_slice(page);
        }
        self.push()
    }

    /// tornado's `101 Switching Protocols` (RFC 9110 §15.2.2), its fields as the app set
    /// them (`Upgrade`, `Connection`, `Sec-WebSocket-Accept`): the connection then carries
    /// another protocol, so this is its last response. The bytes the socket has not taken.
    fn switch_protocols(&mut self, headers: &Bound<'_, PyAny>) -> PyResult<usize> {
        let date = self.shared.date();
        let Some(ex) = self.exchange.as_mut() else {
            return Err(PyOSError::new_err("no request"));
        };
        if ex.status != 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "the response has started",
            ));
        }
        ex.status = 101;
        ex.framing = Some(Framing::NoBody);
        ex.complete = true;
        ex.head.must_close = true;
        self.out.extend_from_slice(
            b"HTTP/1.1 101 Switching Protocols\r\nServer: gunicorn-rs\r\nDate: ",
        );
        self.out.extend_from_slice(date.as_bytes());
        self.out.extend_from_slice(b"\r\n");
        ex.headers = sendable(headers)?;
        for (name, value) in &ex.headers {
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        self.out.extend_from_slice(b"\r\n");
        self.push()
    }

    /// Hand the socket to the app (tornado's `HTTPConnection.detach`, after a 101): the
    /// descriptor, the bytes read past the head and the response bytes not yet sent, both for
    /// the app's stream to carry on with. The connection stays counted open until `close`.
    fn detach<'py>(
        &mut self,
        py: Python<'py>,
    ) -> PyResult<(i32, Bound<'py, PyBytes>, Bound<'py, PyBytes>)> {
        let _ = self.push();
        if self.conn.as_ref().is_some_and(|c| c.stream.is_tls()) {
            // The TLS session lives here, in Rust: tornado's IOStream would speak plaintext.
            return Err(PyOSError::new_err(
                "a TLS connection cannot be detached (tornado's WebSocketHandler under \
                 --certfile): terminate TLS in front of gunicorn-rs for it",
            ));
        }
        let Some(conn) = self.conn.take() else {
            return Err(PyOSError::new_err("the connection is closed"));
        };
        let unread = match self.exchange.as_mut() {
            Some(ex) => ex.buf.split_off(ex.used.min(ex.buf.len())),
            None => conn.buffered().to_vec(),
        };
        let pending = std::mem::take(&mut self.out);
        self.detached = true;
        self.fd = -1;
        let Some(fd) = conn.stream.into_fd() else {
            return Err(PyOSError::new_err("a TLS connection cannot be detached"));
        };
        let fd = std::os::fd::IntoRawFd::into_raw_fd(fd);
        Ok((fd, PyBytes::new(py, &unread), PyBytes::new(py, &pending)))
    }
}

#[pymethods]
impl Wire {
    /// The WSGI environ of the request being served, for a WSGI app in tornado's
    /// `WSGIContainer` (tornado_bridge.py's `_Container`): made by the builder of every other
    /// WSGI kind from the head the Rust parser read, so the app sees the same keys and values
    /// (PEP 3333; Gunicorn's `wsgi.create`: `RAW_URI`, `REMOTE_PORT`, `SCRIPT_NAME`,
    /// `SERVER_NAME` from the listener…) where tornado's container makes a thinner one.
    /// `input`: the body, which tornado has read whole; `early_hints`: what sends a 103.
    /// A path outside `SCRIPT_NAME` raises (a 500, as under every kind).
    fn environ<'py>(
        &mut self,
        py: Python<'py>,
        input: &Bound<'py, PyAny>,
        early_hints: &Bound<'py, PyAny>,
    ) -> PyResult<Bound<'py, PyDict>> {
        let (Some(ex), Some(conn)) = (self.exchange.as_ref(), self.conn.as_ref()) else {
            return Err(PyOSError::new_err("no request"));
        };
        let Some(info) = with_service(|svc| svc.conn_info(conn, conn.peer)) else {
            return Err(PyOSError::new_err("no worker"));
        };
        // The app runs on the loop's one thread, one request at a time (PEP 3333: it need
        // not be thread-safe).
        let info = ConnInfo {
            multithread: false,
            ..info
        };
        let wsgi = &self.shared.wsgi;
        let errors = match wsgi.errors.get() {
            Some(errors) => errors,
            None => {
                let made = Py::new(py, ErrorStream)?;
                wsgi.errors.get_or_init(|| made)
            }
        };
        let file_wrapper = py.get_type::<FileWrapper>();
        let streams = Streams {
            input,
            errors: errors.bind(py).as_any(),
            file_wrapper: file_wrapper.as_any(),
            early_hints,
        };
        let environ = wsgi
            .cache
            .build(py, &ex.head, &info, &streams)
            .map_err(|e| PyRuntimeError::new_err(e.to_string()))?;
        // Kept for `post_request` and the access log's `{key}e`, which see the environ the
        // app saw under every WSGI kind.
        if let Some(ex) = self.exchange.as_mut() {
            ex.environ = Some(environ.clone().unbind());
        }
        Ok(environ)
    }

    /// `environ['wsgi.early_hints'](headers)` (Gunicorn 25+): a `103 Early Hints` (RFC 8297)
    /// with these `(name, value)` text pairs, ahead of the response that tornado's container
    /// sends once the app returned. Skipped on HTTP/1.0 and once the response began, as
    /// under every kind. The bytes the socket has not taken.
    fn early_hints(&mut self, headers: &Bound<'_, PyAny>) -> PyResult<usize> {
        let mut fields = Vec::new();
        for pair in headers.try_iter()? {
            let (name, value): (Bound<'_, PyString>, Bound<'_, PyString>) = pair?.extract()?;
            fields.push(sendable_field(name.to_str()?.as_bytes(), &latin1(&value)?)?);
        }
        match self.takes_interim(103) {
            true => self.interim(103, &fields),
            false => Ok(self.unsent()),
        }
    }
}

/// A reason phrase that can go on the status line: `*( HTAB / SP / VCHAR / obs-text )` (RFC
/// 9112 §4), sent as UTF-8 as tornado's own server sends it; a control character (CR, LF:
/// a split response) raises `ValueError`, as an invalid field does.
fn reason_phrase(reason: &str) -> PyResult<String> {
    if reason.chars().any(|c| c.is_control() && c != '\t') {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "Invalid HTTP reason phrase: {reason:?}"
        )));
    }
    Ok(reason.to_string())
}

/// A field value as tornado's own server sends it: ISO-8859-1 (tornado's
/// `HTTP1Connection.write_headers` encodes with `latin1`). A character past U+00FF raises
/// what `str.encode` raises there (`UnicodeEncodeError`).
fn latin1(value: &Bound<'_, PyString>) -> PyResult<Vec<u8>> {
    let text = value.to_cow()?;
    if text.is_ascii() {
        return Ok(text.as_bytes().to_vec());
    }
    match text.chars().map(|c| u8::try_from(u32::from(c))).collect() {
        Ok(bytes) => Ok(bytes),
        Err(_) => value.call_method1("encode", ("latin-1",))?.extract(),
    }
}
