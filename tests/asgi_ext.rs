//! ASGI response extensions under `-k asgi` (issue 9), against tests/apps/asgi_app.py:
//! Gunicorn 25's `http.response.informational` (103 Early Hints; not to HTTP/1.0 clients) and
//! `http.response.trailers` to a client that said `TE: trailers`. uvicorn 0.54 supports
//! neither; the 103 was checked against Gunicorn 27 `-k asgi`, the trailer rules are
//! RFC 9110's and asgiref's extensions.rst.

use crate::asgi::asgi;
use crate::support::*;
use std::time::Duration;

/// Gunicorn 25's `http.response.informational` (non-standard; Gunicorn apps send it without
/// looking for an extension): a `103 Early Hints` with the Link header before the final
/// response on HTTP/1.1; none to an HTTP/1.0 client (RFC 9110 §15.2: "A server MUST NOT send
/// a 1xx response to an HTTP/1.0 client"), which still gets its 200. (uvicorn refuses the
/// message; Gunicorn 27 `-k asgi` behaves as checked here.)
#[test]
fn early_hints_reach_http11_clients_before_the_response() {
    let server = asgi("asgi_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"GET /early-hints?always=1 HTTP/1.1\r\nHost: x\r\n\r\n");
    let hints = c.next_response(false);
    assert_eq!(hints.status, 103, "{hints:?}");
    assert_eq!(
        hints.header("link"),
        Some("</style.css>; rel=preload; as=style")
    );
    let r = c.next_response(false);
    assert_eq!(
        (r.status, r.text().as_str()),
        (200, "after hints: informational\n")
    );

    // Asked to persist, so the 200 is framed by its length and nothing else is waited for.
    let mut c = Client::connect(server.port());
    c.send(b"GET /early-hints?always=1 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.next_response(false);
    assert_eq!(r.status, 200, "HTTP/1.0 got an interim response: {r:?}");
    assert_eq!(r.text(), "after hints: informational\n");
}

/// The trailer section of a complete chunked response, as `name: value` lines.
fn trailer_lines(wire: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(wire);
    let after_last_chunk = text.rsplit_once("\r\n0\r\n").map(|(_, t)| t).unwrap_or("");
    after_last_chunk
        .split("\r\n")
        .filter(|l| !l.is_empty())
        .map(|l| l.to_ascii_lowercase())
        .collect()
}

/// The `http.response.trailers` extension (asgiref extensions.rst), asked for by issue 9
/// "where the spec allows": HTTP/1.1 carries trailers only in a chunked body, and only to a
/// client that said `TE: trailers` (RFC 9110 §10.1.4, §6.5). To such a client the scope
/// advertises the extension and the trailer arrives after the last chunk; to one that did not
/// ask, the body still arrives whole.
#[test]
fn trailers_reach_a_client_that_accepts_them() {
    let server = asgi("asgi_app:app", &[], 1);
    let mut c = Client::connect(server.port());
    c.send(b"GET /trailers HTTP/1.1\r\nHost: x\r\nTE: trailers\r\nConnection: close\r\n\r\n");
    let wire = match c.ending(Duration::from_secs(10)) {
        Ending::Eof(b) | Ending::Reset(b) => b,
        Ending::Open(b) => panic!("left open: {:?}", String::from_utf8_lossy(&b)),
    };
    let r = parse_one(&wire, false);
    assert_eq!(
        r.text(),
        "body before trailers\n",
        "the extension was not advertised: {r:?}"
    );
    assert!(r.complete && r.chunked, "{r:?}");
    assert_eq!(trailer_lines(&wire), vec!["x-checksum: abc123".to_string()]);

    let mut c = Client::connect(server.port());
    c.send(b"GET /trailers HTTP/1.1\r\nHost: x\r\n\r\n");
    let r = c.response();
    assert!(r.complete, "{r:?}");
    assert!(r.text().ends_with("trailers\n") && r.status == 200, "{r:?}");
}
