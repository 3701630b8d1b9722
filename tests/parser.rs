//! Gunicorn's HTTP/1 request corpus (`tests/requests/`), checked against what gunicorn 27.0.1's
//! own parser produced (`expected.json`), with the bytes fed whole, line by line, byte by byte
//! and in seeded random splits. The parser is driven like a server drives it: buffer, parse a
//! head, decode its body, go on with the next request until one must close.

use gunicorn_rs::config::{HeaderMap, ProxyProtocol};
use gunicorn_rs::http::{ParserConfig, PeerTrust};
use serde_json::Value;

// Driving the parser over pieces of bytes.
mod feed;
use feed::{chunkings, serve, Seen};
// The fuzz pass over mutated fixtures.
mod mutated;
// The fixtures: the corpus's files as wire bytes, and where we are stricter than Gunicorn.
mod fixtures;
pub(crate) use fixtures::*;

/// The fixture's settings applied to Gunicorn's defaults, and the trust of a peer whose
/// address is unknown (Gunicorn's test parser: PROXY allowed, forwarded only with `*`).
fn settings(config: Option<&Value>) -> (ParserConfig, PeerTrust) {
    let mut cfg = ParserConfig::default();
    let mut trust = PeerTrust {
        proxy: true,
        ..PeerTrust::default()
    };
    let Some(Value::Object(map)) = config else {
        return (cfg, trust);
    };
    for (key, value) in map {
        let num = || {
            value
                .as_u64()
                .and_then(|n| usize::try_from(n).ok())
                .expect("numeric setting")
        };
        let flag = || value.as_bool().expect("boolean setting");
        match key.as_str() {
            "limit_request_line" => cfg.limit_request_line = num(),
            "limit_request_fields" => cfg.limit_request_fields = num(),
            "limit_request_field_size" => cfg.limit_request_field_size = num(),
            "permit_obsolete_folding" => cfg.permit_obsolete_folding = flag(),
            "strip_header_spaces" => cfg.strip_header_spaces = flag(),
            "permit_unconventional_http_method" => cfg.permit_unconventional_http_method = flag(),
            "permit_unconventional_http_version" => cfg.permit_unconventional_http_version = flag(),
            "casefold_http_method" => cfg.casefold_http_method = flag(),
            "header_map" => {
                cfg.header_map = match value.as_str() {
                    Some("drop") => HeaderMap::Drop,
                    Some("refuse") => HeaderMap::Refuse,
                    Some("dangerous") => HeaderMap::Dangerous,
                    other => panic!("header_map {other:?}"),
                }
            }
            "proxy_protocol" => {
                cfg.proxy_protocol = match value.as_str() {
                    Some("v1") => ProxyProtocol::V1,
                    Some("v2") => ProxyProtocol::V2,
                    Some("auto") => ProxyProtocol::Auto,
                    other => panic!("proxy_protocol {other:?}"),
                }
            }
            "forwarded_allow_ips" => {
                trust.forwarded = value
                    .as_array()
                    .is_some_and(|ips| ips.iter().any(|ip| ip == "*"))
            }
            other => panic!("fixture setting {other} not handled"),
        }
    }
    (cfg, trust)
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn pairs(list: &[(String, Vec<u8>)]) -> Vec<(String, String)> {
    list.iter().map(|(n, v)| (n.clone(), latin1(v))).collect()
}

fn expected_pairs(value: &Value) -> Vec<(String, String)> {
    let list = value.as_array().map(Vec::as_slice).unwrap_or_default();
    list.iter()
        .map(|pair| {
            let s = |i: usize| {
                pair[i]
                    .as_str()
                    .expect("header pair of strings")
                    .to_string()
            };
            (s(0), s(1))
        })
        .collect()
}

/// Compare one request with its expectation; returns a description of the first difference.
fn compare(seen: &Seen, want: &Value) -> Result<(), String> {
    let h = &seen.head;
    let text = |k: &str| want[k].as_str().unwrap_or_default().to_string();
    let checks: [(&str, String, String); 6] = [
        ("method", h.method.clone(), text("method")),
        ("uri", h.uri.clone(), text("uri")),
        ("path", h.path.clone(), text("path")),
        ("query", h.query.clone(), text("query")),
        ("fragment", h.fragment.clone(), text("fragment")),
        ("body", latin1(&seen.body), text("body")),
    ];
    for (what, got, exp) in checks {
        if got != exp {
            return Err(format!("{what}: got {got:?}, want {exp:?}"));
        }
    }
    let version = [u64::from(h.version.0), u64::from(h.version.1)];
    let want_version: Vec<u64> = want["version"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_u64)
        .collect();
    if version[..] != want_version[..] {
        return Err(format!("version: got {version:?}, want {want_version:?}"));
    }
    if pairs(&h.headers) != expected_pairs(&want["headers"]) {
        return Err(format!(
            "headers: got {:?}, want {}",
            pairs(&h.headers),
            want["headers"]
        ));
    }
    if pairs(&seen.trailers) != expected_pairs(&want["trailers"]) {
        return Err(format!(
            "trailers: got {:?}, want {}",
            pairs(&seen.trailers),
            want["trailers"]
        ));
    }
    compare_proxy(seen, &want["proxy_protocol_info"])
}

fn compare_proxy(seen: &Seen, want: &Value) -> Result<(), String> {
    let got = seen.head.proxy.as_ref().map(|p| {
        serde_json::json!({
            "proxy_protocol": p.protocol, "client_addr": p.client_addr, "client_port": p.client_port,
            "proxy_addr": p.proxy_addr, "proxy_port": p.proxy_port,
        })
    });
    let want = if want.is_null() {
        None
    } else {
        Some(want.clone())
    };
    if got != want {
        return Err(format!("proxy: got {got:?}, want {want:?}"));
    }
    Ok(())
}

fn check_valid(name: &str, fixture: &Value, bytes: &[u8]) -> Vec<String> {
    let want = fixture["requests"].as_array().expect("requests list");
    let Some((_, rule, kind)) = STRICTER.iter().find(|(n, ..)| *n == name) else {
        return check_accepted(name, fixture, bytes, want);
    };
    let (cfg, trust) = settings(fixture.get("config"));
    let mut failures = Vec::new();
    for (how, pieces) in chunkings(bytes) {
        let out = serve(&pieces, &cfg, trust);
        let got = out.error.as_ref().map(|e| (e.kind(), e.status()));
        if got != Some((kind, Some(400))) {
            failures.push(format!(
                "valid/{name} ({how}): {got:?}, want {kind} 400 ({rule})"
            ));
        }
    }
    if host_required(rule) {
        let (bytes, added) = with_host(bytes, want);
        assert_eq!(added, want.len(), "valid/{name}: a Host line per request");
        let host = serde_json::json!(["HOST", ADDED_HOST]);
        let want: Vec<Value> = want
            .iter()
            .map(|r| {
                let mut r = r.clone();
                if let Some(headers) = r["headers"].as_array_mut() {
                    headers.insert(0, host.clone());
                }
                r
            })
            .collect();
        failures.extend(check_accepted(name, fixture, &bytes, &want));
    }
    failures
}

fn check_accepted(name: &str, fixture: &Value, bytes: &[u8], want: &[Value]) -> Vec<String> {
    let (cfg, trust) = settings(fixture.get("config"));
    let mut failures = Vec::new();
    for (how, pieces) in chunkings(bytes) {
        let out = serve(&pieces, &cfg, trust);
        let fail = |msg: String| format!("valid/{name} ({how}): {msg}");
        let truncated = TRUNCATED_BODY.contains(&name);
        match (&out.error, truncated) {
            (None, false) => {}
            (Some(_), true) if out.requests.is_empty() => {
                let exp = want[0]["body"].as_str().unwrap_or_default();
                if latin1(&out.partial_body) != exp {
                    failures.push(fail("truncated body differs".into()));
                }
                continue;
            }
            (err, _) => {
                failures.push(fail(format!(
                    "error {err:?} (truncated-body fixture: {truncated})"
                )));
                continue;
            }
        }
        if out.requests.len() != want.len() {
            failures.push(fail(format!(
                "{} requests, want {}",
                out.requests.len(),
                want.len()
            )));
            continue;
        }
        for (i, (seen, exp)) in out.requests.iter().zip(want).enumerate() {
            if let Err(msg) = compare(seen, exp) {
                failures.push(fail(format!("request {i}: {msg}")));
            }
        }
    }
    failures
}

/// Kind and status must match in every chunking; the message is checked on the whole feed
/// (Gunicorn's own messages for limit errors depend on how much it had read).
fn check_invalid(
    name: &str,
    fixture: &Value,
    bytes: &[u8],
    messages: &mut Vec<String>,
) -> Vec<String> {
    let (cfg, trust) = settings(fixture.get("config"));
    let kind = fixture["exception"].as_str().expect("exception");
    let status = fixture["http_status"].as_u64().map(|s| s as u16);
    let mut failures = Vec::new();
    let mut bytes = bytes.to_vec();
    if let Some((_, rule, ours)) = STRICTER_INVALID.iter().find(|(n, ..)| *n == name) {
        // Refused for the missing Host first; with it, for Gunicorn's reason.
        for (how, pieces) in chunkings(&bytes) {
            let got = serve(&pieces, &cfg, trust)
                .error
                .map(|e| (e.kind(), e.status()));
            if got != Some((ours, Some(400))) {
                failures.push(format!(
                    "invalid/{name} ({how}): {got:?}, want {ours} ({rule})"
                ));
            }
        }
        let line = memchr_crlf(&bytes) + 2;
        bytes.splice(line..line, format!("Host: {ADDED_HOST}\r\n").bytes());
    }
    for (how, pieces) in chunkings(&bytes) {
        let out = serve(&pieces, &cfg, trust);
        let Some(err) = out.error else {
            failures.push(format!("invalid/{name} ({how}): accepted, want {kind}"));
            continue;
        };
        if err.kind() != kind || err.status() != status {
            failures.push(format!(
                "invalid/{name} ({how}): {} {:?} ({err}), want {kind} {status:?}",
                err.kind(),
                err.status()
            ));
        } else if how == "whole"
            && err.to_string() != fixture["message"].as_str().unwrap_or_default()
        {
            messages.push(format!(
                "invalid/{name}: message {:?}, Gunicorn {}",
                err.to_string(),
                fixture["message"]
            ));
        }
    }
    failures
}

#[test]
fn gunicorn_request_corpus() {
    let expected: Value = serde_json::from_slice(
        &std::fs::read(corpus().join("expected.json")).expect("expected.json"),
    )
    .expect("json");
    let mut failures = Vec::new();
    let mut messages = Vec::new();
    let mut counts = (0, 0);
    for (dir, table) in [
        ("valid", &expected["valid"]),
        ("invalid", &expected["invalid"]),
    ] {
        let table = table.as_object().expect("fixture table");
        for (name, fixture) in table {
            let bytes =
                wire_bytes(&std::fs::read(corpus().join(dir).join(name)).expect("fixture file"));
            let found = if dir == "valid" {
                check_valid(name, fixture, &bytes)
            } else {
                check_invalid(name, fixture, &bytes, &mut messages)
            };
            if found.is_empty() {
                counts.0 += 1;
            }
            counts.1 += 1;
            failures.extend(found);
        }
    }
    eprintln!(
        "corpus: {} of {} fixtures pass in every chunking",
        counts.0, counts.1
    );
    failures.extend(messages);
    assert!(
        failures.is_empty(),
        "{} failures:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn corpus_is_complete() {
    let count = |dir: &str| {
        std::fs::read_dir(corpus().join(dir))
            .map(|d| d.count())
            .unwrap_or(0)
    };
    assert_eq!((count("valid"), count("invalid")), (62, 81));
}
