//! TLS (`--certfile`, issue 10) through the real binary with real clients: curl, Python's
//! `ssl` (tests/clients/tls_client.py) and `openssl s_client`. Certificates are made per test
//! with rcgen: a CA, a server certificate for 127.0.0.1 signed by it, a client certificate,
//! an expired one and a key that matches none. The settings' refusals and warnings are in
//! tests/tls/settings.rs, client certificates and HUP reloading in tests/tls/certificates.rs,
//! resumption across workers in tests/tls/resumption.rs.

use crate::support::*;
use std::io::{Read, Write};
use std::process::Command;
use std::time::{Duration, Instant};

mod certificates;
mod resumption;
mod settings;

/// The files of one test's PKI, in its own temp dir.
pub(crate) struct Pki {
    pub(crate) dir: tempfile::TempDir,
}

impl Pki {
    pub(crate) fn new() -> Pki {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair};
        let dir = tempfile::tempdir().expect("temp dir");
        let ca_key = KeyPair::generate().unwrap();
        let mut ca = CertificateParams::new(Vec::<String>::new()).unwrap();
        ca.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca.distinguished_name
            .push(DnType::CommonName, "gunicorn-rs test CA");
        let ca_cert = ca.self_signed(&ca_key).unwrap();
        let write = |name: &str, text: String| std::fs::write(dir.path().join(name), text).unwrap();
        write("ca.pem", ca_cert.pem());
        let issue = |name: &str, cn: &str, expired: bool| {
            let key = KeyPair::generate().unwrap();
            let sans = vec!["localhost".to_string(), "127.0.0.1".to_string()];
            let mut params = CertificateParams::new(sans).unwrap();
            params.distinguished_name.push(DnType::CommonName, cn);
            if expired {
                params.not_before = rcgen::date_time_ymd(2020, 1, 1);
                params.not_after = rcgen::date_time_ymd(2021, 1, 1);
            }
            let cert = params.signed_by(&key, &ca_cert, &ca_key).unwrap();
            write(&format!("{name}.pem"), cert.pem());
            write(&format!("{name}.key"), key.serialize_pem());
        };
        issue("server", "server one", false);
        issue("renewed", "server two", false);
        issue("client", "a client", false);
        issue("expired", "server expired", true);
        write("other.key", KeyPair::generate().unwrap().serialize_pem());
        Pki { dir }
    }

    pub(crate) fn path(&self, name: &str) -> String {
        self.dir.path().join(name).to_string_lossy().into_owned()
    }

    /// `--certfile`/`--keyfile` for the certificate `name`.
    fn args(&self, name: &str) -> Vec<String> {
        vec![
            "--certfile".into(),
            self.path(&format!("{name}.pem")),
            "--keyfile".into(),
            self.path(&format!("{name}.key")),
        ]
    }
}

/// `app` under `-k kind` serving TLS with the server certificate and `extra`.
fn tls_server(pki: &Pki, kind: &str, app: &str, extra: &[&str]) -> Server {
    let mut args: Vec<String> = vec!["-k".into(), kind.into()];
    args.extend(pki.args("server"));
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    Server::app_with(app, &args, 1, Opts::default().with_venv())
}

fn client(args: &[&str]) -> serde_json::Value {
    PyClient::spawn("tls_client.py", args).finish(WAIT)
}

fn session(
    server: &Server,
    pki: &Pki,
    n: usize,
    path: &str,
    cert: Option<&str>,
) -> serde_json::Value {
    let port = server.port().to_string();
    let (ca, n) = (pki.path("ca.pem"), n.to_string());
    let mut args = vec!["session", "127.0.0.1", &port, &ca, &n, path];
    let (cert_path, key_path);
    if let Some(name) = cert {
        cert_path = pki.path(&format!("{name}.pem"));
        key_path = pki.path(&format!("{name}.key"));
        args.extend([cert_path.as_str(), key_path.as_str()]);
    }
    client(&args)
}

fn curl(args: &[&str]) -> (bool, String) {
    let out = Command::new("curl")
        .args(["-sS", "--max-time", "10"])
        .args(args)
        .bounded_output();
    let text =
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    (out.status.success(), text)
}

/// Every worker kind serves HTTPS: `Listening at: https://`, several requests on one TLS
/// connection (TLS 1.3, ALPN `http/1.1` though the client offers h2 first), the scheme the app
/// sees is https, and a 13 MB streamed response arrives whole (through TLS's buffered writes).
#[test]
fn every_kind_serves_https_with_keep_alive() {
    let pki = Pki::new();
    for (kind, app, scheme_path) in [
        ("sync", "hello:app", Some("/env")),
        ("gthread", "hello:app", Some("/env")),
        ("gevent", "hello:app", Some("/env")),
        ("asgi", "asgi_app:app", Some("/scope")),
        ("tornado", "tornado_app:app", Some("/request")),
    ] {
        let server = tls_server(&pki, kind, app, &[]);
        assert!(
            server.listening().starts_with("https://127.0.0.1:"),
            "{kind}"
        );
        let n = if kind == "sync" { 1 } else { 3 };
        let root = if kind == "tornado" { "/request" } else { "/" };
        let out = session(&server, &pki, n, root, None);
        assert_eq!(
            out["statuses"].as_array().map(Vec::len),
            Some(n),
            "{kind}: {out}"
        );
        assert!(
            out["statuses"].as_array().unwrap().iter().all(|s| s == 200),
            "{kind}: {out}"
        );
        assert_eq!(out["same_socket"], true, "{kind}: {out}");
        assert_eq!(
            (&out["version"], &out["alpn"]),
            (&"TLSv1.3".into(), &"http/1.1".into()),
            "{kind}"
        );
        if let Some(path) = scheme_path {
            let seen = session(&server, &pki, 1, path, None);
            let body = seen["bodies"][0].as_str().unwrap_or_default();
            assert!(
                body.contains("\"wsgi.url_scheme\": \"https\"")
                    || body.contains("\"scheme\": \"https\"")
                    || body.contains("\"protocol\": \"https\""),
                "{kind}: {body}"
            );
        }
        let stream = match kind {
            "tornado" => "/events?n=50&delay=0",
            "asgi" => "/stream?n=50&delay=0",
            _ => "/stream?n=200&size=65536",
        };
        {
            let url = format!("https://127.0.0.1:{}{stream}", server.port());
            let (ok, _) = curl(&["--cacert", &pki.path("ca.pem"), "-o", "/dev/null", &url]);
            assert!(ok, "{kind}: the streamed response");
        }
    }
}

/// Plain HTTP sent to the TLS port gets a plain-text 400 saying so, and a close; a ClientHello
/// that is garbage closes at once; the server serves on.
#[test]
fn plain_http_gets_a_clear_answer_and_garbage_a_close() {
    let pki = Pki::new();
    let server = tls_server(&pki, "gthread", "hello:app", &[]);
    let mut c = Client::connect(server.port());
    c.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 400, "{r:?}");
    assert!(r.text().contains("HTTPS"), "{r:?}");
    assert!(matches!(
        c.ending(Duration::from_secs(5)),
        Ending::Eof(_) | Ending::Reset(_)
    ));
    let mut raw = server.connect();
    let sent = Instant::now();
    raw.write_all(&[0x16, 0x03, 0x01, 0x00, 0x05, 0xde, 0xad, 0xbe, 0xef, 0x00])
        .unwrap();
    raw.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut rest = Vec::new();
    let _ = raw.read_to_end(&mut rest);
    assert!(
        sent.elapsed() < Duration::from_secs(2),
        "garbage held the connection"
    );
    let out = session(&server, &pki, 1, "/", None);
    assert_eq!(out["statuses"][0], 200, "{out}");
}

/// A client that connects and never starts its handshake is closed after `--header-timeout`
/// (the handshake is part of reading the first head), and holds no sync worker meanwhile.
#[test]
fn a_silent_client_is_closed_after_the_header_timeout() {
    let pki = Pki::new();
    // 4 s: room for the client's Python to start on a loaded machine, below the wait behind
    // even one silent client.
    let server = tls_server(&pki, "sync", "hello:app", &["--header-timeout", "4"]);
    let silent: Vec<_> = (0..5).map(|_| Client::connect(server.port())).collect();
    let t = Instant::now();
    let out = session(&server, &pki, 1, "/", None);
    assert_eq!(out["statuses"][0], 200, "{out}");
    assert!(
        t.elapsed() < Duration::from_secs(4),
        "waited behind silent clients: {:?}",
        t.elapsed()
    );
    for mut c in silent {
        let ending = c.ending(Duration::from_secs(10));
        assert!(
            matches!(ending, Ending::Eof(_) | Ending::Reset(_)),
            "{ending:?}"
        );
    }
    assert!(t.elapsed() < Duration::from_secs(12));
}

/// ASGI's TLS extension (asgiref `specs/tls.rst`) in `scope["extensions"]["tls"]`: the TLS
/// version and suite negotiated, the client's chain in PEM and its subject's name.
#[test]
fn the_asgi_scope_carries_the_tls_extension() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let server = tls_server(
        &pki,
        "asgi",
        "asgi_app:app",
        &["--cert-reqs", "2", "--ca-certs", &ca],
    );
    let out = session(&server, &pki, 1, "/scope", Some("client"));
    let scope: serde_json::Value =
        serde_json::from_str(out["bodies"][0].as_str().unwrap_or_default()).unwrap_or_default();
    assert!(
        scope["extensions"]
            .as_array()
            .unwrap()
            .contains(&"tls".into()),
        "{scope}"
    );
    let tls = &scope["tls"];
    assert_eq!(tls["tls_version"], 0x0304, "{scope}");
    assert!(tls["cipher_suite"].is_u64(), "{tls}");
    let want = std::fs::read_to_string(pki.path("client.pem")).unwrap();
    assert_eq!(
        tls["client_cert_chain"][0].as_str().map(str::trim),
        Some(want.trim()),
        "{tls}"
    );
    assert!(
        tls["client_cert_name"]
            .as_str()
            .unwrap_or_default()
            .contains("CN=a client"),
        "{tls}"
    );
    assert_eq!(scope["scheme"], "https");
}

/// A response that says `Connection: close` (every response of a sync worker) ends with TLS's
/// close_notify before the FIN, so the client sees a clean end rather than a truncation.
#[test]
fn a_closing_response_ends_with_close_notify() {
    let pki = Pki::new();
    for kind in ["sync", "gthread"] {
        let server = tls_server(&pki, kind, "hello:app", &[]);
        let port = server.port().to_string();
        let ca = pki.path("ca.pem");
        let out = client(&["close", "127.0.0.1", &port, &ca, "/"]);
        assert_eq!(out["clean"], true, "{kind}: {out}");
        assert!(out["bytes"].as_u64().unwrap_or(0) > 0, "{kind}: {out}");
    }
}

/// tornado's WebSocketHandler takes the socket over after its 101, which a TLS session kept
/// in Rust cannot follow: under --certfile the handshake is refused with a 500 (nothing sent
/// before it) and the log says why, instead of a 101 and a dead connection.
#[test]
fn a_tornado_websocket_under_tls_is_refused_before_the_101() {
    let pki = Pki::new();
    let server = tls_server(&pki, "tornado", "tornado_app:app", &[]);
    let url = format!("https://127.0.0.1:{}/ws", server.port());
    let (_, text) = curl(&[
        "--cacert",
        &pki.path("ca.pem"),
        "-si",
        "-H",
        "Connection: Upgrade",
        "-H",
        "Upgrade: websocket",
        "-H",
        "Sec-WebSocket-Version: 13",
        "-H",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        &url,
    ]);
    assert!(text.starts_with("HTTP/1.1 500"), "{text}");
    server.wait_for("terminate TLS in front", WAIT);
}

/// A file through `wsgi.file_wrapper` (Flask's `send_file`) under TLS: the kernel cannot
/// encrypt, so it goes out by buffered writes instead of sendfile(2) — whole, byte for byte.
#[test]
fn a_file_response_goes_out_whole_through_tls() {
    let pki = Pki::new();
    for kind in ["gthread", "gevent"] {
        let server = tls_server(&pki, kind, "green_app:app", &[]);
        let url = format!("https://127.0.0.1:{}/file?mb=8", server.port());
        let out = Command::new("curl")
            .args([
                "-sS",
                "--max-time",
                "20",
                "--cacert",
                &pki.path("ca.pem"),
                &url,
            ])
            .bounded_output();
        assert!(
            out.status.success(),
            "{kind}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout.len(), 8 << 20, "{kind}");
        assert!(
            out.stdout.iter().all(|&b| b == b'f'),
            "{kind}: the bytes differ"
        );
        let plain = server.fetch("/file?mb=8");
        assert_eq!(plain.status, 400, "{kind}: plain HTTP on the TLS port");
    }
}

/// A request pipelined behind a body, or a body's last record, in the same TLS flight as a
/// full record: rustls decrypts records past what one read takes, and the socket never
/// signals those bytes again. Every kind that keeps connections serves them instead of
/// waiting on the socket.
#[test]
fn a_request_behind_a_body_in_the_same_records_is_served() {
    let pki = Pki::new();
    for (kind, app) in [
        ("gthread", "hello:app"),
        ("gevent", "hello:app"),
        ("asgi", "asgi_app:app"),
    ] {
        let server = tls_server(&pki, kind, app, &["--keep-alive", "30"]);
        let port = server.port().to_string();
        let ca = pki.path("ca.pem");
        // Full records (16 KiB, the most one read of the connection takes): one, two; and a
        // smaller one.
        for size in ["16384", "32768", "9000"] {
            let out = client(&["pipelined", "127.0.0.1", &port, &ca, "/echo", size]);
            assert_eq!(
                out["statuses"],
                serde_json::json!([200, 200]),
                "{kind} {size}: {out}"
            );
            assert_eq!(out["lengths"][0], out["body"], "{kind}: {out}");
            // The same inside a body: its end must not wait for bytes that never come.
            let out = client(&["body_split", "127.0.0.1", &port, &ca, "/echo", size]);
            assert_eq!(
                out["statuses"],
                serde_json::json!([200]),
                "{kind} {size}: {out}"
            );
            assert_eq!(out["lengths"][0], out["body"], "{kind}: {out}");
        }
    }
}
