//! PEP 3333 conformance: every route of tests/apps/validator_app.py through `wsgiref.validate`.

use super::*;

#[test]
fn validator_app_runs_every_route_without_assertion() {
    // tests/apps/validator_app.py: every route but /bad/* and /raw/* runs under
    // wsgiref.validate.validator, which raises AssertionError on a non-conforming server.
    let mut server = Server::app("validator_app:app", &[], 1);
    let exchange = |raw: &[u8], head: bool| -> Response {
        let reply = server.http(raw);
        assert_eq!(
            count_status_lines(&reply),
            1,
            "{:?}: {:?}",
            String::from_utf8_lossy(raw),
            String::from_utf8_lossy(&reply)
        );
        parse_one(&reply, head)
    };
    let check = |raw: &[u8], head: bool, status: u16, body: &str| {
        let resp = exchange(raw, head);
        assert_eq!(
            resp.status,
            status,
            "{:?} → {}",
            String::from_utf8_lossy(raw),
            resp.text()
        );
        assert_eq!(resp.text(), body, "{:?}", String::from_utf8_lossy(raw));
        assert!(resp.complete, "{:?}", String::from_utf8_lossy(raw));
    };
    let lines = "ab\ncdef\ngh";
    let chunked_lines = b"3\r\nab\n\r\n8\r\ncdef\ngh\n\r\n0\r\n\r\n";
    check(
        b"GET / HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        200,
        "Hello, World!",
    );
    check(b"HEAD / HTTP/1.1\r\nHost: x\r\n\r\n", true, 200, "");
    check(
        b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        false,
        200,
        "hello world",
    );
    check(
        b"POST /echo/sized?n=3 HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world",
        false,
        200,
        "hello world",
    );
    for route in ["/readline", "/readlines", "/iter"] {
        let with_length = format!(
            "POST {route} HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n{lines}",
            lines.len()
        );
        check(with_length.as_bytes(), false, 200, "3,5,2");
        let mut chunked =
            format!("POST {route} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n")
                .into_bytes();
        chunked.extend_from_slice(chunked_lines);
        check(&chunked, false, 200, "3,5,3");
    }
    let env = exchange(b"GET /environ/x?q=1 HTTP/1.1\r\nHost: x\r\n\r\n", false).json();
    assert_eq!(env["PATH_INFO"], "/environ/x");
    assert_eq!(env["wsgi.input_terminated"], serde_json::json!(true));
    check(
        b"GET /write HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        200,
        "written with write()",
    );
    check(
        b"GET /stream?n=3 HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        200,
        "chunk 0\nchunk 1\nchunk 2\n",
    );
    check(b"GET /closed HTTP/1.1\r\nHost: x\r\n\r\n", false, 200, "1");
    let source = std::fs::read_to_string(apps_dir().join("validator_app.py")).unwrap();
    check(
        b"GET /file HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        200,
        &source,
    );
    check(
        b"GET /file?offset=100 HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        200,
        &source[100..],
    );
    check(
        b"GET /raw/file?offset=100 HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        200,
        &source[100..],
    );
    check(
        b"GET /exc_info HTTP/1.1\r\nHost: x\r\n\r\n",
        false,
        500,
        "error page",
    );
    check(b"GET /204 HTTP/1.1\r\nHost: x\r\n\r\n", false, 204, "");
    let late = exchange(b"GET /exc_info/late HTTP/1.1\r\nHost: x\r\n\r\n", false);
    assert_eq!(
        (late.status, late.text().as_str(), late.complete),
        (200, "partial", false)
    );
    let before = exchange(b"GET /raise/before HTTP/1.1\r\nHost: x\r\n\r\n", false);
    assert_eq!(before.status, 500);
    let after = exchange(b"GET /raise/after HTTP/1.1\r\nHost: x\r\n\r\n", false);
    assert_eq!(
        (after.status, after.text().as_str(), after.complete),
        (200, "first", false)
    );
    for bad in [
        "/bad/no-start",
        "/bad/status",
        "/bad/header-name",
        "/bad/crlf",
        "/bad/str-body",
    ] {
        let raw = server.http(format!("GET {bad} HTTP/1.1\r\nHost: x\r\n\r\n").as_bytes());
        assert!(
            !String::from_utf8_lossy(&raw).contains("injected"),
            "{bad}: {:?}",
            String::from_utf8_lossy(&raw)
        );
        let resp = parse_one(&raw, false);
        assert!(
            resp.status == 500 || (resp.status == 200 && !resp.complete),
            "{bad}: {} {}",
            resp.status,
            resp.text()
        );
    }
    server.stop();
    let log = server.log();
    for bad in [
        "AssertionError",
        "WSGIWarning",
        "garbage collected without being closed",
    ] {
        assert!(!log.contains(bad), "{bad} in the error log:\n{log}");
    }
}
