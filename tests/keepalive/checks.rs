//! The keep-alive checks every worker kind runs (the `#[test]`s in tests/keepalive.rs and the
//! other kinds' files call them with their own server).

use super::*;

mod bodies;
// By name: `use super::*` also brings keepalive.rs's wrappers of the same names.
pub(crate) use bodies::{
    app_body_longer_or_shorter_than_its_length_never_corrupts_the_connection,
    app_error_after_the_first_chunk_truncates_and_closes,
    expect_100_continue_on_a_kept_alive_connection,
    unread_body_beyond_the_drain_bound_closes_the_connection,
    unread_body_is_drained_and_the_next_request_starts_at_the_right_byte,
};

pub(crate) fn session_of_200_requests_uses_one_connection(server: &Server) {
    let url = format!("http://127.0.0.1:{}/peer", server.port());
    let summary = PyClient::spawn("session_client.py", &["many", &url, "200"]).finish(WAIT * 3);
    assert_eq!(summary["ok"], 200, "{summary}");
    assert_eq!(summary["failures"], serde_json::json!([]), "{summary}");
    assert_eq!(
        summary["retried"],
        serde_json::json!([]),
        "the server closed a kept-alive connection under a busy client: {summary}"
    );
    let bodies = summary["bodies"].as_array().unwrap();
    assert_eq!(
        bodies.len(),
        1,
        "200 requests of one session came from one client port: {summary}"
    );
    assert_eq!(summary["connection"], serde_json::json!(["keep-alive"]));
}

pub(crate) fn raw_keep_alive_for_http11_and_http10(server: &Server) {
    let mut c = Client::connect(server.port());
    let mine = c.local_port().to_string();
    for _ in 0..3 {
        let r = c.get("/peer");
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), Some("keep-alive"));
        assert_eq!(r.text().split(' ').next(), Some(mine.as_str()));
    }

    // HTTP/1.0 persists only when it asks to.
    let mut c10 = Client::connect(server.port());
    let mine10 = c10.local_port().to_string();
    for _ in 0..2 {
        c10.send(b"GET /peer HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
        let r = c10.response();
        assert_eq!(r.status, 200);
        assert_eq!(r.header("Connection"), Some("keep-alive"), "{r:?}");
        assert!(
            r.header("Content-Length").is_some(),
            "1.0 keep-alive needs a length"
        );
        assert_eq!(r.text().split(' ').next(), Some(mine10.as_str()));
    }
    c10.send(b"GET /peer HTTP/1.0\r\n\r\n");
    let r = c10.response();
    assert_eq!(r.header("Connection"), Some("close"), "{r:?}");
    expect_eof_only(&mut c10, "HTTP/1.0 without keep-alive");

    // On 1.1 a response without a length is chunked, and the connection goes on.
    let mut c = Client::connect(server.port());
    let r = c.get("/nolength");
    assert!(r.chunked, "{:?}", r.headers);
    assert_eq!(r.text(), "part1part2");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    assert_eq!(c.get("/").status, 200);

    // A 1.0 response the app sends without a length cannot persist (close-delimited).
    let mut c = Client::connect(server.port());
    c.send(b"GET /nolength HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    let r = c.response();
    assert_eq!((r.status, r.text().as_str()), (200, "part1part2"));
    assert_ne!(r.header("Connection"), Some("keep-alive"), "{r:?}");
}

pub(crate) fn connection_close_is_honoured_and_nothing_after_it_runs(server: &Server) {
    let mut c = Client::connect(server.port());
    c.send(
        format!(
            "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n{}",
            get("/mark?name=after-close")
        )
        .as_bytes(),
    );
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("close"));
    expect_eof_only(&mut c, "after Connection: close");
    // The same worker answers a later request, so a request it had run would have marked.
    assert_eq!(server.fetch("/").status, 200);
    assert_eq!(server.markers("mark-after-close"), Vec::<String>::new());
}

pub(crate) fn keep_alive_zero_closes_after_every_response(server: &Server) {
    let mut c = Client::connect(server.port());
    c.send(format!("{}{}", get("/peer"), get("/mark?name=ka0")).as_bytes());
    let r = c.response();
    assert_eq!(r.status, 200);
    assert_eq!(r.header("Connection"), Some("close"));
    expect_eof_only(&mut c, "--keep-alive 0");
    assert_eq!(server.markers("mark-ka0"), Vec::<String>::new());

    // A session that would keep its connection has to open one per request.
    let url = format!("http://127.0.0.1:{}/peer", server.port());
    let summary = PyClient::spawn("session_client.py", &["many", &url, "5"]).finish(WAIT);
    assert_eq!(summary["ok"], 5, "{summary}");
    assert_eq!(summary["bodies"].as_array().unwrap().len(), 5, "{summary}");
    assert_eq!(summary["connection"], serde_json::json!(["close"]));
}

pub(crate) fn idle_connection_is_closed_after_keep_alive_seconds(server: &Server) {
    let mut c = Client::connect(server.port());
    let r = c.get("/");
    assert_eq!(r.header("Connection"), Some("keep-alive"));
    let idle_since = Instant::now();
    let ending = c.ending(Duration::from_secs(10));
    let idle = idle_since.elapsed();
    assert_eq!(
        ending,
        Ending::Eof(Vec::new()),
        "an idle close is a plain FIN"
    );
    eprintln!("idle connection closed after {idle:?} (--keep-alive 1)");
    assert!(
        idle >= Duration::from_millis(800),
        "closed after {idle:?}, before --keep-alive 1 passed"
    );
    assert!(idle < Duration::from_secs(5), "closed only after {idle:?}");
}

pub(crate) fn pipelined_requests_with_bodies_are_answered_in_order(server: &Server) {
    let mut c = Client::connect(server.port());
    let peer = format!("{} ", c.local_port());
    let pipeline = [
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nfirst".to_string(),
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nsecond\r\n0\r\n\r\n"
                .to_string(),
            get("/peer"),
            "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nthi\r\n2;ext=1\r\nrd\r\n0\r\nX-Trailer: t\r\n\r\n"
                .to_string(),
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n".to_string(),
            "HEAD /head HTTP/1.1\r\nHost: x\r\n\r\n".to_string(),
            "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".to_string(),
        ];
    c.send(pipeline.concat().as_bytes());
    let mut bodies = Vec::new();
    for i in 0..pipeline.len() {
        let r = c.next_response(i == 5);
        assert_eq!(r.status, 200, "response {i}: {r:?}");
        let want = if i + 1 == pipeline.len() {
            "close"
        } else {
            "keep-alive"
        };
        assert_eq!(r.header("Connection"), Some(want), "response {i}");
        bodies.push(r.text());
    }
    assert_eq!(&bodies[..2], ["first", "second"]);
    assert!(bodies[2].starts_with(&peer), "{bodies:?}");
    assert_eq!(&bodies[3..6], ["third", "", ""]);
    assert!(bodies[6].starts_with(&peer), "{bodies:?}");
    expect_eof_only(&mut c, "after the pipeline's Connection: close");
}

pub(crate) fn pipelined_responses_keep_request_order_when_the_first_is_slow(server: &Server) {
    let mut c = Client::connect(server.port());
    c.send(
        [
            get("/sleep?s=1"),
            get("/pid"),
            "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nlast".to_string(),
        ]
        .concat()
        .as_bytes(),
    );
    let texts: Vec<String> = (0..3).map(|_| c.response().text()).collect();
    assert_eq!(texts[0], "slept 1.0");
    assert!(texts[1].parse::<u32>().is_ok(), "{texts:?}");
    assert_eq!(texts[2], "last");
}

pub(crate) fn nothing_behind_a_malformed_request_runs(server: &Server) {
    let cases: [(&str, String, &[u16]); 3] = [
            (
                "behind-bad-header",
                format!(
                    "GET / HTTP/1.1\r\nHost: x\r\nBad Header: y\r\n\r\n{}",
                    get("/mark?name=behind-bad-header")
                ),
                &[400],
            ),
            (
                "behind-cl-te",
                format!(
                    "{}POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n{}",
                    get("/peer"),
                    get("/mark?name=behind-cl-te")
                ),
                &[200, 400],
            ),
            (
                "behind-bad-chunk",
                format!(
                    "{}POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n6_0\r\n{}\r\n0\r\n\r\n{}",
                    get("/peer"),
                    "x".repeat(96),
                    get("/mark?name=behind-bad-chunk")
                ),
                &[200, 400],
            ),
        ];
    for (name, raw, statuses) in &cases {
        let mut c = Client::connect(server.port());
        c.send(raw.as_bytes());
        let wire = match c.ending(Duration::from_secs(10)) {
            Ending::Eof(bytes) | Ending::Reset(bytes) => bytes,
            Ending::Open(bytes) => {
                panic!("{name}: the connection stayed open: {:?}", show(&bytes))
            }
        };
        let got: Vec<u16> = parse_all(&wire, false).iter().map(|r| r.status).collect();
        assert_eq!(&got, statuses, "{name}: {:?}", show(&wire));
        let last = parse_all(&wire, false).pop().unwrap();
        assert_eq!(last.header("Connection"), Some("close"), "{name}");
    }
    assert_eq!(server.fetch("/").status, 200, "the worker survived");
    assert_eq!(server.markers("mark-behind"), Vec::<String>::new());
}

pub(crate) fn half_closed_client_gets_every_response(server: &Server) {
    let mut c = Client::connect(server.port());
    c.send(format!("{}{}", get("/stream?n=64&size=4096"), get("/peer")).as_bytes());
    c.stream.shutdown(Shutdown::Write).unwrap();
    let big = c.response();
    assert!(big.complete && big.chunked, "{:?}", big.headers);
    assert_eq!(big.body.len(), 64 * 4096);
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with(&c.local_port().to_string()));
    assert_eq!(c.ending(Duration::from_secs(10)), Ending::Eof(Vec::new()));
}

pub(crate) fn close_in_a_connection_token_list_is_honoured(server: &Server) {
    // RFC 9112 §9.6: a "close" connection option, wherever it is in the list, ends the
    // connection after the response.
    for value in ["keep-alive, close", "foo, close", "close, te"] {
        let mut c = Client::connect(server.port());
        c.send(
            format!(
                "GET /peer HTTP/1.1\r\nHost: x\r\nConnection: {value}\r\n\r\n{}",
                get("/mark?name=after-close-list")
            )
            .as_bytes(),
        );
        let r = c.response();
        assert_eq!(r.header("Connection"), Some("close"), "Connection: {value}");
        expect_eof_only(&mut c, value);
    }
    // A second Connection field counts as much as the first.
    let mut c = Client::connect(server.port());
    c.send(b"GET /peer HTTP/1.1\r\nHost: x\r\nConnection: foo\r\nConnection: close\r\n\r\n");
    assert_eq!(c.response().header("Connection"), Some("close"));
    expect_eof_only(&mut c, "close in a second Connection field");
    assert_eq!(
        server.markers("mark-after-close-list"),
        Vec::<String>::new()
    );

    // And keep-alive anywhere in the list keeps an HTTP/1.0 connection.
    let mut c = Client::connect(server.port());
    for _ in 0..2 {
        c.send(b"GET /peer HTTP/1.0\r\nConnection: foo, keep-alive\r\n\r\n");
        assert_eq!(c.response().header("Connection"), Some("keep-alive"));
    }
}

pub(crate) fn head_begun_on_an_idle_connection_gets_the_header_timeout_not_the_keep_alive(
    server: &Server,
) {
    let mut c = Client::connect(server.port());
    assert_eq!(c.get("/").header("Connection"), Some("keep-alive"));
    // The next request starts within the keep-alive second and ends after it.
    c.send(b"GET /peer HTTP/1.1\r\n");
    match c.ending(Duration::from_millis(1500)) {
        Ending::Open(bytes) if bytes.is_empty() => {}
        other => panic!("a head in progress was cut at the keep-alive deadline: {other:?}"),
    }
    c.send(b"Host: x\r\n\r\n");
    let r = c.response();
    assert_eq!(r.status, 200);
    assert!(r.text().starts_with(&c.local_port().to_string()));
}
