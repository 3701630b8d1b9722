//! Workers: one module per kind on a shared connection layer. `sync` exists so far.
//!
//! Joins `http` (parsing), `wsgi` (the app) and `sock` (the listeners it inherited). Runs in a
//! forked child; never returns to the master's code (the master's spawn ends in `exit`).

mod conn;
mod reloader;
mod signals;
mod sink;
mod sync;
mod watchdog;

use crate::master::WorkerContext;
use crate::scoreboard::ExitReason;
use crate::wsgi::hooks::{PyHooks, WorkerHooks};
use crate::wsgi::App;

/// Run a worker to its end; the return value is the process exit code.
///
/// `preloaded` is the app the master imported before fork (`--preload`); otherwise the worker
/// imports it now, and an import failure exits with `APP_LOAD_ERROR` so the master halts —
/// except under `--reload`, where the worker shows the traceback and waits for the fix.
/// `hooks` are the master's server hooks, inherited through fork.
pub fn run(ctx: WorkerContext<'_>, preloaded: Option<&App>, hooks: &PyHooks) -> i32 {
    let pid = std::process::id();
    crate::proctitle::set(&format!("gunicorn-rs: worker [{}]", ctx.config.proc_name()));
    crate::info!("Booting worker with pid: {pid}");
    let hooks = match boot(&ctx, hooks) {
        Ok(hooks) => hooks,
        Err(e) => {
            crate::error!("Exception in worker process\n{e}");
            ctx.slot.set_exit_reason(ExitReason::BootFailed);
            return crate::master::WORKER_BOOT_ERROR;
        }
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
            crate::error!("Exception in worker process\ncannot start the reloader: {e}");
            hooks.worker_exit();
            return crate::master::WORKER_BOOT_ERROR;
        }
    };
    if let Ok(app) = app {
        hooks.post_worker_init(app);
    }
    let code = sync::SyncWorker::new(&ctx, app, reloader, &hooks).map(|mut w| w.run());
    crate::info!("Worker exiting (pid: {pid})");
    hooks.worker_exit();
    exit_code(code, &hooks, ctx.slot)
}

/// Before the app: the worker's hooks (`post_fork` runs), its signal handlers, the dump signal.
fn boot(ctx: &WorkerContext<'_>, hooks: &PyHooks) -> Result<WorkerHooks, String> {
    let master_pid = ctx.master_pid.as_raw();
    let hooks = hooks
        .for_worker(ctx.config, ctx.age, master_pid, signals::stop)
        .map_err(|e| e.to_string())?;
    hooks.post_fork();
    signals::install().map_err(|e| e.to_string())?;
    hooks
        .install_signal_handlers(signals::wake_write_fd())
        .map_err(|e| e.to_string())?;
    register_dump(ctx);
    Ok(hooks)
}

/// Import the app. `Ok(Err(traceback))`: it failed under `--reload`, which waits for a fix;
/// `Err(code)`: it failed, and the worker exits with Gunicorn's APP_LOAD_ERROR.
fn import_app(ctx: &WorkerContext<'_>) -> Result<Result<App, String>, i32> {
    match App::load(ctx.config.app_uri.as_deref().unwrap_or_default()) {
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
    match crate::wsgi::faulthandler::register_dump(signal, fd) {
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
