//! nginx → gunicorn-rs with `proxy_pass` (issue 10, "Fronts"): over TCP with keep-alive to the
//! upstream, over a Unix socket, and terminating TLS; X-Forwarded-For/-Proto with trusted and
//! untrusted peers, request bodies (a length, chunked), a streamed response, and smuggling
//! attempts. The nginx configs here are the README's "Behind a proxy" snippets.

use crate::fronts::{self, curl, exchange, requests_seen, upstream, Front};
use crate::support::Client;

/// README: nginx in front over TCP, with kept-alive upstream connections.
fn tcp_front(port: u16, app: u16) -> String {
    format!(
        "upstream app {{
    server 127.0.0.1:{app};
    keepalive 8;
}}
server {{
    listen 127.0.0.1:{port};
    location / {{
        proxy_pass http://app;
        proxy_http_version 1.1;
        proxy_set_header Connection \"\";
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
        proxy_request_buffering off;
    }}
}}"
    )
}

fn seen(resp: &crate::support::Response) -> serde_json::Value {
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

#[test]
fn nginx_over_tcp_keeps_upstream_connections_and_forwards_bodies() {
    // A keep-alive longer than the test, so only nginx decides when a connection ends.
    let app = upstream(&["--keep-alive", "60"]);
    let port = fronts::port();
    let _nginx = Front::nginx(&tcp_front(port, app.port()));
    let mut client = Client::on(fronts::connect_from_127_0_0_2(port));
    let first = seen(&client.get("/a?x=1"));
    assert_eq!(first["RAW_URI"], "/a?x=1");
    assert_eq!(first["HTTP_X_FORWARDED_FOR"], "127.0.0.2");
    assert_eq!(
        first["REMOTE_ADDR"], "127.0.0.1",
        "the peer stays nginx, as in Gunicorn"
    );
    assert_eq!(first["wsgi.url_scheme"], "http");
    // Keep-alive to the upstream: later requests, from other client connections too, come
    // over the same nginx → gunicorn-rs connection (the app sees the same peer port).
    for path in ["/b", "/c"] {
        let again = seen(&Client::connect(port).get(path));
        assert_eq!(
            again["REMOTE_PORT"], first["REMOTE_PORT"],
            "{path}: a new upstream connection"
        );
    }
    // A body with a length, and a chunked one (passed on chunked: request buffering is off).
    let body = "x".repeat(300_000);
    let raw = format!(
        "POST /len HTTP/1.1\r\nHost: a\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    client.send(raw.as_bytes());
    let got = seen(&client.response());
    assert_eq!(
        (got["CONTENT_LENGTH"].as_str(), got["body"].as_str()),
        (Some("300000"), Some(body.as_str()))
    );
    client.send(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    let got = seen(&client.response());
    assert_eq!(got["body"], "hello world");
    assert_eq!(requests_seen(&app).len(), 5);
}

#[test]
fn nginx_passes_a_streamed_response_as_it_comes() {
    let app = upstream(&[]);
    let port = fronts::port();
    let _nginx = Front::nginx(&tcp_front(port, app.port()));
    let mut client = Client::connect(port);
    client.send(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    // `first` arrives while the app still waits for `release`: nothing was buffered whole.
    let head = crate::support::read_until(&mut client.stream, b"first\n");
    assert!(
        String::from_utf8_lossy(&head).contains("first\n"),
        "{head:?}"
    );
    std::fs::write(app.dir.path().join("release"), "").expect("release the app");
    let rest = crate::support::read_until(&mut client.stream, b"\r\n0\r\n\r\n");
    assert!(
        String::from_utf8_lossy(&rest).contains("last\n"),
        "{rest:?}"
    );
}

#[test]
fn nginx_over_a_unix_socket() {
    let sockets = tempfile::tempdir().expect("temp dir");
    let sock = sockets.path().join("app.sock");
    let bind = format!("unix:{}", sock.display());
    let _app = upstream(&["-b", &bind]);
    let port = fronts::port();
    // README: nginx in front over a Unix socket.
    let conf = format!(
        "server {{
    listen 127.0.0.1:{port};
    location / {{
        proxy_pass http://unix:{}:;
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
}}",
        sock.display()
    );
    let _nginx = Front::nginx(&conf);
    let raw = b"POST /u HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nConnection: close\r\n\r\nabc";
    let reply = exchange(port, raw);
    let got: serde_json::Value =
        serde_json::from_str(reply.split("\r\n\r\n").nth(1).expect("a body"))
            .unwrap_or_else(|e| panic!("{e}: {reply}"));
    assert_eq!(
        (got["REMOTE_ADDR"].as_str(), got["body"].as_str()),
        (Some(""), Some("abc"))
    );
    assert_eq!(got["HTTP_X_FORWARDED_FOR"], "127.0.0.1");
}

#[test]
fn nginx_terminates_tls_and_a_trusted_peer_makes_the_scheme_https() {
    let trusted = upstream(&[]);
    let untrusted = upstream(&["--forwarded-allow-ips", "10.9.9.9"]);
    let certs = tempfile::tempdir().expect("temp dir");
    let (cert, key) = fronts::test_certificate(certs.path());
    let port = fronts::port();
    // README: nginx terminating TLS; gunicorn-rs behind it speaks plain HTTP.
    let conf = format!(
        "server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {};
    ssl_certificate_key {};
    location / {{
        proxy_pass http://127.0.0.1:{};
        proxy_set_header Host $host;
        proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
    location /untrusted/ {{
        proxy_pass http://127.0.0.1:{};
        proxy_set_header X-Forwarded-Proto $scheme;
    }}
}}",
        cert.display(),
        key.display(),
        trusted.port(),
        untrusted.port()
    );
    let _nginx = Front::nginx(&conf);
    let url = |path: &str| format!("https://localhost:{port}{path}");
    let resolve = format!("localhost:{port}:127.0.0.1");
    let cacert = cert.display().to_string();
    let get = |path: &str| -> serde_json::Value {
        let (status, body) = curl(&["--cacert", &cacert, "--resolve", &resolve, &url(path)]);
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("{e}: {body}"))
    };
    let got = get("/x");
    assert_eq!(
        (
            got["HTTP_X_FORWARDED_PROTO"].as_str(),
            got["wsgi.url_scheme"].as_str()
        ),
        (Some("https"), Some("https"))
    );
    let got = get("/untrusted/x");
    assert_eq!(
        (
            got["HTTP_X_FORWARDED_PROTO"].as_str(),
            got["wsgi.url_scheme"].as_str()
        ),
        (Some("https"), Some("http")),
        "a peer outside --forwarded-allow-ips is not believed"
    );
}

#[test]
fn smuggling_through_nginx_never_reaches_the_app_as_two_requests() {
    let app = upstream(&[]);
    let port = fronts::port();
    let _nginx = Front::nginx(&tcp_front(port, app.port()));
    fronts::smuggling_never_reaches_the_app(port, &app);
}
