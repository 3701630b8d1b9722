//! Server hooks from the config file (Gunicorn's "Server Hooks" settings): the callables
//! themselves, resolved and arity-checked once at load time as Gunicorn's
//! `validate_callable(arity)` / `validate_post_request` do, so a wrong signature is one clear
//! config error before anything is bound.
//!
//! A hook is a callable or a `module.function` string. The callables are kept as Python objects
//! (the config file is Python anyway); who calls them, with which arguments, is `wsgi::hooks`'s
//! business. Nothing here runs a hook.

use std::fmt;
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::PyString;

/// One configured hook: the callable and how many positional arguments it takes.
#[derive(Clone)]
pub struct Hook {
    pub func: Arc<Py<PyAny>>,
    /// For `post_request`, 2, 3 or 4: the call passes that many of `(worker, req, environ,
    /// resp)` (Gunicorn wraps the shorter ones in a lambda). Otherwise the expected arity.
    pub arity: usize,
}

/// Every server hook the config file set; `None` is Gunicorn's default (a no-op, or for
/// `pre_request` a DEBUG line `METHOD path`).
#[derive(Clone, Default)]
pub struct Hooks {
    pub on_starting: Option<Hook>,
    pub on_reload: Option<Hook>,
    pub when_ready: Option<Hook>,
    pub pre_fork: Option<Hook>,
    pub post_fork: Option<Hook>,
    pub post_worker_init: Option<Hook>,
    pub worker_int: Option<Hook>,
    pub worker_abort: Option<Hook>,
    pub pre_exec: Option<Hook>,
    pub pre_request: Option<Hook>,
    pub post_request: Option<Hook>,
    pub child_exit: Option<Hook>,
    pub worker_exit: Option<Hook>,
    pub nworkers_changed: Option<Hook>,
    pub on_exit: Option<Hook>,
    pub ssl_context: Option<Hook>,
    /// Not a hook but a Python object too: `logconfig_dict` as the config file built it
    /// (nested dicts, `()` factories, `ext://` streams), for `logging.config.dictConfig`.
    pub logconfig_dict: Option<Arc<Py<PyAny>>>,
}

impl Hooks {
    /// The hook called `name`, if the config file set it.
    pub fn get(&self, name: &str) -> Option<&Hook> {
        self.slot(name).and_then(|h| h.as_ref())
    }

    fn slot(&self, name: &str) -> Option<&Option<Hook>> {
        Some(match name {
            "on_starting" => &self.on_starting,
            "on_reload" => &self.on_reload,
            "when_ready" => &self.when_ready,
            "pre_fork" => &self.pre_fork,
            "post_fork" => &self.post_fork,
            "post_worker_init" => &self.post_worker_init,
            "worker_int" => &self.worker_int,
            "worker_abort" => &self.worker_abort,
            "pre_exec" => &self.pre_exec,
            "pre_request" => &self.pre_request,
            "post_request" => &self.post_request,
            "child_exit" => &self.child_exit,
            "worker_exit" => &self.worker_exit,
            "nworkers_changed" => &self.nworkers_changed,
            "on_exit" => &self.on_exit,
            "ssl_context" => &self.ssl_context,
            _ => return None,
        })
    }

    /// Store `hook` as `name`; `false` if there is no such hook.
    pub(super) fn set(&mut self, name: &str, hook: Hook) -> bool {
        let slot = match name {
            "on_starting" => &mut self.on_starting,
            "on_reload" => &mut self.on_reload,
            "when_ready" => &mut self.when_ready,
            "pre_fork" => &mut self.pre_fork,
            "post_fork" => &mut self.post_fork,
            "post_worker_init" => &mut self.post_worker_init,
            "worker_int" => &mut self.worker_int,
            "worker_abort" => &mut self.worker_abort,
            "pre_exec" => &mut self.pre_exec,
            "pre_request" => &mut self.pre_request,
            "post_request" => &mut self.post_request,
            "child_exit" => &mut self.child_exit,
            "worker_exit" => &mut self.worker_exit,
            "nworkers_changed" => &mut self.nworkers_changed,
            "on_exit" => &mut self.on_exit,
            "ssl_context" => &mut self.ssl_context,
            _ => return false,
        };
        *slot = Some(hook);
        true
    }
}

impl fmt::Debug for Hooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let set: Vec<&str> = HOOK_NAMES
            .iter()
            .copied()
            .filter(|n| self.get(n).is_some())
            .collect();
        f.debug_struct("Hooks").field("set", &set).finish()
    }
}

/// Every hook name, in Gunicorn's order.
pub const HOOK_NAMES: [&str; 16] = [
    "on_starting",
    "on_reload",
    "when_ready",
    "pre_fork",
    "post_fork",
    "post_worker_init",
    "worker_int",
    "worker_abort",
    "pre_exec",
    "pre_request",
    "post_request",
    "child_exit",
    "worker_exit",
    "nworkers_changed",
    "on_exit",
    "ssl_context",
];

/// The arities Gunicorn accepts for `name` (`gunicorn/config.py`, each hook's validator).
pub fn arities(name: &str) -> &'static [usize] {
    match name {
        "pre_fork" | "post_fork" | "pre_request" | "child_exit" | "worker_exit" | "ssl_context" => {
            &[2]
        }
        "nworkers_changed" => &[3],
        "post_request" => &[4, 3, 2],
        _ => &[1],
    }
}

/// Gunicorn's `validate_callable`: a `module.function` string is imported, the result must be
/// callable and take one of the accepted numbers of positional parameters (`util.get_arity`).
/// The error is the reason, in Gunicorn's words.
pub(super) fn resolve(name: &str, obj: &Bound<'_, PyAny>) -> Result<Hook, String> {
    let py = obj.py();
    let func = match obj.cast::<PyString>() {
        Ok(path) => import(py, &path.to_string_lossy())?,
        Err(_) => obj.clone(),
    };
    if !func.is_callable() {
        return Err(format!("Value is not callable: {}", show(&func)));
    }
    let arity = arity(&func).map_err(|e| e.to_string())?;
    let accepted = arities(name);
    if !accepted.contains(&arity) {
        return Err(format!("Value must have an arity of: {}", accepted[0]));
    }
    Ok(Hook {
        func: Arc::new(func.unbind()),
        arity,
    })
}

/// `module.function` → the object, with Gunicorn's messages.
fn import<'py>(py: Python<'py>, path: &str) -> Result<Bound<'py, PyAny>, String> {
    let Some((module, attr)) = path.rsplit_once('.') else {
        return Err(format!(
            "Value '{path}' is not import string. Format: module[.submodules...].object"
        ));
    };
    let module = py.import(module).map_err(|e| e.value(py).to_string())?;
    module.getattr(attr).map_err(|_| {
        format!(
            "Can not load '{attr}' from '{}'",
            module
                .name()
                .map_or_else(|_| String::new(), |n| n.to_string())
        )
    })
}

/// `util.get_arity`: the positional-only and positional-or-keyword parameters of the signature.
fn arity(func: &Bound<'_, PyAny>) -> PyResult<usize> {
    let inspect = func.py().import("inspect")?;
    let parameter = inspect.getattr("Parameter")?;
    let positional = [
        parameter.getattr("POSITIONAL_ONLY")?,
        parameter.getattr("POSITIONAL_OR_KEYWORD")?,
    ];
    let signature = inspect.call_method1("signature", (func,))?;
    let mut count = 0;
    for param in signature
        .getattr("parameters")?
        .call_method0("values")?
        .try_iter()?
    {
        let kind = param?.getattr("kind")?;
        if positional.iter().any(|p| p.eq(&kind).unwrap_or(false)) {
            count += 1;
        }
    }
    Ok(count)
}

/// `str()` of a Python object, for messages.
pub(super) fn show(obj: &Bound<'_, PyAny>) -> String {
    obj.str()
        .map_or_else(|_| String::from("?"), |s| s.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::ffi::CString;

    fn resolved(name: &str, source: &str) -> Result<usize, String> {
        Python::initialize();
        Python::attach(|py| {
            let code = CString::new(source).expect("no NUL in test source");
            let namespace = pyo3::types::PyDict::new(py);
            py.run(&code, None, Some(&namespace))
                .expect("test source runs");
            let obj = namespace
                .get_item("hook")
                .expect("lookup")
                .expect("the source defines `hook`");
            resolve(name, &obj).map(|h| h.arity)
        })
    }

    #[test]
    fn arity_as_gunicorn_counts_it() {
        assert_eq!(
            resolved("post_fork", "def hook(server, worker): pass"),
            Ok(2)
        );
        assert_eq!(
            resolved(
                "post_fork",
                "def hook(server, worker, extra=1, *a, **k): pass"
            ),
            Err("Value must have an arity of: 2".into())
        );
        assert_eq!(resolved("on_starting", "hook = lambda server: None"), Ok(1));
        assert_eq!(
            resolved(
                "on_starting",
                "class C:\n  def m(self, s): pass\nhook = C().m"
            ),
            Ok(1)
        );
        assert_eq!(
            resolved("nworkers_changed", "def hook(s, new): pass"),
            Err("Value must have an arity of: 3".into())
        );
    }

    #[test]
    fn post_request_takes_two_three_or_four() {
        for (source, arity) in [
            ("def hook(w, r): pass", 2),
            ("def hook(w, r, e): pass", 3),
            ("def hook(w, r, e, p): pass", 4),
        ] {
            assert_eq!(resolved("post_request", source), Ok(arity));
        }
        assert_eq!(
            resolved("post_request", "def hook(w): pass"),
            Err("Value must have an arity of: 4".into())
        );
    }

    #[test]
    fn import_strings_and_non_callables() {
        assert_eq!(
            resolved("on_exit", "hook = 'os.getcwd'"),
            Err("Value must have an arity of: 1".into())
        );
        assert_eq!(resolved("on_exit", "hook = 'os.path.basename'"), Ok(1));
        assert_eq!(
            resolved("on_exit", "hook = 'nodots'"),
            Err(
                "Value 'nodots' is not import string. Format: module[.submodules...].object".into()
            )
        );
        assert_eq!(
            resolved("on_exit", "hook = 'os.nosuchthing'"),
            Err("Can not load 'nosuchthing' from 'os'".into())
        );
        assert_eq!(
            resolved("on_exit", "hook = 3"),
            Err("Value is not callable: 3".into())
        );
    }
}
