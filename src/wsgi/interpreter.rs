//! Starting the embedded interpreter, and CPython's fork hooks around the master's fork(2).
//!
//! Python starts through PEP 587 `PyConfig` rather than `Python::initialize`, because only
//! `PyConfig` can point the path calculation at a virtualenv and set `sys.executable`
//! (DESIGN §7, aesthetics "Pitfalls" 5–8). This module knows nothing about processes: the master
//! calls [`before_fork`], [`after_fork_parent`] and [`after_fork_child`] around its one fork.

use std::cell::Cell;
use std::ffi::{CStr, CString, OsStr};
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use pyo3::ffi;
use pyo3::prelude::*;
use pyo3::types::{PyList, PyString};

/// Why the interpreter could not start.
#[derive(Debug, thiserror::Error)]
pub enum InitError {
    /// `Py_InitializeFromConfig` (or a `PyConfig` setter) reported an error.
    #[error("Python initialization failed: {0}")]
    Status(String),
    /// CPython asked to exit during initialization (e.g. a bad `PYTHON*` variable).
    #[error("Python initialization asked to exit with code {0}")]
    Exit(i32),
    /// A Python call after initialization failed; the formatted traceback.
    #[error("{0}")]
    Python(String),
}

/// Initialize CPython once, honouring `$VIRTUAL_ENV`. Idempotent.
pub fn initialize() -> Result<(), InitError> {
    let venv = std::env::var_os("VIRTUAL_ENV")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from);
    initialize_with(venv.as_deref())
}

/// Initialize CPython once, using the virtualenv at `venv` if given (`--virtualenv`).
///
/// Python's own signal handlers stay off (`install_signal_handlers = 0`): signals belong to
/// the master loop. On return the GIL is released, so any thread may `Python::attach`.
pub fn initialize_with(venv: Option<&Path>) -> Result<(), InitError> {
    // SAFETY: Py_IsInitialized may be called at any time, with or without the GIL.
    if unsafe { ffi::Py_IsInitialized() } != 0 {
        return Ok(());
    }
    let program = choose_program(venv);
    let mut config = MaybeUninit::<ffi::PyConfig>::uninit();
    // SAFETY: PyConfig_InitPythonConfig fully initialises the struct it is given.
    unsafe { ffi::PyConfig_InitPythonConfig(config.as_mut_ptr()) };
    // SAFETY: initialised just above.
    let config = unsafe { config.assume_init_mut() };
    let result = configure_and_start(config, program.as_deref());
    // SAFETY: `config` was initialised by PyConfig_InitPythonConfig; Clear frees its strings.
    unsafe { ffi::PyConfig_Clear(config) };
    result?;
    // SAFETY: Py_InitializeFromConfig left this thread holding the GIL; release it (as pyo3's
    // own initialisation does) so that `Python::attach` works from every thread.
    unsafe { ffi::PyEval_SaveThread() };
    Ok(())
}

fn configure_and_start(
    config: &mut ffi::PyConfig,
    program: Option<&Path>,
) -> Result<(), InitError> {
    config.install_signal_handlers = 0;
    // Our command line is not Python's: never let CPython interpret it.
    config.parse_argv = 0;
    if let Some(program) = program {
        let program = cstring(program.as_os_str())?;
        // program_name drives the path calculation (pyvenv.cfg lookup, prefix); executable is
        // what `sys.executable` reports, so multiprocessing's spawn runs Python, not us.
        let name: *mut *mut libc::wchar_t = &mut config.program_name;
        let exe: *mut *mut libc::wchar_t = &mut config.executable;
        // SAFETY: both fields belong to `config`, which is initialised; the C string is valid.
        check(unsafe { ffi::PyConfig_SetBytesString(config, name, program.as_ptr()) })?;
        // SAFETY: as above.
        check(unsafe { ffi::PyConfig_SetBytesString(config, exe, program.as_ptr()) })?;
    }
    set_argv(config)?;
    // SAFETY: `config` is a fully initialised PyConfig and Python is not yet initialized.
    check(unsafe { ffi::Py_InitializeFromConfig(config) })
}

/// `sys.argv` is our command line, as under Gunicorn (apps sometimes read it).
fn set_argv(config: &mut ffi::PyConfig) -> Result<(), InitError> {
    let args: Vec<CString> = std::env::args_os()
        .map(|a| cstring(&a))
        .collect::<Result<_, _>>()?;
    let mut ptrs: Vec<*const libc::c_char> = args.iter().map(|a| a.as_ptr()).collect();
    let argc =
        ffi::Py_ssize_t::try_from(ptrs.len()).map_err(|e| InitError::Status(e.to_string()))?;
    // SAFETY: `ptrs` holds `argc` valid C strings that outlive the call; CPython copies them.
    check(unsafe { ffi::PyConfig_SetBytesArgv(config, argc, ptrs.as_mut_ptr()) })
}

fn cstring(s: &OsStr) -> Result<CString, InitError> {
    CString::new(s.as_bytes()).map_err(|_| InitError::Status(format!("NUL byte in {s:?}")))
}

fn check(status: ffi::PyStatus) -> Result<(), InitError> {
    // SAFETY: PyStatus_* only inspect the struct passed by value.
    if unsafe { ffi::PyStatus_IsExit(status) } != 0 {
        return Err(InitError::Exit(status.exitcode));
    }
    // SAFETY: as above.
    if unsafe { ffi::PyStatus_Exception(status) } == 0 {
        return Ok(());
    }
    let text = |p: *const libc::c_char| {
        // SAFETY: CPython sets err_msg/func to static NUL-terminated strings or NULL.
        (!p.is_null()).then(|| unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned())
    };
    let msg = text(status.err_msg).unwrap_or_else(|| "unknown error".into());
    Err(InitError::Status(match text(status.func) {
        Some(func) => format!("{func}: {msg}"),
        None => msg,
    }))
}

/// The interpreter path handed to CPython's path calculation: the venv's python (uWSGI's
/// `--home`), else an activated venv's `python3` first on `PATH`, else the interpreter this
/// binary was built against (`build.rs`), so `sys.executable` is never gunicorn-rs.
fn choose_program(venv: Option<&Path>) -> Option<PathBuf> {
    if let Some(venv) = venv {
        let found = ["python", "python3"]
            .iter()
            .map(|n| venv.join("bin").join(n))
            .find(|p| p.is_file());
        match found {
            Some(python) => return Some(python),
            None => crate::log::log(
                crate::config::LogLevel::Warning,
                &format!(
                    "virtualenv {} has no bin/python; ignoring it",
                    venv.display()
                ),
            ),
        }
    }
    if let Some(python) = venv_python_on_path() {
        return Some(python);
    }
    let built = PathBuf::from(env!("GUNICORN_RS_BUILD_PYTHON"));
    built.is_file().then_some(built)
}

/// The first `python3` on `PATH`, if it belongs to a virtualenv (a `pyvenv.cfg` beside its
/// `bin/`). A non-venv `python3` is ignored: it may be another CPython than the one we linked.
fn venv_python_on_path() -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    let python = std::env::split_paths(&path)
        .map(|d| d.join("python3"))
        .find(|p| p.is_file())?;
    let bin = python.parent()?;
    let is_venv = bin.join("pyvenv.cfg").is_file() || bin.parent()?.join("pyvenv.cfg").is_file();
    is_venv.then_some(python)
}

/// Put `dirs` at the front of `sys.path`, in order (the `--chdir` directory, `--pythonpath`).
pub fn add_sys_path(dirs: &[PathBuf]) -> Result<(), InitError> {
    Python::attach(|py| {
        let insert = || -> PyResult<()> {
            let sys_path = py.import("sys")?.getattr("path")?.cast_into::<PyList>()?;
            for (i, dir) in dirs.iter().enumerate() {
                let dir = PyString::new(py, &dir.to_string_lossy());
                if !sys_path.contains(&dir)? {
                    sys_path.insert(i, dir)?;
                }
            }
            Ok(())
        };
        insert().map_err(|e| InitError::Python(format_exception(py, &e)))
    })
}

/// `os.environ[key] = value` (`--env`): Python's copy of the environment and the process's
/// (through `putenv`) both change, so the app and any child process see it.
pub fn set_environ(key: &str, value: &str) -> Result<(), InitError> {
    Python::attach(|py| {
        let set = || -> PyResult<()> {
            py.import("os")?.getattr("environ")?.set_item(key, value)?;
            Ok(())
        };
        set().map_err(|e| InitError::Python(format_exception(py, &e)))
    })
}

/// `Python 3.11.7 (main, …) [GCC …] at /prefix`: what a worker logs at boot, so a wrong
/// interpreter or venv shows up at once (aesthetics "Pitfalls" 6).
pub fn describe() -> String {
    Python::attach(|py| {
        let sys = py.import("sys")?;
        let version: String = sys.getattr("version")?.extract()?;
        let prefix: String = sys.getattr("prefix")?.extract()?;
        Ok::<_, PyErr>(format!("Python {} at {prefix}", version.replace('\n', " ")))
    })
    .unwrap_or_else(|err| format!("Python (unknown: {err})"))
}

/// How many Python threads are running; `0` if Python was never started. Forking with more
/// than one (an SDK imported under `--preload` may start some) is unsafe, so the master can
/// warn before its first fork (aesthetics "Pitfalls" 1).
pub fn active_threads() -> usize {
    // SAFETY: may be called any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        return 0;
    }
    Python::attach(|py| {
        let count = py
            .import("threading")
            .and_then(|t| t.call_method0("active_count"));
        count.and_then(|c| c.extract::<usize>()).unwrap_or(0)
    })
}

/// Run `f` on the calling (new) OS thread as one Python thread for the thread's whole life:
/// one thread state, so what the app keeps in `threading.local` (a Django database
/// connection, say) lives across the requests the thread serves, as in a Gunicorn gthread
/// pool thread. `f` runs with the GIL released; the app calls inside it take the GIL back on
/// the same thread state, cheaply.
pub fn as_python_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    Python::attach(|py| py.detach(f))
}

/// Run `f` holding the GIL throughout — the greenlet workers' whole life. Greenlets switch
/// inside Python calls with Rust frames below them, and pyo3 counts GIL holds per thread, not
/// per greenlet: with this outer hold the count never falls to zero at a switch, so the GIL
/// is never let go while another greenlet still counts on it.
pub fn holding_gil<R>(f: impl FnOnce() -> R) -> R {
    Python::attach(|_py| f())
}

/// The full traceback of `err`, as `traceback.format_exception` prints it, for the error log.
pub fn format_exception(py: Python<'_>, err: &PyErr) -> String {
    let formatted = py
        .import("traceback")
        // Type, value and traceback separately: on 3.11 a fetched error's traceback is not
        // necessarily on the value's `__traceback__`.
        .and_then(|tb| {
            tb.call_method1(
                "format_exception",
                (err.get_type(py), err.value(py), err.traceback(py)),
            )
        })
        .and_then(|lines| PyString::new(py, "").call_method1("join", (lines,)))
        .and_then(|text| text.extract::<String>());
    match formatted {
        Ok(text) => text.trim_end_matches('\n').to_owned(),
        // Formatting itself failed (traceback broken?): fall back to `Type: message`.
        Err(_) => err.to_string(),
    }
}

thread_local! {
    /// The GIL state taken by `before_fork`, released by the `after_fork_*` hooks. Thread-local
    /// because the hooks run on the master's one thread, which is also the child's only thread.
    static FORK_GIL: Cell<Option<ffi::PyGILState_STATE>> = const { Cell::new(None) };
}

/// Call just before fork(2): take the GIL and run `os.register_at_fork(before=…)` hooks.
///
/// Does nothing if Python was never initialized (lazy mode: the master never touches Python).
pub fn before_fork() {
    // SAFETY: may be called any time.
    if unsafe { ffi::Py_IsInitialized() } == 0 {
        return;
    }
    // SAFETY: the interpreter is initialized; Ensure attaches this thread (nesting is allowed).
    let state = unsafe { ffi::PyGILState_Ensure() };
    // SAFETY: we hold the GIL, which PyOS_BeforeFork requires (it runs Python callbacks and
    // takes the import lock); without it, it segfaults (DESIGN §7, verified).
    unsafe { ffi::PyOS_BeforeFork() };
    FORK_GIL.with(|s| s.set(Some(state)));
}

/// Call in the parent right after fork(2): run the `after_in_parent` hooks, release the GIL.
pub fn after_fork_parent() {
    let Some(state) = FORK_GIL.with(Cell::take) else {
        return;
    };
    // SAFETY: before_fork left this thread holding the GIL after PyOS_BeforeFork.
    unsafe { ffi::PyOS_AfterFork_Parent() };
    // SAFETY: releases exactly the Ensure taken in before_fork.
    unsafe { ffi::PyGILState_Release(state) };
}

/// Call first thing in the child after fork(2): reinitialise CPython's locks and thread state,
/// run the `after_in_child` hooks (reseeding `random`), then release the GIL.
pub fn after_fork_child() {
    let Some(state) = FORK_GIL.with(Cell::take) else {
        return;
    };
    // SAFETY: the child's only thread is the one that held the GIL at fork, as
    // PyOS_AfterFork_Child requires; it must run before any other Python call.
    unsafe { ffi::PyOS_AfterFork_Child() };
    // SAFETY: AfterFork_Child re-created the GIL held by this thread's state; this releases the
    // Ensure from before_fork so a later `Python::attach` can take it again.
    unsafe { ffi::PyGILState_Release(state) };
}
