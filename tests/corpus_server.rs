//! Gunicorn's request corpus (tests/requests/) sent to the real server, each fixture on its own
//! connection, against `corpus_app` (a 200 for any request, saying what it received). Under
//! `-k gthread` with keep-alive: invalid fixtures get Gunicorn 27's status and a close; valid
//! ones get one 200 per request they hold, with the method, target and body length Gunicorn
//! parsed, and when the last one asks to persist, a further request on the connection is
//! answered too. Under `-k sync`: the first status line only. One server per kind.
//!
//! Fixtures with settings of their own (`config` in expected.json) need another server
//! configuration and are left to the parser tests (tests/parser.rs). The valid fixtures
//! refused on purpose (`parser::STRICTER`) are sent as they are, for a 400, and — those
//! lacking only a Host — with a Host line added, for Gunicorn's parse.

use crate::parser::{
    corpus, host_required, wire_bytes, with_host, ADDED_HOST, STRICTER, TRUNCATED_BODY,
};
use crate::support::*;
use serde_json::Value;
use std::net::Shutdown;
use std::time::Duration;

const AFTER: &[u8] = b"GET /after-fixture HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n";

#[derive(Clone)]
pub(crate) struct Fixture {
    pub(crate) name: String,
    pub(crate) bytes: Vec<u8>,
    /// The fixture's entry in expected.json (Gunicorn's parse; tests/asgi_conn.rs rewrites
    /// the targets an ASGI scope cannot carry).
    pub(crate) expected: Value,
}

/// The fixtures of `dir` that use Gunicorn's default settings.
fn fixtures(dir: &str) -> (Vec<Fixture>, usize) {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(corpus().join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let table = expected[dir].as_object().expect("fixture table");
    let mut out = Vec::new();
    let mut skipped = 0;
    for (name, fixture) in table {
        if fixture.get("config").is_some_and(|c| !c.is_null()) {
            skipped += 1;
            continue;
        }
        let text = std::fs::read(corpus().join(dir).join(name)).expect("fixture file");
        out.push(Fixture {
            name: name.clone(),
            bytes: wire_bytes(&text),
            expected: fixture.clone(),
        });
    }
    (out, skipped)
}

/// The valid fixtures refused on purpose (`parser::STRICTER`) as refusals with a 400 (their
/// status whatever the kind), and the Host ones, with a Host line added, as valid fixtures.
fn stricter() -> (Vec<Fixture>, Vec<Fixture>) {
    let (all, _) = fixtures("valid");
    let (mut valid, mut refused) = (Vec::new(), Vec::new());
    for f in all {
        let Some((_, rule, _)) = STRICTER.iter().find(|(n, ..)| *n == f.name) else {
            continue;
        };
        if host_required(rule) {
            let requests = f.expected["requests"].as_array().expect("requests");
            let mut expected = f.expected.clone();
            // Gunicorn's parse of the fixture with the added Host: that Host first.
            for request in expected["requests"].as_array_mut().into_iter().flatten() {
                if let Some(headers) = request["headers"].as_array_mut() {
                    headers.insert(0, serde_json::json!(["HOST", ADDED_HOST]));
                }
            }
            valid.push(Fixture {
                name: format!("{} + Host", f.name),
                bytes: with_host(&f.bytes, requests).0,
                expected,
            });
        }
        // The sync kind answers only the first request: an HTTP/1.0 one before the refused
        // request gets its 200 there.
        let first_ok = f.expected["requests"][0]["version"] == serde_json::json!([1, 0]);
        let sync = if first_ok { 200 } else { 400 };
        refused.push(Fixture {
            name: format!("{} ({rule})", f.name),
            expected: serde_json::json!({ "http_status": 400, "sync_status": sync }),
            ..f
        });
    }
    (valid, refused)
}

/// Does this request (as Gunicorn parsed it) keep the connection (RFC 9112 §9.3, with
/// Gunicorn's `should_close`: CONNECT and a compression transfer coding close; then the first
/// Connection field decides; then HTTP/1.0 closes)?
fn persists(request: &Value) -> bool {
    let headers: Vec<(&str, String)> = request["headers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|h| {
            let value = h[1]
                .as_str()
                .unwrap_or_default()
                .trim()
                .to_ascii_lowercase();
            (h[0].as_str().unwrap_or_default(), value)
        })
        .collect();
    let compressed = headers.iter().any(|(n, v)| {
        *n == "TRANSFER-ENCODING"
            && v.split(',').any(|c| {
                matches!(
                    c.trim(),
                    "gzip" | "x-gzip" | "deflate" | "compress" | "x-compress"
                )
            })
    });
    if request["method"] == "CONNECT" || compressed {
        return false;
    }
    match headers.iter().find(|(n, _)| *n == "CONNECTION") {
        Some((_, v)) if v == "close" => return false,
        Some((_, v)) if v == "keep-alive" => return true,
        _ => {}
    }
    request["version"] == serde_json::json!([1, 1])
}

fn show(raw: &[u8]) -> String {
    let s = String::from_utf8_lossy(raw);
    s.chars().take(300).collect()
}

/// Everything the server sends until it closes; `None` if it stays open.
fn rest(c: &mut Client) -> Result<Vec<u8>, String> {
    match c.ending(Duration::from_secs(10)) {
        Ending::Eof(bytes) | Ending::Reset(bytes) => Ok(bytes),
        Ending::Open(bytes) => Err(format!("left open after {:?}", show(&bytes))),
    }
}

/// Does a 200 from corpus_app say it received `want` (method, target, body length)?
fn check_seen(resp: &Response, want: &Value) -> Result<(), String> {
    if resp.status != 200 {
        return Err(format!("status {} {:?}", resp.status, resp.text()));
    }
    let seen = resp.json();
    let body_len = want["body"].as_str().map_or(0, |b| b.chars().count());
    let expect = serde_json::json!({
        "method": want["method"], "uri": want["uri"], "body_len": body_len,
    });
    (seen == expect)
        .then_some(())
        .ok_or(format!("app saw {seen}, Gunicorn parsed {expect}"))
}

fn gthread_valid(server: &Server, f: &Fixture) -> Result<(), String> {
    let requests = f.expected["requests"].as_array().expect("requests");
    let mut c = Client::connect(server.port());
    c.send(&f.bytes);
    if TRUNCATED_BODY.contains(&f.name.as_str()) {
        // A body shorter than its Content-Length: never presented to the app as complete.
        c.stream.shutdown(Shutdown::Write).unwrap();
        let wire = rest(&mut c)?;
        let statuses: Vec<u16> = parse_all(&wire, false).iter().map(|r| r.status).collect();
        return match statuses.as_slice() {
            [] | [400] => Ok(()),
            other => Err(format!("truncated body answered {other:?}")),
        };
    }
    let persist = persists(requests.last().unwrap());
    if persist {
        c.send(AFTER);
    } else {
        c.stream.shutdown(Shutdown::Write).unwrap();
    }
    for (i, want) in requests.iter().enumerate() {
        let resp = c
            .try_response(false)
            .map_err(|e| format!("request {i}: no response: {e:?}"))?;
        check_seen(&resp, want).map_err(|e| format!("request {i}: {e}"))?;
        let conn = if persists(want) {
            "keep-alive"
        } else {
            "close"
        };
        if resp.header("Connection") != Some(conn) {
            return Err(format!(
                "request {i}: Connection {:?}, want {conn}",
                resp.header("Connection")
            ));
        }
    }
    if persist {
        let resp = c
            .try_response(false)
            .map_err(|e| format!("the request after the fixture: no response: {e:?}"))?;
        if resp.status != 200 || resp.json()["uri"] != "/after-fixture" {
            return Err(format!("the request after the fixture: {resp:?}"));
        }
    }
    match rest(&mut c)? {
        extra if extra.is_empty() => Ok(()),
        extra => Err(format!("bytes after the last response: {:?}", show(&extra))),
    }
}

/// Every response (requests before the bad one get 200s), the last with Gunicorn's status and
/// a close; or nothing at all when Gunicorn closed without answering.
fn gthread_invalid(server: &Server, f: &Fixture) -> Result<(), String> {
    let want = f.expected["http_status"].as_u64().map(|s| s as u16);
    let mut c = Client::connect(server.port());
    c.send(&f.bytes);
    c.stream.shutdown(Shutdown::Write).unwrap();
    let wire = rest(&mut c)?;
    let responses = parse_all(&wire, false);
    let Some((last, before)) = responses.split_last() else {
        return match want {
            None => Ok(()),
            Some(s) => Err(format!("no response, want {s}")),
        };
    };
    if before.iter().any(|r| r.status != 200) {
        return Err(format!("responses {:?}", show(&wire)));
    }
    if Some(last.status) != want {
        return Err(format!(
            "status {}, want {want:?}: {:?}",
            last.status,
            show(&wire)
        ));
    }
    if last.header("Connection") != Some("close") {
        return Err(format!("no close after the error: {:?}", last.headers));
    }
    Ok(())
}

/// The first status line, as Gunicorn's sync worker answered (null = no response).
fn sync_status(server: &Server, f: &Fixture, valid: bool) -> Result<(), String> {
    let mut c = Client::connect(server.port());
    c.send(&f.bytes);
    c.stream.shutdown(Shutdown::Write).unwrap();
    let wire = rest(&mut c)?;
    let first = parse_all(&wire, false).first().map(|r| r.status);
    let want = if !valid {
        let status = f
            .expected
            .get("sync_status")
            .unwrap_or(&f.expected["http_status"]);
        status.as_u64().map(|s| s as u16)
    } else if TRUNCATED_BODY.contains(&f.name.as_str()) {
        // Refused at EOF (Gunicorn hands the app the short body; see tests/parser.rs).
        return match first {
            None | Some(400) => Ok(()),
            other => Err(format!("truncated body answered {other:?}")),
        };
    } else {
        Some(200)
    };
    if first != want {
        return Err(format!(
            "status {first:?}, want {want:?}: {:?}",
            show(&wire)
        ));
    }
    if count_status_lines(&wire) > 1 {
        return Err(format!(
            "more than one response from sync: {:?}",
            show(&wire)
        ));
    }
    Ok(())
}

fn run_corpus(kind: &str, check: impl Fn(&Server, &Fixture, bool) -> Result<(), String>) {
    let mut args = vec!["-k", kind];
    if kind == "gthread" {
        args.extend(["--threads", "2"]);
    }
    let server = Server::app("corpus_app:app", &args, 1);
    run_corpus_on(&server, kind, check);
}

/// Every fixture with Gunicorn's default settings through `server` (running `corpus_app`),
/// checked by `check`; `kind` names the server in the messages.
pub(crate) fn run_corpus_on(
    server: &Server,
    kind: &str,
    check: impl Fn(&Server, &Fixture, bool) -> Result<(), String>,
) {
    let mut failures = Vec::new();
    let mut total = 0;
    let mut skipped = 0;
    for (dir, valid) in [("valid", true), ("invalid", false)] {
        let (mut list, skip) = fixtures(dir);
        skipped += skip;
        let (valid_again, refused) = stricter();
        list.retain(|f| !STRICTER.iter().any(|(n, ..)| *n == f.name));
        list.extend(if valid { valid_again } else { refused });
        for f in &list {
            total += 1;
            if let Err(e) = check(server, f, valid) {
                failures.push(format!("{dir}/{}: {e}", f.name));
            }
        }
    }
    eprintln!(
        "{kind}: {} of {total} fixtures as expected ({skipped} with their own settings skipped)",
        total - failures.len()
    );
    assert!(total > 100, "only {total} fixtures ran");
    assert_eq!(server.fetch("/alive").status, 200, "the worker survived");
    assert!(
        failures.is_empty(),
        "{kind}: {} fixtures differ:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

/// A fixture on a kept-alive connection (every kind but sync): the responses Gunicorn's parse
/// calls for, then the request after the fixture when the connection persists.
pub(crate) fn keep_alive_check(server: &Server, f: &Fixture, valid: bool) -> Result<(), String> {
    match valid {
        true => gthread_valid(server, f),
        false => gthread_invalid(server, f),
    }
}

#[test]
fn corpus_through_gthread_with_keep_alive() {
    run_corpus("gthread", keep_alive_check);
}

#[test]
fn corpus_through_sync() {
    run_corpus("sync", sync_status);
}
