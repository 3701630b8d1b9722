//! The environ every WSGI kind gives (PEP 3333; Gunicorn 27's `wsgi.create`,
//! reference/gunicorn.md §6), checked per kind through tests/apps/wsgi_probe.py's `/keys`:
//! tornado's `WSGIContainer` builds its own, thinner one, which the tornado kind replaces
//! with the one the others give. Each request of [`CASES`] on a connection of its own; the
//! keys must be exactly [`BASE`] and the request's own, with the values the case names.

use crate::support::*;
use serde_json::{json, Value};

/// The keys of every request over TCP (src/wsgi/environ.rs), besides its header fields.
const BASE: [&str; 21] = [
    "PATH_INFO",
    "QUERY_STRING",
    "RAW_URI",
    "REMOTE_ADDR",
    "REMOTE_PORT",
    "REQUEST_METHOD",
    "SCRIPT_NAME",
    "SERVER_NAME",
    "SERVER_PORT",
    "SERVER_PROTOCOL",
    "SERVER_SOFTWARE",
    "wsgi.early_hints",
    "wsgi.errors",
    "wsgi.file_wrapper",
    "wsgi.input",
    "wsgi.input_terminated",
    "wsgi.multiprocess",
    "wsgi.multithread",
    "wsgi.run_once",
    "wsgi.url_scheme",
    "wsgi.version",
];

/// One request, the keys it adds to [`BASE`], and the values it must see.
struct Case {
    name: &'static str,
    raw: &'static [u8],
    more_keys: &'static [&'static str],
    values: &'static [(&'static str, &'static str)],
    body: &'static str,
}

const CASES: [Case; 9] = [
    Case {
        name: "a query; SERVER_NAME from the listener, not Host",
        raw: b"GET /keys/a?x=1&y=%20z HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
        more_keys: &["HTTP_HOST"],
        values: &[
            ("REQUEST_METHOD", "GET"),
            ("PATH_INFO", "/keys/a"),
            ("QUERY_STRING", "x=1&y=%20z"),
            ("RAW_URI", "/keys/a?x=1&y=%20z"),
            ("SCRIPT_NAME", ""),
            ("SERVER_PROTOCOL", "HTTP/1.1"),
            ("HTTP_HOST", "example.com:8080"),
            ("wsgi.url_scheme", "http"),
        ],
        body: "",
    },
    Case {
        // PEP 3333 "Unicode Issues": the decoded bytes as latin-1; %2F decoded too (Gunicorn).
        name: "a percent-encoded non-ASCII path",
        raw: b"GET /keys/caf%C3%A9/%2Fx HTTP/1.1\r\nHost: h\r\n\r\n",
        more_keys: &["HTTP_HOST"],
        values: &[
            ("PATH_INFO", "/keys/caf\u{c3}\u{a9}//x"),
            ("RAW_URI", "/keys/caf%C3%A9/%2Fx"),
            ("QUERY_STRING", ""),
        ],
        body: "",
    },
    Case {
        name: "a repeated field, joined with a comma",
        raw: b"GET /keys HTTP/1.1\r\nHost: h\r\nX-Dup: 1\r\nX-Dup: 2\r\n\r\n",
        more_keys: &["HTTP_HOST", "HTTP_X_DUP"],
        values: &[("HTTP_X_DUP", "1,2")],
        body: "",
    },
    Case {
        // RFC 3875 §4.1.2–3: the CGI names, not HTTP_CONTENT_*.
        name: "a body with Content-Length",
        raw: b"POST /keys HTTP/1.1\r\nHost: h\r\nContent-Type: text/plain\r\n\
               Content-Length: 5\r\n\r\nhello",
        more_keys: &["HTTP_HOST", "CONTENT_TYPE", "CONTENT_LENGTH"],
        values: &[
            ("REQUEST_METHOD", "POST"),
            ("CONTENT_TYPE", "text/plain"),
            ("CONTENT_LENGTH", "5"),
        ],
        body: "hello",
    },
    Case {
        name: "a chunked body, no CONTENT_LENGTH",
        raw: b"POST /keys HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n\
               5\r\nhello\r\n0\r\n\r\n",
        more_keys: &["HTTP_HOST", "HTTP_TRANSFER_ENCODING"],
        values: &[("HTTP_TRANSFER_ENCODING", "chunked")],
        body: "hello",
    },
    Case {
        // 127.0.0.1 is in the default --forwarded-allow-ips: its X-Forwarded-Proto sets the
        // scheme (secure_scheme_headers); REMOTE_ADDR stays the peer, as in Gunicorn.
        name: "X-Forwarded-For and -Proto from a trusted peer",
        raw: b"GET /keys HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 203.0.113.9\r\n\
               X-Forwarded-Proto: https\r\n\r\n",
        more_keys: &[
            "HTTP_HOST",
            "HTTP_X_FORWARDED_FOR",
            "HTTP_X_FORWARDED_PROTO",
        ],
        values: &[
            ("wsgi.url_scheme", "https"),
            ("REMOTE_ADDR", "127.0.0.1"),
            ("HTTP_X_FORWARDED_FOR", "203.0.113.9"),
        ],
        body: "",
    },
    Case {
        // A trusted forwarder's SCRIPT_NAME (forwarder_headers) is stripped from PATH_INFO.
        name: "SCRIPT_NAME from a trusted forwarder",
        raw: b"GET /mount/keys/x HTTP/1.1\r\nHost: h\r\nSCRIPT_NAME: /mount\r\n\r\n",
        more_keys: &["HTTP_HOST", "HTTP_SCRIPT_NAME"],
        values: &[
            ("SCRIPT_NAME", "/mount"),
            ("PATH_INFO", "/keys/x"),
            ("RAW_URI", "/mount/keys/x"),
        ],
        body: "",
    },
    Case {
        // RFC 9112 §3.2.2: the path of an absolute-form target, not the whole URI.
        name: "an absolute-form target",
        raw: b"GET http://other.example/keys/abs?q=1 HTTP/1.1\r\nHost: other.example\r\n\r\n",
        more_keys: &["HTTP_HOST"],
        values: &[
            ("PATH_INFO", "/keys/abs"),
            ("QUERY_STRING", "q=1"),
            ("RAW_URI", "http://other.example/keys/abs?q=1"),
        ],
        body: "",
    },
    Case {
        name: "HTTP/1.0 without Host",
        raw: b"GET /keys/ten HTTP/1.0\r\n\r\n",
        more_keys: &[],
        values: &[("SERVER_PROTOCOL", "HTTP/1.0"), ("PATH_INFO", "/keys/ten")],
        body: "",
    },
];

/// Every case of [`CASES`] under `server`'s kind; the first difference of each case.
pub(crate) fn the_environ_is_the_one_every_kind_gives(server: &Server) -> Result<(), String> {
    let gthread = server.log().contains("Using worker: gthread");
    let mut failures = Vec::new();
    for case in &CASES {
        let mut c = Client::connect(server.port());
        c.send(case.raw);
        let r = c.response();
        if r.status != 200 {
            failures.push(format!("{}: {} {}", case.name, r.status, r.text()));
            continue;
        }
        if let Err(e) = check(&r.json(), case, server.port(), c.local_port(), gthread) {
            failures.push(format!("{}: {e}", case.name));
        }
    }
    match failures.is_empty() {
        true => Ok(()),
        false => Err(failures.join("\n  ")),
    }
}

/// Every difference between what the app saw and what `case` wants, as one line.
fn check(
    seen: &Value,
    case: &Case,
    port: u16,
    client_port: u16,
    gthread: bool,
) -> Result<(), String> {
    let mut wrong = Vec::new();
    let mut want: Vec<&str> = BASE.iter().chain(case.more_keys).copied().collect();
    want.sort_unstable();
    let keys: Vec<&str> = seen["keys"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    if keys != want {
        let missing: Vec<_> = want.iter().filter(|k| !keys.contains(k)).collect();
        let extra: Vec<_> = keys.iter().filter(|k| !want.contains(k)).collect();
        wrong.push(format!("keys missing {missing:?}, not expected {extra:?}"));
    }
    let values = &seen["values"];
    let software = concat!("gunicorn-rs/", env!("CARGO_PKG_VERSION"));
    let every: [(&str, Value); 9] = [
        ("SERVER_NAME", json!("127.0.0.1")),
        ("SERVER_PORT", json!(port.to_string())),
        ("REMOTE_PORT", json!(client_port.to_string())),
        ("REMOTE_ADDR", json!("127.0.0.1")),
        ("SERVER_SOFTWARE", json!(software)),
        ("wsgi.input_terminated", json!(true)),
        ("wsgi.run_once", json!(false)),
        // One worker; only gthread's threads run the app at once (PEP 3333).
        ("wsgi.multiprocess", json!(false)),
        ("wsgi.multithread", json!(gthread)),
    ];
    let named = case.values.iter().map(|(k, v)| (*k, json!(v)));
    for (key, value) in every.into_iter().chain(named) {
        if values[key] != value {
            wrong.push(format!("{key}: want {value}, got {}", values[key]));
        }
    }
    let rest = [
        ("version", json!([1, 0])),
        ("not_str", json!([])),
        ("body", json!(case.body)),
        (
            "can",
            json!({"input": true, "errors": true, "file_wrapper": true, "early_hints": true}),
        ),
    ];
    for (key, value) in rest {
        if seen[key] != value {
            wrong.push(format!("{key}: want {value}, got {}", seen[key]));
        }
    }
    match wrong.is_empty() {
        true => Ok(()),
        false => Err(wrong.join("; ")),
    }
}
