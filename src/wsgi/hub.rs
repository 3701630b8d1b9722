//! The greenlet hub (gevent or eventlet) as the greenlet worker sees it: monkey-patching at
//! boot, a wait on a socket that lets other greenlets run, a greenlet per connection, sleep,
//! and ending a greenlet that waits. The Python half is `hub.py`.
//!
//! Everything here runs on the worker's one thread with the GIL held: greenlets switch only
//! inside `wait` and `sleep`, and the Rust frames below them are saved and restored by
//! greenlet with the rest of the C stack (greenlet restores a stack at its own addresses, so
//! borrows of that stack stay valid; nothing here keeps a lock or a `RefCell` borrow across a
//! switch, which another greenlet of the same thread would then find taken).

use std::ffi::CString;
use std::io;
use std::sync::OnceLock;
use std::time::Duration;

use pyo3::prelude::*;
use pyo3::types::{PyModule, PyTuple};

use super::interpreter::format_exception;

const HUB_PY: &str = include_str!("hub.py");

/// Which library runs the hub.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Library {
    Gevent,
    Eventlet,
}

impl Library {
    fn name(self) -> &'static str {
        match self {
            Library::Gevent => "gevent",
            Library::Eventlet => "eventlet",
        }
    }
}

/// The worker's entry into Rust from a greenlet: called with the token `spawn` was given.
static ENTRY: OnceLock<fn(u64)> = OnceLock::new();

#[pyfunction]
fn _enter(token: u64) {
    if let Some(entry) = ENTRY.get() {
        entry(token);
    }
}

/// A greenlet, as a handle the worker can keep and later end.
pub struct Greenlet(Py<PyAny>);

impl Greenlet {
    /// Its identity (Python's `id()`): the number a dump's `Greenlet 0x…` header shows.
    pub fn id(&self) -> u64 {
        self.0.as_ptr() as usize as u64
    }

    /// Another handle on the same greenlet.
    pub fn clone_ref(&self) -> Greenlet {
        Python::attach(|py| Greenlet(self.0.clone_ref(py)))
    }
}

pub struct Hub {
    hub: Py<PyAny>,
    enter: Py<PyAny>,
    stop: Py<PyAny>,
}

/// Why the hub could not start.
#[derive(Debug, thiserror::Error)]
pub enum HubError {
    /// The library is not importable in this interpreter.
    #[error("{library} is not installed in {python}: pip install {library}")]
    Missing {
        library: &'static str,
        python: String,
    },
    #[error("{0}")]
    Failed(String),
}

/// Is the library importable here? Asked by the master before anything is bound, without
/// importing it (importing gevent in the master would be as bad as patching it there).
pub fn check_installed(library: Library) -> Result<(), HubError> {
    check_importable(library.name())
}

/// Is the module `name` importable here (found, not imported)? The same one-line error as a
/// missing hub library (`--asgi-loop uvloop` asks it of uvloop).
pub fn check_importable(name: &'static str) -> Result<(), HubError> {
    Python::attach(|py| {
        let found = py
            .import("importlib.util")
            .and_then(|u| u.call_method1("find_spec", (name,)))
            .is_ok_and(|spec| !spec.is_none());
        if found {
            return Ok(());
        }
        let python = py
            .import("sys")
            .and_then(|s| s.getattr("executable"))
            .map_or_else(|_| "this Python".into(), |e| e.to_string());
        Err(HubError::Missing {
            library: name,
            python,
        })
    })
}

impl Hub {
    /// Import the library, monkey-patch, and make the hub. Call before the app is imported.
    /// `entry` is what each spawned greenlet runs.
    pub fn start(library: Library, entry: fn(u64)) -> Result<Hub, HubError> {
        let _ = ENTRY.set(entry);
        Python::attach(|py| {
            if py.import(library.name()).is_err() {
                let python = py
                    .import("sys")
                    .and_then(|s| s.getattr("executable"))
                    .map_or_else(|_| "this Python".into(), |e| e.to_string());
                return Err(HubError::Missing {
                    library: library.name(),
                    python,
                });
            }
            let failed = |e: PyErr| HubError::Failed(format_exception(py, &e));
            let code = CString::new(HUB_PY).map_err(|e| HubError::Failed(e.to_string()))?;
            let module = PyModule::from_code(py, &code, c"gunicorn_rs/hub.py", c"_gunicorn_rs_hub")
                .map_err(failed)?;
            let hub = module
                .getattr("Hub")
                .and_then(|h| h.call1((library.name(),)))
                .map_err(failed)?;
            let enter = wrap_pyfunction!(_enter, py).map_err(failed)?;
            let stop = module.getattr("Stop").map_err(failed)?;
            Ok(Hub {
                hub: hub.unbind(),
                enter: enter.into_any().unbind(),
                stop: stop.unbind(),
            })
        })
    }

    /// Let the other greenlets run until `fd` is ready to read (or write); `Ok(false)` if
    /// `timeout` ran out first, `Interrupted` if the worker stopped this greenlet meanwhile.
    pub fn wait(&self, fd: i32, write: bool, timeout: Option<Duration>) -> io::Result<bool> {
        Python::attach(|py| {
            let timeout = timeout.map(|t| t.as_secs_f64());
            let ready = self
                .hub
                .bind(py)
                .call_method1(pyo3::intern!(py, "wait"), (fd, write, timeout));
            match ready {
                Ok(ready) => Ok(ready.is_truthy().unwrap_or(true)),
                Err(e) if e.matches(py, self.stop.bind(py)).unwrap_or(false) => {
                    Err(io::ErrorKind::Interrupted.into())
                }
                Err(e) => Err(io::Error::other(format_exception(py, &e))),
            }
        })
    }

    /// `fd` is about to be closed: the hub drops what it keeps for that number, so a socket
    /// that is given the number next is watched afresh.
    pub fn forget(&self, fd: i32) {
        Python::attach(|py| {
            let _ = self
                .hub
                .bind(py)
                .call_method1(pyo3::intern!(py, "forget"), (fd,));
        });
    }

    /// A new greenlet running the worker's entry with `token`.
    pub fn spawn(&self, token: u64) -> io::Result<()> {
        Python::attach(|py| {
            let args = PyTuple::new(
                py,
                [
                    self.enter.bind(py).clone(),
                    token.into_pyobject(py)?.into_any(),
                ],
            )?;
            self.hub
                .bind(py)
                .getattr(pyo3::intern!(py, "spawn"))?
                .call1(args)
                .map(|_| ())
        })
        .map_err(|e: PyErr| io::Error::other(e.to_string()))
    }

    /// Let the other greenlets run for `seconds`.
    pub fn sleep(&self, seconds: f64) {
        Python::attach(|py| {
            let _ = self
                .hub
                .bind(py)
                .call_method1(pyo3::intern!(py, "sleep"), (seconds,));
        });
    }

    /// The greenlet now running (to end it later with [`Hub::stop`]).
    pub fn current(&self) -> Option<Greenlet> {
        Python::attach(|py| {
            self.hub
                .bind(py)
                .call_method0(pyo3::intern!(py, "getcurrent"))
                .ok()
                .map(|g| Greenlet(g.unbind()))
        })
    }

    /// Raise `gunicorn_rs.RequestTimeout` in `greenlet` where it waits (`--request-timeout`):
    /// the app sees it as it would in a thread, at its blocking call.
    pub fn interrupt(&self, greenlet: &Greenlet) {
        Python::attach(|py| {
            let Ok(exc) = super::faulthandler::request_timeout_type(py) else {
                return;
            };
            let _ = self
                .hub
                .bind(py)
                .call_method1(pyo3::intern!(py, "kill"), (greenlet.0.bind(py), exc));
        });
    }

    /// The stacks of `serving` greenlets, each with an optional note under its header.
    pub fn stacks(&self, serving: &[(&Greenlet, Option<String>)]) -> String {
        Python::attach(|py| {
            let pairs: Vec<(Bound<'_, PyAny>, Option<&str>)> = serving
                .iter()
                .map(|(g, note)| (g.0.bind(py).clone(), note.as_deref()))
                .collect();
            self.hub
                .bind(py)
                .call_method1(pyo3::intern!(py, "stacks"), (pairs,))
                .and_then(|text| text.extract::<String>())
                .unwrap_or_else(|e| format!("(no greenlet stacks: {})", format_exception(py, &e)))
        })
    }

    /// End `greenlet` where it waits: its `wait` returns `Interrupted`.
    pub fn stop(&self, greenlet: &Greenlet) {
        Python::attach(|py| {
            let _ = self.hub.bind(py).call_method1(
                pyo3::intern!(py, "kill"),
                (greenlet.0.bind(py), self.stop.bind(py)),
            );
        });
    }
}
