//! The ASGI `http` connection scope of a request (ASGI HTTP & WebSocket spec 2.3, "HTTP
//! Connection Scope"), from the head the Rust parser read.

use std::net::SocketAddr;

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyDict, PyList, PyTuple};

use super::Shared;
use crate::http::{percent_decode, RequestHead};
use crate::worker::conn::Conn;

/// `scope` for `head`, received on `conn`. `state` is the lifespan state: each request gets a
/// shallow copy (the spec: "a copy of the namespace passed into the lifespan").
pub(super) fn build_scope<'py>(
    py: Python<'py>,
    shared: &Shared,
    conn: &Conn,
    server: Option<SocketAddr>,
    head: &RequestHead,
    state: &Bound<'py, PyDict>,
    websocket: Option<Vec<String>>,
) -> PyResult<Bound<'py, PyDict>> {
    let scope = PyDict::new(py);
    match &websocket {
        // The `websocket` scope: no method; the subprotocols the client offers.
        Some(subprotocols) => {
            scope.set_item(pyo3::intern!(py, "type"), "websocket")?;
            scope.set_item("subprotocols", subprotocols)?;
        }
        None => {
            scope.set_item(pyo3::intern!(py, "type"), pyo3::intern!(py, "http"))?;
            scope.set_item(pyo3::intern!(py, "method"), &head.method)?;
            let extensions = shared.extensions.bind(py).copy()?;
            if let Some(info) = conn.stream.tls_info() {
                extensions.set_item("tls", tls_extension(py, &info)?)?;
            }
            scope.set_item(pyo3::intern!(py, "extensions"), extensions)?;
        }
    }
    scope.set_item(pyo3::intern!(py, "asgi"), shared.asgi_info.bind(py))?;
    let version = match head.version {
        (1, 0) => "1.0",
        _ => "1.1",
    };
    scope.set_item(pyo3::intern!(py, "http_version"), version)?;
    // A trusted secure-scheme header decides either way; otherwise the listener does.
    let secure = head.secure_scheme.unwrap_or(conn.stream.is_tls());
    let scheme = match (secure, websocket.is_some()) {
        (true, false) => "https",
        (false, false) => "http",
        (true, true) => "wss",
        (false, true) => "ws",
    };
    scope.set_item(pyo3::intern!(py, "scheme"), scheme)?;
    // `path`: percent-decoded, as UTF-8 text; `raw_path`: the bytes as sent. CONNECT's
    // authority-form target (RFC 9112 §3.2.3) has no path: the authority stands for it.
    let path = match head.method.as_str() {
        "CONNECT" => head.uri.as_str(),
        _ => head.path.as_str(),
    };
    let decoded = percent_decode(path.as_bytes());
    scope.set_item(pyo3::intern!(py, "path"), String::from_utf8_lossy(&decoded))?;
    scope.set_item(
        pyo3::intern!(py, "raw_path"),
        PyBytes::new(py, path.as_bytes()),
    )?;
    scope.set_item(
        pyo3::intern!(py, "query_string"),
        PyBytes::new(py, head.query.as_bytes()),
    )?;
    scope.set_item(pyo3::intern!(py, "root_path"), &shared.root_path)?;
    let headers = PyList::empty(py);
    for (name, value) in &head.headers {
        let pair = PyTuple::new(
            py,
            [
                PyBytes::new(py, name.to_ascii_lowercase().as_bytes()),
                PyBytes::new(py, value),
            ],
        )?;
        headers.append(pair)?;
    }
    scope.set_item(pyo3::intern!(py, "headers"), headers)?;
    let client = match head.told_client() {
        // The ASGI spec's `[host, port]`; a front that gave no port gives 0.
        Some((host, port)) => (host, port.unwrap_or(0))
            .into_pyobject(py)?
            .into_any()
            .unbind(),
        None => address(py, conn.peer)?,
    };
    scope.set_item(pyo3::intern!(py, "client"), client)?;
    scope.set_item(pyo3::intern!(py, "server"), address(py, server)?)?;
    scope.set_item(pyo3::intern!(py, "state"), state.copy()?)?;
    Ok(scope)
}

/// The ASGI TLS extension (asgiref `specs/tls.rst`): what was negotiated and the client's
/// chain and name; the server's own certificate is not given (`None`, as the spec allows).
fn tls_extension<'py>(
    py: Python<'py>,
    info: &crate::worker::conn::TlsInfo,
) -> PyResult<Bound<'py, PyDict>> {
    let tls = PyDict::new(py);
    tls.set_item("server_cert", py.None())?;
    tls.set_item("client_cert_chain", &info.client_chain)?;
    tls.set_item("client_cert_name", &info.client_name)?;
    tls.set_item("client_cert_error", py.None())?;
    tls.set_item("tls_version", info.version)?;
    tls.set_item("cipher_suite", info.cipher_suite)?;
    Ok(tls)
}

/// `[host, port]`, or `None` for a Unix socket.
fn address(py: Python<'_>, addr: Option<SocketAddr>) -> PyResult<Py<PyAny>> {
    match addr {
        Some(a) => Ok(PyTuple::new(
            py,
            [
                a.ip().to_string().into_pyobject(py)?.into_any(),
                a.port().into_pyobject(py)?.into_any(),
            ],
        )?
        .into_any()
        .unbind()),
        None => Ok(py.None()),
    }
}

/// A request for the tornado kind, in the pieces tornado's `HTTPMessageDelegate` takes: the
/// request line as text (tornado's `RequestStartLine`), the header fields as received (names
/// in their case, values decoded as ISO-8859-1 as tornado's own parser does), and what its
/// `_HTTPRequestContext` holds (`remote_ip`: "0.0.0.0" for a Unix-socket peer, as tornado
/// says; `protocol`). `path` and `query_string` are there for the dump's request line.
pub(super) fn tornado_request<'py>(
    py: Python<'py>,
    conn: &Conn,
    head: &RequestHead,
) -> PyResult<Bound<'py, PyDict>> {
    let request = PyDict::new(py);
    request.set_item(pyo3::intern!(py, "type"), pyo3::intern!(py, "http"))?;
    request.set_item(pyo3::intern!(py, "method"), &head.method)?;
    request.set_item(pyo3::intern!(py, "uri"), &head.uri)?;
    let version = match head.version {
        (1, 0) => pyo3::intern!(py, "HTTP/1.0"),
        _ => pyo3::intern!(py, "HTTP/1.1"),
    };
    request.set_item(pyo3::intern!(py, "version"), version)?;
    let headers = PyList::empty(py);
    for (name, value) in &head.headers {
        let value: String = value.iter().map(|&b| b as char).collect();
        headers.append((name.as_str(), value))?;
    }
    request.set_item(pyo3::intern!(py, "headers"), headers)?;
    let remote_ip = match head.told_client() {
        Some((host, _)) => host.to_string(),
        None => conn
            .peer
            .map_or_else(|| "0.0.0.0".to_string(), |p| p.ip().to_string()),
    };
    request.set_item(pyo3::intern!(py, "remote_ip"), remote_ip)?;
    request.set_item(pyo3::intern!(py, "address"), address(py, conn.peer)?)?;
    let protocol = match head.secure_scheme.unwrap_or(conn.stream.is_tls()) {
        true => "https",
        false => "http",
    };
    request.set_item(pyo3::intern!(py, "protocol"), protocol)?;
    request.set_item(pyo3::intern!(py, "path"), &head.path)?;
    request.set_item(
        pyo3::intern!(py, "query_string"),
        PyBytes::new(py, head.query.as_bytes()),
    )?;
    Ok(request)
}
