//! What the app sends back: `start_response` and the write callable, iterables and their
//! `close`, a client gone or an exception mid-stream, `wsgi.file_wrapper`.

use super::*;

fn tagged(app: &App, target: &str, tag: &str, sink: Sink) -> Run {
    let head = request("GET", target, &[("X-TAG", tag.as_bytes())]);
    call_with(app, &head, &tcp_conn(), &mut MemBody::new(b""), sink)
}

fn invalid(run: &Run) -> &str {
    match &run.outcome.error {
        Some(AppError::InvalidResponse(msg)) => msg,
        other => panic!("expected InvalidResponse, got {other:?}"),
    }
}

#[test]
fn hello_and_head() {
    let app = validator();
    for method in ["GET", "HEAD"] {
        let run = call_with(
            &app,
            &request(method, "/", &[]),
            &tcp_conn(),
            &mut MemBody::new(b""),
            Sink::default(),
        );
        assert_clean(&run);
        assert_eq!(run.sink.status(), "200 OK");
        assert_eq!(run.sink.header("content-length"), Some(&b"13"[..]));
        assert_eq!(run.outcome.status, Some(200));
        assert_eq!(body_text(&run), "Hello, World!");
    }
}

#[test]
fn write_callable() {
    let run = get(&validator(), "/write");
    assert_clean(&run);
    assert_eq!(body_text(&run), "written with write()");
}

#[test]
fn streaming_calls_close() {
    let run = tagged(&features(), "/probe", "stream", Sink::default());
    assert_clean(&run);
    assert_eq!(
        (body_text(&run).as_str(), run.sink.writes),
        ("onetwothree", 3)
    );
    assert!(closed_tags().contains(&"stream".to_owned()));
}

#[test]
fn client_gone_still_closes() {
    let run = tagged(
        &features(),
        "/probe",
        "gone",
        Sink {
            fail_writes: true,
            ..Sink::default()
        },
    );
    assert!(
        matches!(run.outcome.error, Some(AppError::ClientGone(_))),
        "{:?}",
        run.outcome.error
    );
    assert!(closed_tags().contains(&"gone".to_owned()));
}

#[test]
fn raise_mid_stream_still_closes() {
    let run = tagged(&features(), "/probe_raises", "raises", Sink::default());
    let Some(AppError::Exception(tb)) = &run.outcome.error else {
        panic!("{:?}", run.outcome.error)
    };
    assert!(tb.contains("RuntimeError: mid-stream"), "{tb}");
    assert!(run.sink.started() && !run.sink.finished);
    assert!(closed_tags().contains(&"raises".to_owned()));
}

#[test]
fn empty_body_starts_at_the_end() {
    let run = get(&features(), "/empty");
    assert_clean(&run);
    assert_eq!((run.sink.status(), run.sink.writes), ("200 OK", 0));
    let run = get(&validator(), "/204");
    assert_clean(&run);
    assert_eq!((run.sink.status(), run.sink.writes), ("204 No Content", 0));
}

#[test]
fn file_wrapper_uses_sendfile_from_the_offset() {
    let source = std::fs::read(apps_dir().join("validator_app.py")).unwrap();
    let run = get(&validator(), "/raw/file?offset=10");
    assert_clean(&run);
    assert_eq!(
        run.sink.sendfiles,
        vec![(10, Some(source.len() as u64 - 10))]
    );
    assert_eq!(run.sink.body, source[10..]);
    // Sendfile unsupported: the same bytes by reading the file.
    let run = call_with(
        &validator(),
        &request("GET", "/raw/file?offset=10", &[]),
        &tcp_conn(),
        &mut MemBody::new(b""),
        Sink {
            no_sendfile: true,
            ..Sink::default()
        },
    );
    assert_clean(&run);
    assert_eq!(run.sink.body, source[10..]);
    // Under the validator the wrapper is hidden: plain iteration.
    let run = get(&validator(), "/file");
    assert_clean(&run);
    assert_eq!(
        (run.sink.body.as_slice(), run.sink.sendfiles.len()),
        (source.as_slice(), 0)
    );
}

#[test]
fn file_wrapper_position_and_fallback() {
    let run = get(&features(), "/file_partial");
    assert_clean(&run);
    assert_eq!(run.sink.sendfiles, vec![(10, Some(5))]);
    let run = get(&features(), "/file_bytesio");
    assert_clean(&run);
    assert_eq!((run.sink.body.len(), run.sink.sendfiles.len()), (20000, 0));
}

#[test]
fn exc_info_replaces_or_reraises() {
    let run = get(&validator(), "/exc_info");
    assert_clean(&run);
    assert_eq!(
        (run.sink.status(), body_text(&run).as_str()),
        ("500 Internal Server Error", "error page")
    );
    let run = get(&validator(), "/exc_info/late");
    let Some(AppError::Exception(tb)) = &run.outcome.error else {
        panic!("{:?}", run.outcome.error)
    };
    assert!(tb.contains("too late"), "{tb}");
    assert_eq!(
        (run.sink.status(), body_text(&run).as_str()),
        ("200 OK", "partial")
    );
    let run = get(&features(), "/twice");
    assert_eq!(run.sink.status(), "202 Accepted");
    assert_eq!(
        body_text(&run),
        "second call: Response headers already set!"
    );
}

#[test]
fn exceptions_before_and_after_the_head() {
    let run = get(&validator(), "/raise/before");
    let Some(AppError::Exception(tb)) = &run.outcome.error else {
        panic!("{:?}", run.outcome.error)
    };
    assert!(
        tb.contains("RuntimeError: before start_response") && tb.starts_with("Traceback"),
        "{tb}"
    );
    assert!(!run.sink.started());
    let run = get(&validator(), "/raise/after");
    assert!(matches!(run.outcome.error, Some(AppError::Exception(_))));
    assert_eq!(body_text(&run), "first");
}

#[test]
fn no_start_response() {
    let run = get(&validator(), "/bad/no-start");
    assert!(
        matches!(run.outcome.error, Some(AppError::NoStartResponse)),
        "{:?}",
        run.outcome.error
    );
    assert!(!run.sink.started());
}

#[test]
fn invalid_status_and_headers_never_reach_the_sink() {
    let app = validator();
    for (route, needle) in [
        ("/bad/status", "'OK'"),
        ("/bad/header-name", "Bad Header"),
        ("/bad/crlf", "X-Evil"),
        ("/bad/str-body", "not str"),
    ] {
        let run = get(&app, route);
        let msg = invalid(&run).to_owned();
        assert!(
            msg.contains(needle) || route == "/bad/crlf",
            "{route}: {msg}"
        );
        assert!(!run.sink.started(), "{route} reached the sink");
        assert!(
            run.outcome.status.is_none() || route == "/bad/str-body",
            "{route}"
        );
    }
    assert!(invalid(&get(&features(), "/bytes_header")).contains("must be str"));
}

#[test]
fn latin1_header_values_are_bytes() {
    let run = get(&features(), "/latin1_header");
    assert_clean(&run);
    assert_eq!(run.sink.header("x-latin"), Some(&b"caf\xe9"[..]));
}
