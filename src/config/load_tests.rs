//! Unit tests of `load` (kept apart so the module itself stays short).

use super::*;
use crate::config::{AllowIps, Config, HeaderMap, LogTarget, ProxyProtocol, WorkerClass};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

/// A fresh directory to be `cwd`, removed afterwards.
struct Dir(PathBuf);

impl Dir {
    fn new() -> Dir {
        static NEXT: AtomicUsize = AtomicUsize::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("gunicorn-rs-config-{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        Dir(path)
    }

    fn write(&self, name: &str, text: &str) -> &Dir {
        std::fs::write(self.0.join(name), text).expect("write test file");
        self
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn env(pairs: &[(&str, &str)]) -> Env {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn run(dir: &Dir, env: &Env, args: &[&str]) -> Result<Command, ConfigError> {
    pyo3::Python::initialize();
    let args = std::iter::once(PROG)
        .chain(args.iter().copied())
        .map(OsString::from)
        .collect();
    load_from(args, env, &dir.0)
}

fn serve(dir: &Dir, env: &Env, args: &[&str]) -> Config {
    match run(dir, env, args) {
        Ok(Command::Serve(config)) => *config,
        other => panic!("expected a config to serve, got {other:?}"),
    }
}

fn error(dir: &Dir, env: &Env, args: &[&str]) -> String {
    match run(dir, env, args) {
        Err(err) => err.to_string(),
        Ok(other) => panic!("expected an error, got {other:?}"),
    }
}

#[test]
fn file_then_env_var_then_command_line() {
    let dir = Dir::new();
    dir.write(
        "gunicorn.conf.py",
        "workers = 2\ntimeout = 5\nbind = '0.0.0.0:1'\n",
    );
    let cmd_args = env(&[("GUNICORN_CMD_ARGS", "-w 3 --timeout 6")]);
    assert_eq!(serve(&dir, &Env::new(), &["app"]).workers, 2);
    assert_eq!(serve(&dir, &cmd_args, &["app"]).workers, 3);
    let config = serve(&dir, &cmd_args, &["app", "-w", "4"]);
    assert_eq!(
        (config.workers, config.timeout),
        (4, Some(Duration::from_secs(6)))
    );
    assert_eq!(config.bind, ["0.0.0.0:1"]);
    assert_eq!(config.config_file, Some(dir.0.join("gunicorn.conf.py")));
}

#[test]
fn tui_from_any_source_and_no_tui_wins_over_it() {
    let dir = Dir::new();
    assert!(!serve(&dir, &Env::new(), &["app"]).tui);
    assert!(serve(&dir, &Env::new(), &["--tui", "app"]).tui);
    let cmd_args = env(&[("GUNICORN_CMD_ARGS", "--tui")]);
    assert!(serve(&dir, &cmd_args, &["app"]).tui);
    // What the dashboard runs its master with: headless whatever else says --tui.
    assert!(!serve(&dir, &cmd_args, &["app", "--no-tui"]).tui);
    dir.write("gunicorn.conf.py", "tui = True\n");
    assert!(serve(&dir, &Env::new(), &["app"]).tui);
    assert!(!serve(&dir, &Env::new(), &["--no-tui", "app"]).tui);
}

#[test]
fn defaults_and_env_defaults() {
    let dir = Dir::new();
    let config = serve(&dir, &Env::new(), &["app:wsgi"]);
    assert_eq!(
        (config.bind.as_slice(), config.workers),
        (&["127.0.0.1:8000".to_string()][..], 1)
    );
    assert_eq!(
        (config.app_uri.as_deref(), config.proc_name()),
        (Some("app:wsgi"), "app:wsgi")
    );
    assert_eq!(
        (config.chdir.as_path(), config.config_file.as_ref()),
        (dir.0.as_path(), None)
    );
    assert_eq!(
        (config.errorlog, config.accesslog),
        (LogTarget::Stderr, None)
    );
    assert!(config.sendfile);
    let paas = env(&[
        ("PORT", "5000"),
        ("WEB_CONCURRENCY", "3"),
        ("SENDFILE", "no"),
    ]);
    let config = serve(&dir, &paas, &["app"]);
    assert_eq!(
        (config.bind.as_slice(), config.workers),
        (&["0.0.0.0:5000".to_string()][..], 3)
    );
    assert!(!config.sendfile);
    assert_eq!(serve(&dir, &paas, &["app", "-b", ":9"]).bind, [":9"]);
}

#[test]
fn normalisations() {
    let dir = Dir::new();
    let args = [
        "app",
        "-t",
        "0",
        "--access-logfile",
        "-",
        "--error-logfile",
        "err.log",
        "-m",
        "0027",
        "--limit-request-line",
        "9000",
        "--limit-request-fields",
        "0",
        "--limit-request-field_size",
        "0",
        "--forwarded-allow-ips",
        "10.0.0.0/8, ::1",
        "--proxy-protocol",
        "--header-map",
        "REFUSE",
    ];
    let config = serve(&dir, &Env::new(), &args);
    assert_eq!(config.timeout, None);
    assert_eq!(config.accesslog, Some(LogTarget::Stdout));
    assert_eq!(config.errorlog, LogTarget::File(dir.0.join("err.log")));
    assert_eq!(config.umask, 0o27);
    assert_eq!(
        (
            config.limit_request_line,
            config.limit_request_fields,
            config.limit_request_field_size
        ),
        (8190, 32768, 8190)
    );
    assert!(config
        .forwarded_allow_ips
        .allows(Some("10.9.9.9".parse().expect("ip"))));
    assert!(!config
        .forwarded_allow_ips
        .allows(Some("11.0.0.1".parse().expect("ip"))));
    assert_eq!(
        (config.proxy_protocol, config.header_map),
        (ProxyProtocol::Auto, HeaderMap::Refuse)
    );
    assert_eq!(
        serve(&dir, &Env::new(), &["app", "--limit-request-line", "0"]).limit_request_line,
        0
    );
    assert_eq!(
        serve(&dir, &env(&[("FORWARDED_ALLOW_IPS", "*")]), &["app"]).forwarded_allow_ips,
        AllowIps::Any
    );
    assert!(error(&dir, &Env::new(), &["app", "-w", "0"]).contains("workers"));
    assert!(error(
        &dir,
        &Env::new(),
        &["app", "--forwarded-allow-ips", "10.0.0.1/8"]
    )
    .contains("forwarded_allow_ips"));
}

#[test]
fn config_file_values_from_python() {
    let dir = Dir::new();
    dir.write(
        "gunicorn.conf.py",
        concat!(
            "import os\n",
            "wsgi_app = 'site:app'\n",
            "chdir = os.path.dirname(__file__)\n",
            "preload_app = 'true'\n",
            "raw_env = ['A=1', 'B=x=y']\n",
            "umask = '0o22'\n",
            "secure_scheme_headers = {'x-proto': 'https'}\n",
            "forwarder_headers = 'script_name'\n",
            "Workers = 'ignored: not a setting name'\n",
        ),
    );
    let config = serve(&dir, &Env::new(), &[]);
    assert_eq!(
        (config.app_uri.as_deref(), config.proc_name()),
        (Some("site:app"), "gunicorn")
    );
    assert_eq!(config.chdir, dir.0);
    assert!(config.preload_app);
    assert_eq!(
        config.raw_env,
        [("A".into(), "1".into()), ("B".into(), "x=y".into())]
    );
    assert_eq!(config.umask, 0o22);
    assert_eq!(
        config.secure_scheme_headers,
        [("X-PROTO".into(), "https".into())]
    );
    assert_eq!(config.forwarder_headers, ["SCRIPT_NAME"]);
}

#[test]
fn where_the_config_file_comes_from() {
    let dir = Dir::new();
    dir.write("a.py", "workers = 2\n")
        .write("b.conf", "workers = 3\n");
    assert_eq!(serve(&dir, &Env::new(), &["app", "-c", "a.py"]).workers, 2);
    assert_eq!(
        serve(&dir, &Env::new(), &["app", "--config", "file:b.conf"]).workers,
        3
    );
    assert_eq!(
        serve(&dir, &env(&[("GUNICORN_CMD_ARGS", "-c b.conf")]), &["app"]).workers,
        3
    );
    assert_eq!(
        serve(
            &dir,
            &env(&[("GUNICORN_CMD_ARGS", "-c b.conf")]),
            &["app", "-c", "a.py"]
        )
        .workers,
        2
    );
    let missing = error(&dir, &Env::new(), &["app", "-c", "nope.py"]);
    assert!(
        missing.contains("nope.py") && missing.contains("doesn't exist"),
        "{missing}"
    );
}

#[test]
fn python_module_config() {
    let dir = Dir::new();
    let module = format!("gunicorn_rs_test_conf_{}", std::process::id());
    dir.write(&format!("{module}.py"), "workers = 5\n");
    assert_eq!(
        serve(
            &dir,
            &Env::new(),
            &["app", "-c", &format!("python:{module}")]
        )
        .workers,
        5
    );
    let missing = error(
        &dir,
        &Env::new(),
        &["app", "-c", "python:no_such_module_here"],
    );
    assert!(missing.contains("ModuleNotFoundError"), "{missing}");
}

#[test]
fn a_config_file_that_raises() {
    let dir = Dir::new();
    dir.write("gunicorn.conf.py", "workers = 1 / 0\n");
    let message = error(&dir, &Env::new(), &["app"]);
    assert!(
        message.ends_with("gunicorn.conf.py: ZeroDivisionError: division by zero"),
        "{message}"
    );
    dir.write("gunicorn.conf.py", "workers = (\n");
    assert!(error(&dir, &Env::new(), &["app"]).contains("SyntaxError"));
}

// The refusals: unsupported settings, worker classes, bad values, commands, hooks.
#[path = "load_refusal_tests.rs"]
mod refusals;
