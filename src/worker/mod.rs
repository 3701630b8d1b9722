//! Workers: one module per kind (`sync`, `gthread`) on a shared connection layer (`conn`,
//! `dispatch`): a kind decides only who waits on sockets and who runs the app (DESIGN §10).
//!
//! Joins `http` (parsing), `wsgi` (the app) and `sock` (the listeners it inherited). Runs in a
//! forked child; never returns to the master's code (the master's spawn ends in `exit`).

mod asgi;
mod balance;
mod conn;
mod dispatch;
mod green;
mod gthread;
mod handoff;
mod nofile;
mod reloader;
mod signals;
mod sync;
mod table;
mod watchdog;

use std::time::Duration;

use crate::config::WorkerClass;
use crate::master::WorkerContext;
use crate::scoreboard::{ExitReason, Slot};
use crate::wsgi::hooks::{PyHooks, WorkerHooks};
use crate::wsgi::App;
pub use handoff::Handoff;

/// Run a worker to its end; the return value is the process exit code.
///
/// `preloaded` is the app the master imported before fork (`--preload`); otherwise the worker
/// imports it now, and an import failure exits with `APP_LOAD_ERROR` so the master halts —
/// except under `--reload`, where the worker shows the traceback and waits for the fix.
/// `hooks` are the master's server hooks, inherited through fork.
pub fn run(
    ctx: WorkerContext<'_>,
    preloaded: Option<&App>,
    hooks: &PyHooks,
    handoff: Option<&Handoff>,
) -> i32 {
    if ctx.config.worker_class.is_cooperative() {
        // See `holding_gil`: a greenlet worker keeps the GIL for its whole life.
        return crate::wsgi::interpreter::holding_gil(|| {
            run_worker(ctx, preloaded, hooks, handoff)
        });
    }
    run_worker(ctx, preloaded, hooks, handoff)
}

fn run_worker(
    ctx: WorkerContext<'_>,
    preloaded: Option<&App>,
    hooks: &PyHooks,
    handoff: Option<&Handoff>,
) -> i32 {
    let pid = std::process::id();
    crate::proctitle::set(&format!("gunicorn-rs: worker [{}]", ctx.config.proc_name()));
    crate::info!("Booting worker with pid: {pid}");
    let hooks = match boot(&ctx, hooks) {
        Ok(hooks) => hooks,
        Err(e) => return boot_failed(&ctx, None, &format!("Exception in worker process\n{e}")),
    };
    // Greenlet kinds patch the standard library before the app is imported, as Gunicorn's.
    let hub = match start_hub(&ctx) {
        Ok(hub) => hub,
        Err(e) => return boot_failed(&ctx, Some(&hooks), &e),
    };
    let imported;
    let app = match preloaded {
        Some(app) => Ok(app),
        None => match import_app(&ctx) {
            Ok(Ok(app)) => {
                imported = app;
                Ok(&imported)
            }
            Ok(Err(traceback)) => Err(traceback),
            Err(code) => {
                // Gunicorn runs worker_exit in a `finally`: after a failed import too.
                hooks.worker_exit();
                return code;
            }
        },
    };
    let reloader = match start_reloader(&ctx, &app) {
        Ok(reloader) => reloader,
        Err(e) => {
            let text = format!("Exception in worker process\ncannot start the reloader: {e}");
            return boot_failed(&ctx, Some(&hooks), &text);
        }
    };
    if let Ok(app) = app {
        hooks.post_worker_init(app);
    }
    // A TLS session cannot move to another process: under TLS a sync worker keeps its
    // unfinished heads.
    let handoff = handoff.filter(|_| ctx.config.tls.is_none());
    let kind = Kind {
        handoff,
        hub: hub.as_ref(),
    };
    let code = serve(&ctx, app, reloader, &hooks, kind);
    crate::info!("Worker exiting (pid: {pid})");
    hooks.worker_exit();
    exit_code(code, &hooks, ctx.slot)
}

/// What one kind or another needs beside the service.
struct Kind<'k> {
    /// sync: the siblings' hand-off of unfinished heads.
    handoff: Option<&'k Handoff>,
    /// gevent, eventlet: the hub.
    hub: Option<&'k crate::wsgi::hub::Hub>,
}

/// The worker could not boot: `text` at ERROR, the exit reason the dashboard shows,
/// `worker_exit` once the hooks are set up (Gunicorn runs it in a `finally`), and the exit
/// code that tells the master so.
fn boot_failed(ctx: &WorkerContext<'_>, hooks: Option<&WorkerHooks>, text: &str) -> i32 {
    crate::error!("{text}");
    ctx.slot.set_exit_reason(ExitReason::BootFailed);
    if let Some(hooks) = hooks {
        hooks.worker_exit();
    }
    crate::master::WORKER_BOOT_ERROR
}

/// gevent, eventlet: import the library and monkey-patch (before the app is imported).
fn start_hub(ctx: &WorkerContext<'_>) -> Result<Option<crate::wsgi::hub::Hub>, String> {
    use crate::wsgi::hub::{Hub, Library};
    let library = match ctx.config.worker_class {
        WorkerClass::Gevent => Library::Gevent,
        WorkerClass::Eventlet => Library::Eventlet,
        WorkerClass::Sync | WorkerClass::Gthread | WorkerClass::Asgi | WorkerClass::Tornado => {
            return Ok(None)
        }
    };
    crate::wsgi::set_cooperative();
    Hub::start(library, green::enter)
        .map(Some)
        .map_err(|e| e.to_string())
}

/// Run the configured kind until it stops; its exit code.
fn serve(
    ctx: &WorkerContext<'_>,
    app: Result<&App, String>,
    reloader: Option<reloader::Reloader>,
    hooks: &WorkerHooks,
    kind: Kind<'_>,
) -> std::io::Result<i32> {
    let class = ctx.config.worker_class;
    let lanes = match class {
        WorkerClass::Sync => 1,
        WorkerClass::Gthread => ctx.config.threads.max(1),
        // A deadline slot for every connection a greenlet may serve at once.
        WorkerClass::Gevent | WorkerClass::Eventlet | WorkerClass::Asgi | WorkerClass::Tornado => {
            ctx.config.worker_connections.max(1)
        }
    };
    nofile::raise_for(ctx.config.worker_connections);
    let app_object = app.as_ref().ok().map(|a| a.callable());
    let svc = conn::Service::new(ctx, app, hooks, lanes)?;
    let live = Liveness {
        master_pid: ctx.master_pid,
        slot: ctx.slot,
        hooks,
    };
    // A kind that cannot wait for its requests any longer (the graceful timeout passed with
    // some still running) ends the process from where it is.
    let leave = |code: i32| {
        crate::info!("Worker exiting (pid: {})", std::process::id());
        hooks.worker_exit();
        std::process::exit(exit_code(Ok(code), hooks, ctx.slot))
    };
    match (class, kind.hub) {
        (WorkerClass::Sync, _) => sync::run(&svc, reloader, kind.handoff, &live),
        (WorkerClass::Asgi | WorkerClass::Tornado, _) => match app_object {
            Some(app) => asgi::run(&svc, app, reloader, &live, ctx.dump_fd),
            None => Err(std::io::Error::other("the app did not load")),
        },
        (WorkerClass::Gthread, _) => gthread::run(&svc, reloader, &live, &leave),
        (_, Some(hub)) => green::run(&svc, hub, reloader, &live, ctx.dump_fd),
        (_, None) => Err(std::io::Error::other("no hub for a greenlet worker")),
    }
}

/// What every kind's loop checks each turn: its master, USR1, `--reload`, its wake pipe.
pub struct Liveness<'a> {
    master_pid: nix::unistd::Pid,
    slot: &'a Slot,
    hooks: &'a WorkerHooks,
}

impl Liveness<'_> {
    /// Gunicorn's `is_parent_alive`: a worker whose master died exits.
    fn parent_alive(&self) -> bool {
        if nix::unistd::getppid() == self.master_pid {
            return true;
        }
        crate::info!("Parent changed, shutting down: {}", std::process::id());
        self.slot.set_exit_reason_once(ExitReason::ParentGone);
        false
    }

    /// USR1: reopen the log files.
    fn reopen_logs(&self) {
        if signals::take_reopen() {
            let _ = crate::log::reopen();
        }
    }

    /// `--reload`: stop (to be replaced with fresh code) when a watched file changed.
    fn check_reload(&self, reloader: &mut Option<reloader::Reloader>) {
        if let Some(path) = reloader.as_mut().and_then(reloader::Reloader::changed) {
            crate::info!("Worker reloading: {} modified", path.display());
            signals::stop();
            self.hooks.worker_int();
        }
    }

    /// Sleep until the wake pipe or the reloader has something, at most `timeout`; `true`
    /// when the wake pipe woke us.
    fn wait_wake(&self, reloader: Option<&reloader::Reloader>, timeout: Duration) -> bool {
        use nix::poll::{PollFd, PollFlags, PollTimeout};
        // SAFETY: the wake pipe lives as long as the process (installed at boot).
        let wake = unsafe { std::os::fd::BorrowedFd::borrow_raw(signals::wake_fd()) };
        let mut fds = vec![PollFd::new(wake, PollFlags::POLLIN)];
        if let Some(fd) = reloader.and_then(reloader::Reloader::fd) {
            fds.push(PollFd::new(fd, PollFlags::POLLIN));
        }
        let ms = u16::try_from(timeout.as_millis()).unwrap_or(u16::MAX);
        let _ = nix::poll::poll(&mut fds, PollTimeout::from(ms));
        fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
    }
}

/// A worker whose loop answers dumps (greenlet and asgi kinds, woken by the dump signal):
/// after faulthandler's text — the stack of what held the loop when the signal came — the
/// stacks of what serves each request, then the end marker the master waits for.
fn answer_dump(dump_fd: Option<std::os::fd::RawFd>, mut stacks: String) {
    let Some(fd) = dump_fd else { return };
    stacks.push_str(crate::master::dump::HUB_DUMP_END);
    // SAFETY: the slot's memfd stays open for the worker's life.
    let fd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    let _ = crate::fd::write_all(fd, stacks.as_bytes());
}

/// Before the app: the worker's hooks (`post_fork` runs), its signal handlers, the dump signal.
fn boot(ctx: &WorkerContext<'_>, hooks: &PyHooks) -> Result<WorkerHooks, String> {
    let master_pid = ctx.master_pid.as_raw();
    let hooks = hooks
        .for_worker(ctx.config, ctx.age, master_pid, signals::stop)
        .map_err(|e| e.to_string())?;
    hooks.post_fork();
    signals::install().map_err(|e| e.to_string())?;
    // Only now may signals arrive: the handlers are in place (see the master's spawn).
    let _ = nix::sys::signal::sigprocmask(
        nix::sys::signal::SigmaskHow::SIG_SETMASK,
        Some(&ctx.signal_mask),
        None,
    );
    hooks
        .install_signal_handlers(signals::wake_write_fd())
        .map_err(|e| e.to_string())?;
    register_dump(ctx);
    Ok(hooks)
}

/// Import the app. `Ok(Err(traceback))`: it failed under `--reload`, which waits for a fix;
/// `Err(code)`: it failed, and the worker exits with Gunicorn's APP_LOAD_ERROR.
fn import_app(ctx: &WorkerContext<'_>) -> Result<Result<App, String>, i32> {
    match App::load_configured(ctx.config) {
        Ok(app) => Ok(Ok(app)),
        Err(e) if ctx.config.reload.is_some() => {
            crate::error!("{e}");
            crate::error!("The app failed to load; waiting for a change to its files (--reload)");
            Ok(Err(e.to_string()))
        }
        Err(e) => {
            crate::error!("{e}");
            ctx.slot.set_exit_reason(ExitReason::AppLoadFailed);
            Err(crate::master::APP_LOAD_ERROR)
        }
    }
}

/// The loop's exit code, unless a signal handler (`worker_int`/`worker_abort`) chose one.
fn exit_code(
    code: std::io::Result<i32>,
    hooks: &WorkerHooks,
    slot: &crate::scoreboard::Slot,
) -> i32 {
    match code {
        Ok(code) => hooks.exit_code().unwrap_or(code),
        Err(e) => {
            crate::error!("Exception in worker process\n{e}");
            slot.set_exit_reason(ExitReason::BootFailed);
            crate::master::WORKER_BOOT_ERROR
        }
    }
}

/// Before the app loads: faulthandler dumps every thread's stack into the slot's memfd on the
/// dump signal (DESIGN §6), so the master can say what this worker is doing even while C code
/// holds the GIL.
fn register_dump(ctx: &WorkerContext<'_>) {
    let Some(fd) = ctx.dump_fd else { return };
    let signal = ctx.config.dump_signal;
    signals::unblock(signal);
    let green = ctx.config.worker_class.dumps_from_loop();
    if green {
        if let Err(e) = signals::install_dump_notice(signal) {
            crate::warning!("Greenlet stacks will not be dumped: {e}");
        }
    }
    match crate::wsgi::faulthandler::register_dump(signal, fd, green) {
        Ok(()) => ctx.slot.set_dump_ready(),
        Err(e) => crate::warning!("No stack dumps for this worker: {e}"),
    }
}

/// `--reload`: watch every imported module's file, and the files of a failed import.
fn start_reloader(
    ctx: &WorkerContext<'_>,
    app: &Result<&App, String>,
) -> std::io::Result<Option<reloader::Reloader>> {
    let Some(settings) = &ctx.config.reload else {
        return Ok(None);
    };
    let mut files = crate::wsgi::modules::module_files();
    if let Err(traceback) = app {
        files.extend(crate::wsgi::modules::traceback_files(traceback));
    }
    reloader::Reloader::new(settings, files).map(Some)
}
