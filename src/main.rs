//! `gunicorn-rs [OPTIONS] [APP]`: parse → Config → serve; map every error to one line and an
//! exit code. The only place that wires the layers together (DESIGN.md §2).

use gunicorn_rs::config::{self, Command, Config};
use gunicorn_rs::master::{self, ForkHooks, Master, WorkerContext};
use gunicorn_rs::wsgi::{interpreter, App};
use gunicorn_rs::{error, info, log, proctitle, sock, worker};
use std::process::ExitCode;

/// Exit code for a configuration or start-up problem (Gunicorn exits 1 too).
const CONFIG_ERROR: u8 = 1;

/// How the server was started: what HUP reads the configuration from again.
struct Launch {
    args: Vec<std::ffi::OsString>,
    dir: std::path::PathBuf,
}

/// CPython's fork hooks, given to the master, which does not know they are Python's.
struct PythonForkHooks;

impl ForkHooks for PythonForkHooks {
    fn before_fork(&self) {
        interpreter::before_fork();
    }
    fn after_fork_parent(&self) {
        interpreter::after_fork_parent();
    }
    fn after_fork_child(&self) {
        interpreter::after_fork_child();
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    // Before anything changes the directory or the environment: what USR2 re-executes.
    master::upgrade::capture_start_context(&args);
    let launch = Launch {
        args: args.clone(),
        dir: std::env::current_dir().unwrap_or_default(),
    };
    proctitle::init();
    // Python first: the config file is Python (DESIGN §7).
    if let Err(e) = interpreter::initialize() {
        return fail(&e.to_string());
    }
    let command = match config::load(args.clone()) {
        Ok(command) => command,
        Err(e) => return fail(&e.to_string()),
    };
    match command {
        Command::Help(text) | Command::Version(text) => {
            println!("{}", text.trim_end());
            ExitCode::SUCCESS
        }
        Command::PrintConfig(cfg, text) => {
            println!("{}", text.trim_end());
            check_app(&cfg)
        }
        Command::CheckConfig(cfg) => check_app(&cfg),
        Command::Serve(cfg) => ExitCode::from(serve(*cfg, &launch) as u8),
    }
}

fn fail(message: &str) -> ExitCode {
    log::stderr_line(&format!("Error: {message}"));
    ExitCode::from(CONFIG_ERROR)
}

/// `--check-config`: the app must import.
fn check_app(cfg: &Config) -> ExitCode {
    if let Err(e) = prepare_python(cfg) {
        return fail(&e);
    }
    match App::load(cfg.app_uri.as_deref().unwrap_or_default()) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// Gunicorn's order after loading the config: chdir, `--env`, then `sys.path` gets the chdir
/// directory and `--pythonpath` in front.
fn prepare_python(cfg: &Config) -> Result<(), String> {
    std::env::set_current_dir(&cfg.chdir)
        .map_err(|e| format!("cannot change directory to {}: {e}", cfg.chdir.display()))?;
    for (key, value) in &cfg.raw_env {
        interpreter::set_environ(key, value).map_err(|e| e.to_string())?;
    }
    let mut path = vec![cfg.chdir.clone()];
    path.extend(cfg.pythonpath.iter().cloned());
    interpreter::add_sys_path(&path).map_err(|e| e.to_string())
}

fn serve(cfg: Config, launch: &Launch) -> i32 {
    if cfg.daemon {
        if let Err(e) = master::daemon::daemonize(cfg.enable_stdio_inheritance, &PythonForkHooks) {
            log::stderr_line(&format!("Error: cannot daemonize: {e}"));
            return i32::from(CONFIG_ERROR);
        }
    }
    if let Err(e) = log::configure(cfg.loglevel, &cfg.errorlog, cfg.accesslog.as_ref()) {
        log::stderr_line(&format!("Error: cannot open log file: {e}"));
        return i32::from(CONFIG_ERROR);
    }
    if let Err(e) = prepare_python(&cfg) {
        log::stderr_line(&format!("Error: {e}"));
        return i32::from(CONFIG_ERROR);
    }
    info!("Starting gunicorn-rs {}", env!("CARGO_PKG_VERSION"));
    gunicorn_rs::debug!("{}", interpreter::describe());
    let listeners = match bind(&cfg) {
        Ok(listeners) => listeners,
        Err(e) => {
            error!("{e}");
            return i32::from(CONFIG_ERROR);
        }
    };
    chown_for_workers(&cfg, &listeners);
    if cfg.capture_output {
        if let Err(e) = log::capture_output() {
            error!("Cannot capture output: {e}");
        }
    }
    let preloaded = match cfg
        .preload_app
        .then(|| App::load(cfg.app_uri.as_deref().unwrap_or_default()))
        .transpose()
    {
        Ok(app) => app,
        Err(e) => {
            error!("{e}");
            for l in &listeners {
                l.unlink();
            }
            return master::APP_LOAD_ERROR;
        }
    };
    let entry = |ctx: WorkerContext<'_>| worker::run(ctx, preloaded.as_ref());
    // HUP reads the config from the same sources again. The app is imported again by the new
    // workers — unless it was preloaded: then, as in Gunicorn, HUP cannot reload its code
    // (USR2 starts a new master that imports it afresh).
    let (args, launch_dir) = (launch.args.to_vec(), launch.dir.clone());
    let reload_config = move || -> Result<Config, String> {
        match config::load_in(args.clone(), &launch_dir).map_err(|e| e.to_string())? {
            Command::Serve(cfg) => {
                prepare_python(&cfg)?;
                Ok(*cfg)
            }
            _ => Err("the command line no longer starts a server".into()),
        }
    };
    match Master::new(cfg, listeners, &PythonForkHooks, &entry) {
        Ok(master) => master.with_config_reloader(&reload_config).run(),
        Err(e) => {
            error!("{e}");
            i32::from(CONFIG_ERROR)
        }
    }
}

/// Every listener before the first fork: inherited ones (systemd `LISTEN_FDS`) replace `bind`.
fn bind(cfg: &Config) -> Result<Vec<sock::Listener>, sock::SockError> {
    let opts = sock::BindOptions {
        backlog: cfg.backlog,
        reuse_port: cfg.reuse_port,
        umask: cfg.umask,
    };
    // systemd's LISTEN_FDS, or an old master's GUNICORN_FD after USR2.
    if let Some(inherited) = master::upgrade::inherited_fds() {
        // A Unix socket handed over by an old master is ours to unlink once we are the last
        // master (Gunicorn unlinks on the final stop); systemd's never is.
        let from_old_master =
            master::upgrade::listener_source() == master::upgrade::ListenerSource::OldMaster;
        return inherited
            .into_iter()
            .map(|fd| {
                let mut listener = sock::adopt(fd, opts).map_err(|err| sock::SockError::Io {
                    addr: format!("fd://{fd}"),
                    err,
                })?;
                listener.owned_path = from_old_master;
                Ok(listener)
            })
            .collect();
    }
    let addresses = cfg
        .bind
        .iter()
        .map(|b| sock::parse_address(b))
        .collect::<Result<Vec<_>, _>>()?;
    sock::bind_all(&addresses, opts, &mut |msg| error!("{msg}"))
}

/// Unix socket files and log files, so workers running as `--user`/`--group` can use them.
fn chown_for_workers(cfg: &Config, listeners: &[sock::Listener]) {
    let mut paths: Vec<&std::path::Path> = listeners
        .iter()
        .filter(|l| l.owned_path)
        .filter_map(|l| match &l.bound {
            sock::Bound::Unix(path) => Some(path.as_path()),
            sock::Bound::Tcp(_) => None,
        })
        .collect();
    for target in [Some(&cfg.errorlog), cfg.accesslog.as_ref()]
        .into_iter()
        .flatten()
    {
        if let config::LogTarget::File(path) = target {
            paths.push(path);
        }
    }
    master::daemon::chown_for_workers(&paths, cfg.uid, cfg.gid);
}
