//! The low stage: every setting's current value, Gunicorn's `cfg.settings`. Values are set
//! source after source, each validated as it is set, and one that gunicorn-rs does not act on
//! yet is refused here unless it equals the default. Also renders `--print-config`.

use std::path::{Path, PathBuf};

use super::settings::{self, Setting, Support, SETTINGS};
use super::value::{default_value, validate, Env, Value};
use super::ConfigError;

/// The value of every setting in [`SETTINGS`], by position.
#[derive(Debug, Clone)]
pub struct Resolved {
    values: Vec<Value>,
    defaults: Vec<Value>,
    /// The directory relative paths are resolved against (`chdir` is applied last).
    cwd: PathBuf,
}

impl Resolved {
    /// All defaults, including those Gunicorn reads from the environment.
    pub fn defaults(env: &Env, cwd: &Path) -> Result<Resolved, ConfigError> {
        let defaults = SETTINGS
            .iter()
            .map(|s| default_value(s, env, cwd).map_err(|reason| invalid(s, "(default)", reason)))
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Resolved {
            values: defaults.clone(),
            defaults,
            cwd: cwd.to_path_buf(),
        })
    }

    /// `cfg.set(name, value)`: validates and stores; refuses an unsupported non-default value.
    pub fn set(&mut self, setting: &'static Setting, value: Value) -> Result<(), ConfigError> {
        let shown = value.to_string();
        let value = validate(setting, value, &self.cwd)
            .map_err(|reason| invalid(setting, &shown, reason))?;
        let index = position(setting.name);
        if setting.support == Support::NotYet && value != self.defaults[index] {
            if setting.name == "ssl_context" {
                return Err(ConfigError::SslContext);
            }
            return Err(ConfigError::Unsupported(setting.name.into()));
        }
        self.values[index] = value;
        Ok(())
    }

    /// The current value of `name`, a declared setting.
    pub fn get(&self, name: &str) -> &Value {
        &self.values[position(name)]
    }

    /// Whether `name` still has its default value (set by nobody, or set to the default).
    pub fn is_default(&self, name: &str) -> bool {
        let index = position(name);
        self.values[index] == self.defaults[index]
    }

    /// Every setting's value by name (what the hooks' `server.cfg.NAME` reads).
    pub fn values(&self) -> Vec<(&'static str, Value)> {
        SETTINGS
            .iter()
            .map(|s| s.name)
            .zip(self.values.iter().cloned())
            .collect()
    }

    /// `--print-config`: `name = value` for every setting, sorted, names padded to one width
    /// (Gunicorn's `Config.__str__`).
    pub fn render(&self) -> String {
        let mut rows: Vec<(&str, &Value)> =
            SETTINGS.iter().map(|s| s.name).zip(&self.values).collect();
        rows.sort_by_key(|(name, _)| *name);
        let width = rows.iter().map(|(name, _)| name.len()).max().unwrap_or(0);
        let lines: Vec<String> = rows
            .iter()
            .map(|(name, value)| format!("{name:width$} = {value}"))
            .collect();
        lines.join("\n")
    }
}

fn position(name: &str) -> usize {
    SETTINGS
        .iter()
        .position(|s| s.name == name)
        .unwrap_or_else(|| panic!("{name} is declared in settings::SETTINGS"))
}

pub fn invalid(setting: &Setting, value: &str, reason: String) -> ConfigError {
    ConfigError::InvalidValue {
        setting: setting.name.into(),
        value: value.into(),
        reason,
    }
}

/// The setting called `name`; only for names declared in the table.
pub fn setting(name: &str) -> &'static Setting {
    settings::find(name).unwrap_or_else(|| panic!("{name} is declared in settings::SETTINGS"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resolved() -> Resolved {
        Resolved::defaults(&Env::new(), Path::new("/tmp")).expect("defaults are valid")
    }

    #[test]
    fn print_config_format() {
        let text = resolved().render();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), SETTINGS.len());
        assert_eq!(lines[0], "access_log_format                  = %(h)s %(l)s %(u)s %(t)s \"%(r)s\" %(s)s %(b)s \"%(f)s\" \"%(a)s\"");
        assert!(lines.contains(&"bind                               = ['127.0.0.1:8000']"));
        assert!(lines.contains(&"chdir                              = /tmp"));
        assert!(lines.contains(&"forwarded_allow_ips                = ['127.0.0.1', '::1']"));
        assert!(lines.contains(&"on_starting                        = <OnStarting.on_starting()>"));
        assert!(lines.contains(&"secure_scheme_headers              = {'X-FORWARDED-PROTOCOL': 'ssl', 'X-FORWARDED-PROTO': 'https', 'X-FORWARDED-SSL': 'on'}"));
        assert!(lines.contains(&"sendfile                           = None"));
        assert!(lines.contains(&"dogstatsd_tags                     = "));
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted);
    }

    #[test]
    fn unsupported_default_values_pass_other_values_fail() {
        let mut r = resolved();
        assert!(r.set(setting("spew"), Value::Bool(false)).is_ok());
        assert!(r.set(setting("dirty_workers"), Value::Int(0)).is_ok());
        let refused = r.set(setting("spew"), Value::Bool(true));
        assert_eq!(
            refused.map_err(|e| e.to_string()),
            Err("setting 'spew' is not supported yet by gunicorn-rs".into())
        );
        assert!(r
            .set(setting("post_fork"), Value::Callable("post_fork".into()))
            .is_ok());
        // The one hook that can never be honoured says what to use instead.
        assert!(matches!(
            r.set(setting("ssl_context"), Value::Callable("ctx".into())),
            Err(ConfigError::SslContext)
        ));
    }

    #[test]
    fn bad_values_name_the_setting() {
        let err = resolved()
            .set(setting("workers"), Value::Str("many".into()))
            .expect_err("refused");
        assert_eq!(
            err.to_string(),
            "Invalid value for workers: many: invalid literal for int() with base 0: 'many'"
        );
    }
}
