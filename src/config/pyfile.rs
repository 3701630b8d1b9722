//! The Python config file: executed as Gunicorn executes it (`gunicorn/app/base.py`,
//! `get_config_from_filename`: a module named `__config__` loaded from the file, with `__file__`
//! set), or imported (`python:MODULE`). Every module-level name that is a setting is returned,
//! converted from Python to a [`Value`]; unknown names are ignored, as in Gunicorn.
//!
//! The caller has initialised the interpreter. Python values never leave this file, and none is
//! unwrapped: a value of an unexpected type becomes [`Value::Other`] and fails validation.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyInt, PyList, PyString, PyTuple, PyType};

use super::hooks::{self, Hooks};
use super::resolved::invalid;
use super::settings::{self, Kind, Setting, Support};
use super::value::Value;
use super::ConfigError;

/// Where a config file comes from: `-c PATH`, `-c file:PATH` or `-c python:MODULE`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    File(PathBuf),
    Module(String),
}

impl Location {
    /// Reads Gunicorn's `config` syntax; relative paths are relative to `cwd`.
    pub fn parse(config: &str, cwd: &Path) -> Location {
        match config.strip_prefix("python:") {
            Some(module) => Location::Module(module.to_string()),
            None => {
                let path = config.strip_prefix("file:").unwrap_or(config);
                Location::File(cwd.join(path))
            }
        }
    }
}

/// The settings a config file sets, in the order it defines them.
pub type FileSettings = Vec<(&'static Setting, Value)>;

/// What a config file yields: its settings' values, and the hook callables among them.
pub type FileContents = (FileSettings, Hooks);

/// Executes the config file at `location` and collects its settings. `cwd` goes first on
/// `sys.path` (Gunicorn's `chdir()` puts it there before reading the file), so a config file
/// can import its neighbours and `python:MODULE` finds modules in the working directory.
pub fn read(location: &Location, cwd: &Path) -> Result<FileContents, ConfigError> {
    let shown = match location {
        Location::File(path) => {
            if !path.exists() {
                return Err(ConfigError::ConfigFile {
                    path: path.display().to_string(),
                    message: "doesn't exist".into(),
                });
            }
            path.display().to_string()
        }
        Location::Module(name) => format!("python:{name}"),
    };
    Python::attach(|py| {
        let namespace = execute(py, location, cwd).map_err(|err| ConfigError::ConfigFile {
            path: shown.clone(),
            message: one_line(py, &err),
        })?;
        settings_in(&namespace)
    })
}

fn execute<'py>(py: Python<'py>, location: &Location, cwd: &Path) -> PyResult<Bound<'py, PyDict>> {
    let sys_path = py.import("sys")?.getattr("path")?;
    let cwd = cwd.display().to_string();
    if !sys_path.contains(&cwd)? {
        sys_path.call_method1("insert", (0, cwd))?;
    }
    let module = match location {
        Location::Module(name) => py
            .import("importlib")?
            .call_method1("import_module", (name,))?,
        Location::File(path) => exec_file(py, path)?,
    };
    Ok(module.getattr("__dict__")?.cast_into::<PyDict>()?)
}

/// `importlib` the way Gunicorn uses it; a file without a `.py` extension still loads as source.
fn exec_file<'py>(py: Python<'py>, path: &Path) -> PyResult<Bound<'py, PyAny>> {
    const NAME: &str = "__config__";
    let util = py.import("importlib.util")?;
    let filename = path.display().to_string();
    let loader = py
        .import("importlib.machinery")?
        .getattr("SourceFileLoader")?
        .call1((NAME, &filename))?;
    let kwargs = PyDict::new(py);
    kwargs.set_item("loader", loader)?;
    let spec = util
        .getattr("spec_from_file_location")?
        .call((NAME, &filename), Some(&kwargs))?;
    let module = util.call_method1("module_from_spec", (&spec,))?;
    py.import("sys")?
        .getattr("modules")?
        .set_item(NAME, &module)?;
    spec.getattr("loader")?
        .call_method1("exec_module", (&module,))?;
    Ok(module)
}

/// `ExceptionType: message`, first line only.
fn one_line(py: Python<'_>, err: &PyErr) -> String {
    let kind = err
        .get_type(py)
        .name()
        .map_or_else(|_| "Exception".into(), |n| n.to_string());
    let message = err
        .value(py)
        .str()
        .map_or_else(|_| String::new(), |s| s.to_string());
    match message.lines().next() {
        Some(first) if !first.is_empty() => format!("{kind}: {first}"),
        _ => kind,
    }
}

fn settings_in(namespace: &Bound<'_, PyDict>) -> Result<FileContents, ConfigError> {
    let mut found = Vec::new();
    let mut hooks = Hooks::default();
    for (name, value) in namespace.iter() {
        let Ok(name) = name.cast_into::<PyString>() else {
            continue;
        };
        let Some(setting) = name.to_str().ok().and_then(settings::find) else {
            continue;
        };
        if setting.kind == Kind::Hook && setting.support != Support::NotYet {
            let hook = hooks::resolve(setting.name, &value)
                .map_err(|reason| invalid(setting, &hooks::show(&value), reason))?;
            let qualname = attr(hook.func.bind(value.py()), "__qualname__");
            hooks.set(setting.name, hook);
            found.push((setting, Value::Callable(qualname)));
            continue;
        }
        if setting.name == "logconfig_dict" && value.is_truthy().unwrap_or(false) {
            hooks.logconfig_dict = Some(Arc::new(value.clone().unbind()));
        }
        found.push((setting, to_value(setting, &value)));
    }
    Ok((found, hooks))
}

/// The Python value as a [`Value`]; types no validator accepts become [`Value::Other`].
fn to_value(setting: &Setting, obj: &Bound<'_, PyAny>) -> Value {
    if obj.is_none() {
        Value::None
    } else if let Ok(b) = obj.cast::<PyBool>() {
        Value::Bool(b.is_true())
    } else if obj.is_instance_of::<PyInt>() {
        obj.extract::<i64>().map_or_else(|_| other(obj), Value::Int)
    } else if let Ok(s) = obj.cast::<PyString>() {
        s.to_str()
            .map_or_else(|_| other(obj), |s| Value::Str(s.to_string()))
    } else if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        strings(obj).map_or_else(|| other(obj), Value::List)
    } else if let Ok(dict) = obj.cast::<PyDict>() {
        Value::Map(dict.iter().map(|(k, v)| (text(&k), text(&v))).collect())
    } else if setting.kind == Kind::Class && obj.is_instance_of::<PyType>() {
        Value::Callable(format!(
            "{}.{}",
            attr(obj, "__module__"),
            attr(obj, "__qualname__")
        ))
    } else if obj.is_callable() {
        Value::Callable(attr(obj, "__qualname__"))
    } else {
        other(obj)
    }
}

fn strings(seq: &Bound<'_, PyAny>) -> Option<Vec<String>> {
    let mut out = Vec::new();
    for item in seq.try_iter().ok()? {
        out.push(
            item.ok()?
                .cast::<PyString>()
                .ok()?
                .to_str()
                .ok()?
                .to_string(),
        );
    }
    Some(out)
}

fn text(obj: &Bound<'_, PyAny>) -> String {
    obj.str()
        .map_or_else(|_| String::from("?"), |s| s.to_string())
}

fn attr(obj: &Bound<'_, PyAny>, name: &str) -> String {
    obj.getattr(name)
        .map_or_else(|_| String::from("?"), |a| text(&a))
}

fn other(obj: &Bound<'_, PyAny>) -> Value {
    Value::Other(
        obj.repr()
            .map_or_else(|_| String::from("?"), |s| s.to_string()),
    )
}
