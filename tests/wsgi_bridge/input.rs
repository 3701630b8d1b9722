//! `wsgi.input` and `wsgi.errors`: reads whole, sized and by line, the limits, a large body
//! streamed, body errors, objects kept past the request.

use super::*;

const LINES: &[u8] = b"line1\nline2\nend";

#[test]
fn read_whole_and_sized() {
    let app = validator();
    let run = post(&app, "/echo", b"hello body");
    assert_clean(&run);
    assert_eq!(body_text(&run), "hello body");
    let run = post(&app, "/echo/sized?n=3", b"0123456789abcdef");
    assert_eq!(body_text(&run), "0123456789abcdef");
}

#[test]
fn lines() {
    let app = validator();
    for route in ["/readline", "/readlines", "/iter"] {
        let run = post(&app, route, LINES);
        assert_clean(&run);
        assert_eq!(body_text(&run), "6,6,3", "{route}");
    }
}

#[test]
fn limits_and_hints() {
    let run = post(&features(), "/input_calls", b"abcdef\nxy\nz\nrest");
    assert_clean(&run);
    assert_eq!(
        body_text(&run),
        r"[b'abcd', b'ef\n', b'', b'x', b'y\n', [b'z\n'], b'rest', b'', b'']"
    );
}

#[test]
fn app_is_shareable_across_threads() {
    fn assert_send_sync<T: Send + Sync>() {}
    assert_send_sync::<App>();
}

#[test]
fn streams_a_large_body() {
    let mut body = Zeros {
        remaining: 64 << 20,
    };
    let run = call_with(
        &features(),
        &request("POST", "/count", &[]),
        &tcp_conn(),
        &mut body,
        Sink::default(),
    );
    assert_clean(&run);
    assert_eq!(body_text(&run), (64u64 << 20).to_string());
}

fn failing(fail: fn() -> BodyError) -> MemBody {
    MemBody {
        fail: Some(fail),
        ..MemBody::new(b"partial")
    }
}

#[test]
fn body_errors_are_reported_even_if_caught() {
    let app = features();
    let head = request("POST", "/catch_body_error", &[]);
    let parse = || BodyError::Parse(ParseError::InvalidRequestLine("bad chunk".into()));
    let run = call_with(
        &app,
        &head,
        &tcp_conn(),
        &mut failing(parse),
        Sink::default(),
    );
    assert_eq!(body_text(&run), "caught RequestBodyError True");
    assert!(
        matches!(run.outcome.error, Some(AppError::Body(BodyError::Parse(_)))),
        "{:?}",
        run.outcome.error
    );
    let run = call_with(
        &validator(),
        &request("POST", "/echo", &[("CONTENT-LENGTH", b"100")]),
        &tcp_conn(),
        &mut failing(|| BodyError::Disconnected),
        Sink::default(),
    );
    assert!(
        matches!(
            run.outcome.error,
            Some(AppError::Body(BodyError::Disconnected))
        ),
        "{:?}",
        run.outcome.error
    );
    assert!(!run.sink.started());
}

#[test]
fn objects_kept_past_the_request_are_closed() {
    let app = features();
    assert_clean(&get(&app, "/keep_input"));
    let run = get(&app, "/use_kept");
    assert_eq!(body_text(&run), "input:ValueError write:ValueError");
}

#[test]
fn wsgi_errors_accepts_text() {
    assert_clean(&get(&features(), "/errors"));
}
