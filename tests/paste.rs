//! `--paste` (PasteDeploy, Gunicorn's `paste` and `raw_paste_global_conf`): the app of an
//! ini file's `[app:main]` or `#section`, the `--paste-global` entries in its global
//! configuration, the file's own `[loggers]` as the logging configuration, and a file that is
//! not there refused with Gunicorn's line before anything is bound.

use crate::support::*;

const INI: &str = "\
[app:main]
use = call:paste_app:make_app
greeting = hello

[app:admin]
use = call:paste_app:make_app
greeting = admin

[loggers]
keys = root

[handlers]
keys = console

[formatters]
keys = plain

[logger_root]
level = INFO
handlers = console

[handler_console]
class = StreamHandler
args = (sys.stderr,)
formatter = plain

[formatter_plain]
format = PASTE-INI %(name)s %(message)s
";

fn paste_server(ini: &str, kind: &str) -> Server {
    let apps = apps();
    let args = [
        "-b",
        "127.0.0.1:0",
        "-w",
        "1",
        "-k",
        kind,
        "--chdir",
        &apps,
        "--paste",
        ini,
        "--paste-global",
        "db=postgres://h/x",
        "--paste-global",
        r"unused\=key=1",
    ];
    let mut opts = Opts::default().with_venv();
    opts.args = args.iter().map(|s| s.to_string()).collect();
    let server = Server::start_with(opts);
    server.wait_workers(1);
    server
}

/// The `[app:main]` app and the `#admin` one, under the sync and gthread kinds, with the
/// `--paste-global` entry in the factory's global configuration; the processes named after
/// the file, and its `[loggers]` formatting the app's log lines (the server's own keep their
/// handler, as Gunicorn's do: `fileConfig` leaves existing loggers alone).
#[test]
fn a_paste_ini_app_is_served_with_its_globals_and_its_logging() {
    let dir = tempfile::tempdir().unwrap();
    let ini = dir.path().join("site.ini");
    std::fs::write(&ini, INI).unwrap();
    let ini = ini.display().to_string();
    for (uri, kind, greeting) in [
        (ini.clone(), "sync", "hello"),
        (format!("{ini}#admin"), "gthread", "admin"),
    ] {
        let server = paste_server(&uri, kind);
        let response = server.get("/here");
        assert_eq!(response.status, 200);
        assert_eq!(response.text(), format!("{greeting} db=postgres://h/x"));
        server.wait_for("PASTE-INI paste_app paste app answering /here", WAIT);
        let title = cmdline(server.master_pid()).unwrap_or_default();
        assert!(title.contains("site.ini"), "{title}");
    }
}

/// A missing file: Gunicorn's line, exit 1, nothing bound.
#[test]
fn a_missing_paste_file_is_one_line_before_binding() {
    let apps = apps();
    let missing = format!("{apps}/no-such.ini");
    let args = ["-b", "127.0.0.1:0", "--chdir", &apps, "--paste", &missing];
    let (status, _, stderr) = run(Opts::new(&args));
    assert_eq!(status.code(), Some(1), "{stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines, [format!("Error: '{missing}' not found")], "{stderr}");
}
