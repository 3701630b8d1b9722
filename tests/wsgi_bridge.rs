//! The WSGI bridge without a server: `App::call` with an in-memory body and a recording sink,
//! against `tests/apps/validator_app.py` (wsgiref's validator) and `tests/apps/wsgi_features.py`.
//!
//! Tests run as threads of one process sharing one interpreter, so each attaches on its own
//! and probes are tagged per test rather than counted.

use std::io;
use std::net::SocketAddr;
use std::os::fd::{BorrowedFd, RawFd};
use std::path::PathBuf;
use std::sync::Once;

use gunicorn_rs::http::{BodyKind, ParseError, Protocol, RequestHead};
use gunicorn_rs::wsgi::{
    interpreter, App, AppError, BodyError, BodyRead, ConnInfo, HeaderPair, LoadError, Outcome,
    Peer, ResponseSink,
};
use pyo3::prelude::*;

static INIT: Once = Once::new();

fn apps_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/apps")
}

fn setup() {
    INIT.call_once(|| {
        interpreter::initialize().expect("the interpreter starts");
        interpreter::add_sys_path(&[apps_dir()]).expect("sys.path accepts the apps dir");
    });
}

fn load(uri: &str) -> Result<App, LoadError> {
    setup();
    App::load(uri)
}

/// A body served from memory in pieces of at most `max_chunk`, optionally failing at the end.
struct MemBody {
    data: Vec<u8>,
    pos: usize,
    max_chunk: usize,
    fail: Option<fn() -> BodyError>,
}

impl MemBody {
    fn new(data: &[u8]) -> MemBody {
        MemBody {
            data: data.to_vec(),
            pos: 0,
            max_chunk: usize::MAX,
            fail: None,
        }
    }
}

impl BodyRead for MemBody {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        if self.pos == self.data.len() {
            return self.fail.take().map_or(Ok(0), |fail| Err(fail()));
        }
        let n = buf
            .len()
            .min(self.max_chunk)
            .min(self.data.len() - self.pos);
        buf[..n].copy_from_slice(&self.data[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// A generated body of `remaining` bytes that is never stored.
struct Zeros {
    remaining: u64,
}

impl BodyRead for Zeros {
    fn read(&mut self, buf: &mut [u8]) -> Result<usize, BodyError> {
        let n = (buf.len() as u64).min(self.remaining) as usize;
        buf[..n].fill(0);
        self.remaining -= n as u64;
        Ok(n)
    }
}

#[derive(Default)]
struct Sink {
    head: Option<(String, Vec<HeaderPair>)>,
    body: Vec<u8>,
    writes: usize,
    finished: bool,
    fail_writes: bool,
    no_sendfile: bool,
    sendfiles: Vec<(u64, Option<u64>)>,
    /// Interim responses (`wsgi.early_hints`): status and fields.
    interims: Vec<(u16, Vec<HeaderPair>)>,
}

impl ResponseSink for Sink {
    fn interim(&mut self, status: u16, headers: &[HeaderPair]) -> io::Result<()> {
        assert!(self.head.is_none(), "interim after the head");
        self.interims.push((status, headers.to_vec()));
        Ok(())
    }

    fn start(&mut self, status: &str, headers: &[HeaderPair]) -> io::Result<()> {
        assert!(self.head.is_none(), "start called twice");
        self.head = Some((status.to_owned(), headers.to_vec()));
        Ok(())
    }

    fn write(&mut self, data: &[u8]) -> io::Result<()> {
        assert!(self.head.is_some(), "body before head");
        assert!(!data.is_empty(), "empty write");
        if self.fail_writes {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.writes += 1;
        self.body.extend_from_slice(data);
        Ok(())
    }

    fn sendfile(&mut self, fd: RawFd, offset: u64, count: Option<u64>) -> io::Result<u64> {
        assert!(self.head.is_some(), "sendfile before head");
        if self.no_sendfile {
            return Err(io::ErrorKind::Unsupported.into());
        }
        self.sendfiles.push((offset, count));
        // SAFETY (test): the bridge keeps the file open for the duration of the call.
        let fd = unsafe { BorrowedFd::borrow_raw(fd) };
        let mut buf = vec![0; count.unwrap_or(1 << 20) as usize];
        let n = nix::sys::uio::pread(fd, &mut buf, offset as i64)?;
        self.body.extend_from_slice(&buf[..n]);
        Ok(n as u64)
    }

    fn finish(&mut self) -> io::Result<()> {
        self.finished = true;
        Ok(())
    }

    fn started(&self) -> bool {
        self.head.is_some()
    }

    fn pending(&self) -> bool {
        false
    }

    fn drain(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Sink {
    fn status(&self) -> &str {
        self.head.as_ref().map_or("", |(s, _)| s.as_str())
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        let (_, headers) = self.head.as_ref()?;
        headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }
}

fn request(method: &str, target: &str, headers: &[(&str, &[u8])]) -> RequestHead {
    let (path, query) = target.split_once('?').unwrap_or((target, ""));
    let mut all: Vec<(String, Vec<u8>)> = vec![("HOST".into(), b"localhost:8000".to_vec())];
    all.extend(headers.iter().map(|(n, v)| (n.to_string(), v.to_vec())));
    let length = all.iter().find(|(n, _)| n == "CONTENT-LENGTH");
    let body = length.map_or(BodyKind::Empty, |(_, v)| {
        BodyKind::Length(String::from_utf8_lossy(v).parse().unwrap())
    });
    RequestHead {
        method: method.into(),
        uri: target.into(),
        path: path.into(),
        query: query.into(),
        fragment: String::new(),
        version: (1, 1),
        headers: all,
        body,
        expect_continue: false,
        must_close: false,
        secure_scheme: None,
        proxy: None,
        remote: None,
        protocol: Protocol::Http,
    }
}

fn tcp_conn() -> ConnInfo {
    ConnInfo {
        peer: Peer::Tcp("127.0.0.1:50123".parse().unwrap()),
        server: Some("0.0.0.0:8000".parse::<SocketAddr>().unwrap()),
        unix_path: None,
        is_tls: false,
        client_cert: None,
        multiprocess: true,
        multithread: false,
    }
}

struct Run {
    outcome: Outcome,
    sink: Sink,
}

fn call_with(
    app: &App,
    head: &RequestHead,
    conn: &ConnInfo,
    body: &mut dyn BodyRead,
    mut sink: Sink,
) -> Run {
    let outcome = app.call(head, conn, body, &mut sink, &[]);
    Run { outcome, sink }
}

fn validator() -> App {
    load("validator_app").expect("validator_app loads")
}

fn features() -> App {
    load("wsgi_features:app").expect("wsgi_features loads")
}

fn get(app: &App, target: &str) -> Run {
    call_with(
        app,
        &request("GET", target, &[]),
        &tcp_conn(),
        &mut MemBody::new(b""),
        Sink::default(),
    )
}

fn post(app: &App, target: &str, body: &[u8]) -> Run {
    let len = body.len().to_string();
    let head = request(
        "POST",
        target,
        &[
            ("CONTENT-LENGTH", len.as_bytes()),
            ("CONTENT-TYPE", b"text/plain"),
        ],
    );
    let mut body = MemBody {
        max_chunk: 5,
        ..MemBody::new(body)
    };
    call_with(app, &head, &tcp_conn(), &mut body, Sink::default())
}

fn closed_tags() -> Vec<String> {
    Python::attach(|py| {
        let module = py.import("wsgi_features").unwrap();
        module
            .getattr("CLOSED")
            .unwrap()
            .extract::<Vec<Option<String>>>()
            .unwrap()
            .into_iter()
            .flatten()
            .collect()
    })
}

fn body_text(run: &Run) -> String {
    String::from_utf8_lossy(&run.sink.body).into_owned()
}

fn assert_clean(run: &Run) {
    assert!(
        run.outcome.error.is_none(),
        "unexpected error: {:?}",
        run.outcome.error
    );
    assert!(run.sink.finished, "response not finished");
}

mod load {
    use super::*;

    fn message(uri: &str) -> String {
        match load(uri) {
            Err(LoadError::Message(msg)) => msg,
            Err(LoadError::Exception(tb)) => {
                panic!("{uri}: expected a message, got traceback {tb}")
            }
            Ok(_) => panic!("{uri}: loaded"),
        }
    }

    fn traceback(uri: &str) -> String {
        match load(uri) {
            Err(LoadError::Exception(tb)) => tb,
            Err(LoadError::Message(msg)) => panic!("{uri}: expected a traceback, got {msg}"),
            Ok(_) => panic!("{uri}: loaded"),
        }
    }

    #[test]
    fn app_forms() {
        for uri in [
            "wsgi_features",
            "wsgi_features:app",
            "wsgi_features:create_app()",
        ] {
            let run = get(&load(uri).unwrap(), "/probe");
            assert_eq!(body_text(&run), "onetwothree", "{uri}");
        }
        let greeter = load("wsgi_features:create_app_args('hi', times=2)").unwrap();
        assert_eq!(body_text(&get(&greeter, "/")), "hihi");
    }

    #[test]
    fn gunicorn_messages() {
        assert_eq!(
            message("wsgi_features:missing"),
            "Failed to find attribute 'missing' in 'wsgi_features'."
        );
        assert_eq!(
            message("wsgi_features:not_callable"),
            "Application object must be callable."
        );
        assert_eq!(
            message("wsgi_features:nothing"),
            "Failed to find application object: 'nothing'"
        );
        assert_eq!(
            message("wsgi_features:a.b"),
            "Failed to parse 'a.b' as an attribute name or function call."
        );
        assert_eq!(
            message("wsgi_features:a.b()"),
            "Function reference must be a simple name: 'a.b()'"
        );
        assert_eq!(
            message("wsgi_features:create_app(x)"),
            "Failed to parse arguments as literal values: 'create_app(x)'"
        );
        assert_eq!(
            message("wsgi_features:create_app(1)"),
            "TypeError: create_app() takes 0 positional arguments but 1 was given"
        );
    }

    #[test]
    fn import_failures_carry_the_traceback() {
        assert!(traceback("broken_app").contains("RuntimeError: broken at import"));
        assert!(traceback("no_such_module_xyz").contains("ModuleNotFoundError"));
        assert!(traceback("wsgi_features:factory_raises_type_error()").contains("len()"));
        // Run from the package root, where the file exists under this path.
        let tb = traceback("tests/apps/wsgi_features.py");
        assert!(
            tb.contains(
                "Failed to find application, did you mean 'tests/apps/wsgi_features:application'?"
            ),
            "{tb}"
        );
    }

    #[test]
    fn describe_and_threads() {
        setup();
        assert!(
            interpreter::describe().starts_with("Python 3."),
            "{}",
            interpreter::describe()
        );
        assert!(interpreter::active_threads() >= 1);
    }

    #[test]
    fn sys_executable_is_a_python_not_this_binary() {
        setup();
        let exe: String =
            Python::attach(|py| py.import("sys")?.getattr("executable")?.extract()).unwrap();
        let me = std::env::current_exe().unwrap();
        assert_ne!(PathBuf::from(&exe), me);
        assert!(
            PathBuf::from(&exe)
                .file_name()
                .unwrap()
                .to_string_lossy()
                .starts_with("python"),
            "{exe}"
        );
    }
}

mod environ {
    use super::*;
    use serde_json::Value;

    fn environ_of(head: &RequestHead, conn: &ConnInfo) -> serde_json::Map<String, Value> {
        let run = call_with(
            &validator(),
            head,
            conn,
            &mut MemBody::new(b""),
            Sink::default(),
        );
        assert_clean(&run);
        match serde_json::from_slice(&run.sink.body).unwrap() {
            Value::Object(map) => map,
            other => panic!("not an object: {other}"),
        }
    }

    fn s(v: &str) -> Value {
        Value::String(v.into())
    }

    #[test]
    fn gunicorn_keys_over_tcp() {
        let head = request(
            "GET",
            "/environ?a=%20b&c",
            &[
                ("X-MULTI", b"a"),
                ("X-MULTI", b"b"),
                ("CONTENT-TYPE", b"text/x"),
                ("X-LATIN", b"caf\xe9"),
            ],
        );
        let env = environ_of(&head, &tcp_conn());
        assert_eq!(env["REQUEST_METHOD"], s("GET"));
        assert_eq!(env["QUERY_STRING"], s("a=%20b&c"));
        assert_eq!(env["RAW_URI"], s("/environ?a=%20b&c"));
        assert_eq!(env["PATH_INFO"], s("/environ"));
        assert_eq!(env["SCRIPT_NAME"], s(""));
        assert_eq!(env["SERVER_PROTOCOL"], s("HTTP/1.1"));
        assert_eq!(env["SERVER_NAME"], s("0.0.0.0"));
        assert_eq!(env["SERVER_PORT"], s("8000"));
        assert_eq!(env["REMOTE_ADDR"], s("127.0.0.1"));
        assert_eq!(env["REMOTE_PORT"], s("50123"));
        assert_eq!(env["HTTP_HOST"], s("localhost:8000"));
        assert_eq!(env["HTTP_X_MULTI"], s("a,b"));
        assert_eq!(env["HTTP_X_LATIN"], s("caf\u{e9}"));
        assert_eq!(env["CONTENT_TYPE"], s("text/x"));
        assert!(!env.contains_key("HTTP_CONTENT_TYPE") && !env.contains_key("CONTENT_LENGTH"));
        assert_eq!(env["SERVER_SOFTWARE"], s("gunicorn-rs/0.1.0"));
        assert_eq!(env["wsgi.url_scheme"], s("http"));
        assert_eq!(env["wsgi.version"], serde_json::json!([1, 0]));
        assert_eq!(env["wsgi.multiprocess"], Value::Bool(true));
        assert_eq!(env["wsgi.multithread"], Value::Bool(false));
        assert_eq!(env["wsgi.run_once"], Value::Bool(false));
        assert_eq!(env["wsgi.input_terminated"], Value::Bool(true));
    }

    #[test]
    fn path_info_is_decoded_latin1() {
        let env = environ_of(
            &request("GET", "/environ/caf%C3%A9%2Fx%zz", &[]),
            &tcp_conn(),
        );
        assert_eq!(env["PATH_INFO"], s("/environ/caf\u{c3}\u{a9}/x%zz"));
        assert_eq!(env["RAW_URI"], s("/environ/caf%C3%A9%2Fx%zz"));
    }

    #[test]
    fn url_scheme_from_tls_and_trusted_header() {
        let tls = ConnInfo {
            is_tls: true,
            client_cert: None,
            ..tcp_conn()
        };
        assert_eq!(
            environ_of(&request("GET", "/environ", &[]), &tls)["wsgi.url_scheme"],
            s("https")
        );
        let mut head = request("GET", "/environ", &[]);
        head.secure_scheme = Some(true);
        assert_eq!(
            environ_of(&head, &tcp_conn())["wsgi.url_scheme"],
            s("https")
        );
    }

    #[test]
    fn unix_socket_server_and_remote() {
        let unix = ConnInfo {
            peer: Peer::Unix,
            server: None,
            unix_path: Some("/tmp/app.sock".into()),
            ..tcp_conn()
        };
        let env = environ_of(&request("GET", "/environ", &[]), &unix);
        assert_eq!(env["REMOTE_ADDR"], s(""));
        assert!(!env.contains_key("REMOTE_PORT"));
        assert_eq!(
            (env["SERVER_NAME"].clone(), env["SERVER_PORT"].clone()),
            (s("localhost"), s("8000"))
        );
        let mut head = request("GET", "/environ", &[]);
        head.headers = vec![("HOST".into(), b"example.com".to_vec())];
        let env = environ_of(&head, &unix);
        assert_eq!(
            (env["SERVER_NAME"].clone(), env["SERVER_PORT"].clone()),
            (s("example.com"), s("80"))
        );
        head.headers.clear();
        let env = environ_of(&head, &unix);
        assert_eq!(
            (env["SERVER_NAME"].clone(), env["SERVER_PORT"].clone()),
            (s("/tmp/app.sock"), s(""))
        );
    }

    #[test]
    fn script_name_from_trusted_header() {
        let head = request("GET", "/mount/environ", &[("SCRIPT_NAME", b"/mount")]);
        let env = environ_of(&head, &tcp_conn());
        assert_eq!(env["SCRIPT_NAME"], s("/mount"));
        assert_eq!(env["PATH_INFO"], s("/environ"));
        assert_eq!(env["HTTP_SCRIPT_NAME"], s("/mount"));
    }

    #[test]
    fn path_outside_script_name_is_a_configuration_problem() {
        let head = request("GET", "/elsewhere", &[("SCRIPT_NAME", b"/mount")]);
        let run = call_with(
            &validator(),
            &head,
            &tcp_conn(),
            &mut MemBody::new(b""),
            Sink::default(),
        );
        assert!(
            matches!(run.outcome.error, Some(AppError::Configuration(_))),
            "{:?}",
            run.outcome.error
        );
        assert!(!run.sink.started());
    }

    #[test]
    fn proxy_protocol_overrides_the_peer() {
        let mut head = request("GET", "/environ", &[]);
        head.proxy = Some(gunicorn_rs::http::ProxyInfo {
            protocol: "TCP4".into(),
            client_addr: "192.0.2.1".into(),
            client_port: 4242,
            proxy_addr: "192.0.2.2".into(),
            proxy_port: 443,
        });
        let env = environ_of(&head, &tcp_conn());
        assert_eq!(env["REMOTE_ADDR"], s("192.0.2.1"));
        assert_eq!(env["REMOTE_PORT"], s("4242"));
        assert_eq!(env["PROXY_PROTOCOL"], s("TCP4"));
        assert_eq!(env["PROXY_PORT"], s("443"));
    }

    #[test]
    fn access_log_keys() {
        let app = validator();
        let mut sink = Sink::default();
        let keys = [
            "REQUEST_METHOD".to_owned(),
            "NOPE".to_owned(),
            "wsgi.version".to_owned(),
        ];
        let outcome = app.call(
            &request("GET", "/", &[]),
            &tcp_conn(),
            &mut MemBody::new(b""),
            &mut sink,
            &keys,
        );
        assert_eq!(
            outcome.environ_values,
            vec![Some("GET".into()), None, Some("(1, 0)".into())]
        );
        assert_eq!(outcome.status, Some(200));
    }
}

mod input {
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
}

mod response {
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
}

/// Interpreter start-up and fork hooks need a fresh process: the test binary re-runs itself
/// for one `child_*` test with `GUNICORN_RS_BRIDGE_CHILD` set (the child tests do nothing
/// otherwise) and checks what it printed.
mod interp {
    use super::*;
    use crate::support::BoundedOutput;
    use std::process::Command;

    const CHILD: &str = "GUNICORN_RS_BRIDGE_CHILD";

    fn run_child(test: &str, configure: impl FnOnce(&mut Command)) -> String {
        let mut cmd = Command::new(std::env::current_exe().unwrap());
        cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
            .env(CHILD, "1")
            .env_remove("VIRTUAL_ENV");
        configure(&mut cmd);
        let out = cmd.bounded_output();
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "{test}: {stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        stdout
            .lines()
            .filter_map(|l| l.strip_prefix("RESULT "))
            .collect::<Vec<_>>()
            .join("\n")
    }

    fn is_child() -> bool {
        std::env::var_os(CHILD).is_some()
    }

    fn sys_facts() -> String {
        Python::attach(|py| -> PyResult<String> {
            let code = c"import sys, importlib.util as u; r = f'{sys.prefix}|{sys.executable}|{u.find_spec(\"venv_marker\") is not None}'";
            let globals = pyo3::types::PyDict::new(py);
            py.run(code, Some(&globals), None)?;
            globals.get_item("r")?.map_or(Ok(String::new()), |r| r.extract())
        })
        .unwrap()
    }

    #[test]
    fn child_sys_facts() {
        if !is_child() {
            return;
        }
        interpreter::initialize().unwrap();
        println!("\nRESULT {}", sys_facts());
    }

    fn make_venv() -> PathBuf {
        setup();
        let python: String =
            Python::attach(|py| py.import("sys")?.getattr("executable")?.extract()).unwrap();
        let dir = std::env::temp_dir().join(format!("gunicorn-rs-venv-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let made = Command::new(python)
            .args(["-m", "venv", "--without-pip"])
            .arg(&dir)
            .bounded_output();
        assert!(made.status.success());
        let site = std::fs::read_dir(dir.join("lib"))
            .unwrap()
            .next()
            .unwrap()
            .unwrap()
            .path()
            .join("site-packages");
        std::fs::write(site.join("venv_marker.py"), "").unwrap();
        dir
    }

    #[test]
    fn virtualenv_from_env_and_from_path() {
        let venv = make_venv();
        let expect = format!(
            "{}|{}|True",
            venv.display(),
            venv.join("bin/python").display()
        );
        let facts = run_child("wsgi_bridge::interp::child_sys_facts", |c| {
            c.env("VIRTUAL_ENV", &venv);
        });
        assert_eq!(facts, expect);
        let path = format!(
            "{}:{}",
            venv.join("bin").display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let facts = run_child("wsgi_bridge::interp::child_sys_facts", |c| {
            c.env("PATH", path);
        });
        assert_eq!(
            facts,
            format!(
                "{}|{}|True",
                venv.display(),
                venv.join("bin/python3").display()
            )
        );
        // No venv: the interpreter we were built against, never the test binary.
        let facts = run_child("wsgi_bridge::interp::child_sys_facts", |c| {
            c.env("PATH", "/usr/bin:/bin");
        });
        assert!(
            facts.ends_with("|False") && !facts.contains("integration"),
            "{facts}"
        );
        let _ = std::fs::remove_dir_all(&venv);
    }

    #[test]
    fn child_fork_hooks() {
        if !is_child() {
            return;
        }
        interpreter::initialize().unwrap();
        let code = c"import os, random\nHITS = []\nos.register_at_fork(after_in_child=lambda: HITS.append(os.getpid()))";
        let main = Python::attach(|py| -> PyResult<Py<PyAny>> {
            py.run(code, None, None)?;
            Ok(py.import("__main__")?.unbind().into_any())
        })
        .unwrap();
        let mut values = Vec::new();
        for _ in 0..2 {
            let (read, write) = nix::unistd::pipe().unwrap();
            interpreter::before_fork();
            // SAFETY (test): the child only runs Python through the fork hooks, writes to a
            // pipe and _exits.
            match unsafe { nix::unistd::fork() }.unwrap() {
                nix::unistd::ForkResult::Child => {
                    interpreter::after_fork_child();
                    let line = Python::attach(|py| -> PyResult<String> {
                        let hits: Vec<i32> = main.bind(py).getattr("HITS")?.extract()?;
                        let value: f64 = py.import("random")?.call_method0("random")?.extract()?;
                        Ok(format!("{}:{value}", hits == [std::process::id() as i32]))
                    })
                    .unwrap_or_else(|e| e.to_string());
                    let _ = nix::unistd::write(&write, line.as_bytes());
                    unsafe { libc::_exit(0) };
                }
                nix::unistd::ForkResult::Parent { child } => {
                    interpreter::after_fork_parent();
                    drop(write);
                    let mut buf = [0u8; 256];
                    let n = nix::unistd::read(&read, &mut buf).unwrap();
                    nix::sys::wait::waitpid(child, None).unwrap();
                    values.push(String::from_utf8_lossy(&buf[..n]).into_owned());
                }
            }
        }
        // The parent can still use Python after the hooks released the GIL.
        Python::attach(|py| py.import("random").map(|_| ())).unwrap();
        println!("\nRESULT {}", values.join(" "));
    }

    #[test]
    fn fork_hooks_run_and_reseed() {
        let out = run_child("wsgi_bridge::interp::child_fork_hooks", |_| {});
        let values: Vec<&str> = out.split(' ').collect();
        assert_eq!(values.len(), 2, "{out}");
        assert!(
            values.iter().all(|v| v.starts_with("true:")),
            "hooks did not run: {out}"
        );
        assert_ne!(values[0], values[1], "children share a random seed: {out}");
    }
}
