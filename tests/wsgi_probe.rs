//! tests/apps/wsgi_probe.py under every WSGI kind (sync, gthread, gevent, eventlet, and tornado's
//! WSGIContainer): what the app-level differential run against Gunicorn 27
//! (tests/differential/app_diff.py) found, checked per kind through the real binary. Each
//! kind's server runs every check; a failure names its kind and check. The environ each kind
//! gives is checked in tests/wsgi_probe/environ.rs.

use crate::support::*;
use std::time::Duration;

mod environ;

const KINDS: [(&str, &[&str]); 5] = [
    ("sync", &[]),
    ("gthread", &["--threads", "4"]),
    ("gevent", &[]),
    ("eventlet", &[]),
    ("tornado", &[]),
];

type Check = fn(&Server) -> Result<(), String>;

/// An error page answers HEAD without a body (RFC 9110 §9.3.2): the app raising before
/// `start_response`, and before its first chunk. Gunicorn sends the page, which a client
/// reading the connection on takes for the start of its next response.
fn head_error_page_has_no_body(server: &Server) -> Result<(), String> {
    for path in ["/err/before", "/err/first_chunk"] {
        let mut c = Client::connect(server.port());
        c.send(format!("HEAD {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let r = c
            .try_response(true)
            .map_err(|e| format!("{path}: no response: {e:?}"))?;
        if r.status != 500 {
            return Err(format!("{path}: want a 500, got {r:?}"));
        }
        match c.ending(Duration::from_secs(10)) {
            Ending::Eof(rest) if rest.is_empty() => {}
            other => return Err(format!("{path}: bytes after the head: {}", show(&other))),
        }
    }
    Ok(())
}

/// A response that ends the connection, to a client that did not say its request was the
/// last, is followed by a lingering close (RFC 9112 §9.6): the next request the client sends
/// meets an orderly EOF, not an RST (which can destroy the response still unread at the
/// client). The app's error (a 500, `Connection: close`) under every kind, and under sync, a
/// plain response (sync answers one request per connection).
fn closing_connection_lingers(server: &Server) -> Result<(), String> {
    let sync = server.log().contains("Using worker: sync");
    let paths: &[&str] = if sync {
        &["/err/before", "/resp/list"]
    } else {
        &["/err/before"]
    };
    for path in paths {
        let mut c = Client::connect(server.port());
        c.send(format!("GET {path} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        let r = c
            .try_response(false)
            .map_err(|e| format!("{path}: no response: {e:?}"))?;
        if r.header("Connection") != Some("close") {
            return Err(format!("{path}: want Connection: close, got {r:?}"));
        }
        c.send(b"GET /resp/list HTTP/1.1\r\nHost: x\r\n\r\n");
        match c.ending(Duration::from_secs(10)) {
            Ending::Eof(rest) if rest.is_empty() => {}
            other => return Err(format!("{path}, then a request: {}", show(&other))),
        }
    }
    Ok(())
}

fn show(ending: &Ending) -> String {
    let (how, bytes) = match ending {
        Ending::Eof(b) => ("EOF", b),
        Ending::Reset(b) => ("RST", b),
        Ending::Open(b) => ("still open", b),
    };
    format!("{how} after {:?}", String::from_utf8_lossy(bytes))
}

/// The status line carries the app's own reason phrase (`299 Quite Fine Thanks`), through
/// tornado's WSGIContainer too.
fn the_apps_reason_phrase_reaches_the_client(server: &Server) -> Result<(), String> {
    let mut c = Client::connect(server.port());
    let r = c.get("/resp/reason");
    match (r.status, r.reason.as_str()) {
        (299, "Quite Fine Thanks") => Ok(()),
        _ => Err(format!("want 299 Quite Fine Thanks, got {r:?}")),
    }
}

/// `wsgi.early_hints` sends a `103 Early Hints` before the response (Gunicorn 25+; RFC 8297),
/// the connection going on after it (sync answers one request a connection); none to an
/// HTTP/1.0 client (RFC 9110 §15.2).
fn early_hints_come_first(server: &Server) -> Result<(), String> {
    let mut c = Client::connect(server.port());
    c.send(b"GET /resp/hints HTTP/1.1\r\nHost: x\r\n\r\n");
    let hints = c.next_response(false);
    let link = Some("</style.css>; rel=preload; as=style");
    if (hints.status, hints.header("Link")) != (103, link) {
        let got = (hints.status, hints.text());
        return Err(format!("want a 103 with the Link field, got {got:?}"));
    }
    let r = c.next_response(false);
    if (r.status, r.text().as_str()) != (200, "after hints") {
        return Err(format!(
            "want the 200 after the 103, got {} {}",
            r.status,
            r.text()
        ));
    }
    let sync = server.log().contains("Using worker: sync");
    if !sync && c.get("/resp/list").status != 200 {
        return Err("the connection did not go on after the hints".into());
    }
    let raw = server.http(b"GET /resp/hints HTTP/1.0\r\n\r\n");
    match parse_all(&raw, false)
        .iter()
        .map(|r| r.status)
        .collect::<Vec<_>>()[..]
    {
        [200] => Ok(()),
        ref other => Err(format!("HTTP/1.0: want only the 200, got {other:?}")),
    }
}

/// `wsgi.file_wrapper` over a file: the whole file, as the response body.
fn file_wrapper_sends_the_file(server: &Server) -> Result<(), String> {
    let file = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/apps/wsgi_probe.py");
    let want = std::fs::read(file).map_err(|e| format!("{file}: {e}"))?;
    let r = Client::connect(server.port()).get("/resp/file");
    match r.status == 200 && r.body == want {
        true => Ok(()),
        false => Err(format!(
            "want the file ({} bytes), got {} with {} bytes",
            want.len(),
            r.status,
            r.body.len()
        )),
    }
}

const CHECKS: [(&str, Check); 6] = [
    ("head_error_page_has_no_body", head_error_page_has_no_body),
    ("closing_connection_lingers", closing_connection_lingers),
    (
        "the_apps_reason_phrase_reaches_the_client",
        the_apps_reason_phrase_reaches_the_client,
    ),
    (
        "the_environ_is_the_one_every_kind_gives",
        environ::the_environ_is_the_one_every_kind_gives,
    ),
    ("early_hints_come_first", early_hints_come_first),
    ("file_wrapper_sends_the_file", file_wrapper_sends_the_file),
];

/// `--request-timeout`'s 504 answers HEAD without the page's body too (the watchdog writes it
/// from its own thread). Every kind that has the watchdog (not tornado).
#[test]
fn a_504_to_head_has_no_body() {
    let mut failures = Vec::new();
    for (kind, extra) in &KINDS[..4] {
        let mut args = vec!["-k", kind, "--request-timeout", "1"];
        args.extend_from_slice(extra);
        let server = Server::app_with("wsgi_probe:app", &args, 1, Opts::default().with_venv());
        let mut c = Client::connect(server.port());
        c.send(b"HEAD /slow HTTP/1.1\r\nHost: x\r\n\r\n");
        match c.try_response(true) {
            Ok(r) if r.status == 504 => match c.ending(Duration::from_secs(10)) {
                Ending::Eof(rest) if rest.is_empty() => {}
                other => failures.push(format!("{kind}: bytes after the head: {}", show(&other))),
            },
            other => failures.push(format!("{kind}: want a 504, got {other:?}")),
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn every_kind_answers_the_probe_as_the_differential_run_expects() {
    let mut failures = Vec::new();
    for (kind, extra) in KINDS {
        let mut args = vec!["-k", kind];
        args.extend_from_slice(extra);
        let server = Server::app_with("wsgi_probe:app", &args, 1, Opts::default().with_venv());
        for (name, check) in CHECKS {
            if let Err(e) = check(&server) {
                failures.push(format!("{kind} {name}: {e}"));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} checks failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
