//! nginx `uwsgi_pass` → gunicorn-rs `--protocol uwsgi` (issue 10, "Fronts"): the client's
//! address and scheme from the packet, request bodies, a streamed response, TCP and Unix
//! sockets, malformed packets refused with a log line and a close, every worker kind, and
//! smuggling attempts. The nginx configs are the README's "Behind a proxy" snippets.

use crate::fronts::{self, curl, requests_seen, upstream, Front};
use crate::support::{send_and_half_close, Client, Opts, Server, IO_TIMEOUT, WAIT};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

/// README: nginx passing requests to gunicorn-rs --protocol uwsgi.
fn uwsgi_front(port: u16, pass: &str) -> String {
    format!(
        "server {{
    listen 127.0.0.1:{port};
    location / {{
        include uwsgi_params;
        uwsgi_pass {pass};
    }}
}}"
    )
}

fn json_of(resp: &crate::support::Response) -> serde_json::Value {
    assert_eq!(resp.status, 200, "{}", resp.text());
    resp.json()
}

#[test]
fn nginx_uwsgi_pass_gives_the_app_the_client_and_the_bodies() {
    let app = upstream(&["--protocol", "uwsgi"]);
    let port = fronts::port();
    let _nginx = Front::nginx(&uwsgi_front(port, &format!("127.0.0.1:{}", app.port())));
    let mut client = Client::on(fronts::connect_from_127_0_0_2(port));
    let seen = json_of(&client.get("/p%20a/th?q=1&r=%2F"));
    assert_eq!(
        seen["REMOTE_ADDR"], "127.0.0.2",
        "the client's, from the vars"
    );
    assert_eq!(seen["PATH_INFO"], "/p a/th");
    assert_eq!(seen["QUERY_STRING"], "q=1&r=%2F");
    assert_eq!(seen["RAW_URI"], "/p%20a/th?q=1&r=%2F");
    assert_eq!(seen["SERVER_PROTOCOL"], "HTTP/1.1");
    assert_eq!(seen["wsgi.url_scheme"], "http");
    assert_eq!(
        seen["REMOTE_PORT"],
        client.local_port().to_string(),
        "the client's, from the vars"
    );
    assert_eq!(seen["CONTENT_LENGTH"], serde_json::Value::Null);
    // A body with a length, and a chunked one (nginx de-chunks it and sends its length).
    let body = "y".repeat(200_000);
    let raw = format!("POST /len HTTP/1.1\r\nHost: a\r\nContent-Type: text/plain\r\nContent-Length: {}\r\n\r\n{body}", body.len());
    client.send(raw.as_bytes());
    let seen = json_of(&client.response());
    assert_eq!(
        (
            seen["CONTENT_LENGTH"].as_str(),
            seen["CONTENT_TYPE"].as_str()
        ),
        (Some("200000"), Some("text/plain"))
    );
    assert_eq!(seen["body"].as_str().map(str::len), Some(200_000));
    client.send(b"POST /chunked HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n");
    let seen = json_of(&client.response());
    assert_eq!(
        (seen["body"].as_str(), seen["CONTENT_LENGTH"].as_str()),
        (Some("hello world"), Some("11"))
    );
    assert_eq!(
        seen["HTTP_TRANSFER_ENCODING"],
        serde_json::Value::Null,
        "the body is not chunked"
    );
    // A response without a length is streamed to the client as the app yields it.
    client.send(b"GET /stream HTTP/1.1\r\nHost: a\r\n\r\n");
    let first = crate::support::read_until(&mut client.stream, b"first\n");
    assert!(String::from_utf8_lossy(&first).contains("first\n"));
    std::fs::write(app.dir.path().join("release"), "").expect("release the app");
    let rest = crate::support::read_until(&mut client.stream, b"\r\n0\r\n\r\n");
    assert!(
        String::from_utf8_lossy(&rest).contains("last\n"),
        "{rest:?}"
    );
    assert_eq!(requests_seen(&app).len(), 4);
}

#[test]
fn nginx_uwsgi_pass_over_a_unix_socket_and_behind_tls() {
    let sockets = tempfile::tempdir().expect("temp dir");
    let sock = sockets.path().join("app.sock");
    let bind = format!("unix:{}", sock.display());
    let _app = upstream(&["--protocol", "uwsgi", "-b", &bind]);
    let (cert, key) = fronts::test_certificate(sockets.path());
    let port = fronts::port();
    // README: nginx terminating TLS in front of uwsgi on a Unix socket (HTTPS=on in the vars).
    let conf = format!(
        "server {{
    listen 127.0.0.1:{port} ssl;
    ssl_certificate {};
    ssl_certificate_key {};
    location / {{
        include uwsgi_params;
        uwsgi_pass unix:{};
    }}
}}",
        cert.display(),
        key.display(),
        sock.display()
    );
    let _nginx = Front::nginx(&conf);
    let resolve = format!("localhost:{port}:127.0.0.1");
    let url = format!("https://localhost:{port}/tls?a=b");
    let cacert = cert.display().to_string();
    let (status, body) = curl(&[
        "--cacert",
        &cacert,
        "--resolve",
        &resolve,
        "-d",
        "abc",
        &url,
    ]);
    assert_eq!(status, 200, "{body}");
    let seen: serde_json::Value = serde_json::from_str(&body).expect("JSON");
    assert_eq!(
        (seen["wsgi.url_scheme"].as_str(), seen["body"].as_str()),
        (Some("https"), Some("abc"))
    );
    assert_eq!(
        seen["REMOTE_ADDR"], "127.0.0.1",
        "the client's, though the peer is a Unix socket"
    );
}

/// A packet: header, then vars.
fn packet(vars: &[(&str, &str)]) -> Vec<u8> {
    let mut block = Vec::new();
    for (k, v) in vars {
        for part in [k, v] {
            block.extend_from_slice(&(part.len() as u16).to_le_bytes());
            block.extend_from_slice(part.as_bytes());
        }
    }
    let mut out = vec![0];
    out.extend_from_slice(&(block.len() as u16).to_le_bytes());
    out.push(0);
    out.extend_from_slice(&block);
    out
}

/// Sends `raw` straight to the server, half-closes (as nginx is done with the connection
/// after one packet), and returns all it answered before closing.
fn raw_exchange(server: &Server, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", server.port())).expect("connect");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    String::from_utf8_lossy(&send_and_half_close(&mut stream, raw)).into_owned()
}

#[test]
fn malformed_packets_are_refused_with_a_log_line_and_a_close() {
    let app = upstream(&["--protocol", "uwsgi"]);
    // A key size that runs past the vars block.
    let reply = raw_exchange(&app, &[0, 4, 0, 0, 9, 0, b'A', b'B']);
    assert!(reply.starts_with("HTTP/1.1 400 Bad Request\r\n"), "{reply}");
    app.wait_for(
        "Invalid request from ip=127.0.0.1: Invalid uWSGI header: truncated key",
        WAIT,
    );
    // modifier1 5 is not a WSGI request.
    let reply = raw_exchange(&app, &[5, 0, 0, 0]);
    assert!(
        reply.starts_with("HTTP/1.1 501 Not Implemented\r\n"),
        "{reply}"
    );
    app.wait_for("Unsupported uWSGI modifier1: 5", WAIT);
    let reply = raw_exchange(&app, &packet(&[("CONTENT_LENGTH", "-1")]));
    assert!(reply.starts_with("HTTP/1.1 400"), "{reply}");
    assert!(requests_seen(&app).is_empty());
    // A peer outside --uwsgi-allow-from: 403 at its first byte.
    let strict = upstream(&["--protocol", "uwsgi", "--uwsgi-allow-from", "10.9.9.9"]);
    let reply = raw_exchange(&strict, &packet(&[("PATH_INFO", "/x")]));
    assert!(reply.starts_with("HTTP/1.1 403 Forbidden\r\n"), "{reply}");
    strict.wait_for(
        "Invalid request from ip=127.0.0.1: uWSGI request not allowed",
        WAIT,
    );
}

/// One request per connection, as uWSGI serves the protocol and nginx uses it: the worker
/// closes right after the response instead of waiting for the front's close (a server that
/// waited made nginx the closer, and nginx's ephemeral ports filled with TIME_WAIT: `-k
/// gthread` topped out near 14,000 req/s with a 29-50 ms p99, issue 10).
#[test]
fn the_worker_closes_a_uwsgi_connection_right_after_its_response() {
    let get = packet(&[("REQUEST_METHOD", "GET"), ("PATH_INFO", "/one")]);
    for kind in ["sync", "gthread"] {
        // A keep-alive far past the read timeout: a close that waited for it would time out.
        let args = ["--protocol", "uwsgi", "-k", kind, "--keep-alive", "60"];
        let app = Server::app_with("fronts_app:app", &args, 1, Opts::default());
        let mut stream = TcpStream::connect(("127.0.0.1", app.port())).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(&get).expect("send the packet");
        let mut reply = Vec::new();
        let read = stream.read_to_end(&mut reply);
        let reply = String::from_utf8_lossy(&reply);
        assert!(
            read.is_ok(),
            "{kind}: no close after the response: {read:?}, {reply}"
        );
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{kind}: {reply}");
        assert!(
            reply.contains("\r\nConnection: close\r\n"),
            "{kind}: {reply}"
        );
    }
}

#[test]
fn every_worker_kind_reads_uwsgi_packets() {
    let get = packet(&[
        ("REQUEST_METHOD", "GET"),
        ("PATH_INFO", "/kind"),
        ("REMOTE_ADDR", "192.0.2.7"),
    ]);
    for kind in ["sync", "gthread", "gevent", "eventlet"] {
        let args = ["--protocol", "uwsgi", "-k", kind, "--access-logfile", "-"];
        let app = Server::app_with("fronts_app:app", &args, 1, Opts::default().with_venv());
        let reply = raw_exchange(&app, &get);
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{kind}: {reply}");
        assert!(
            reply.contains("\"REMOTE_ADDR\": \"192.0.2.7\""),
            "{kind}: {reply}"
        );
        let line = app
            .stdout
            .find_from(0, "GET /kind", WAIT)
            .expect("an access line");
        assert!(
            line.starts_with("192.0.2.7 "),
            "{kind}: h is the client's: {line}"
        );
    }
    // The asyncio kinds, on their own hello apps (tornado's wants a Host, as HTTP/1.1 does).
    let hello = packet(&[("PATH_INFO", "/"), ("HTTP_HOST", "x")]);
    for (kind, app) in [("asgi", "asgi_hello:app"), ("tornado", "tornado_hello:app")] {
        let args = ["--protocol", "uwsgi", "-k", kind];
        let app = Server::app_with(app, &args, 1, Opts::default().with_venv());
        let reply = raw_exchange(&app, &hello);
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{kind}: {reply}");
        assert!(
            !reply.contains("Transfer-Encoding"),
            "{kind}: never chunked: {reply}"
        );
    }
}

#[test]
fn smuggling_through_nginx_uwsgi_never_reaches_the_app_as_two_requests() {
    let app = upstream(&["--protocol", "uwsgi"]);
    let port = fronts::port();
    let _nginx = Front::nginx(&uwsgi_front(port, &format!("127.0.0.1:{}", app.port())));
    fronts::smuggling_never_reaches_the_app(port, &app);
}
