//! `gunicorn-rs [OPTIONS] [APP]`: parse → Config → serve; map every error to one line and an
//! exit code. The only place that wires the layers together (DESIGN.md §2). The other modes
//! (`ctl`, `attach`, `--tui`) are dispatched to `cli_modes`.

mod cli_modes;

use gunicorn_rs::config::{self, Command, Config};
use gunicorn_rs::master::{
    self, ForkHooks, Master, ServerHooks, ServerView, WorkerContext, WorkerView,
};
use gunicorn_rs::wsgi::hooks::{PyHooks, ServerFacts, WorkerFacts};
use gunicorn_rs::wsgi::{interpreter, App};
use gunicorn_rs::{error, info, log, proctitle, sock, worker};
use std::process::ExitCode;

/// mimalloc for Rust's allocations (`alloc.rs` says why).
#[global_allocator]
static GLOBAL: gunicorn_rs::alloc::Allocator = gunicorn_rs::alloc::Allocator;

/// Exit code for a configuration or start-up problem (Gunicorn exits 1 too).
const CONFIG_ERROR: u8 = 1;

/// How the server was started: what HUP reads the configuration from again.
struct Launch {
    args: Vec<std::ffi::OsString>,
    dir: std::path::PathBuf,
}

/// CPython's fork hooks and the config file's server hooks, given to the master, which does
/// not know they are Python's.
struct PythonHooks(PyHooks);

impl ForkHooks for PythonHooks {
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

impl ServerHooks for PythonHooks {
    fn on_starting(&self, server: &ServerView<'_>) {
        self.0.on_starting(&facts(server));
    }
    fn when_ready(&self, server: &ServerView<'_>) {
        self.0.when_ready(&facts(server));
    }
    fn on_reload(&self, server: &ServerView<'_>) {
        self.0.on_reload(&facts(server));
    }
    fn pre_fork(&self, server: &ServerView<'_>, worker: &WorkerView) {
        self.0.pre_fork(&facts(server), &worker_facts(worker));
    }
    fn child_exit(&self, server: &ServerView<'_>, worker: &WorkerView) {
        self.0.child_exit(&facts(server), &worker_facts(worker));
    }
    fn nworkers_changed(&self, server: &ServerView<'_>, new: usize, old: Option<usize>) {
        self.0.nworkers_changed(&facts(server), new, old);
    }
    fn pre_exec(&self, server: &ServerView<'_>) {
        self.0.pre_exec(&facts(server));
    }
    fn on_exit(&self, server: &ServerView<'_>) {
        self.0.on_exit(&facts(server));
    }
    fn take_num_workers(&self) -> Option<usize> {
        self.0.take_num_workers()
    }
}

fn facts<'a>(server: &ServerView<'a>) -> ServerFacts<'a> {
    ServerFacts {
        pid: server.pid,
        num_workers: server.num_workers,
        workers: server.workers.iter().map(worker_facts).collect(),
        cfg: server.cfg,
    }
}

fn worker_facts(worker: &WorkerView) -> WorkerFacts {
    WorkerFacts {
        pid: worker.pid,
        age: worker.age,
        booted: worker.booted,
        aborted: worker.aborted,
    }
}

fn main() -> ExitCode {
    let args: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = cli_modes::subcommand(&args) {
        return exit_code(code);
    }
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
        Command::Serve(cfg) if cfg.tui => exit_code(cli_modes::tui(&args, &cfg)),
        Command::Serve(cfg) => ExitCode::from(serve(*cfg, &launch) as u8),
    }
}

fn exit_code(code: i32) -> ExitCode {
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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
    match App::load_configured(cfg) {
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

fn serve(mut cfg: Config, launch: &Launch) -> i32 {
    let hooks = PythonHooks(PyHooks::new());
    if let Err(code) = set_up_process(&cfg, &hooks) {
        return code;
    }
    if let Err(e) = check_worker_library(&cfg) {
        log::stderr_line(&format!("Error: {e}"));
        return master::WORKER_BOOT_ERROR;
    }
    if let Err(e) = load_tls(&mut cfg) {
        log::stderr_line(&format!("Error: {e}"));
        return i32::from(CONFIG_ERROR);
    }
    // Before the first fork, so every worker inherits the socket; a host that does not
    // resolve stops the start here, rather than a server that silently sends nothing.
    if let Err(e) = gunicorn_rs::statsd::install(cfg.statsd.as_ref()) {
        log::stderr_line(&format!("Error: {e}"));
        return i32::from(CONFIG_ERROR);
    }
    info!("Starting gunicorn-rs {}", env!("CARGO_PKG_VERSION"));
    gunicorn_rs::debug!("{}", interpreter::describe());
    starting(&hooks, &cfg);
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
    let preloaded = match preload(&cfg, &listeners) {
        Ok(app) => app,
        Err(code) => return code,
    };
    // Made before the first fork so every worker shares it (sync workers pass unfinished
    // heads to an idle sibling through it); without it they keep their heads.
    let handoff = worker::Handoff::new()
        .map_err(|e| gunicorn_rs::debug!("No head hand-off between workers: {e}"))
        .ok();
    let entry =
        |ctx: WorkerContext<'_>| worker::run(ctx, preloaded.as_ref(), &hooks.0, handoff.as_ref());
    let reload_config = config_reloader(launch);
    match Master::new(cfg, listeners, &hooks, &entry) {
        Ok(master) => master.with_config_reloader(&reload_config).run(),
        Err(e) => {
            error!("{e}");
            i32::from(CONFIG_ERROR)
        }
    }
}

/// Daemonize if asked, open the logs, and give Python its directory, environment and path —
/// all before anything is bound, so a problem is one line and exit code 1.
fn set_up_process(cfg: &Config, hooks: &PythonHooks) -> Result<(), i32> {
    let fail = |message: String| {
        log::stderr_line(&format!("Error: {message}"));
        i32::from(CONFIG_ERROR)
    };
    if cfg.daemon {
        master::daemon::daemonize(cfg.enable_stdio_inheritance, hooks)
            .map_err(|e| fail(format!("cannot daemonize: {e}")))?;
    }
    log::configure(cfg).map_err(|e| fail(e.to_string()))?;
    prepare_python(cfg).map_err(fail)?;
    // After `chdir`: the config files' relative paths are read from there, as Gunicorn's.
    gunicorn_rs::wsgi::log_config::install(cfg).map_err(fail)
}

/// gevent, eventlet, and uvloop when `--asgi-loop uvloop` names it: the library must be
/// importable — one line and Gunicorn's exit code for a worker that cannot boot, before
/// anything is bound, rather than a worker that dies at boot.
fn check_worker_library(cfg: &Config) -> Result<(), gunicorn_rs::wsgi::hub::HubError> {
    use gunicorn_rs::config::{AsgiLoop, WorkerClass};
    use gunicorn_rs::wsgi::hub::{check_importable, check_installed, Library};
    match cfg.worker_class {
        WorkerClass::Gevent => check_installed(Library::Gevent),
        WorkerClass::Eventlet => check_installed(Library::Eventlet),
        WorkerClass::Asgi if cfg.asgi.event_loop == AsgiLoop::Uvloop => check_importable("uvloop"),
        WorkerClass::Tornado => check_importable("tornado"),
        WorkerClass::Sync | WorkerClass::Gthread | WorkerClass::Asgi => Ok(()),
    }
}

/// `--preload`: import the app in the master, before the first fork.
fn preload(cfg: &Config, listeners: &[sock::Listener]) -> Result<Option<App>, i32> {
    if !cfg.preload_app {
        return Ok(None);
    }
    match App::load_configured(cfg) {
        Ok(app) => Ok(Some(app)),
        Err(e) => {
            error!("{e}");
            for l in listeners {
                l.unlink();
            }
            Err(master::APP_LOAD_ERROR)
        }
    }
}

/// HUP reads the config from the same sources again. The app is imported again by the new
/// workers — unless it was preloaded: then, as in Gunicorn, HUP cannot reload its code (USR2
/// starts a new master that imports it afresh).
/// `certfile` and the rest: the files read and checked, the server configuration built into
/// `cfg.tls_server` (workers fork with it). A certificate outside its dates is a warning.
fn load_tls(cfg: &mut Config) -> Result<(), gunicorn_rs::tls::TlsError> {
    let Some(settings) = &cfg.tls else {
        return Ok(());
    };
    let loaded = gunicorn_rs::tls::load(settings)?;
    for warning in &loaded.warnings {
        gunicorn_rs::warning!("{warning}");
    }
    cfg.tls_server = Some(loaded.server);
    Ok(())
}

fn config_reloader(launch: &Launch) -> impl Fn() -> Result<Config, String> {
    let (args, launch_dir) = (launch.args.to_vec(), launch.dir.clone());
    move || match config::load_in(args.clone(), &launch_dir).map_err(|e| e.to_string())? {
        Command::Serve(mut cfg) => {
            prepare_python(&cfg)?;
            // HUP re-reads the certificate and key: a renewed one is served to new
            // connections; one that does not load keeps the running configuration.
            load_tls(&mut cfg).map_err(|e| e.to_string())?;
            Ok(*cfg)
        }
        _ => Err("the command line no longer starts a server".into()),
    }
}

/// Gunicorn's arbiter setup: `num_workers` is first assigned (`nworkers_changed` with `old`
/// `None`), then `on_starting`, before any listener is bound.
fn starting(hooks: &PythonHooks, cfg: &Config) {
    let server = ServerView {
        pid: std::process::id() as i32,
        num_workers: cfg.workers,
        workers: Vec::new(),
        cfg,
    };
    hooks.nworkers_changed(&server, cfg.workers, None);
    hooks.on_starting(&server);
    // Gunicorn's gthread check: at most worker_connections - threads connections are kept
    // alive, so with no room every response closes.
    let no_room = cfg.worker_connections <= cfg.threads && !cfg.keepalive.is_zero();
    if cfg.worker_class == gunicorn_rs::config::WorkerClass::Gthread && no_room {
        gunicorn_rs::warning!(
            "No keepalived connections can be handled. Check the number of worker connections \
             and threads."
        );
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
