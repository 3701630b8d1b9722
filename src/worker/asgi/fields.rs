//! The app's response fields as ASGI gives them (`headers`: an iterable of `(name, value)`
//! byte strings), checked before any goes on the wire; for `http.response.start`, trailers,
//! interim responses, the WebSocket handshake's and tornado's.

use pyo3::prelude::*;
use pyo3::types::{PyBytes, PyList, PyTuple};

use crate::http::response;

/// The app's response fields, each checked (`response::is_sendable_field`): a `ValueError`
/// for the app, as uvicorn raises, rather than a field that could split the response.
/// `headers` is what the app gave: an iterable of `(name, value)` byte strings.
pub(super) fn sendable(headers: &Bound<'_, PyAny>) -> PyResult<Vec<(String, Vec<u8>)>> {
    // A list (the usual) is read by index into a vector of its size; any other iterable
    // through the iterator protocol.
    if let Ok(list) = headers.cast::<PyList>() {
        let mut fields = Vec::with_capacity(list.len());
        for item in list.iter() {
            fields.push(sendable_item(&item)?);
        }
        return Ok(fields);
    }
    let mut fields = Vec::new();
    for item in headers.try_iter()? {
        fields.push(sendable_item(&item?)?);
    }
    Ok(fields)
}

/// One of the app's `(name, value)` fields, checked.
fn sendable_item(item: &Bound<'_, PyAny>) -> PyResult<(String, Vec<u8>)> {
    // The usual shape, a tuple of two `bytes`, is read in place; anything else goes through
    // pyo3's conversion (and its TypeError).
    if let Some(pair) = item.cast::<PyTuple>().ok().filter(|t| t.len() == 2) {
        let name = pair.get_borrowed_item(0)?;
        let value = pair.get_borrowed_item(1)?;
        if let (Ok(name), Ok(value)) = (name.cast::<PyBytes>(), value.cast::<PyBytes>()) {
            return sendable_field(name.as_bytes(), value.as_bytes());
        }
    }
    // Any other pair: the spec's `Iterable[[byte string, byte string]]` is as often a list of
    // two as a tuple (uvicorn takes any two-item iterable); each part bytes-like.
    let mut parts = item.try_iter()?;
    let (Some(name), Some(value), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(pyo3::exceptions::PyValueError::new_err(format!(
            "Invalid HTTP header: {item:?} is not a (name, value) pair"
        )));
    };
    let (name, value) = (byte_string(&name?)?, byte_string(&value?)?);
    sendable_field(&name, &value)
}

/// A header part as bytes: `bytes` read in place, a `bytearray` or other buffer through
/// pyo3's conversion (a `str` is refused with its TypeError, as under uvicorn).
fn byte_string(part: &Bound<'_, PyAny>) -> PyResult<Vec<u8>> {
    match part.cast::<PyBytes>() {
        Ok(bytes) => Ok(bytes.as_bytes().to_vec()),
        Err(_) => part.extract(),
    }
}

pub(super) fn sendable_field(name: &[u8], value: &[u8]) -> PyResult<(String, Vec<u8>)> {
    match response::is_sendable_field(name, value) {
        // A field name is a token (checked above), so ASCII: no lossy decoding to do.
        true => Ok((
            std::str::from_utf8(name).map_or_else(
                |_| String::from_utf8_lossy(name).into_owned(),
                str::to_owned,
            ),
            value.to_vec(),
        )),
        false => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "Invalid HTTP header: {:?}: {:?}",
            String::from_utf8_lossy(name),
            String::from_utf8_lossy(value)
        ))),
    }
}
