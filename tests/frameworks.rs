//! What a sweep with real frameworks, real clients, TLS and graceful reloads found, each
//! checked through the real binary: a WSGI app under `-k tornado` whose response is larger
//! than the socket takes at once, and the next request on its kept-alive connection.

use crate::support::*;

/// `app` from tests/apps under `-k kind` with `extra`, in the test virtualenv.
fn serve(kind: &str, app: &str, extra: &[&str]) -> Server {
    let mut args = vec!["-k", kind];
    args.extend_from_slice(extra);
    Server::app_with(app, &args, 1, Opts::default().with_venv())
}

/// A WSGI app in tornado's `WSGIContainer` answers with one `write_headers` carrying the
/// whole body, then `finish`, neither awaited: both found the socket behind (32 MiB is more
/// than loopback's buffers hold) and each began a wait for it. The connection then waited
/// on a third after the response; only the last one made was ever woken, so the response
/// arrived whole but the connection never read its next request (RFC 9112 §9.3: an HTTP/1.1
/// connection persists). Every request on it is answered now.
#[test]
fn tornado_wsgi_keeps_serving_a_connection_after_a_response_larger_than_the_socket_takes() {
    let server = serve("tornado", "hello:app", &["--keep-alive", "30"]);
    let mut c = Client::connect(server.port());
    // 512 chunks of 64 KiB: 32 MiB, gathered whole by WSGIContainer.
    for round in 0..2 {
        let r = c.get("/stream?n=512&size=65536");
        assert_eq!(r.status, 200, "round {round}: {r:?}");
        assert_eq!(r.body.len(), 512 * 65536, "round {round}");
    }
    let r = c.get("/");
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!\n"));
}
