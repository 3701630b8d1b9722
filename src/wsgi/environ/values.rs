//! The environ's values as PEP 3333 wants them: latin-1 text ("Unicode Issues"), the peer's
//! address and port written without allocating, interned methods and protocols, `PATH_INFO`
//! without `SCRIPT_NAME`, `SERVER_NAME` on a Unix socket, repeated fields joined.

use pyo3::intern;
use pyo3::prelude::*;
use pyo3::types::PyString;

use crate::http::RequestHead;
use crate::wsgi::AppError;

pub(super) fn scheme(py: Python<'_>, https: bool) -> &Bound<'_, PyString> {
    match https {
        true => intern!(py, "https"),
        false => intern!(py, "http"),
    }
}

/// Bytes as latin-1 text (PEP 3333 "Unicode Issues"), without a detour through UTF-8.
pub(super) fn latin1<'py>(py: Python<'py>, bytes: &[u8]) -> PyResult<Bound<'py, PyAny>> {
    // SAFETY: the pointer and length describe `bytes`, which outlives the call; latin-1
    // decoding cannot fail on any byte, and a NULL (out of memory) becomes the PyErr.
    unsafe {
        let ptr = pyo3::ffi::PyUnicode_DecodeLatin1(
            bytes.as_ptr().cast(),
            bytes.len() as pyo3::ffi::Py_ssize_t,
            std::ptr::null(),
        );
        Bound::from_owned_ptr_or_err(py, ptr)
    }
}

/// `n` in decimal, written into the end of `buf` (no allocation and no formatting machinery
/// per request: `REMOTE_PORT` and `REMOTE_ADDR` are built for every request). ASCII bytes, for
/// [`latin1`]: going through `&str` cost a UTF-8 check here and a UTF-8 decode in Python.
pub(super) fn decimal(buf: &mut [u8; 64], mut n: u32) -> &[u8] {
    let mut at = buf.len();
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[at..]
}

/// The peer's address as Gunicorn writes it, as ASCII bytes; IPv4 digit by digit, IPv6
/// through `Display`.
pub(super) fn ip_text(buf: &mut [u8; 64], ip: std::net::IpAddr) -> &[u8] {
    let v4 = match ip {
        std::net::IpAddr::V4(v4) => v4,
        std::net::IpAddr::V6(v6) => {
            use std::io::Write;
            let mut cursor = std::io::Cursor::new(&mut buf[..]);
            let _ = write!(cursor, "{v6}");
            let n = cursor.position() as usize;
            return &buf[..n];
        }
    };
    // At most 15 bytes ("255.255.255.255"); leading zeros never written, as in `str(ip)`.
    let mut len = 0;
    for (i, octet) in v4.octets().into_iter().enumerate() {
        if i > 0 {
            buf[len] = b'.';
            len += 1;
        }
        if octet >= 100 {
            buf[len] = b'0' + octet / 100;
            len += 1;
        }
        if octet >= 10 {
            buf[len] = b'0' + octet / 10 % 10;
            len += 1;
        }
        buf[len] = b'0' + octet % 10;
        len += 1;
    }
    &buf[..len]
}

/// The `HTTP_*` key of a field browsers, clients and proxies send on most requests, made once
/// (interned): a match on the name costs less than the shared cache's lock and hash.
pub(super) fn common_header_key<'py>(py: Python<'py>, name: &str) -> Option<Bound<'py, PyString>> {
    let key = match name {
        "HOST" => intern!(py, "HTTP_HOST"),
        "USER-AGENT" => intern!(py, "HTTP_USER_AGENT"),
        "ACCEPT" => intern!(py, "HTTP_ACCEPT"),
        "ACCEPT-ENCODING" => intern!(py, "HTTP_ACCEPT_ENCODING"),
        "ACCEPT-LANGUAGE" => intern!(py, "HTTP_ACCEPT_LANGUAGE"),
        "CONNECTION" => intern!(py, "HTTP_CONNECTION"),
        "COOKIE" => intern!(py, "HTTP_COOKIE"),
        "REFERER" => intern!(py, "HTTP_REFERER"),
        "ORIGIN" => intern!(py, "HTTP_ORIGIN"),
        "AUTHORIZATION" => intern!(py, "HTTP_AUTHORIZATION"),
        "CACHE-CONTROL" => intern!(py, "HTTP_CACHE_CONTROL"),
        "IF-NONE-MATCH" => intern!(py, "HTTP_IF_NONE_MATCH"),
        "IF-MODIFIED-SINCE" => intern!(py, "HTTP_IF_MODIFIED_SINCE"),
        "X-FORWARDED-FOR" => intern!(py, "HTTP_X_FORWARDED_FOR"),
        "X-FORWARDED-PROTO" => intern!(py, "HTTP_X_FORWARDED_PROTO"),
        "X-FORWARDED-HOST" => intern!(py, "HTTP_X_FORWARDED_HOST"),
        "X-REAL-IP" => intern!(py, "HTTP_X_REAL_IP"),
        "X-REQUEST-ID" => intern!(py, "HTTP_X_REQUEST_ID"),
        _ => return None,
    };
    Some(key.clone())
}

/// `REQUEST_METHOD`: the common methods are interned strings, made once.
pub(super) fn method<'py>(py: Python<'py>, method: &str) -> Bound<'py, PyString> {
    let interned = match method {
        "GET" => intern!(py, "GET"),
        "POST" => intern!(py, "POST"),
        "HEAD" => intern!(py, "HEAD"),
        "PUT" => intern!(py, "PUT"),
        "DELETE" => intern!(py, "DELETE"),
        "PATCH" => intern!(py, "PATCH"),
        "OPTIONS" => intern!(py, "OPTIONS"),
        other => return PyString::new(py, other),
    };
    interned.clone()
}

pub(super) fn protocol(py: Python<'_>, version: (u8, u8)) -> Bound<'_, PyString> {
    match version {
        (1, 1) => intern!(py, "HTTP/1.1").clone(),
        (1, 0) => intern!(py, "HTTP/1.0").clone(),
        (major, minor) => PyString::new(py, &format!("HTTP/{major}.{minor}")),
    }
}

/// `PATH_INFO`: the raw path minus `SCRIPT_NAME`, then percent-decoded and latin-1 decoded.
pub(super) fn path_info(path: &str, script_name: &str) -> Result<Vec<u8>, AppError> {
    let rest = path.strip_prefix(script_name).ok_or_else(|| {
        AppError::Configuration(format!(
            "Request path '{path}' does not start with SCRIPT_NAME '{script_name}'"
        ))
    })?;
    Ok(crate::http::percent_decode(rest.as_bytes()))
}

/// `SERVER_NAME`/`SERVER_PORT` for a Unix socket: the Host header (port by scheme when
/// absent), else the socket path and `''`.
pub(super) fn unix_server_name(path: &str, host: Option<&[u8]>, https: bool) -> (String, String) {
    let split = |s: &str| -> Option<(String, String)> {
        let mut parts = s.split(':');
        let name = parts.next().unwrap_or_default().to_owned();
        parts.next().map(|port| (name, port.to_owned()))
    };
    if let Some(pair) = split(path) {
        return pair;
    }
    let host: Option<String> = host
        .filter(|h| !h.is_empty())
        .map(|h| h.iter().map(|&b| char::from(b)).collect());
    match host {
        Some(host) => split(&host)
            .unwrap_or_else(|| (host.clone(), if https { "443" } else { "80" }.to_owned())),
        None => (path.to_owned(), String::new()),
    }
}

/// The value of a header field as the environ has it: repeated fields joined with `,`.
pub(super) fn joined(head: &RequestHead, first: usize) -> Vec<u8> {
    let (name, value) = &head.headers[first];
    let mut out = value.clone();
    for (n, v) in &head.headers[first + 1..] {
        if n == name {
            out.push(b',');
            out.extend_from_slice(v);
        }
    }
    out
}
