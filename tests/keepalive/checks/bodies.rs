//! Request and response bodies on a kept-alive connection: a body the app left unread is
//! drained (up to the bound) so the next request starts at the right byte, `Expect:
//! 100-continue`, and an app whose body breaks its framing never corrupts the connection.

use super::*;

pub(crate) fn unread_body_is_drained_and_the_next_request_starts_at_the_right_byte(
    server: &Server,
) {
    let mut c = Client::connect(server.port());
    let port = c.local_port().to_string();
    let body = request_shaped_body("in-body", 1024);

    // `/` never reads wsgi.input.
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    c.send(&raw);
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!\n"));
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    let r = c.get("/peer");
    assert_eq!(r.status, 200, "{r:?}");
    assert!(r.text().starts_with(&port), "{r:?}");

    // Up to the drain bound (64 KiB), an unread body still keeps the connection.
    let big = request_shaped_body("in-body", 60 * 1024);
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        big.len()
    )
    .into_bytes();
    raw.extend_from_slice(&big);
    raw.extend_from_slice(get("/peer").as_bytes());
    c.send(&raw);
    assert_eq!(c.response().text(), "Hello, World!\n");
    let r = c.response();
    assert!(r.text().starts_with(&port), "after 60 KiB unread: {r:?}");

    // The same with the next request in the same packet, and a chunked body.
    let mut raw = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n".to_vec();
    for piece in body.chunks(300) {
        raw.extend_from_slice(format!("{:x}\r\n", piece.len()).as_bytes());
        raw.extend_from_slice(piece);
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"0\r\n\r\n");
    raw.extend_from_slice(get("/peer").as_bytes());
    c.send(&raw);
    assert_eq!(c.response().text(), "Hello, World!\n");
    let r = c.response();
    assert!(r.text().starts_with(&port), "{r:?}");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert_eq!(server.markers("mark-in-body"), Vec::<String>::new());
}

pub(crate) fn unread_body_beyond_the_drain_bound_closes_the_connection(server: &Server) {
    let c = Client::connect(server.port());
    let body = request_shaped_body("in-big-body", 1 << 20);
    let mut raw = format!(
        "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    raw.extend_from_slice(get("/mark?name=after-big-body").as_bytes());
    // The server stops reading, so the writer blocks; it ends when the server closes.
    let mut writer = c.stream.try_clone().unwrap();
    let sender = std::thread::spawn(move || writer.write_all(&raw).is_ok());
    let mut c = c;
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "Hello, World!\n"));
    match c.ending(Duration::from_secs(15)) {
        Ending::Eof(rest) | Ending::Reset(rest) => assert_eq!(
            count_status_lines(&rest),
            0,
            "a response after the one for the 1 MiB POST: {:?}",
            show(&rest)
        ),
        Ending::Open(rest) => panic!(
            "the connection stayed open with 1 MiB of body unread; got {:?}",
            show(&rest)
        ),
    }
    // Loopback buffers may hold the whole MiB, so the writer may or may not have failed.
    let _ = sender.join().unwrap();
    assert_eq!(server.fetch("/").status, 200);
    assert_eq!(server.markers("mark-in-big-body"), Vec::<String>::new());
    assert_eq!(server.markers("mark-after-big-body"), Vec::<String>::new());
}

pub(crate) fn app_error_after_the_first_chunk_truncates_and_closes(server: &Server) {
    let pid = server.fetch("/pid").text();
    for (query, chunked) in [("chunked=1", true), ("chunked=0", false)] {
        let mut c = Client::connect(server.port());
        c.send(
            format!(
                "{}{}",
                get(&format!("/fault/raise-after-start?{query}")),
                get("/mark?name=after-fault")
            )
            .as_bytes(),
        );
        let wire = match c.try_response(false) {
            Err(Ending::Eof(bytes) | Ending::Reset(bytes)) => bytes,
            Ok(r) => panic!("{query}: a complete response from a failed app: {r:?}"),
            Err(other) => panic!("{query}: {other:?}"),
        };
        assert_eq!(count_status_lines(&wire), 1, "{query}: {:?}", show(&wire));
        let (r, _) = parse_response(&wire, false).expect("a response head");
        assert_eq!(r.status, 200);
        assert_eq!(r.chunked, chunked, "{:?}", r.headers);
        assert!(
            !r.complete,
            "{query}: the truncation must be visible: {:?}",
            show(&wire)
        );
        assert_eq!(r.body, b"12345678");
    }
    assert_eq!(
        server.fetch("/pid").text(),
        pid,
        "the same worker keeps serving"
    );
    assert_eq!(server.markers("mark-after-fault"), Vec::<String>::new());
}

pub(crate) fn expect_100_continue_on_a_kept_alive_connection(server: &Server) {
    let mut c = Client::connect(server.port());
    let port = c.local_port().to_string();
    for path in ["/echo", "/"] {
        // `/echo` reads the body, `/` does not: either way the body is consumed exactly.
        c.send(
                format!("POST {path} HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 10\r\n\r\n")
                    .as_bytes(),
            );
        let interim = c.next_response(false);
        assert_eq!(interim.status, 100, "{path}: {interim:?}");
        c.send(b"0123456789");
        let r = c.response();
        assert_eq!(r.status, 200, "{path}");
        assert_eq!(r.header("Connection"), Some("keep-alive"), "{path}");
        if path == "/echo" {
            assert_eq!(r.text(), "0123456789");
        }
        let r = c.get("/peer");
        assert!(r.text().starts_with(&port), "{path}: {r:?}");
    }
}

pub(crate) fn app_body_longer_or_shorter_than_its_length_never_corrupts_the_connection(
    server: &Server,
) {
    // Longer: the excess is dropped, and the next response on the connection is the real one.
    let mut c = Client::connect(server.port());
    c.send(format!("{}{}", get("/overlong"), get("/peer")).as_bytes());
    let r = c.response();
    assert_eq!(r.text(), "abcd");
    match c.try_response(false) {
        Ok(next) => assert!(
            next.text().starts_with(&c.local_port().to_string()),
            "the app's excess bytes were read as the next response: {next:?}"
        ),
        Err(Ending::Eof(rest) | Ending::Reset(rest)) => {
            assert!(!show(&rest).contains("SMUGGLED"), "{:?}", show(&rest))
        }
        Err(other) => panic!("{other:?}"),
    }
    // Shorter: the response cannot be completed, so the connection ends, visibly short.
    let mut c = Client::connect(server.port());
    c.send(format!("{}{}", get("/short-body"), get("/mark?name=after-short")).as_bytes());
    match c.try_response(false) {
        Err(Ending::Eof(bytes) | Ending::Reset(bytes)) => {
            assert_eq!(count_status_lines(&bytes), 1, "{:?}", show(&bytes));
            let (r, _) = parse_response(&bytes, false).unwrap();
            assert!(!r.complete && r.body == b"12345678", "{r:?}");
        }
        other => panic!("a 100-byte response with 8 bytes: {other:?}"),
    }
    assert_eq!(server.fetch("/").status, 200);
    assert_eq!(server.markers("mark-after-short"), Vec::<String>::new());
}
