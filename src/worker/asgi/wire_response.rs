//! The response half of a connection's `Wire`: `http.response.start`, `.body`, `.trailers`
//! and Gunicorn's `.informational`, framed in Rust (RFC 9112 §6–7: a length, chunks, or the
//! close) and written as far as the socket takes them.

use std::rc::Rc;

use pyo3::exceptions::{PyOSError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyDict, PyString};

use super::fields::sendable;
use super::wire::{Exchange, Wire};
use crate::http::response::{self, Framing};

impl Wire {
    /// The response's status and fields (`http.response.start`); the head goes out with the
    /// first body bytes.
    pub(super) fn begin(
        &mut self,
        status: u16,
        headers: Vec<(String, Vec<u8>)>,
        trailers: bool,
    ) -> PyResult<()> {
        let Some(ex) = self.exchange.as_mut() else {
            return Err(PyOSError::new_err("no request"));
        };
        if ex.refused {
            return Err(PyOSError::new_err(
                "the request was refused: the client has gone",
            ));
        }
        if ex.status != 0 {
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "http.response.start sent twice",
            ));
        }
        // RFC 9112 §4: the status code is three digits; anything else is not a status line.
        // A 1xx is interim, never the final answer (RFC 9110 §15.2): sent as one, a client
        // takes the connection as switched (101) or waits on for the response that never
        // comes (`http.response.informational` is the way to send one).
        if !(200..=999).contains(&status) {
            return Err(PyValueError::new_err(format!(
                "Invalid HTTP status code for http.response.start: {status}"
            )));
        }
        check_content_length(&headers)?;
        ex.headers = headers;
        ex.status = status;
        ex.trailers = trailers;
        Ok(())
    }

    /// `http.response.trailers`: the last chunk with the fields, sent to a client that said
    /// `TE: trailers` (RFC 9110 §6.5.1; to others the body just ends).
    pub(super) fn trailers(&mut self, headers: &Bound<'_, PyAny>, more: bool) -> PyResult<usize> {
        let headers = sendable(headers)?;
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(0);
        };
        if ex.framing != Some(Framing::Chunked) || ex.complete {
            ex.complete = true;
            return self.push();
        }
        let accepts = ex.head.headers.iter().any(|(n, v)| {
            n == "TE"
                && String::from_utf8_lossy(v)
                    .split(',')
                    .any(|t| t.trim().eq_ignore_ascii_case("trailers"))
        });
        if ex.trailer_started.is_none() {
            self.out.extend_from_slice(b"0\r\n");
            ex.trailer_started = Some(());
        }
        for (name, value) in headers.iter().filter(|_| accepts) {
            self.out.extend_from_slice(name.as_bytes());
            self.out.extend_from_slice(b": ");
            self.out.extend_from_slice(value);
            self.out.extend_from_slice(b"\r\n");
        }
        if !more {
            self.out.extend_from_slice(b"\r\n");
            ex.complete = true;
        }
        self.push()
    }

    /// Gunicorn's `http.response.informational` (103 Early Hints, RFC 8297): an interim
    /// response before the final one, to HTTP/1.1 clients only (RFC 9110 §15.2).
    pub(super) fn informational(
        &mut self,
        status: u16,
        headers: &Bound<'_, PyAny>,
    ) -> PyResult<usize> {
        if !self.takes_interim(status) {
            return Ok(self.unsent());
        }
        let fields = sendable(headers)?;
        self.interim(status, &fields)
    }

    /// May an interim response go out now? To an HTTP/1.1 client (RFC 9110 §15.2: not to
    /// HTTP/1.0, nor behind uwsgi), before the final response began.
    pub(super) fn takes_interim(&self, status: u16) -> bool {
        self.exchange.as_ref().is_some_and(|ex| {
            ex.head.may_chunk() && ex.framing.is_none() && (100..200).contains(&status)
        })
    }

    /// An interim response with `fields` (already checked sendable), ahead of the final one.
    pub(super) fn interim(&mut self, status: u16, fields: &[(String, Vec<u8>)]) -> PyResult<usize> {
        response::write_interim(&mut self.out, status, fields);
        self.push()
    }

    /// The response head, framed by what the app said and, for a body sent whole, its size.
    fn write_head(&mut self, first_body: usize, more: bool) {
        let shared = Rc::clone(&self.shared);
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        let length = response_length(ex, first_body, more);
        let is_head = ex.head.method == "HEAD";
        let framing = Framing::decide(is_head, ex.head.may_chunk(), ex.status, length);
        ex.remaining = length.unwrap_or(u64::MAX);
        ex.framing = Some(framing);
        // RFC 9110 §10.1.1: a final answer to a request that expected 100-continue, its body
        // neither asked for nor read, says whether the connection goes on; the client may
        // never send that body, so this one closes rather than wait to drain it.
        let body_unasked = ex.continue_owed && !ex.body_done;
        let persist = shared.persist_allowed()
            && !ex.head.must_close
            && !says_close(&ex.headers)
            && !ex.last
            && !body_unasked
            && framing != Framing::Close;
        let connection = if persist { "keep-alive" } else { "close" };
        let status = status_line(ex.status, ex.reason.take());
        shared.with_date(|date| {
            response::write_head(
                &mut self.out,
                ex.head.version,
                &status,
                date,
                connection,
                framing,
                &ex.headers,
            )
        });
        if !persist {
            ex.head.must_close = true;
        }
    }

    /// `send` of an `http.response.start` message.
    fn send_start(&mut self, message: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = message.py();
        let status = message.get_item(pyo3::intern!(py, "status"))?.extract()?;
        let headers = field(message, pyo3::intern!(py, "headers"))?;
        let trailers = field(message, pyo3::intern!(py, "trailers"))?;
        let headers = match headers {
            Some(headers) => sendable(&headers)?,
            None => Vec::new(),
        };
        let trailers = trailers.map(|t| t.extract()).transpose()?;
        self.begin(status, headers, trailers.unwrap_or(false))?;
        Ok(0)
    }

    /// `send` of an `http.response.body` message; the bytes the socket has not taken yet.
    fn send_body(&mut self, message: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = message.py();
        if self.exchange.as_ref().is_some_and(|ex| ex.complete) {
            // As uvicorn: bytes after the end would be dropped unseen (or, past a
            // length, read as the next response) — the app hears of its mistake.
            return Err(pyo3::exceptions::PyRuntimeError::new_err(
                "http.response.body after the response completed",
            ));
        }
        let body = field(message, pyo3::intern!(py, "body"))?;
        let more = field(message, pyo3::intern!(py, "more_body"))?;
        let more = more.map(|m| m.extract()).transpose()?.unwrap_or(false);
        let data: &[u8] = match &body {
            Some(body) => body.extract()?,
            None => b"",
        };
        let left = self.write(data, more)?;
        self.warn_dropped_body(data.len());
        Ok(left)
    }

    /// `write` dropped the app's body bytes: its response has none (RFC 9110 §6.4.1: HEAD,
    /// 204, 304). Said once a request, in Gunicorn 27's words, as the WSGI kinds say it
    /// (conn/sink.rs): the app's mistake shows, the client's framing stays whole.
    fn warn_dropped_body(&mut self, len: usize) {
        let Some(ex) = self.exchange.as_mut() else {
            return;
        };
        if len == 0 || ex.framing != Some(Framing::NoBody) || ex.warned_no_body || ex.refused {
            return;
        }
        ex.warned_no_body = true;
        crate::warning!(
            "ASGI app sent body bytes on a no-body response (method={} status={}); dropping per RFC 9110.",
            ex.head.method,
            ex.status
        );
    }

    /// `send` of an `http.response.trailers` message; the bytes the socket has not taken yet.
    fn send_trailers(&mut self, message: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = message.py();
        let headers = field(message, pyo3::intern!(py, "headers"))?;
        let more = field(message, pyo3::intern!(py, "more_trailers"))?;
        let more = more.map(|m| m.extract()).transpose()?.unwrap_or(false);
        match headers {
            Some(headers) => self.trailers(&headers, more),
            None => self.trailers(pyo3::types::PyTuple::empty(py).as_any(), more),
        }
    }

    /// `send` of an `http.response.informational` message (Gunicorn's interim responses).
    fn send_informational(&mut self, message: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = message.py();
        let status = message.get_item(pyo3::intern!(py, "status"))?.extract()?;
        match field(message, pyo3::intern!(py, "headers"))? {
            Some(headers) => self.informational(status, &headers),
            None => self.informational(status, pyo3::types::PyTuple::empty(py).as_any()),
        }
    }
}

#[pymethods]
impl Wire {
    /// An ASGI `send` of the `http` scope: the message read here (one call, the fields
    /// looked up in the dict) and dispatched by its `type`; the bytes the socket has not
    /// taken yet. A missing `type` or `status` is the `KeyError` a `message["type"]` raises;
    /// an unknown type a `RuntimeError`.
    pub(super) fn send(&mut self, message: &Bound<'_, PyAny>) -> PyResult<usize> {
        let py = message.py();
        let kind = message.get_item(pyo3::intern!(py, "type"))?;
        let kind = kind.cast::<PyString>().ok();
        match kind.as_ref().map(|k| k.to_str()).transpose()? {
            Some("http.response.start") => self.send_start(message),
            Some("http.response.body") => self.send_body(message),
            Some("http.response.trailers") => self.send_trailers(message),
            Some("http.response.informational") => self.send_informational(message),
            _ => Err(pyo3::exceptions::PyRuntimeError::new_err(format!(
                "unexpected ASGI message {}",
                message.get_item(pyo3::intern!(py, "type"))?.repr()?
            ))),
        }
    }

    /// `http.response.start`.
    #[pyo3(signature = (status, headers, trailers=false))]
    fn start(&mut self, status: u16, headers: &Bound<'_, PyAny>, trailers: bool) -> PyResult<()> {
        self.begin(status, sendable(headers)?, trailers)
    }

    /// `http.response.body`: frame `data` and write what the socket takes; the bytes left.
    pub(super) fn write(&mut self, data: &[u8], more: bool) -> PyResult<usize> {
        let first = match self.exchange.as_ref() {
            Some(ex) if ex.refused => {
                return Err(PyOSError::new_err(
                    "the request was refused: the client has gone",
                ))
            }
            Some(ex) if ex.status == 0 => {
                return Err(pyo3::exceptions::PyRuntimeError::new_err(
                    "http.response.body before http.response.start",
                ))
            }
            Some(ex) => ex.framing.is_none(),
            None => return Err(PyOSError::new_err("no request")),
        };
        if first {
            self.write_head(data.len(), more);
        }
        let Some(ex) = self.exchange.as_mut() else {
            return Ok(0);
        };
        match ex.framing {
            Some(Framing::Length(_)) => {
                let n = (data.len() as u64).min(ex.remaining) as usize;
                self.out.extend_from_slice(&data[..n]);
                ex.remaining -= n as u64;
                ex.sent += n as u64;
            }
            Some(Framing::Chunked) => {
                if !data.is_empty() {
                    response::write_chunk(&mut self.out, data);
                }
                if !more && !ex.trailers {
                    self.out.extend_from_slice(response::LAST_CHUNK);
                }
                ex.sent += data.len() as u64;
            }
            Some(Framing::Close) => {
                self.out.extend_from_slice(data);
                ex.sent += data.len() as u64;
            }
            Some(Framing::NoBody) | None => {}
        }
        if !more && !ex.trailers {
            ex.complete = true;
        }
        self.push()
    }

    /// Is the response whole (or refused, or there is no request)? Then `receive` says
    /// `http.disconnect` (ASGI HTTP spec: "if receive is called after a response has been
    /// sent"), and an app that returns before it is whole has failed.
    #[getter]
    pub(super) fn response_complete(&self) -> bool {
        self.exchange
            .as_ref()
            .is_none_or(|ex| ex.complete || ex.refused)
    }

    /// Write what is left; the bytes the socket still has not taken.
    fn flush(&mut self) -> PyResult<usize> {
        self.push()
    }
}

/// `message.get(key)`: a dict's item looked up in place, any other mapping through its `get`.
/// `None` for a missing key, as for a key set to `None` (the spec's defaults then apply).
pub(super) fn field<'py>(
    message: &Bound<'py, PyAny>,
    key: &Bound<'py, PyString>,
) -> PyResult<Option<Bound<'py, PyAny>>> {
    let value = match message.cast::<PyDict>() {
        Ok(dict) => dict.get_item(key)?,
        Err(_) => Some(message.call_method1(pyo3::intern!(message.py(), "get"), (key,))?),
    };
    Ok(value.filter(|v| !v.is_none()))
}

/// The length the app's first `Content-Length` field declares (`check_content_length` has
/// made sure every one is digits and all agree).
pub(super) fn declared_length(headers: &[(String, Vec<u8>)]) -> Option<u64> {
    let (_, value) = headers
        .iter()
        .find(|(n, _)| n.eq_ignore_ascii_case("content-length"))?;
    std::str::from_utf8(value).ok()?.trim().parse().ok()
}

/// The app's `Content-Length` fields: each one `1*DIGIT` and all the same (RFC 9110 §8.6). A
/// `ValueError` otherwise, as for a field that would split the head: a value the server
/// cannot frame by would have it add its own length beside the app's, two lengths a client
/// may read either way (RFC 9112 §6.3).
fn check_content_length(headers: &[(String, Vec<u8>)]) -> PyResult<()> {
    let mut seen: Option<&[u8]> = None;
    for (_, value) in headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("content-length"))
    {
        let valid = !value.is_empty() && value.iter().all(u8::is_ascii_digit);
        if !valid || seen.is_some_and(|s| s != value.as_slice()) {
            return Err(PyValueError::new_err(format!(
                "Invalid Content-Length: {:?}",
                String::from_utf8_lossy(value)
            )));
        }
        seen = Some(value);
    }
    Ok(())
}

/// Does the app's `Connection` field say `close` (RFC 9112 §9.6)? Then the connection ends
/// after this response, as uvicorn does; the field itself is the server's to write.
fn says_close(headers: &[(String, Vec<u8>)]) -> bool {
    headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("connection")
            && v.split(|&b| b == b',')
                .any(|t| t.trim_ascii().eq_ignore_ascii_case(b"close"))
    })
}

/// The response's length, when it has one: the app's `content-length`, or the size of a body
/// sent whole (then added to the fields). Trailers drop the app's length where chunks carry
/// them.
fn response_length(ex: &mut Exchange, first_body: usize, more: bool) -> Option<u64> {
    let declared = declared_length(&ex.headers);
    if ex.trailers && ex.head.may_chunk() {
        // Trailer fields need the chunked coding (RFC 9112 §7.1.2): no length.
        ex.headers
            .retain(|(n, _)| !n.eq_ignore_ascii_case("content-length"));
    }
    let declared = declared.filter(|_| !(ex.trailers && ex.head.may_chunk()));
    // The length is the body's only when the body is here: never for a 304 (its body is
    // not the 200's) nor for a HEAD answered without one (RFC 9110 §8.6: a Content-Length
    // there MUST equal what the GET would have sent, which only the app knows).
    let knows_length = ex.status != 304 && !(ex.head.method == "HEAD" && first_body == 0);
    match (declared, more || ex.trailers) {
        (Some(n), _) => Some(n),
        (None, false) if knows_length => {
            let n = first_body as u64;
            ex.headers
                .push(("content-length".into(), n.to_string().into_bytes()));
            Some(n)
        }
        (None, _) => None,
    }
}

/// The status line's `code reason`: the app's reason phrase, else the registered one.
fn status_line(code: u16, reason: Option<String>) -> std::borrow::Cow<'static, str> {
    match (code, reason) {
        (code, Some(reason)) => format!("{code} {reason}").into(),
        // The usual answer, without formatting it.
        (200, None) => std::borrow::Cow::Borrowed("200 OK"),
        (code, None) => format!("{code} {}", response::registered_reason(code)).into(),
    }
}
