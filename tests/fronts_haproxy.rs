//! HAProxy → gunicorn-rs with the PROXY protocol (issue 10, "Fronts"): `send-proxy` (v1) and
//! `send-proxy-v2` with TLVs and LOCAL health checks, `--proxy-protocol` and
//! `--proxy-allow-from`; the app sees the real client, a PROXY header from an untrusted peer is
//! refused, and smuggling attempts through HAProxy (HTTP and TCP mode) never reach the app as
//! two requests. The configs are the README's "Behind a proxy" snippets.

use crate::fronts::{self, requests_seen, upstream, Front};
use crate::support::{poll, Client, WAIT};

/// README: HAProxy sending PROXY v1 (`server_opts` `send-proxy`) or v2 to gunicorn-rs.
fn front(mode: &str, port: u16, app: u16, server_opts: &str) -> String {
    format!(
        "frontend web
    mode {mode}
    bind 127.0.0.1:{port}
    default_backend app

backend app
    mode {mode}
    server app1 127.0.0.1:{app} {server_opts}"
    )
}

/// One request through HAProxy from 127.0.0.2: what the app saw, and the client's own port.
fn through(port: u16, path: &str) -> (serde_json::Value, u16) {
    let mut client = Client::on(fronts::connect_from_127_0_0_2(port));
    let resp = client.get(path);
    assert_eq!(resp.status, 200, "{}", resp.text());
    (resp.json(), client.local_port())
}

#[test]
fn send_proxy_v1_gives_the_app_the_real_client() {
    let app = upstream(&["--proxy-protocol", "v1"]);
    let port = fronts::port();
    let _haproxy = Front::haproxy(port, &front("http", port, app.port(), "send-proxy"));
    let (seen, client_port) = through(port, "/v1");
    assert_eq!(seen["PROXY_PROTOCOL"], "TCP4");
    assert_eq!(
        seen["REMOTE_ADDR"], "127.0.0.2",
        "the client's address, not HAProxy's"
    );
    assert_eq!(
        seen["REMOTE_PORT"],
        client_port.to_string(),
        "the client's port"
    );
    assert_eq!(seen["PROXY_ADDR"], "127.0.0.1");
    // The access log's `h` is the client's too.
    let line = poll(WAIT, "the access line", || {
        app.stdout
            .find_from(0, "GET /v1", std::time::Duration::ZERO)
    });
    assert!(line.starts_with("127.0.0.2 "), "{line}");
}

#[test]
fn send_proxy_v2_with_tlvs_and_local_health_checks() {
    let app = upstream(&["--proxy-protocol", "v2"]);
    let port = fronts::port();
    // TLVs: a unique id, the authority and a CRC32C follow the addresses; health checks go
    // with a LOCAL command (no client behind them).
    let opts = "send-proxy-v2 proxy-v2-options unique-id,authority,crc32c \
                check inter 200ms check-send-proxy";
    let conf = front("http", port, app.port(), opts).replace(
        "default_backend app",
        "unique-id-format %{+X}o\\ %ci:%cp_%fi:%fp_%Ts_%rt\n    default_backend app",
    );
    let conf = conf.replace(
        "backend app\n",
        "backend app\n    option httpchk GET /health\n",
    );
    let _haproxy = Front::haproxy(port, &conf);
    let (seen, client_port) = through(port, "/v2?x=1");
    assert_eq!(
        (seen["PROXY_PROTOCOL"].as_str(), seen["RAW_URI"].as_str()),
        (Some("TCP4"), Some("/v2?x=1"))
    );
    assert_eq!(seen["REMOTE_ADDR"], "127.0.0.2");
    assert_eq!(seen["REMOTE_PORT"], client_port.to_string());
    // A health check arrives as LOCAL: the app is called, with the real peer's address.
    let check = poll(WAIT, "a health check", || {
        requests_seen(&app)
            .into_iter()
            .find(|l| l.starts_with("GET /health"))
    });
    assert_eq!(check, "GET /health 0");
    assert!(!app.log().contains("Invalid request"), "{}", app.log());
}

#[test]
fn a_proxy_header_from_an_untrusted_peer_is_refused() {
    let app = upstream(&["--proxy-protocol", "v1", "--proxy-allow-from", "10.9.9.9"]);
    let port = fronts::port();
    let _haproxy = Front::haproxy(port, &front("http", port, app.port(), "send-proxy"));
    let resp = Client::connect(port).get("/refused");
    assert_eq!(resp.status, 403, "{}", resp.text());
    app.wait_for(
        "Invalid request from ip=127.0.0.1: Proxy request not allowed",
        WAIT,
    );
    assert!(requests_seen(&app).is_empty());
}

#[test]
fn smuggling_through_haproxy_never_reaches_the_app_as_two_requests() {
    // HTTP mode: HAProxy parses and re-frames; TCP mode: our parser gets the client's bytes
    // after the PROXY header, as they were sent.
    for mode in ["http", "tcp"] {
        let app = upstream(&["--proxy-protocol", "auto"]);
        let port = fronts::port();
        let _haproxy = Front::haproxy(port, &front(mode, port, app.port(), "send-proxy-v2"));
        fronts::smuggling_never_reaches_the_app(port, &app);
    }
}
