//! Unit tests of `sink` (kept apart so the module itself stays short).

use super::*;
use crate::wsgi::ResponseSink;
use std::io::Read;
use std::os::unix::net::UnixStream;

fn respond(may_hold: bool, body: &[u8]) -> (bool, Vec<u8>, Vec<u8>) {
    // A request that began long enough ago to be held, or one that may not be.
    let started = may_hold.then(|| Instant::now() - 2 * HOLD_MIN);
    let (ours, mut theirs) = UnixStream::pair().expect("socketpair");
    ours.set_nonblocking(true).expect("non-blocking");
    theirs.set_nonblocking(true).expect("non-blocking");
    let stream = Stream::new(ours.into());
    let raw = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n";
    let cfg = crate::http::request::ParserConfig::default();
    let parsed = crate::http::request::parse_head(raw, &cfg, Default::default(), true);
    let Ok(Some((head, _))) = parsed else {
        panic!("the test's own request parses: {parsed:?}")
    };
    let mut out = Vec::new();
    let mut sink = Sink::new(&stream, Claim::free(), Duration::from_secs(1), &mut out)
        .for_request(&head, true, "today")
        .holding(started);
    let length = body.len().to_string().into_bytes();
    let headers = [("Content-Length".to_string(), length)];
    let declared = Some(body.len() as u64);
    sink.start("200 OK", &headers, declared).expect("start");
    sink.write(body).expect("write");
    sink.finish().expect("finish");
    assert!(sink.completed() && !sink.pending());
    let holds = sink.holds();
    let unsent = sink.unsent().to_vec();
    let mut sent = vec![0; 4096];
    let n = theirs.read(&mut sent).unwrap_or(0);
    sent.truncate(n);
    (holds, unsent, sent)
}

#[test]
fn a_complete_response_is_held_whole_only_when_allowed() {
    let (holds, unsent, sent) = respond(true, b"hello");
    assert!(holds);
    assert!(sent.is_empty(), "nothing went out");
    assert!(unsent.starts_with(b"HTTP/1.1 200 OK\r\n") && unsent.ends_with(b"\r\n\r\nhello"));
    let (holds, unsent, sent) = respond(false, b"hello");
    assert!(!holds && unsent.is_empty());
    assert!(sent.ends_with(b"\r\n\r\nhello"), "sent as the app wrote it");
}
