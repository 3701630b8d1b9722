//! `--log-format json` (gunicorn-rs only): one JSON object per line, for log shippers that read
//! JSON lines (Vector, Fluent Bit, Loki's promtail, Elastic's Filebeat `ndjson`).
//!
//! Every value goes through serde_json, so quotes, backslashes and control bytes in a request
//! target or a header are escaped (RFC 8259 §7). Header bytes are read as ISO-8859-1, as
//! Gunicorn's WSGI environ reads them (PEP 3333 "Unicode Issues"), so no byte is lost and no
//! invalid UTF-8 reaches the line. Field order is fixed (structs, not maps): `timestamp`,
//! `level`, `pid`, `logger`, `message` first on every line.

use super::access::AccessRecord;
use crate::config::LogLevel;
use serde::Serialize;

/// Where a Python traceback starts inside an error-log message (`traceback.format_exception`).
const TRACEBACK: &str = "Traceback (most recent call last):";

#[derive(Serialize)]
struct ErrorLine<'a> {
    timestamp: &'a str,
    level: &'static str,
    pid: u32,
    /// Gunicorn's logger names: `gunicorn.error`, `gunicorn.access`.
    logger: &'static str,
    message: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    traceback: Option<&'a str>,
}

#[derive(Serialize)]
struct AccessLine<'a> {
    timestamp: &'a str,
    level: &'static str,
    pid: u32,
    logger: &'static str,
    /// The line `access_log_format` makes, so a format users rely on is still there.
    message: &'a str,
    /// Empty on a Unix socket, as Gunicorn's `h` atom.
    remote_addr: String,
    method: &'a str,
    /// The request target as received (path and query, still percent-encoded).
    target: &'a str,
    /// `PATH_INFO`, percent-decoded.
    path: &'a str,
    query: &'a str,
    protocol: String,
    status: u16,
    /// Body bytes sent; `null` when unknown.
    bytes: Option<u64>,
    /// Seconds, with microseconds (Gunicorn's `L` atom, as a number).
    duration: f64,
    referer: Option<String>,
    user_agent: Option<String>,
    /// The user of `Authorization: Basic` (Gunicorn's `u` atom).
    user: Option<String>,
}

/// An error-log record as one line (newline included). A traceback inside `message` goes to
/// its own `traceback` field, whole: one record, however many lines it has.
pub fn error_line(level: LogLevel, message: &str) -> String {
    let (message, traceback) = split_traceback(message);
    let line = ErrorLine {
        timestamp: &timestamp(),
        level: level.name(),
        pid: std::process::id(),
        logger: "gunicorn.error",
        message,
        traceback,
    };
    to_line(&line)
}

/// A message's text before a Python traceback, and the traceback (`Traceback (most recent
/// call last):` to the end). A bare traceback is summed up by its last line (`ValueError: …`).
pub fn split_traceback(message: &str) -> (&str, Option<&str>) {
    let message = message.trim_end_matches('\n');
    match message.find(TRACEBACK) {
        Some(at) => {
            let (before, traceback) = message.split_at(at);
            let before = before.trim_end();
            let summary = if before.is_empty() {
                traceback.lines().last().unwrap_or_default()
            } else {
                before
            };
            (summary, Some(traceback))
        }
        None => (message, None),
    }
}

/// An access record as one line; `message` is what `access_log_format` renders.
pub fn access_line(record: &AccessRecord<'_>, message: &str) -> String {
    let micros = record.duration.as_micros();
    let line = AccessLine {
        timestamp: &timestamp(),
        level: "info",
        pid: std::process::id(),
        logger: "gunicorn.access",
        message,
        remote_addr: record.peer.map(|ip| ip.to_string()).unwrap_or_default(),
        method: record.method,
        target: record.uri,
        path: record.path_info,
        query: record.query,
        protocol: format!("HTTP/{}.{}", record.version.0, record.version.1),
        status: record.status,
        bytes: record.bytes,
        duration: micros as f64 / 1e6,
        referer: record.header("REFERER"),
        user_agent: record.header("USER-AGENT"),
        user: record.user(),
    };
    to_line(&line)
}

/// A line some process wrote to its stdout or stderr that is not a record already (a
/// `print()`, a warning from a library), as a record of `pid`; `None` when `line` is one.
pub fn foreign_line(pid: i32, stream: &'static str, line: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(line);
    let text = text.trim_end_matches(['\n', '\r']);
    if text.starts_with('{') && serde_json::from_str::<serde::de::IgnoredAny>(text).is_ok() {
        return None;
    }
    #[derive(Serialize)]
    struct Foreign<'a> {
        timestamp: &'a str,
        level: &'static str,
        pid: i32,
        logger: &'static str,
        message: &'a str,
    }
    Some(to_line(&Foreign {
        timestamp: &timestamp(),
        level: "info",
        pid,
        logger: stream,
        message: text,
    }))
}

fn to_line(value: &impl Serialize) -> String {
    // Serializing plain structs of strings and numbers cannot fail; a NaN would (there is
    // none: durations are finite).
    let mut line = serde_json::to_string(value).unwrap_or_default();
    line.push('\n');
    line
}

/// Now, local time, ISO 8601 / RFC 3339 with milliseconds: `2026-11-30T01:02:03.456+00:00`.
pub fn timestamp() -> String {
    let Some((tm, millis)) = crate::log::local_now() else {
        return String::new();
    };
    let offset = tm.tm_gmtoff / 60;
    let sign = if offset < 0 { '-' } else { '+' };
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}:{:02}",
        tm.tm_year + 1900,
        tm.tm_mon + 1,
        tm.tm_mday,
        tm.tm_hour,
        tm.tm_min,
        tm.tm_sec,
        millis,
        sign,
        offset.abs() / 60,
        offset.abs() % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::Value;

    #[test]
    fn a_traceback_is_one_record_with_its_own_field() {
        let msg = "Error handling request GET /\nTraceback (most recent call last):\n  File \"app.py\", line 1\nValueError: \"bad\"\n";
        let v: Value = serde_json::from_str(&error_line(LogLevel::Error, msg)).unwrap();
        assert_eq!(v["message"], "Error handling request GET /");
        assert_eq!(v["level"], "error");
        assert!(v["traceback"]
            .as_str()
            .unwrap()
            .ends_with("ValueError: \"bad\""));
        let bare = error_line(LogLevel::Error, &msg[msg.find("Traceback").unwrap()..]);
        let v: Value = serde_json::from_str(&bare).unwrap();
        assert_eq!(v["message"], "ValueError: \"bad\"");
    }

    #[test]
    fn foreign_lines_are_wrapped_unless_they_are_objects() {
        assert_eq!(foreign_line(7, "stdout", b"{\"a\": 1}\n"), None);
        let v: Value =
            serde_json::from_str(&foreign_line(7, "stderr", b"x\x01\xff\"\n").unwrap()).unwrap();
        assert_eq!(v["message"], "x\u{1}\u{fffd}\"");
        assert_eq!(v["pid"], 7);
    }

    #[test]
    fn timestamps_are_rfc3339() {
        let t = timestamp();
        assert_eq!(t.len(), "2026-11-30T01:02:03.456+00:00".len(), "{t}");
        assert_eq!(&t[10..11], "T");
    }
}
