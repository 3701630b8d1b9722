//! Gunicorn's server hooks (`reference/gunicorn.md` §7), run with the objects they expect.
//!
//! [`PyHooks`] lives in the master for its whole life and keeps the `server` object (and one
//! `worker` object per worker) from call to call, so state a hook stores on them survives, and
//! a forked worker inherits the very objects `pre_fork` saw. The master calls it with plain
//! facts ([`ServerFacts`]); after fork, [`PyHooks::for_worker`] gives the worker its
//! [`WorkerHooks`]. A hook that raises is logged at ERROR with its traceback
//! (`Exception in <name> hook`) and the server carries on.
//!
//! The master enters Python only for the hooks the config file set.

mod facades;
mod request;
mod worker;

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::atomic::Ordering;

use pyo3::prelude::*;
use pyo3::types::{PyDict, PyTuple};

use super::interpreter::format_exception;
use crate::config::{Config, Hook};
pub use facades::Settings;
use facades::{Application, Arbiter, Logger, Worker, REQUESTED_WORKERS};
pub use worker::WorkerHooks;

/// The master as hooks see it (`server`).
pub struct ServerFacts<'a> {
    pub pid: i32,
    pub num_workers: usize,
    pub workers: Vec<WorkerFacts>,
    pub cfg: &'a Config,
}

/// One worker as the master's hooks see it (`worker`).
pub struct WorkerFacts {
    /// `None` before the fork.
    pub pid: Option<i32>,
    pub age: u64,
    pub booted: bool,
    pub aborted: bool,
}

/// The master's hooks and the Python objects they are given.
#[derive(Default)]
pub struct PyHooks {
    server: RefCell<Option<Py<Arbiter>>>,
    /// Worker objects by age (unique per master; the pid is unknown at `pre_fork`).
    workers: RefCell<HashMap<u64, Py<Worker>>>,
}

/// Call `hook` with as many of `args` as its arity takes; log what it raises.
pub(super) fn run_hook(py: Python<'_>, name: &str, hook: &Hook, args: &[Bound<'_, PyAny>]) {
    let called = PyTuple::new(py, &args[..hook.arity.min(args.len())])
        .and_then(|args| hook.func.bind(py).call1(args));
    if let Err(err) = called {
        let expected =
            err.is_instance_of::<pyo3::exceptions::PySystemExit>(py) && worker::exit_requested();
        if !expected {
            crate::error!("Exception in {name} hook\n{}", format_exception(py, &err));
        }
    }
}

impl PyHooks {
    pub fn new() -> PyHooks {
        PyHooks::default()
    }

    /// Run the master-side hook `name` with `server` and whatever `extra` adds.
    fn server_hook<F>(&self, name: &str, facts: &ServerFacts<'_>, extra: F)
    where
        F: for<'py> FnOnce(Python<'py>) -> PyResult<Vec<Bound<'py, PyAny>>>,
    {
        let Some(hook) = facts.cfg.hooks.get(name) else {
            return;
        };
        Python::attach(|py| {
            let args = self.server(py, facts).and_then(|server| {
                let mut args = vec![server.into_any()];
                args.extend(extra(py)?);
                Ok(args)
            });
            match args {
                Ok(args) => run_hook(py, name, hook, &args),
                Err(err) => {
                    crate::error!("Exception in {name} hook\n{}", format_exception(py, &err))
                }
            }
        });
    }

    pub fn on_starting(&self, facts: &ServerFacts<'_>) {
        self.server_hook("on_starting", facts, |_| Ok(vec![]));
    }

    pub fn when_ready(&self, facts: &ServerFacts<'_>) {
        self.server_hook("when_ready", facts, |_| Ok(vec![]));
    }

    pub fn on_reload(&self, facts: &ServerFacts<'_>) {
        self.server_hook("on_reload", facts, |_| Ok(vec![]));
    }

    pub fn pre_exec(&self, facts: &ServerFacts<'_>) {
        self.server_hook("pre_exec", facts, |_| Ok(vec![]));
    }

    pub fn on_exit(&self, facts: &ServerFacts<'_>) {
        self.server_hook("on_exit", facts, |_| Ok(vec![]));
    }

    pub fn pre_fork(&self, facts: &ServerFacts<'_>, worker: &WorkerFacts) {
        self.server_hook("pre_fork", facts, |py| {
            Ok(vec![self.worker(py, facts.cfg, worker)?.into_any()])
        });
    }

    pub fn child_exit(&self, facts: &ServerFacts<'_>, worker: &WorkerFacts) {
        self.server_hook("child_exit", facts, |py| {
            Ok(vec![self.worker(py, facts.cfg, worker)?.into_any()])
        });
        self.workers.borrow_mut().remove(&worker.age);
    }

    pub fn nworkers_changed(&self, facts: &ServerFacts<'_>, new: usize, old: Option<usize>) {
        self.server_hook("nworkers_changed", facts, |py| {
            Ok(vec![
                new.into_pyobject(py)?.into_any(),
                old.into_pyobject(py)?.into_any(),
            ])
        });
    }

    /// `server.num_workers = N` from a hook, taken once.
    pub fn take_num_workers(&self) -> Option<usize> {
        Some(REQUESTED_WORKERS.swap(0, Ordering::Relaxed)).filter(|&n| n > 0)
    }

    /// The `server` object, created on first use, refreshed from `facts`.
    fn server<'py>(
        &self,
        py: Python<'py>,
        facts: &ServerFacts<'_>,
    ) -> PyResult<Bound<'py, Arbiter>> {
        let server = self.server_object(py, facts.cfg)?;
        let workers = PyDict::new(py);
        for w in &facts.workers {
            if let Some(pid) = w.pid {
                workers.set_item(pid, self.worker(py, facts.cfg, w)?)?;
            }
        }
        {
            let mut s = server.borrow_mut();
            s.pid = facts.pid;
            s.num_workers = facts.num_workers;
            s.cfg = Py::new(py, Settings::new(facts.cfg))?;
            s.workers = workers.unbind();
        }
        Ok(server)
    }

    fn server_object<'py>(&self, py: Python<'py>, cfg: &Config) -> PyResult<Bound<'py, Arbiter>> {
        if let Some(server) = self.server.borrow().as_ref() {
            return Ok(server.bind(py).clone());
        }
        let settings = Py::new(py, Settings::new(cfg))?;
        let server = Bound::new(
            py,
            Arbiter {
                pid: std::process::id() as i32,
                app: application(py, cfg, &settings)?,
                cfg: settings,
                log: logger(py)?,
                workers: PyDict::new(py).unbind(),
                master_name: "Master".into(),
                proc_name: cfg.proc_name().into(),
                num_workers: cfg.workers,
            },
        )?;
        *self.server.borrow_mut() = Some(server.clone().unbind());
        Ok(server)
    }

    /// The `worker` object for `facts.age`, created on first use, refreshed from `facts`.
    fn worker<'py>(
        &self,
        py: Python<'py>,
        cfg: &Config,
        facts: &WorkerFacts,
    ) -> PyResult<Bound<'py, Worker>> {
        let existing = self
            .workers
            .borrow()
            .get(&facts.age)
            .map(|w| w.clone_ref(py));
        let worker = match existing {
            Some(worker) => worker.into_bound(py),
            None => {
                let worker = Bound::new(py, new_worker(py, cfg, facts.age)?)?;
                self.workers
                    .borrow_mut()
                    .insert(facts.age, worker.clone().unbind());
                worker
            }
        };
        {
            let mut w = worker.borrow_mut();
            w.pid = match facts.pid {
                Some(pid) => pid.into_pyobject(py)?.into_any().unbind(),
                None => "[booting]".into_pyobject(py)?.into_any().unbind(),
            };
            w.booted = facts.booted;
            w.aborted = facts.aborted;
        }
        Ok(worker)
    }

    /// In a freshly forked worker: its hooks, with the `server` and `worker` objects the
    /// master's hooks used (inherited through fork), or new ones.
    pub fn for_worker(
        &self,
        cfg: &Config,
        age: u64,
        master_pid: i32,
        on_stop: fn(),
    ) -> Result<WorkerHooks, String> {
        Python::attach(|py| {
            let facts = WorkerFacts {
                pid: Some(std::process::id() as i32),
                age,
                booted: false,
                aborted: false,
            };
            let objects = || -> PyResult<(Py<Arbiter>, Py<Worker>)> {
                let server = self.server_object(py, cfg)?;
                server.borrow_mut().pid = master_pid;
                let worker = self.worker(py, cfg, &facts)?;
                worker.borrow_mut().ppid = master_pid;
                Ok((server.unbind(), worker.unbind()))
            };
            let (server, worker) = objects().map_err(|e| format_exception(py, &e))?;
            Ok(WorkerHooks::new(cfg, server, worker, on_stop))
        })
    }
}

/// `server.log` / `worker.log`: the `--logger-class` instance, as Gunicorn's hooks get their
/// logger; else the facade over the built-in log.
fn logger(py: Python<'_>) -> PyResult<Py<PyAny>> {
    match super::logger_class::instance(py) {
        Some(logger) => Ok(logger),
        None => Ok(Py::new(py, Logger)?.into_any()),
    }
}

fn application(py: Python<'_>, cfg: &Config, settings: &Py<Settings>) -> PyResult<Py<Application>> {
    Py::new(
        py,
        Application {
            cfg: settings.clone_ref(py),
            callable: py.None(),
            app_uri: cfg.app_uri.clone(),
        },
    )
}

fn new_worker(py: Python<'_>, cfg: &Config, age: u64) -> PyResult<Worker> {
    let settings = Py::new(py, Settings::new(cfg))?;
    Ok(Worker {
        pid: "[booting]".into_pyobject(py)?.into_any().unbind(),
        ppid: std::process::id() as i32,
        age,
        nr: 0,
        booted: false,
        aborted: false,
        app: application(py, cfg, &settings)?,
        cfg: settings,
        log: logger(py)?,
        wsgi: py.None(),
        tmp: py.None(),
        timeout: cfg.timeout.map_or(0.0, |t| t.as_secs_f64() / 2.0),
        alive: true,
    })
}
