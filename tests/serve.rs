//! Serving requests: the response framing of the sync worker, the WSGI environ, request bodies
//! (length, chunked, 100-continue, streamed uploads, truncation), unix sockets, slow clients and
//! PEP 3333 conformance through `wsgiref.validate`. Request bodies are in tests/serve/bodies.rs,
//! the validator in tests/serve/validator.rs (`serve::bodies::…`, `serve::validator::…`).

use crate::support::*;
use std::io::{Read, Write};
use std::net::{Shutdown, TcpStream};
use std::time::{Duration, Instant};

mod bodies;
mod validator;

#[test]
fn hello_has_gunicorn_response_headers() {
    let server = Server::hello(&[], 1);
    let raw = server.http(b"GET / HTTP/1.1\r\nHost: localhost\r\n\r\n");
    assert_eq!(
        count_status_lines(&raw),
        1,
        "{}",
        String::from_utf8_lossy(&raw)
    );
    let resp = parse_one(&raw, false);
    assert_eq!(resp.version, "HTTP/1.1");
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "Hello, World!\n");
    assert_eq!(resp.header("Content-Length"), Some("14"));
    assert_eq!(resp.header("Server"), Some("gunicorn-rs"));
    assert_eq!(
        resp.header("Connection"),
        Some("close"),
        "sync worker: one request per connection"
    );
    let date = resp.header("Date").expect("Date header");
    assert!(
        date.ends_with(" GMT") && date.len() == 29,
        "RFC 7231 IMF-fixdate, got {date:?}"
    );
    assert_eq!(resp.header_count("Server"), 1);
    assert!(resp.complete);
}

/// `[2026-11-27 01:16:57 +0000] [PID] [LEVEL] message` → (pid, level, message).
fn parse_log_line(line: &str) -> Option<(u32, &str, &str)> {
    let b = line.as_bytes();
    let date_ok = b.len() > 28
        && b[0] == b'['
        && b[5] == b'-'
        && b[8] == b'-'
        && b[11] == b' '
        && b[14] == b':'
        && b[17] == b':'
        && b[20] == b' '
        && (b[21] == b'+' || b[21] == b'-')
        && b[26] == b']'
        && b[27] == b' ';
    if !date_ok {
        return None;
    }
    let rest = line[28..].strip_prefix('[')?;
    let (pid, rest) = rest.split_once("] [")?;
    let (level, message) = rest.split_once("] ")?;
    Some((pid.parse().ok()?, level, message))
}

#[test]
fn error_log_lines_in_gunicorn_format() {
    let mut server = Server::hello(&[], 2);
    let master = server.master_pid();
    let workers = server.worker_pids();
    server.stop();
    let lines = server.stderr.snapshot();
    let parsed: Vec<(u32, &str, &str)> = lines
        .iter()
        .map(|l| parse_log_line(l).unwrap_or_else(|| panic!("not Gunicorn's log format: {l:?}")))
        .collect();
    let has = |pid: u32, level: &str, message: &str| {
        parsed
            .iter()
            .any(|&(p, l, m)| p == pid && l == level && m == message)
    };
    assert!(
        has(master, "INFO", "Starting gunicorn-rs 0.1.0"),
        "{lines:#?}"
    );
    let listening = format!(
        "Listening at: http://127.0.0.1:{} ({master})",
        server.port()
    );
    assert!(has(master, "INFO", &listening), "{lines:#?}");
    assert!(has(master, "INFO", "Using worker: sync"), "{lines:#?}");
    for &w in &workers {
        assert!(
            has(w, "INFO", &format!("Booting worker with pid: {w}")),
            "worker {w}: {lines:#?}"
        );
        assert!(
            has(w, "INFO", &format!("Worker exiting (pid: {w})")),
            "worker {w}: {lines:#?}"
        );
    }
    assert!(has(master, "INFO", "Handling signal: term"), "{lines:#?}");
    assert!(has(master, "INFO", "Shutting down: Master"), "{lines:#?}");
    let order: Vec<&str> = parsed.iter().map(|&(_, _, m)| m).collect();
    let pos = |m: &str| order.iter().position(|x| x.starts_with(m)).unwrap();
    assert!(pos("Starting") < pos("Listening at") && pos("Listening at") < pos("Booting worker"));
    assert!(pos("Handling signal: term") < pos("Shutting down: Master"));
}

#[test]
fn access_log_uses_gunicorn_default_format() {
    let server = Server::hello(&["--access-logfile", "-"], 1);
    let raw = server.http(
        b"GET /?a=1 HTTP/1.1\r\nHost: localhost\r\nReferer: http://ref.example/\r\nUser-Agent: test-agent/1.0\r\n\r\n",
    );
    assert_eq!(parse_one(&raw, false).status, 200);
    let tail = r#"] "GET /?a=1 HTTP/1.1" 200 14 "http://ref.example/" "test-agent/1.0""#;
    let line = server.stdout.find_from(0, tail, WAIT).unwrap_or_else(|| {
        panic!(
            "no access-log line ending {tail:?} on stdout:\n{}",
            server.stdout.text()
        )
    });
    assert!(line.starts_with("127.0.0.1 - - ["), "h l u atoms: {line:?}");
    // [27/Nov/2026:01:17:04 +0000]
    let t = &line["127.0.0.1 - - [".len()..line.find(tail).unwrap()];
    assert_eq!(
        t.len(),
        26,
        "%(t)s is [dd/Mon/yyyy:HH:MM:SS +zzzz], got {t:?}"
    );
    assert_eq!(&t[2..3], "/");
    assert!(line.ends_with(tail), "{line:?}");
}

#[test]
fn environ_matches_gunicorn() {
    let server = Server::hello(&[], 2);
    let mut stream = server.connect();
    let local_port = stream.local_addr().unwrap().port();
    let mut req =
        b"GET /env/caf%C3%A9/a%20b?x=%20y&z HTTP/1.1\r\nHost: example.com:9999\r\n".to_vec();
    req.extend_from_slice(
        b"X-Multi: a\r\nX-Multi: b\r\nX_Under: dropped\r\nX-Latin: caf\xe9\r\n\r\n",
    );
    stream.write_all(&req).unwrap();
    let resp = parse_one(&read_all(&mut stream), false);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let env = resp.json();
    let s = |k: &str| env.get(k).and_then(|v| v.as_str()).map(str::to_string);

    assert_eq!(s("REQUEST_METHOD").as_deref(), Some("GET"));
    assert_eq!(s("SCRIPT_NAME").as_deref(), Some(""));
    // Percent-decoded bytes, as latin-1 code points (PEP 3333): %C3%A9 → "Ã©".
    assert_eq!(s("PATH_INFO").as_deref(), Some("/env/caf\u{c3}\u{a9}/a b"));
    assert_eq!(
        s("QUERY_STRING").as_deref(),
        Some("x=%20y&z"),
        "QUERY_STRING is raw"
    );
    assert_eq!(
        s("RAW_URI").as_deref(),
        Some("/env/caf%C3%A9/a%20b?x=%20y&z")
    );
    assert_eq!(s("SERVER_PROTOCOL").as_deref(), Some("HTTP/1.1"));
    // From the bound socket, not from the Host header.
    assert_eq!(s("SERVER_NAME").as_deref(), Some("127.0.0.1"));
    assert_eq!(s("SERVER_PORT"), Some(server.port().to_string()));
    assert_eq!(s("HTTP_HOST").as_deref(), Some("example.com:9999"));
    assert_eq!(s("REMOTE_ADDR").as_deref(), Some("127.0.0.1"));
    assert_eq!(s("REMOTE_PORT"), Some(local_port.to_string()));
    assert_eq!(
        s("HTTP_X_MULTI").as_deref(),
        Some("a,b"),
        "repeated fields joined with ','"
    );
    assert_eq!(
        s("HTTP_X_LATIN").as_deref(),
        Some("caf\u{e9}"),
        "header values are latin-1"
    );
    assert_eq!(s("wsgi.url_scheme").as_deref(), Some("http"));
    let keys: Vec<&str> = env["__keys__"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k.as_str().unwrap())
        .collect();
    assert!(
        !keys.iter().any(|k| k.contains("UNDER")),
        "headers with '_' are dropped: {keys:?}"
    );
    assert!(
        !keys.contains(&"CONTENT_LENGTH"),
        "CONTENT_LENGTH only when sent: {keys:?}"
    );
    for key in [
        "wsgi.input",
        "wsgi.errors",
        "wsgi.file_wrapper",
        "wsgi.input_terminated",
        "wsgi.version",
    ] {
        assert!(keys.contains(&key), "environ lacks {key}: {keys:?}");
    }
    // The per-listener template holds the per-request keys as None and spare keys it deletes:
    // neither may reach the app.
    let types = env["__types__"].as_object().unwrap();
    assert!(
        !types.values().any(|t| t == "NoneType"),
        "a value left unset: {types:?}"
    );
    assert!(keys.iter().all(|k| !k.contains('\0')), "{keys:?}");
    let wsgi = &env["__wsgi__"];
    assert_eq!(wsgi["version"], serde_json::json!([1, 0]));
    assert_eq!(wsgi["multiprocess"], serde_json::json!(true), "2 workers");
    assert_eq!(wsgi["multithread"], serde_json::json!(false), "sync worker");
    assert_eq!(wsgi["run_once"], serde_json::json!(false));
    assert_eq!(wsgi["input_terminated"], serde_json::json!(true));

    let raw = server.http(b"POST /env HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello");
    let env = parse_one(&raw, false).json();
    assert_eq!(env["CONTENT_LENGTH"], "5");
    assert_eq!(env["CONTENT_TYPE"], "text/plain");
    let keys = env["__keys__"].as_array().unwrap();
    assert!(
        !keys
            .iter()
            .any(|k| k == "HTTP_CONTENT_LENGTH" || k == "HTTP_CONTENT_TYPE"),
        "{keys:?}"
    );
}

#[test]
fn head_sends_headers_only() {
    let server = Server::hello(&[], 1);
    let get = server.get("/head");
    assert_eq!(get.status, 200);
    assert!(!get.body.is_empty());
    let raw = server.http(b"HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n");
    let end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a response head")
        + 4;
    assert_eq!(&raw[end..], b"", "HEAD response carries no body bytes");
    let head = parse_one(&raw, true);
    assert_eq!(head.status, 200);
    // The app sets Content-Length, so the HEAD answer must carry it.
    assert_eq!(
        head.header("Content-Length"),
        Some(get.body.len().to_string().as_str()),
        "HEAD's Content-Length is the GET body's"
    );
}

#[test]
fn chunked_response_when_an_http11_app_gives_no_length() {
    let server = Server::hello(&[], 1);
    let resp = server.get("/nolength");
    assert_eq!(resp.status, 200);
    assert!(
        resp.chunked,
        "Transfer-Encoding: chunked expected, headers {:?}",
        resp.headers
    );
    assert!(resp.complete, "terminal chunk present");
    assert_eq!(resp.header("Content-Length"), None);
    assert_eq!(
        resp.text(),
        "part1part2",
        "an empty app chunk must not end the chunked body"
    );
}

#[test]
fn http10_response_is_close_delimited() {
    let server = Server::hello(&[], 1);
    let raw = server.http(b"GET /nolength HTTP/1.0\r\n\r\n");
    let resp = parse_one(&raw, false);
    assert_eq!(resp.status, 200);
    assert_eq!(
        resp.header("Transfer-Encoding"),
        None,
        "no chunked coding for HTTP/1.0"
    );
    assert_eq!(resp.text(), "part1part2");
    assert_eq!(resp.header("Connection"), Some("close"));
}

#[test]
fn unix_socket_listener() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("g.sock");
    let bind = format!("unix:{}", path.display());
    let apps = apps();
    let mut server = Server::start(
        &["-b", &bind, "-w", "1", "--chdir", &apps, "hello:app"],
        &[],
    );
    assert!(
        server.listening().starts_with("unix:"),
        "Listening at: {}",
        server.listening()
    );
    assert!(server.listening().ends_with("g.sock"));
    let raw = http_unix(
        &path,
        b"GET /env HTTP/1.1\r\nHost: example.com:8080\r\n\r\n",
    );
    let env = parse_one(&raw, false).json();
    assert_eq!(env["REMOTE_ADDR"], "", "no peer address on a unix socket");
    assert_eq!(
        env["SERVER_NAME"], "example.com",
        "unix socket: SERVER_NAME from Host"
    );
    assert_eq!(env["SERVER_PORT"], "8080");
    let types = env["__types__"].as_object().unwrap();
    assert!(
        !types.values().any(|t| t == "NoneType"),
        "a value left unset: {types:?}"
    );
    let keys = env["__keys__"].as_array().unwrap();
    assert!(!keys.iter().any(|k| k == "REMOTE_PORT"), "{keys:?}");
    assert!(server.stop().success());
    assert!(!path.exists(), "the socket file is removed on shutdown");
}

#[test]
fn slow_header_clients_do_not_starve_the_workers() {
    // 4 clients trickle a header line every 200 ms, twice as many as workers; with a 1 s
    // head-read deadline each is dropped after ~1 s, so a normal request waits ~2 s at most.
    // (Gunicorn 27 loses each worker for the whole --timeout: 30 s.)
    let server = Server::hello(&["--header-timeout", "1"], 2);
    let port = server.port();
    let slow: Vec<_> = (0..4)
        .map(|_| {
            let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
            s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
            s.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
            let mut dripper = s.try_clone().unwrap();
            std::thread::spawn(move || {
                let until = Instant::now() + Duration::from_secs(10);
                while Instant::now() < until && dripper.write_all(b"X-Drip: 1\r\n").is_ok() {
                    std::thread::sleep(Duration::from_millis(200));
                }
            });
            s
        })
        .collect();
    let started = Instant::now();
    let resp = server.get("/");
    let waited = started.elapsed();
    assert_eq!(resp.status, 200);
    assert!(
        waited < Duration::from_secs(5),
        "a normal request waited {waited:?} behind 4 slow clients"
    );
    for mut s in slow {
        // Each slow client is closed (possibly after a 408), never served a 200.
        let mut buf = Vec::new();
        let _ = s.read_to_end(&mut buf);
        assert!(
            !buf.starts_with(b"HTTP/1.1 200"),
            "a slow client was served: {:?}",
            String::from_utf8_lossy(&buf)
        );
        let _ = s.shutdown(Shutdown::Both);
    }
}
