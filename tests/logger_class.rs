//! `--logger-class` through the real binary: user classes subclassing Gunicorn's own
//! `gunicorn.glogging.Logger` (tests/apps/custom_logger.py, with Gunicorn 27 from the test
//! venv), instantiated with the `cfg` its `setup()` reads, called for every error record and
//! with `access(resp, req, environ, request_time)` for every request, under sync, gthread and
//! asgi; a class that cannot be imported is refused before binding.

use crate::support::*;
use serde_json::Value;

fn serve(kind: &str, app: &str, class: &str, extra: &[&str]) -> Server {
    let mut args = vec!["-k", kind, "--threads", "2", "--logger-class", class];
    args.extend_from_slice(extra);
    Server::app_with(app, &args, 1, Opts::default().with_venv())
}

fn json_access(kind: &str, app: &str) {
    let mut server = serve(
        kind,
        app,
        "custom_logger.JsonAccessLogger",
        &["--access-logfile", "-"],
    );
    let raw = server.http(
        b"GET /x?y=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ua \"q\"\r\nX-Trace: T-9\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with(b"HTTP/1.1 200"), "{raw:?}");
    let line = server
        .stdout
        .find_from(0, "\"status\"", WAIT)
        .expect("the class's access line");
    // Gunicorn's own error-log format, from the class's inherited setup().
    let booting = server.wait_for("Booting worker with pid:", WAIT);
    assert!(booting.contains("] [INFO] Booting worker"), "{booting}");
    server.stop();
    let v: Value = serde_json::from_str(&line).expect("JSON");
    assert_eq!(v["status"], "200 OK");
    assert_eq!(v["method"], "GET");
    assert_eq!(v["path"], "/x");
    assert_eq!(v["query"], "y=1");
    assert_eq!(v["user_agent"], "ua \"q\"");
    assert_eq!(v["request_header"], "T-9");
    let micros = v["micros"].as_u64().expect("D is an int");
    let seconds = v["seconds"].as_f64().expect("request_time is a timedelta");
    assert_eq!(micros, (seconds * 1e6).round() as u64);
    // Gunicorn's atoms over our request: the line its default format makes.
    let gline = v["line"].as_str().unwrap();
    assert!(
        gline.starts_with("127.0.0.1 - - [")
            && gline.ends_with("] \"GET /x?y=1 HTTP/1.1\" 200 5 \"-\" \"ua \\\"q\\\"\""),
        "{gline}"
    );
}

#[test]
fn access_override_sync() {
    json_access("sync", "log_app:app");
}

#[test]
fn access_override_gthread() {
    json_access("gthread", "log_app:app");
}

#[test]
fn access_override_asgi() {
    json_access("asgi", "log_app:asgi");
}

/// Level methods overridden: the master's and the workers' records go through them, and the
/// hooks' `server.log` / `worker.log` are the instance itself, as in Gunicorn.
#[test]
fn level_methods_override() {
    let dir = tempfile::tempdir().expect("temp dir");
    let conf = dir.path().join("gunicorn.conf.py");
    std::fs::write(
        &conf,
        "def when_ready(server):\n    server.log.info('ready, logged by %s', type(server.log).__name__)\n\n\
         def post_fork(server, worker):\n    worker.log.info('forked, logged by %s', type(worker.log).__name__)\n",
    )
    .unwrap();
    let conf = conf.display().to_string();
    let mut server = serve(
        "sync",
        "log_app:app",
        "custom_logger.TaggedLogger",
        &["-c", &conf],
    );
    assert_eq!(server.get("/raise").status, 500);
    server.wait_for("[tagged] Error handling request GET /raise", WAIT);
    server.stop();
    let log = server.stderr.ended(WAIT).join("\n");
    assert!(log.contains("] [INFO] [tagged] Listening at: "), "{log}");
    assert!(
        log.contains("] [INFO] [tagged] Booting worker with pid: "),
        "{log}"
    );
    assert!(
        log.contains("] [INFO] [tagged] ready, logged by TaggedLogger"),
        "{log}"
    );
    assert!(
        log.contains("] [INFO] [tagged] forked, logged by TaggedLogger"),
        "{log}"
    );
}

#[test]
fn a_class_that_cannot_be_imported_is_refused_before_binding() {
    let apps = apps();
    for (class, why) in [
        (
            "no_such_module.Logger",
            "ModuleNotFoundError: No module named 'no_such_module'",
        ),
        ("custom_logger.NoSuchClass", "AttributeError"),
    ] {
        let (status, _, err) = run(Opts::new(&[
            "-b",
            "127.0.0.1:0",
            "--chdir",
            &apps,
            "--logger-class",
            class,
            "log_app:app",
        ])
        .with_venv());
        assert_eq!(status.code(), Some(1), "{err}");
        assert!(!err.contains("Listening at"), "{err}");
        assert_eq!(err.trim_end().lines().count(), 1, "{err}");
        assert!(
            err.contains(&format!("logger_class '{class}' cannot be imported: {why}")),
            "{err}"
        );
    }
}
