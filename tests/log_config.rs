//! `logconfig_dict`, `--log-config` (ini) and `--log-config-json` through the real binary: the
//! `gunicorn.error` and `gunicorn.access` records go through Python's `logging` with the
//! user's handlers, levels and formatters, in the master and in the workers (sync, gthread,
//! asgi), with a real formatter from the wild (python-json-logger) and one reading the access
//! record's args dict as Gunicorn passes it.

use crate::log_json::objects;
use crate::support::*;
use std::path::Path;

/// A `logconfig_dict` as found in the wild: python-json-logger on stderr for the error log
/// and on stdout for the access log, the root logger on stderr.
const JSON_LOGGER_CONF: &str = r#"
logconfig_dict = {
    "formatters": {
        "json": {
            "()": "pythonjsonlogger.json.JsonFormatter",
            "format": "%(asctime)s %(levelname)s %(name)s %(process)d %(message)s",
        },
    },
    "handlers": {
        "stderr": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stderr"},
        "stdout": {"class": "logging.StreamHandler", "formatter": "json", "stream": "ext://sys.stdout"},
    },
    "root": {"level": "WARNING", "handlers": ["stderr"]},
    "loggers": {
        "gunicorn.error": {"level": "INFO", "handlers": ["stderr"], "propagate": False},
        "gunicorn.access": {"level": "INFO", "handlers": ["stdout"], "propagate": False},
    },
}
"#;

fn conf_dir(conf: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("gunicorn.conf.py"), conf).expect("write config");
    dir
}

fn conf_arg(dir: &Path) -> String {
    dir.join("gunicorn.conf.py").display().to_string()
}

fn json_logger(kind: &str, app: &str) {
    let dir = conf_dir(JSON_LOGGER_CONF);
    let conf = conf_arg(dir.path());
    let base = Opts::default().with_venv();
    let mut server = Server::app_with(app, &["-c", &conf, "-k", kind, "--threads", "2"], 1, base);
    let worker = *server.worker_pids().iter().next().expect("a worker");
    // Python's logging configured in the master started no thread there (DESIGN §1: a thread
    // holding a lock at fork would leave it held in every worker).
    assert_eq!(proc_status_kb(server.master_pid(), "Threads"), Some(1));
    let raw = server.http(
        b"GET /q?x=\"1 HTTP/1.1\r\nHost: h\r\nUser-Agent: ua \"x\"\r\nConnection: close\r\n\r\n",
    );
    assert!(raw.starts_with(b"HTTP/1.1 200"), "{raw:?}");
    assert_eq!(server.get("/raise").status, 500);
    server.wait_for("exc_info", WAIT);
    server
        .stdout
        .count("gunicorn.access", 2, WAIT)
        .expect("two access records");
    server.stop();
    let errors = objects(&server.stderr.ended(WAIT));
    let access = objects(&server.stdout.ended(WAIT));
    let master = server.master_pid();
    let listening = errors
        .iter()
        .find(|r| {
            r["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("Listening at: "))
        })
        .expect("the master's Listening at record");
    assert_eq!(listening["process"].as_u64(), Some(master.into()));
    assert_eq!(
        (listening["name"].as_str(), listening["levelname"].as_str()),
        (Some("gunicorn.error"), Some("INFO"))
    );
    let booting = errors
        .iter()
        .find(|r| r["message"] == format!("Booting worker with pid: {worker}"))
        .expect("the worker's Booting record");
    assert_eq!(booting["process"].as_u64(), Some(worker.into()));
    // The traceback is the record's exception text: python-json-logger's `exc_info` field.
    let failed = errors
        .iter()
        .find(|r| !r["exc_info"].is_null())
        .expect("the error record");
    if kind != "asgi" {
        assert_eq!(failed["message"], "Error handling request GET /raise");
    }
    assert_eq!(failed["levelname"], "ERROR");
    let tb = failed["exc_info"].as_str().expect("exc_info");
    assert!(
        tb.starts_with("Traceback (most recent call last):") && tb.contains("Boom: bad"),
        "{tb}"
    );
    // Access records: the message is access_log_format's line (Gunicorn's default format).
    let first = &access[0];
    assert_eq!(
        (first["name"].as_str(), first["process"].as_u64()),
        (Some("gunicorn.access"), Some(worker.into()))
    );
    let line = first["message"].as_str().unwrap();
    assert!(
        line.starts_with("127.0.0.1 - - [")
            && line.contains("\"GET /q?x=\\\"1 HTTP/1.1\" 200 5 \"-\" \"ua \\\"x\\\"\""),
        "{line}"
    );
    assert_eq!(access.len(), 2, "{access:#?}");
}

#[test]
fn json_logger_sync() {
    json_logger("sync", "log_app:app");
}

#[test]
fn json_logger_gthread() {
    json_logger("gthread", "log_app:app");
}

#[test]
fn json_logger_asgi() {
    json_logger("asgi", "log_app:asgi");
}

/// A formatter that reads the access record's args (Gunicorn's atoms dict): `m`, `U`, `s`,
/// `D`, request headers as `{name}i`; and a custom access_log_format.
#[test]
fn access_args_are_gunicorns_atoms() {
    let dir = conf_dir(
        r#"
access_log_format = '%(m)s %(U)s %(s)s %({x-trace}i)s %(missing)s'
logconfig_dict = {
    "formatters": {"fields": {"()": "log_formatters.AccessFields"}, "plain": {"format": "%(message)s"}},
    "handlers": {
        "fields": {"class": "logging.StreamHandler", "formatter": "fields", "stream": "ext://sys.stdout"},
        "plain": {"class": "logging.StreamHandler", "formatter": "plain", "stream": "ext://sys.stdout"},
        "stderr": {"class": "logging.StreamHandler", "stream": "ext://sys.stderr"},
    },
    "root": {"level": "INFO", "handlers": ["stderr"]},
    "loggers": {"gunicorn.access": {"level": "INFO", "handlers": ["fields", "plain"], "propagate": False}},
}
"#,
    );
    let conf = conf_arg(dir.path());
    let mut server = Server::app("log_app:app", &["-c", &conf, "-k", "gthread"], 1);
    let raw = server.http(b"GET /a%20b?c=1 HTTP/1.1\r\nHost: h\r\nX-Trace: T-1\r\nUser-Agent: probe\r\nConnection: close\r\n\r\n");
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    let fields = server
        .stdout
        .find_from(0, "fields: ", WAIT)
        .expect("the args formatter's line");
    let plain = server
        .stdout
        .find_from(0, "GET /a b 200", WAIT)
        .expect("the plain line");
    server.stop();
    let rest = fields
        .strip_prefix("fields: GET /a b -> 200 in ")
        .expect(&fields);
    let (micros, ua) = rest.split_once("us ").expect(&fields);
    assert!(micros.parse::<u64>().is_ok(), "{fields}");
    assert_eq!(ua, "ua=probe");
    // `%(missing)s` is `-`, as Gunicorn's SafeAtoms makes it.
    assert_eq!(plain, "GET /a b 200 T-1 -");
}

/// `--log-config` with an ini file: `fileConfig` with Gunicorn's defaults (`%(here)s` is the
/// file's directory), the file's levels honoured (INFO records dropped, ERROR kept).
#[test]
fn ini_file_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let ini = dir.path().join("logging.ini");
    std::fs::write(
        &ini,
        r#"[loggers]
keys=root, gunicorn.error, gunicorn.access

[handlers]
keys=file, console

[formatters]
keys=line

[logger_root]
level=INFO
handlers=console

[logger_gunicorn.error]
level=WARNING
handlers=file
propagate=0
qualname=gunicorn.error

[logger_gunicorn.access]
level=INFO
handlers=file
propagate=0
qualname=gunicorn.access

[handler_console]
class=StreamHandler
formatter=line
args=(sys.stderr, )

[handler_file]
class=FileHandler
formatter=line
args=('%(here)s/app.log', 'a')

[formatter_line]
format=%(levelname)s|%(name)s|%(process)d|%(message)s
"#,
    )
    .expect("write ini");
    let log = dir.path().join("app.log");
    let apps = apps();
    let mut server = Server::spawn(Opts::new(&[
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "--log-config",
        ini.to_str().unwrap(),
        "log_app:app",
    ]));
    // Nothing at INFO reaches the file: the port comes from the boot's pid in /proc instead.
    let worker = poll(WAIT, "a worker", || {
        children(server.pid()).into_iter().next()
    });
    let port = poll(WAIT, "the worker's listener", || listening_port(worker));
    assert_eq!(try_get(port, "/raise").map(|r| r.status), Some(500));
    assert_eq!(try_get(port, "/").map(|r| r.status), Some(200));
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    poll(WAIT, "the access line for /", || {
        read().contains("\"GET / HTTP/1.1\" 200").then_some(())
    });
    server.stop();
    let text = read();
    assert!(
        text.contains(&format!(
            "ERROR|gunicorn.error|{worker}|Error handling request GET /raise\nTraceback"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("INFO|gunicorn.access|{worker}|127.0.0.1 - - [")),
        "{text}"
    );
    assert!(
        !text.contains("Booting worker"),
        "INFO records are below the file's WARNING:\n{text}"
    );
}

/// The TCP port the process listens on, from /proc/net/tcp and its fds.
fn listening_port(pid: u32) -> Option<u16> {
    let inodes: Vec<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .ok()?
        .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
        .filter_map(|l| {
            l.to_str()?
                .strip_prefix("socket:[")?
                .strip_suffix(']')
                .map(String::from)
        })
        .collect();
    let table = std::fs::read_to_string("/proc/net/tcp").ok()?;
    table.lines().skip(1).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        // State 0A is LISTEN; the local address is IP:PORT in hex.
        (f.get(3) == Some(&"0A") && inodes.iter().any(|i| Some(&i.as_str()) == f.get(9)))
            .then(|| u16::from_str_radix(f[1].rsplit(':').next()?, 16).ok())
            .flatten()
    })
}

/// `--log-config-json`: a dictConfig in a JSON file, merged over Gunicorn's defaults one key
/// deep, as Gunicorn merges it: the `console` handler comes from the defaults, and
/// `gunicorn.error`, left out of the file's `loggers`, keeps Gunicorn's own error-log handler.
#[test]
fn json_file_config() {
    let dir = tempfile::tempdir().expect("temp dir");
    let json = dir.path().join("logging.json");
    std::fs::write(
        &json,
        r#"{"version": 1, "disable_existing_loggers": false,
            "formatters": {"generic": {"format": "JSONCONF %(levelname)s %(message)s"}},
            "loggers": {"gunicorn.access": {"level": "INFO", "handlers": ["console"], "propagate": false}}}"#,
    )
    .expect("write json");
    let mut server = Server::app(
        "log_app:app",
        &["--log-config-json", json.to_str().unwrap()],
        1,
    );
    assert_eq!(server.get("/").status, 200);
    let booting = server.wait_for("Booting worker", WAIT);
    assert!(
        booting.starts_with('[') && booting.contains("] [INFO] Booting worker"),
        "{booting}"
    );
    server
        .stdout
        .find_from(0, "JSONCONF INFO 127.0.0.1 - - [", WAIT)
        .expect("the access line");
    server.stop();
}

fn refused(args: &[&str]) -> String {
    let apps = apps();
    let mut all = vec!["-b", "127.0.0.1:0", "--chdir", &apps];
    all.extend_from_slice(args);
    all.push("log_app:app");
    let (status, _, err) = run(Opts::new(&all));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(!err.contains("Listening at"), "{err}");
    assert_eq!(err.trim_end().lines().count(), 1, "{err}");
    err
}

#[test]
fn bad_configurations_are_refused_before_binding() {
    let err = refused(&["--log-config", "/nonexistent/logging.ini"]);
    assert!(
        err.contains("log config '/nonexistent/logging.ini' not found"),
        "{err}"
    );
    let dir = tempfile::tempdir().expect("temp dir");
    let bad_json = dir.path().join("bad.json");
    std::fs::write(&bad_json, "{not json").unwrap();
    let err = refused(&["--log-config-json", bad_json.to_str().unwrap()]);
    assert!(err.contains("JSONDecodeError"), "{err}");
    let bad_ini = dir.path().join("bad.ini");
    std::fs::write(&bad_ini, "[loggers]\nkeys=root\n").unwrap();
    let err = refused(&["--log-config", bad_ini.to_str().unwrap()]);
    assert!(
        err.contains(&format!(
            "log config '{}' is invalid: KeyError",
            bad_ini.display()
        )),
        "{err}"
    );
    let err = refused(&["--log-config-json", "/nonexistent/logging.json"]);
    assert!(err.contains("No such file"), "{err}");
    let conf = conf_dir("logconfig_dict = {'handlers': {'h': {'class': 'no.such.Handler'}}}\n");
    let err = refused(&["-c", &conf_arg(conf.path())]);
    assert!(
        err.contains("logconfig_dict is invalid: ValueError: Unable to configure handler 'h'"),
        "{err}"
    );
}

/// USR1 reopens Python's file handlers in the master and the workers (Gunicorn's
/// `reopen_files`), so logrotate's rename-then-signal works with a logging configuration too.
#[test]
fn usr1_reopens_python_file_handlers() {
    let dir = tempfile::tempdir().expect("temp dir");
    let log = dir.path().join("access.log");
    let conf = conf_dir(&format!(
        r#"
logconfig_dict = {{
    "handlers": {{"file": {{"class": "logging.FileHandler", "filename": {log:?}, "formatter": "generic"}}}},
    "root": {{"level": "WARNING", "handlers": ["file"]}},
    "loggers": {{"gunicorn.access": {{"level": "INFO", "handlers": ["file"], "propagate": False}}}},
}}
"#,
        log = log.display().to_string()
    ));
    let conf = conf_arg(conf.path());
    let mut server = Server::app("log_app:app", &["-c", &conf, "-k", "gthread"], 1);
    assert_eq!(server.get("/before").status, 200);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_default();
    poll(WAIT, "the first access line", || {
        read(&log).contains("GET /before").then_some(())
    });
    let rotated = dir.path().join("access.log.1");
    std::fs::rename(&log, &rotated).expect("rotate");
    let mark = server.mark();
    server.signal(nix::sys::signal::Signal::SIGUSR1);
    server.wait_for_from(mark, "Handling signal: usr1", WAIT);
    // The worker reopens when it takes the signal: requests until one lands in the new file.
    poll(WAIT, "an access line in the reopened file", || {
        assert_eq!(server.get("/after").status, 200);
        read(&log).contains("GET /after").then_some(())
    });
    server.stop();
    assert!(read(&rotated).contains("GET /before"), "{}", read(&rotated));
}
