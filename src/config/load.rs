//! Gunicorn's loading order (`gunicorn/app/base.py`, `Application.load_config`), step by step:
//! parse the command line; defaults (some from the environment); the positional APP_MODULE as
//! `default_proc_name`; the config file (`-c` on the command line, else `-c` in
//! `GUNICORN_CMD_ARGS`, else `./gunicorn.conf.py` if it exists); then every option of
//! `GUNICORN_CMD_ARGS`; then every option of the command line. Each later source overrides.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use super::cli::{self, Args, Parsed, PROG};
use super::hooks::Hooks;
use super::pyfile::{self, Location};
use super::resolved::{setting, Resolved};
use super::value::{Env, Value};
use super::{high, Command, ConfigError};

/// [`super::load`] with the environment and working directory passed in (so tests need not
/// touch the process's). `cwd` is where `./gunicorn.conf.py` and relative paths are looked for.
pub fn load_from(args: Vec<OsString>, env: &Env, cwd: &Path) -> Result<Command, ConfigError> {
    let argv = match cli::parse(args)? {
        Parsed::Args(argv) => argv,
        Parsed::Help(text) => return Ok(Command::Help(text)),
        Parsed::Version(text) => return Ok(Command::Version(text)),
    };
    let env_args = match env_args(env)? {
        Parsed::Args(env_args) => env_args,
        Parsed::Help(text) => return Ok(Command::Help(text)),
        Parsed::Version(text) => return Ok(Command::Version(text)),
    };
    let mut resolved = Resolved::defaults(env, cwd)?;
    let app_uri = argv.positionals.first().cloned();
    if let Some(app) = &app_uri {
        resolved.set(setting("default_proc_name"), Value::Str(app.clone()))?;
    }
    let config_file = config_location(&argv, &env_args, cwd);
    let mut hooks = Hooks::default();
    if let Some(location) = &config_file {
        let (settings, file_hooks) = pyfile::read(location, cwd)?;
        for (setting, value) in settings {
            resolved.set(setting, value)?;
        }
        hooks = file_hooks;
    }
    for (setting, value) in env_args.values.into_iter().chain(argv.values) {
        resolved.set(setting, value)?;
    }
    let mut command = command(resolved, app_uri, config_file, env, cwd)?;
    if let Command::Serve(config) | Command::CheckConfig(config) | Command::PrintConfig(config, _) =
        &mut command
    {
        config.hooks = hooks;
    }
    Ok(command)
}

/// `GUNICORN_CMD_ARGS`, split like `shlex.split` and parsed like the command line.
fn env_args(env: &Env) -> Result<Parsed, ConfigError> {
    let Some(line) = env.get("GUNICORN_CMD_ARGS") else {
        return Ok(Parsed::Args(Args::default()));
    };
    let words = shlex::split(line).ok_or_else(|| {
        ConfigError::Usage(format!(
            "GUNICORN_CMD_ARGS: cannot split {line:?} (unbalanced quotes?)"
        ))
    })?;
    let args = std::iter::once(PROG.to_string())
        .chain(words)
        .map(OsString::from)
        .collect();
    cli::parse(args).map_err(|err| match err {
        ConfigError::Usage(message) => ConfigError::Usage(format!("GUNICORN_CMD_ARGS: {message}")),
        other => other,
    })
}

/// Which config file to read, if any.
fn config_location(argv: &Args, env_args: &Args, cwd: &Path) -> Option<Location> {
    let given = argv.get("config").or_else(|| env_args.get("config"));
    if let Some(Value::Str(config)) = given {
        return Some(Location::parse(config.trim(), cwd));
    }
    let default = cwd.join("gunicorn.conf.py");
    default.exists().then_some(Location::File(default))
}

/// The app (`--paste`, else positional, else `wsgi_app`), the `Config`, and what was asked
/// for.
fn command(
    mut resolved: Resolved,
    app_uri: Option<String>,
    file: Option<Location>,
    env: &Env,
    cwd: &Path,
) -> Result<Command, ConfigError> {
    let paste = match resolved.get("paste") {
        Value::Str(paste) if !paste.is_empty() => Some(paste.clone()),
        _ => None,
    };
    let app_uri = match (paste, app_uri, resolved.get("wsgi_app")) {
        (Some(paste), _, _) => paste_app(&mut resolved, &paste, cwd)?,
        (None, Some(app), _) => app,
        (None, None, Value::Str(app)) if !app.is_empty() => app.clone(),
        _ => return Err(ConfigError::NoApp),
    };
    let config_file = match file {
        Some(Location::File(path)) => Some(path),
        _ => None::<PathBuf>,
    };
    let config = Box::new(high::config(&resolved, app_uri, config_file, env)?);
    Ok(if resolved.get("print_config") == &Value::Bool(true) {
        Command::PrintConfig(config, resolved.render())
    } else if resolved.get("check_config") == &Value::Bool(true) {
        Command::CheckConfig(config)
    } else {
        Command::Serve(config)
    })
}

#[cfg(test)]
#[path = "load_tests.rs"]
mod tests;

/// `--paste PATH[#SECTION]` as Gunicorn's `WSGIApplication.init` takes it (the positional
/// APP is then ignored): the path made absolute and checked, the processes named after the
/// file, and the file's own logging configuration used when it has a `[loggers]` section and
/// no other was given. The app's URI: the absolute path, with its `#section`.
fn paste_app(resolved: &mut Resolved, paste: &str, cwd: &Path) -> Result<String, ConfigError> {
    let uri = cwd.join(paste).to_string_lossy().into_owned();
    let file = uri.split('#').next().unwrap_or_default().to_string();
    let Ok(text) = std::fs::read(&file) else {
        return Err(ConfigError::PasteNotFound(file));
    };
    resolved.set(setting("default_proc_name"), Value::Str(file.clone()))?;
    // configparser takes a line, stripped, that is `[name]` as a section's header.
    let has_loggers = String::from_utf8_lossy(&text)
        .lines()
        .any(|line| line.trim() == "[loggers]");
    if has_loggers && resolved.get("logconfig") == &Value::None {
        resolved.set(setting("logconfig"), Value::Str(file))?;
    }
    Ok(uri)
}
