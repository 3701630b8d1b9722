//! The command line and configuration: Gunicorn's flags, the Python config file,
//! GUNICORN_CMD_ARGS and their precedence, refusals of bad values and unsupported settings,
//! and the informational commands (--check-config, --print-config, -v, -h).

use crate::support::*;
use std::net::TcpListener;

/// One `Error: …` line on stderr, exit code 1, nothing served.
fn assert_config_error(status: std::process::ExitStatus, stderr: &str, mentions: &[&str]) {
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "exactly one line, got:\n{stderr}");
    assert!(lines[0].starts_with("Error: "), "{stderr}");
    for m in mentions {
        assert!(lines[0].contains(m), "the error names {m:?}: {stderr}");
    }
    assert!(!stderr.contains("Listening at"), "{stderr}");
}

fn hello_args<'a>(apps: &'a str, extra: &[&'a str]) -> Vec<&'a str> {
    let mut args = vec!["--chdir", apps];
    args.extend_from_slice(extra);
    args.push("hello:app");
    args
}

#[test]
fn bad_value_is_one_line_and_exit_1_before_binding() {
    let apps = apps();
    // Our own listener holds the port: a server that bound before validating would report the
    // address in use instead of the bad value.
    let held = TcpListener::bind("127.0.0.1:0").unwrap();
    let bind = format!("127.0.0.1:{}", held.local_addr().unwrap().port());
    let (status, _, stderr) = run(Opts::new(&hello_args(
        &apps,
        &["-b", &bind, "--workers", "abc"],
    )));
    assert_config_error(status, &stderr, &["workers"]);
    assert!(!stderr.contains("in use"), "{stderr}");

    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("s.sock");
    let unix = format!("unix:{}", sock.display());
    let (status, _, stderr) = run(Opts::new(&hello_args(
        &apps,
        &["-b", &unix, "--timeout", "soon"],
    )));
    assert_config_error(status, &stderr, &["timeout"]);
    assert!(
        !sock.exists(),
        "the unix socket was created before the config was validated"
    );

    let (status, _, stderr) = run(Opts::new(&hello_args(
        &apps,
        &["-b", &bind, "--limit-request-line", "lots"],
    )));
    assert_config_error(status, &stderr, &["limit"]);
}

#[test]
fn unsupported_settings_are_refused_wherever_they_come_from() {
    let apps = apps();
    let bind = format!("127.0.0.1:{}", free_port());
    for (flag, value, name) in [
        ("--http-protocols", "h2", "http_protocols"),
        ("--dirty-workers", "2", "dirty_workers"),
    ] {
        let (status, _, stderr) = run(Opts::new(&hello_args(&apps, &["-b", &bind, flag, value])));
        assert_config_error(status, &stderr, &["not supported yet by gunicorn-rs", name]);

        let env = format!("{flag} {value}");
        let (status, _, stderr) =
            run(Opts::new(&hello_args(&apps, &["-b", &bind])).env("GUNICORN_CMD_ARGS", &env));
        assert_config_error(status, &stderr, &["not supported yet", name]);
    }
    let (status, _, stderr) = run(Opts::new(&hello_args(
        &apps,
        &["-b", &bind, "--dirty-workers", "2"],
    )));
    assert_config_error(status, &stderr, &["not supported yet", "dirty_workers"]);

    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.py");
    std::fs::write(&conf, "spew = True\n").unwrap();
    let conf = conf.to_string_lossy().into_owned();
    let (status, _, stderr) = run(Opts::new(&hello_args(&apps, &["-b", &bind, "-c", &conf])));
    assert_config_error(status, &stderr, &["not supported yet", "spew"]);
}

/// `tmp_upload_dir` is declared by Gunicorn 27 and read by none of its code: a config that
/// sets it starts there, so it starts here (and the value is only shown back).
#[test]
fn tmp_upload_dir_is_taken_as_gunicorn_takes_it() {
    let apps = apps();
    let dir = tempfile::tempdir().unwrap();
    let conf = dir.path().join("conf.py");
    std::fs::write(&conf, "tmp_upload_dir = '/tmp/uploads'\n").unwrap();
    let conf = conf.to_string_lossy().into_owned();
    let (status, stdout, stderr) = run(Opts::new(&hello_args(
        &apps,
        &["-c", &conf, "--print-config"],
    )));
    assert!(status.success(), "{stderr}");
    let line = stdout.lines().find(|l| l.starts_with("tmp_upload_dir "));
    assert!(
        line.is_some_and(|l| l.ends_with("= /tmp/uploads")),
        "{stdout}"
    );
}

fn printed_workers(opts: Opts) -> String {
    let (status, stdout, stderr) = run(opts);
    assert!(status.success(), "--print-config failed:\n{stderr}");
    let line = stdout
        .lines()
        .find(|l| l.split('=').next().map(str::trim) == Some("workers"))
        .unwrap_or_else(|| panic!("no workers line in --print-config:\n{stdout}"));
    line.split('=').nth(1).unwrap().trim().to_string()
}

#[test]
fn precedence_is_file_then_env_then_argv() {
    let apps = apps();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("conf.py"), "workers = 3\n").unwrap();
    let conf = dir.path().join("conf.py").to_string_lossy().into_owned();
    let base = |extra: &[&str]| {
        let mut args = vec![
            "-c",
            conf.as_str(),
            "--print-config",
            "--chdir",
            apps.as_str(),
        ];
        args.extend_from_slice(extra);
        args.push("hello:app");
        Opts::new(&args)
    };
    assert_eq!(printed_workers(base(&[])), "3", "config file");
    assert_eq!(
        printed_workers(base(&[]).env("GUNICORN_CMD_ARGS", "--workers 5")),
        "5",
        "env over file"
    );
    assert_eq!(
        printed_workers(base(&["-w", "2"]).env("GUNICORN_CMD_ARGS", "--workers 5")),
        "2",
        "argv over env"
    );
    assert_eq!(
        printed_workers(base(&[]).env("WEB_CONCURRENCY", "4")),
        "3",
        "the file beats the WEB_CONCURRENCY default"
    );
}

#[test]
fn gunicorn_conf_py_in_cwd_is_picked_up() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("gunicorn.conf.py"),
        "workers = 3\nproc_name = 'from-conf'\n",
    )
    .unwrap();
    let apps = apps();
    let server = Server::start_with(
        Opts::new(&["-b", "127.0.0.1:0", "--chdir", &apps, "hello:app"]).cwd(dir.path()),
    );
    server.wait_workers(3);
    let title = cmdline(server.master_pid()).unwrap();
    assert!(
        title.contains("[from-conf]"),
        "proc_name from ./gunicorn.conf.py: {title:?}"
    );
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn check_config_exits_0_or_1() {
    let apps = apps();
    let (status, _, stderr) = run(Opts::new(&[
        "--check-config",
        "--chdir",
        &apps,
        "hello:app",
    ]));
    assert_eq!(status.code(), Some(0), "{stderr}");
    assert!(
        !stderr.contains("Listening at"),
        "--check-config serves nothing: {stderr}"
    );
    let (status, _, stderr) = run(Opts::new(&[
        "--check-config",
        "--chdir",
        &apps,
        "boot_fail:app",
    ]));
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("boot_fail"), "{stderr}");
    let (status, _, _) = run(Opts::new(&[
        "--check-config",
        "--chdir",
        &apps,
        "no_such_module:app",
    ]));
    assert_eq!(status.code(), Some(1));
    let (status, _, _) = run(Opts::new(&[
        "--check-config",
        "--chdir",
        &apps,
        "hello:no_such_name",
    ]));
    assert_eq!(status.code(), Some(1));
}

#[test]
fn print_config_lists_settings_in_gunicorn_style() {
    let apps = apps();
    let (status, stdout, stderr) = run(Opts::new(&[
        "--print-config",
        "-w",
        "3",
        "-t",
        "45",
        "--chdir",
        &apps,
        "hello:app",
    ]));
    assert!(status.success(), "{stderr}");
    let lines: Vec<&str> = stdout.lines().map(str::trim_end).collect();
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["workers", "=", "3"]),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.split_whitespace().collect::<Vec<_>>() == ["timeout", "=", "45"]),
        "{stdout}"
    );
    assert!(
        lines
            .iter()
            .any(|l| l.trim_start().starts_with("graceful_timeout")),
        "{stdout}"
    );
}

#[test]
fn version_and_help() {
    let (status, stdout, _) = run(Opts::new(&["-v"]));
    assert!(status.success());
    assert!(
        stdout.contains("gunicorn-rs") && stdout.contains(env!("CARGO_PKG_VERSION")),
        "{stdout}"
    );
    let (status, stdout, _) = run(Opts::new(&["-h"]));
    assert!(status.success());
    for flag in [
        "--limit-request-field_size",
        "--bind",
        "--workers",
        "--graceful-timeout",
        "--preload",
        "--check-config",
    ] {
        assert!(stdout.contains(flag), "-h lists {flag}:\n{stdout}");
    }
}

#[test]
fn bind_from_the_config_file_and_env_are_honoured() {
    let apps = apps();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("conf.py"),
        "bind = ['127.0.0.1:0']\nworkers = 1\n",
    )
    .unwrap();
    let conf = dir.path().join("conf.py").to_string_lossy().into_owned();
    let server = Server::start(&["-c", &conf, "--chdir", &apps, "hello:app"], &[]);
    assert_eq!(server.get("/").status, 200);
    assert_eq!(server.wait_workers(1).len(), 1);

    let env = Server::start(
        &["--chdir", &apps, "hello:app"],
        &[("GUNICORN_CMD_ARGS", "-b 127.0.0.1:0 -w 2")],
    );
    assert_eq!(env.wait_workers(2).len(), 2);
    assert_eq!(env.get("/").status, 200);
}

#[test]
fn tui_refuses_options_it_cannot_work_with() {
    for (extra, message) in [
        (
            "--no-control-socket",
            "--tui and --no-control-socket cannot be combined",
        ),
        ("--daemon", "--tui and --daemon cannot be combined"),
    ] {
        // Bounded, and in a runtime dir of its own: a `--tui` that failed to refuse would
        // start a server.
        let runtime = tempfile::tempdir().expect("temp dir");
        let out = output_of(
            std::process::Command::new(bin())
                .args(["--tui", extra, "--chdir", &apps(), "hello:app"])
                .env_remove("GUNICORN_CMD_ARGS")
                .env("XDG_RUNTIME_DIR", runtime.path()),
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(stderr.trim(), format!("Error: {message}"));
    }
}
