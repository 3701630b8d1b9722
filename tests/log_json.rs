//! `--log-format json` through the real binary: every line the server writes on stderr (error
//! log, worker output) and stdout (access log, worker output) is parsed by serde_json as one
//! object; the fields of the master's, the workers' and the access records are checked, under
//! the sync, gthread and asgi kinds (the access record is built in a different place for asgi),
//! with a request whose target and headers carry quotes, control bytes and invalid UTF-8.

use crate::support::*;
use serde_json::Value;

/// A request with what a JSON writer must escape: `%22` and `%01`/`%FF` decode into the path
/// (a quote, a control byte, invalid UTF-8); the headers carry a raw quote, a backslash and
/// obs-text bytes (RFC 9110 §5.5 allows 0x80-0xFF in field values).
const NASTY: &[u8] = b"GET /p%22q%01%FF?a=%22\"x HTTP/1.1\r\nHost: localhost\r\n\
User-Agent: agent \"quoted\" \\ back \xff\xfe\r\nReferer: http://r/\"\r\nConnection: close\r\n\r\n";

fn start(kind: &str, app: &str) -> Server {
    Server::app_with(
        app,
        &[
            "-k",
            kind,
            "--threads",
            "2",
            "--log-format",
            "json",
            "--access-logfile",
            "-",
            "--error-logfile",
            "-",
        ],
        1,
        Opts::default().with_venv(),
    )
}

/// Every line parsed; panics with the line that is not a JSON object.
pub(crate) fn objects(lines: &[String]) -> Vec<Value> {
    lines
        .iter()
        .map(|l| match serde_json::from_str::<Value>(l) {
            Ok(v @ Value::Object(_)) => v,
            _ => panic!("not a JSON object: {l:?}\nall lines:\n{}", lines.join("\n")),
        })
        .collect()
}

fn find<'v>(records: &'v [Value], what: &str, pred: impl Fn(&Value) -> bool) -> &'v Value {
    records
        .iter()
        .find(|r| pred(r))
        .unwrap_or_else(|| panic!("no {what} record among {records:#?}"))
}

fn message(r: &Value) -> &str {
    r["message"].as_str().unwrap_or_default()
}

fn check_kind(kind: &str, app: &str) {
    let mut server = start(kind, app);
    let worker = *server.worker_pids().iter().next().expect("a worker");
    let raw = server.http(NASTY);
    assert!(raw.starts_with(b"HTTP/1.1 200"), "{raw:?}");
    assert_eq!(server.get("/raise").status, 500);
    assert_eq!(server.get("/print").status, 200);
    server
        .stdout
        .find_from(0, "plain stdout line", WAIT)
        .expect("the app's print reached stdout");
    server.wait_for("Traceback", WAIT);
    server.wait_for("plain stderr line", WAIT);
    // Three requests: three access records.
    server
        .stdout
        .count("gunicorn.access", 3, WAIT)
        .expect("three access records");
    server.stop();

    let errors = objects(&server.stderr.ended(WAIT));
    let out = objects(&server.stdout.ended(WAIT));
    for r in errors.iter().chain(&out) {
        for field in ["timestamp", "level", "pid", "logger", "message"] {
            assert!(!r[field].is_null(), "{field} missing in {r}");
        }
        let ts = r["timestamp"].as_str().unwrap();
        assert!(ts.len() == 29 && &ts[10..11] == "T", "not RFC 3339: {ts}");
    }
    let master = server.master_pid();
    let listening = find(&errors, "Listening at", |r| {
        message(r).starts_with("Listening at: ")
    });
    assert_eq!(
        (listening["pid"].as_u64(), listening["level"].as_str()),
        (Some(master.into()), Some("info"))
    );
    let booting = find(&errors, "Booting worker", |r| {
        message(r).starts_with("Booting worker")
    });
    assert_eq!(booting["pid"].as_u64(), Some(worker.into()));

    // The traceback is one record, with the traceback whole in its own field.
    let with_tb: Vec<_> = errors
        .iter()
        .filter(|r| r.to_string().contains("Traceback"))
        .collect();
    assert_eq!(with_tb.len(), 1, "{with_tb:#?}");
    let tb = with_tb[0]["traceback"].as_str().expect("a traceback field");
    assert!(tb.starts_with("Traceback (most recent call last):"), "{tb}");
    assert!(tb.contains("Boom: bad \"value\" \\ here"), "{tb}");
    assert_eq!(with_tb[0]["level"], "error");
    assert_eq!(with_tb[0]["pid"].as_u64(), Some(worker.into()));

    // The app's stray output became records of the worker, on the stream it was written to.
    let stray = find(&errors, "stderr print", |r| {
        message(r) == "plain stderr line with \"quotes\""
    });
    assert_eq!(
        (stray["logger"].as_str(), stray["pid"].as_u64()),
        (Some("stderr"), Some(worker.into()))
    );
    find(&out, "stdout print", |r| {
        message(r) == "plain stdout line from the app"
    });

    let nasty = find(&out, "the nasty request", |r| {
        r["logger"] == "gunicorn.access"
            && r["target"].as_str().is_some_and(|t| t.starts_with("/p%22"))
    });
    assert_eq!(nasty["target"], "/p%22q%01%FF?a=%22\"x");
    assert_eq!(nasty["path"], "/p\"q\u{1}\u{fffd}");
    assert_eq!(nasty["query"], "a=%22\"x");
    assert_eq!(nasty["method"], "GET");
    assert_eq!(nasty["protocol"], "HTTP/1.1");
    assert_eq!(nasty["status"], 200);
    assert_eq!(nasty["bytes"], 5);
    assert_eq!(nasty["remote_addr"], "127.0.0.1");
    assert_eq!(nasty["referer"], "http://r/\"");
    // obs-text read as ISO-8859-1, as Gunicorn's environ reads it.
    assert_eq!(nasty["user_agent"], "agent \"quoted\" \\ back \u{ff}\u{fe}");
    assert_eq!(nasty["pid"].as_u64(), Some(worker.into()));
    let duration = nasty["duration"].as_f64().expect("a numeric duration");
    assert!((0.0..5.0).contains(&duration), "{duration}");
    // The message is the access_log_format line, Gunicorn's default format.
    assert!(
        message(nasty).starts_with("127.0.0.1 - - [")
            && message(nasty).contains("\"GET /p%22q%01%FF?a=%22\\\"x HTTP/1.1\" 200 5"),
        "{}",
        message(nasty)
    );
    let raised = find(&out, "the /raise request", |r| r["target"] == "/raise");
    assert_eq!(raised["status"], 500);
}

#[test]
fn sync_lines_are_json_objects() {
    check_kind("sync", "log_app:app");
}

#[test]
fn gthread_lines_are_json_objects() {
    check_kind("gthread", "log_app:app");
}

#[test]
fn gevent_lines_are_json_objects() {
    check_kind("gevent", "log_app:app");
}

#[test]
fn asgi_lines_are_json_objects() {
    check_kind("asgi", "log_app:asgi");
}

/// With the logs in files (no pipe through the master), the records are written by each
/// process itself: still one object per line, `wsgi.errors` included.
#[test]
fn log_files_hold_json_objects() {
    let dir = tempfile::tempdir().expect("temp dir");
    let error = dir.path().join("error.log");
    let access = dir.path().join("access.log");
    let apps = apps();
    let mut server = Server::spawn(Opts::new(&[
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "--log-format",
        "json",
        "--access-logfile",
        access.to_str().unwrap(),
        "--error-logfile",
        error.to_str().unwrap(),
        "log_app:app",
    ]));
    let read = |path: &std::path::Path| -> Vec<String> {
        std::fs::read_to_string(path)
            .unwrap_or_default()
            .lines()
            .map(String::from)
            .collect()
    };
    // The error log is the file: the port and the worker's boot are read there.
    let port: u16 = poll(WAIT, "a worker booted", || {
        let lines = objects(&read(&error));
        lines
            .iter()
            .find(|r| message(r).starts_with("Booting worker"))?;
        let listening = lines
            .iter()
            .find_map(|r| message(r).strip_prefix("Listening at: http://127.0.0.1:"))?;
        listening.split(' ').next()?.parse().ok()
    });
    assert_eq!(try_get(port, "/errors").map(|r| r.status), Some(200));
    assert_eq!(try_get(port, "/raise").map(|r| r.status), Some(500));
    poll(WAIT, "two access records", || {
        (read(&access).len() >= 2).then_some(())
    });
    poll(WAIT, "the traceback record", || {
        read(&error)
            .iter()
            .any(|l| l.contains("Traceback"))
            .then_some(())
    });
    server.stop();
    let errors = objects(&read(&error));
    find(&errors, "wsgi.errors", |r| {
        r["logger"] == "wsgi.errors" && message(r) == "a wsgi.errors line"
    });
    find(&errors, "Worker exiting", |r| {
        message(r).starts_with("Worker exiting")
    });
    let access = objects(&read(&access));
    assert_eq!(access.len(), 2, "{access:#?}");
}

/// The default stays Gunicorn's text format, and an unknown format is refused before binding.
#[test]
fn text_is_the_default_and_unknown_formats_are_refused() {
    let mut server = Server::app("log_app:app", &["--access-logfile", "-"], 1);
    assert_eq!(server.get("/").status, 200);
    let line = server
        .stdout
        .find_from(0, "\"GET / HTTP/1.1\" 200 5", WAIT)
        .expect("a text access line");
    assert!(line.starts_with("127.0.0.1 - - ["), "{line}");
    server.stop();
    assert!(server.stderr.snapshot()[0].contains("] [INFO] Starting gunicorn"));

    let (status, _, err) = run(Opts::new(&["--log-format", "xml", "log_app:app"]));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(err.contains("xml"), "{err}");
}
