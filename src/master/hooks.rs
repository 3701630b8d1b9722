//! The master's server hooks (Gunicorn's `on_starting`, `when_ready`, `pre_fork`, …) as a trait
//! of plain Rust data: the master says *when*, `main` wires in who answers (the Python hooks of
//! the config file, in `wsgi::hooks`). The master never learns they are Python.
//!
//! Every method defaults to doing nothing, so a master without hooks (tests) passes
//! [`NoHooks`].

use super::{ForkHooks, Master, Worker};
use crate::config::Config;

/// What a hook may see of the master (Gunicorn's `Arbiter` object).
pub struct ServerView<'a> {
    pub pid: i32,
    pub num_workers: usize,
    pub workers: Vec<WorkerView>,
    pub cfg: &'a Config,
}

/// What a hook may see of one worker (Gunicorn's `Worker` object, master side).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WorkerView {
    /// `None` before the fork (`pre_fork`: Gunicorn shows `"[booting]"`).
    pub pid: Option<i32>,
    pub age: u64,
    pub booted: bool,
    pub aborted: bool,
}

/// The master-side call points of Gunicorn's server hooks (`reference/gunicorn.md` §7).
pub trait ServerHooks: ForkHooks {
    /// Before the listeners are bound (called by `main`, which binds).
    fn on_starting(&self, _server: &ServerView<'_>) {}
    /// Listeners bound, before the first worker.
    fn when_ready(&self, _server: &ServerView<'_>) {}
    /// HUP, before the new generation of workers.
    fn on_reload(&self, _server: &ServerView<'_>) {}
    /// Just before each fork of a worker.
    fn pre_fork(&self, _server: &ServerView<'_>, _worker: &WorkerView) {}
    /// After a worker was reaped.
    fn child_exit(&self, _server: &ServerView<'_>, _worker: &WorkerView) {}
    /// Every assignment of the target worker count; `old` is `None` the first time.
    fn nworkers_changed(&self, _server: &ServerView<'_>, _new: usize, _old: Option<usize>) {}
    /// USR2: in the forked child, just before it executes the new binary.
    fn pre_exec(&self, _server: &ServerView<'_>) {}
    /// At the very end of the master's life.
    fn on_exit(&self, _server: &ServerView<'_>) {}
    /// A worker count a hook asked for (`server.num_workers = N`), taken once.
    fn take_num_workers(&self) -> Option<usize> {
        None
    }
}

/// No hooks and no fork hooks: a master that runs no Python.
pub struct NoHooks;

impl ForkHooks for NoHooks {
    fn before_fork(&self) {}
    fn after_fork_parent(&self) {}
    fn after_fork_child(&self) {}
}

impl ServerHooks for NoHooks {}

impl Master<'_> {
    /// The master as hooks see it.
    pub(super) fn view(&self) -> ServerView<'_> {
        ServerView {
            pid: self.pid.as_raw(),
            num_workers: self.num_workers,
            workers: self.workers.iter().map(|w| self.worker_view(w)).collect(),
            cfg: &self.cfg,
        }
    }

    pub(super) fn worker_view(&self, worker: &Worker) -> WorkerView {
        WorkerView {
            pid: Some(worker.pid.as_raw()),
            age: worker.age,
            booted: self.is_booted(worker),
            aborted: worker.lifecycle.is_aborting(),
        }
    }

    /// Gunicorn's `num_workers` setter: every assignment runs `nworkers_changed`.
    pub(super) fn set_num_workers(&mut self, value: usize) {
        let old = self.num_workers;
        self.num_workers = value;
        self.hooks.nworkers_changed(&self.view(), value, Some(old));
    }

    /// `server.num_workers = N` from a hook, applied in the loop.
    pub(super) fn apply_requested_num_workers(&mut self) {
        if let Some(n) = self.hooks.take_num_workers() {
            self.set_num_workers(n);
        }
    }
}
