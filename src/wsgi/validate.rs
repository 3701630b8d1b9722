//! Checks on what the app hands to `start_response` (PEP 3333 "The start_response() Callable",
//! RFC 9110 §5 and §15), with Gunicorn 27's rules: status `DDD[ reason]`, header names tokens,
//! values VCHAR / obs-text / SP / HTAB. Nothing that fails here is ever given to the sink.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyList, PyTuple};

use super::response::{native_str, Status};
use super::HeaderPair;

/// A rejected status or header: the exception raised in the app, and the message for the log.
#[derive(Debug)]
pub(crate) enum Invalid {
    Type(String),
    Value(String),
}

impl Invalid {
    pub(crate) fn message(&self) -> &str {
        match self {
            Invalid::Type(msg) | Invalid::Value(msg) => msg,
        }
    }
}

impl From<Invalid> for PyErr {
    fn from(invalid: Invalid) -> PyErr {
        match invalid {
            Invalid::Type(msg) => PyTypeError::new_err(msg),
            Invalid::Value(msg) => PyValueError::new_err(msg),
        }
    }
}

fn repr(obj: &Bound<'_, PyAny>) -> String {
    obj.repr()
        .map_or_else(|_| "<unprintable>".to_owned(), |r| r.to_string())
}

/// The status argument: a `str` such as `"200 OK"`.
pub(crate) fn status(obj: &Bound<'_, PyAny>) -> Result<Status, Invalid> {
    let text = native_str(obj, "status").map_err(Invalid::Type)?;
    let parsed = text.to_str().ok().and_then(parse_status);
    parsed.ok_or_else(|| Invalid::Value(format!("Invalid status line: {}", repr(obj))))
}

/// `DDD` or `DDD reason`; the reason is `*( HTAB / SP / VCHAR / obs-text )` (RFC 9112 §4),
/// obs-text being the Latin-1 letters a `str` status may hold (PEP 3333: ISO-8859-1; the
/// line goes out in Latin-1, http/response.rs), as Gunicorn 27 takes them. No CR/LF can get
/// through.
pub(crate) fn parse_status(line: &str) -> Option<Status> {
    let bytes = line.as_bytes();
    let code = bytes
        .get(..3)
        .filter(|d| d.iter().all(u8::is_ascii_digit))?;
    let code = code.iter().fold(0u16, |n, d| n * 10 + u16::from(d - b'0'));
    if code < 100 {
        return None;
    }
    let ok_reason = match bytes.get(3..) {
        None | Some([]) => true,
        Some([b' ', ..]) => line[4..].chars().all(is_reason_char),
        Some(_) => false,
    };
    ok_reason.then(|| Status {
        line: line.to_owned(),
        code,
    })
}

/// HTAB, SP, VCHAR or obs-text (RFC 9112 §4), as a Latin-1 character.
fn is_reason_char(c: char) -> bool {
    c == '\t' || (' '..='~').contains(&c) || ('\u{80}'..='\u{ff}').contains(&c)
}

/// The headers argument: an iterable of `(name, value)` pairs of `str`. Also returns the
/// Content-Length the app declared, if any.
pub(crate) fn headers(obj: &Bound<'_, PyAny>) -> Result<(Vec<HeaderPair>, Option<u64>), Invalid> {
    // The usual case, a list, is walked directly (no iterator object per call).
    if let Ok(list) = obj.cast_exact::<PyList>() {
        let mut out = Vec::with_capacity(list.len());
        let mut content_length = None;
        for item in list.iter() {
            check_item(&item, &mut out, &mut content_length)?;
        }
        return Ok((out, content_length));
    }
    let iter = obj
        .try_iter()
        .map_err(|_| Invalid::Type(format!("headers must be a list, not {}", repr(obj))))?;
    let mut out = Vec::new();
    let mut content_length = None;
    for item in iter {
        let item = item.map_err(|e| Invalid::Type(e.to_string()))?;
        check_item(&item, &mut out, &mut content_length)?;
    }
    Ok((out, content_length))
}

/// One header item: validated, added to `out`; a Content-Length is parsed on the way (every
/// one is checked; the first is the response's length).
fn check_item(
    item: &Bound<'_, PyAny>,
    out: &mut Vec<HeaderPair>,
    content_length: &mut Option<u64>,
) -> Result<(), Invalid> {
    {
        let (name, value) = pair(item)?;
        if name.eq_ignore_ascii_case("content-length") {
            let text = std::str::from_utf8(&value)
                .ok()
                .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()));
            let n = text.and_then(|t| t.parse::<u64>().ok());
            let n = n
                .filter(|n| content_length.is_none_or(|first| first == *n))
                .ok_or_else(|| Invalid::Value(format!("Invalid Content-Length: {}", repr(item))))?;
            // The first one frames the response (the sink's rule), so it bounds a sendfile too.
            // One that differs is refused (RFC 9110 §8.6, as -k asgi refuses it): the head
            // would carry two lengths, which a client or a proxy may read either way and must
            // treat as an unrecoverable error (RFC 9112 §6.3).
            content_length.get_or_insert(n);
        }
        out.push((name, value));
    }
    Ok(())
}

/// One `(name, value)` item, unpacked as Python's `for name, value in headers` would.
fn pair(item: &Bound<'_, PyAny>) -> Result<HeaderPair, Invalid> {
    let not_pair = || {
        Invalid::Type(format!(
            "header must be a (name, value) pair, not {}",
            repr(item)
        ))
    };
    let (name, value) = match item.cast_exact::<PyTuple>() {
        // The usual case, a 2-tuple, without an iterator.
        Ok(tuple) if tuple.len() == 2 => match (tuple.get_item(0), tuple.get_item(1)) {
            (Ok(name), Ok(value)) => (name, value),
            _ => return Err(not_pair()),
        },
        Ok(_) => return Err(not_pair()),
        Err(_) => {
            let mut parts = item.try_iter().map_err(|_| not_pair())?;
            let mut next = || parts.next().and_then(Result::ok);
            let (Some(name), Some(value), None) = (next(), next(), next()) else {
                return Err(not_pair());
            };
            (name, value)
        }
    };
    let name_str = native_str(&name, "header name").map_err(Invalid::Type)?;
    let name_text = name_str.to_str().ok().filter(|n| is_token(n));
    let name_text = name_text
        .ok_or_else(|| Invalid::Value(format!("Invalid HTTP header name: {}", repr(&name))))?;
    let value_str = native_str(&value, "header value").map_err(Invalid::Type)?;
    let bytes = value_str.to_str().ok().and_then(header_value);
    let bytes = bytes
        .ok_or_else(|| Invalid::Value(format!("Invalid HTTP header value: {}", repr(&value))))?;
    Ok((name_text.to_owned(), bytes))
}

/// RFC 9110 §5.6.2 token.
pub(crate) fn is_token(name: &str) -> bool {
    crate::http::response::is_field_name(name.as_bytes())
}

/// RFC 9110 §5.5 field value: VCHAR, obs-text, SP, HTAB; trimmed of SP/HTAB (as Gunicorn
/// does) and encoded latin-1 (PEP 3333 "Unicode Issues"). `None` for CR, LF, NUL, other CTLs
/// and characters beyond U+00FF.
pub(crate) fn header_value(value: &str) -> Option<Vec<u8>> {
    // A closure, not a char list: the list's general searcher cost more than the trim.
    let value = value.trim_matches(|c| c == ' ' || c == '\t');
    // The usual case, ASCII: one check and one copy.
    if value.is_ascii() {
        let allowed = |b: u8| b == b'\t' || (0x20..=0x7e).contains(&b);
        return value
            .bytes()
            .all(allowed)
            .then(|| value.as_bytes().to_vec());
    }
    value
        .chars()
        .map(|c| match u32::from(c) {
            0x09 | 0x20..=0x7e | 0x80..=0xff => u8::try_from(u32::from(c)).ok(),
            _ => None,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_lines() {
        assert_eq!(parse_status("200 OK").map(|s| s.code), Some(200));
        assert_eq!(parse_status("404").map(|s| s.code), Some(404));
        assert_eq!(parse_status("599 Custom\tthing").map(|s| s.code), Some(599));
        for bad in [
            "OK",
            "20 OK",
            "2000 OK",
            "200OK",
            "200 OK\r\nX: y",
            "099 Low",
            "",
            "200 \u{20ac}uro",
            "200 a\x7fb",
        ] {
            assert!(parse_status(bad).is_none(), "{bad:?} accepted");
        }
        // obs-text: Latin-1 letters, as Gunicorn 27 sends them.
        assert_eq!(parse_status("200 Caf\u{e9}").map(|s| s.code), Some(200));
    }

    #[test]
    fn header_names_and_values() {
        assert!(is_token("X-Custom_1"));
        assert!(
            !is_token("Bad Header") && !is_token("") && !is_token("a:b") && !is_token("\u{e9}")
        );
        assert_eq!(header_value(" caf\u{e9}\t"), Some(b"caf\xe9".to_vec()));
        for bad in ["a\r\nb", "a\nb", "a\0b", "a\x7fb", "\u{20ac}"] {
            assert!(header_value(bad).is_none(), "{bad:?} accepted");
        }
    }
}
