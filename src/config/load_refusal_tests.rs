//! Unit tests of `load`: what it refuses, and how (the rest are in load_tests.rs).

use super::*;

#[test]
fn unsupported_settings_refused_from_every_source() {
    let dir = Dir::new();
    let refused = "setting 'spew' is not supported yet by gunicorn-rs";
    assert_eq!(error(&dir, &Env::new(), &["app", "--spew"]), refused);
    assert_eq!(
        error(&dir, &env(&[("GUNICORN_CMD_ARGS", "--spew")]), &["app"]),
        refused
    );
    dir.write("gunicorn.conf.py", "spew = True\n");
    assert_eq!(error(&dir, &Env::new(), &["app"]), refused);
    dir.write(
        "gunicorn.conf.py",
        "spew = False\ndirty_workers = 0\nkeyfile = None\n",
    );
    assert_eq!(
        serve(&dir, &Env::new(), &["app", "--dirty-workers", "0"]).workers,
        1
    );
    dir.write(
        "gunicorn.conf.py",
        "def ssl_context(config, factory):\n    pass\n",
    );
    let refused = error(&dir, &Env::new(), &["app"]);
    assert!(
        refused.starts_with("the ssl_context hook returns a Python SSLContext")
            && refused.contains("use certfile, keyfile"),
        "{refused}"
    );
    dir.write("gunicorn.conf.py", "workers = 2\n");
    assert!(error(
        &dir,
        &Env::new(),
        &["app", "-c", "gunicorn.conf.py", "--spew"]
    )
    .contains("'spew'"));
}

#[test]
fn worker_classes() {
    let dir = Dir::new();
    assert_eq!(
        serve(&dir, &Env::new(), &["app", "-k", "sync", "--threads", "1"]).worker_class,
        WorkerClass::Sync
    );
    let class = |args: &[&str]| serve(&dir, &Env::new(), args).worker_class;
    assert_eq!(class(&["app", "--threads", "4"]), WorkerClass::Gthread);
    // Gunicorn's names for each class: short, dotted and egg.
    for (name, want) in [
        ("egg:gunicorn#sync", WorkerClass::Sync),
        ("gthread", WorkerClass::Gthread),
        (
            "gunicorn.workers.gthread.ThreadWorker",
            WorkerClass::Gthread,
        ),
        ("tornado", WorkerClass::Tornado),
        (
            "gunicorn.workers.gtornado.TornadoWorker",
            WorkerClass::Tornado,
        ),
        ("egg:gunicorn#tornado", WorkerClass::Tornado),
        ("gevent", WorkerClass::Gevent),
        ("gevent_pywsgi", WorkerClass::Gevent),
        ("gunicorn.workers.ggevent.GeventWorker", WorkerClass::Gevent),
        ("eventlet", WorkerClass::Eventlet),
    ] {
        assert_eq!(class(&["app", "-k", name]), want, "-k {name}");
    }
    assert!(error(&dir, &Env::new(), &["app", "-k", "nosuch"]).contains("nosuch"));
}

#[test]
fn bad_values() {
    let dir = Dir::new();
    let bad = error(&dir, &Env::new(), &["app", "--workers", "two"]);
    assert_eq!(bad, "Invalid value for workers: two: invalid int value");
    assert!(error(&dir, &Env::new(), &["app", "--log-level", "loud"])
        .starts_with("Invalid value for loglevel: loud"));
    assert!(error(&dir, &Env::new(), &["app", "--chdir", "nowhere"])
        .contains("can't chdir to 'nowhere'"));
    dir.write("gunicorn.conf.py", "timeout = 1.5\n");
    assert_eq!(
        error(&dir, &Env::new(), &["app"]),
        "Invalid value for timeout: 1.5: not an integer: 1.5"
    );
    dir.write("gunicorn.conf.py", "preload_app = 'yes'\n");
    assert!(error(&dir, &Env::new(), &["app"]).contains("Invalid boolean: yes"));
    dir.write("gunicorn.conf.py", "umask = '0022'\n");
    assert!(error(&dir, &Env::new(), &["app"]).starts_with("Invalid value for umask"));
    dir.write("gunicorn.conf.py", "");
    assert!(error(&dir, &Env::new(), &["app", "-e", "NOEQUALS"]).contains("KEY=VALUE"));
    assert!(
        error(&dir, &env(&[("GUNICORN_CMD_ARGS", "--bind 'x")]), &["app"])
            .contains("GUNICORN_CMD_ARGS")
    );
    assert!(matches!(
        run(&dir, &Env::new(), &["app", "--nope"]),
        Err(ConfigError::Usage(_))
    ));
}

#[test]
fn commands() {
    let dir = Dir::new();
    assert!(matches!(
        run(&dir, &Env::new(), &[]),
        Err(ConfigError::NoApp)
    ));
    assert!(matches!(
        run(&dir, &Env::new(), &["--print-config"]),
        Err(ConfigError::NoApp)
    ));
    assert!(matches!(
        run(&dir, &Env::new(), &["app", "--check-config"]),
        Ok(Command::CheckConfig(_))
    ));
    assert!(matches!(
        run(&dir, &Env::new(), &["--help"]),
        Ok(Command::Help(_))
    ));
    assert!(matches!(
        run(&dir, &env(&[("GUNICORN_CMD_ARGS", "-v")]), &["app"]),
        Ok(Command::Version(_))
    ));
    let Ok(Command::PrintConfig(_, text)) =
        run(&dir, &Env::new(), &["app", "--print-config", "-w", "2"])
    else {
        panic!("--print-config prints")
    };
    assert!(
        text.lines()
            .any(|l| l == "workers                            = 2"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "default_proc_name                  = app"),
        "{text}"
    );
    assert!(
        text.lines()
            .any(|l| l == "print_config                       = True"),
        "{text}"
    );
}

#[test]
fn hooks_are_carried_and_arity_checked() {
    let dir = Dir::new();
    dir.write(
        "gunicorn.conf.py",
        "def post_fork(server, worker):\n    pass\n\
         def post_request(worker, req):\n    pass\n\
         on_exit = 'os.path.basename'\n",
    );
    let config = serve(&dir, &Env::new(), &["app"]);
    assert!(config.hooks.get("post_fork").is_some());
    assert_eq!(config.hooks.get("post_request").map(|h| h.arity), Some(2));
    assert!(config.hooks.get("on_exit").is_some());
    assert!(config.hooks.get("pre_fork").is_none());
    dir.write("gunicorn.conf.py", "def post_fork(server):\n    pass\n");
    let message = error(&dir, &Env::new(), &["app"]);
    assert!(
        message.starts_with("Invalid value for post_fork: <function post_fork at 0x")
            && message.ends_with(": Value must have an arity of: 2"),
        "{message}"
    );
}
