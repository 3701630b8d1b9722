//! A setting's value as Gunicorn holds it (the "low" stage): what its validator returns, shown
//! by `--print-config` the way Python's `str()` shows it. Here live the validators
//! (`gunicorn/config.py`'s `validate_*`), Python's integer syntaxes and the env-var defaults.
//!
//! Nothing here knows where a value came from (command line, env var, config file).

use std::collections::HashMap;
use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::allow_ips::AllowIps;
use super::settings::{DefaultValue, Kind, Setting};

/// A validated (or about to be validated) setting value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Value {
    None,
    Bool(bool),
    Int(i64),
    Str(String),
    List(Vec<String>),
    Map(Vec<(String, String)>),
    /// A callable, by its `__qualname__`.
    Callable(String),
    /// A config-file value of any other Python type, by its `repr()`; no validator takes it.
    Other(String),
}

impl Value {
    /// The value as JSON (the control socket's `show config`): lists and maps as arrays and
    /// objects, callables and other Python objects by name.
    pub fn to_json(&self) -> serde_json::Value {
        use serde_json::Value as J;
        match self {
            Value::None => J::Null,
            Value::Bool(b) => J::Bool(*b),
            Value::Int(i) => J::from(*i),
            Value::Str(s) | Value::Callable(s) | Value::Other(s) => J::String(s.clone()),
            Value::List(items) => J::Array(items.iter().cloned().map(J::String).collect()),
            Value::Map(pairs) => J::Object(
                pairs
                    .iter()
                    .map(|(k, v)| (k.clone(), J::String(v.clone())))
                    .collect(),
            ),
        }
    }
}

/// Python's `str()` of the value, as `--print-config` prints it.
impl fmt::Display for Value {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Value::None => f.write_str("None"),
            Value::Bool(true) => f.write_str("True"),
            Value::Bool(false) => f.write_str("False"),
            Value::Int(i) => write!(f, "{i}"),
            Value::Str(s) => f.write_str(s),
            Value::List(items) => {
                let items: Vec<_> = items.iter().map(|s| py_repr(s)).collect();
                write!(f, "[{}]", items.join(", "))
            }
            Value::Map(pairs) => {
                let pairs: Vec<_> = pairs
                    .iter()
                    .map(|(k, v)| format!("{}: {}", py_repr(k), py_repr(v)))
                    .collect();
                write!(f, "{{{}}}", pairs.join(", "))
            }
            Value::Callable(name) => write!(f, "<{name}()>"),
            Value::Other(repr) => f.write_str(repr),
        }
    }
}

/// Python's `repr()` of a `str`.
fn py_repr(s: &str) -> String {
    let quote = if s.contains('\'') && !s.contains('"') {
        '"'
    } else {
        '\''
    };
    let mut out = String::with_capacity(s.len() + 2);
    out.push(quote);
    for c in s.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            c if c == quote => {
                out.push('\\');
                out.push(c);
            }
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32))
            }
            c => out.push(c),
        }
    }
    out.push(quote);
    out
}

/// The environment a load sees (the process's, or a test's).
pub type Env = HashMap<String, String>;

/// A setting's default, the env-dependent ones read from `env` (Gunicorn reads `PORT`,
/// `WEB_CONCURRENCY` and `FORWARDED_ALLOW_IPS` when it declares its settings).
pub fn default_value(setting: &Setting, env: &Env, cwd: &Path) -> Result<Value, String> {
    Ok(match setting.default {
        DefaultValue::None => Value::None,
        DefaultValue::Bool(b) => Value::Bool(b),
        DefaultValue::Int(i) => Value::Int(i),
        DefaultValue::Str(s) => return validate(setting, Value::Str(s.into()), cwd),
        DefaultValue::List(l) => Value::List(l.iter().map(|s| s.to_string()).collect()),
        DefaultValue::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        ),
        DefaultValue::Hook(name) => Value::Callable(name.into()),
        DefaultValue::Port => match env.get("PORT") {
            Some(port) => Value::List(vec![format!("0.0.0.0:{port}")]),
            None => Value::List(vec!["127.0.0.1:8000".into()]),
        },
        DefaultValue::WebConcurrency => match env.get("WEB_CONCURRENCY") {
            Some(n) => Value::Int(
                parse_decimal(n).ok_or_else(|| format!("WEB_CONCURRENCY={n}: not an integer"))?,
            ),
            None => Value::Int(1),
        },
        DefaultValue::ForwardedAllowIps => {
            let ips = env
                .get("FORWARDED_ALLOW_IPS")
                .map_or("127.0.0.1,::1", String::as_str);
            return validate(setting, Value::Str(ips.into()), cwd);
        }
        DefaultValue::Cwd => Value::Str(cwd.display().to_string()),
        DefaultValue::Euid => Value::Int(i64::from(nix::unistd::geteuid().as_raw())),
        DefaultValue::Egid => Value::Int(i64::from(nix::unistd::getegid().as_raw())),
        DefaultValue::ControlSocket => Value::Str(default_control_socket(env)),
    })
}

fn default_control_socket(env: &Env) -> String {
    match env.get("XDG_RUNTIME_DIR") {
        Some(dir) if !dir.is_empty() && Path::new(dir).is_dir() => format!("{dir}/gunicorn.ctl"),
        _ => format!(
            "{}/.gunicorn/gunicorn.ctl",
            env.get("HOME").map_or("~", String::as_str)
        ),
    }
}

/// Gunicorn's validator for `setting`: checks `value` and returns it normalised (strings
/// stripped, choices lower-cased, comma lists split, paths made absolute against `cwd`).
/// The error is the reason, without the setting's name.
pub fn validate(setting: &Setting, value: Value, cwd: &Path) -> Result<Value, String> {
    match (setting.kind, value) {
        (Kind::Flag | Kind::FlagFalse, v) => validate_bool(v),
        (Kind::Int | Kind::Octal, v) => validate_pos_int(v),
        (Kind::Str, v) => validate_string(v),
        (Kind::Class, Value::Callable(path)) => Ok(Value::Str(path)),
        (Kind::Class, v) => validate_string(v),
        (Kind::Choice(words), v) => validate_choice(setting, words, v),
        (Kind::AddrList, v) => {
            let list = split_commas(validate_string(v)?);
            AllowIps::parse(&list)?;
            Ok(Value::List(list))
        }
        (Kind::StrList, v) => Ok(Value::List(split_commas(validate_string(v)?))),
        (Kind::Chdir, v) => validate_chdir(v, cwd),
        (Kind::ProxyProtocol, v) => validate_proxy_protocol(v),
        (Kind::List, v) => validate_list(v),
        (Kind::Map, v @ Value::Map(_)) => Ok(v),
        (Kind::Map, v) => Err(format!("Value is not a dictionary: {v}")),
        (Kind::Hook, v @ Value::Callable(_)) => Ok(v),
        (Kind::Hook, v) => Err(format!("Value is not callable: {v}")),
        (Kind::User, v) => validate_id(v, "user", |n| {
            nix::unistd::User::from_name(n).map(|u| u.map(|u| u.uid.as_raw()))
        }),
        (Kind::Group, v) => validate_id(v, "group", |n| {
            nix::unistd::Group::from_name(n).map(|g| g.map(|g| g.gid.as_raw()))
        }),
    }
}

fn validate_bool(value: Value) -> Result<Value, String> {
    match value {
        Value::None | Value::Bool(_) => Ok(value),
        Value::Str(s) => match s.trim().to_lowercase().as_str() {
            "true" => Ok(Value::Bool(true)),
            "false" => Ok(Value::Bool(false)),
            _ => Err(format!("Invalid boolean: {s}")),
        },
        v => Err(format!("Invalid type for casting: {v}")),
    }
}

fn validate_pos_int(value: Value) -> Result<Value, String> {
    let n = match value {
        Value::Int(n) => n,
        // Booleans are ints, in Python.
        Value::Bool(b) => i64::from(b),
        Value::Str(s) => parse_int_base0(&s)
            .ok_or_else(|| format!("invalid literal for int() with base 0: {}", py_repr(&s)))?,
        v => return Err(format!("not an integer: {v}")),
    };
    if n < 0 {
        return Err(format!("Value must be positive: {n}"));
    }
    Ok(Value::Int(n))
}

fn validate_string(value: Value) -> Result<Value, String> {
    match value {
        Value::None => Ok(Value::None),
        Value::Str(s) => Ok(Value::Str(s.trim().to_string())),
        v => Err(format!("Not a string: {v}")),
    }
}

fn validate_choice(setting: &Setting, words: &[&str], value: Value) -> Result<Value, String> {
    let Value::Str(s) = validate_string(value)? else {
        return Ok(Value::None);
    };
    let s = s.to_lowercase();
    if words.contains(&s.as_str()) {
        Ok(Value::Str(s))
    } else {
        Err(format!(
            "Invalid {}: {s} (one of: {})",
            setting.name,
            words.join(", ")
        ))
    }
}

/// `validate_string_to_list`: split on commas, dropping empty pieces, stripping the rest.
fn split_commas(value: Value) -> Vec<String> {
    match value {
        Value::Str(s) => s
            .split(',')
            .filter(|p| !p.is_empty())
            .map(|p| p.trim().to_string())
            .collect(),
        _ => Vec::new(),
    }
}

fn validate_list(value: Value) -> Result<Value, String> {
    match value {
        Value::None | Value::Bool(false) | Value::Int(0) => Ok(Value::List(Vec::new())),
        Value::Str(s) if s.is_empty() => Ok(Value::List(Vec::new())),
        // Gunicorn's "legacy syntax": one string for a one-item list.
        Value::Str(s) => Ok(Value::List(vec![s.trim().to_string()])),
        Value::List(items) => Ok(Value::List(
            items.into_iter().map(|s| s.trim().to_string()).collect(),
        )),
        v => Err(format!("Not a list of strings: {v}")),
    }
}

fn validate_chdir(value: Value, cwd: &Path) -> Result<Value, String> {
    let Value::Str(dir) = validate_string(value)? else {
        return Err("Not a string: None".into());
    };
    let path = absolute(cwd, Path::new(&dir));
    if !path.exists() {
        return Err(format!("can't chdir to {}", py_repr(&dir)));
    }
    Ok(Value::Str(path.display().to_string()))
}

fn validate_proxy_protocol(value: Value) -> Result<Value, String> {
    let mode = match value {
        Value::None => "off",
        Value::Bool(b) => {
            if b {
                "auto"
            } else {
                "off"
            }
        }
        Value::Str(s) => match s.trim().to_lowercase().as_str() {
            "false" | "off" | "0" | "none" => "off",
            "true" | "auto" | "1" => "auto",
            "v1" => "v1",
            "v2" => "v2",
            _ => return Err("proxy_protocol must be: off, v1, v2, or auto".into()),
        },
        _ => return Err("proxy_protocol must be string or bool".into()),
    };
    Ok(Value::Str(mode.into()))
}

type Lookup = fn(&str) -> nix::Result<Option<u32>>;

/// `validate_user` / `validate_group`: an id, or a name looked up in the system databases.
fn validate_id(value: Value, what: &str, lookup: Lookup) -> Result<Value, String> {
    match value {
        Value::Int(n) => Ok(Value::Int(n)),
        Value::Str(s) if !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()) => {
            parse_decimal(&s)
                .map(Value::Int)
                .ok_or_else(|| format!("No such {what}: '{s}'"))
        }
        Value::Str(s) => match lookup(&s) {
            Ok(Some(id)) => Ok(Value::Int(i64::from(id))),
            _ => Err(format!("No such {what}: '{s}'")),
        },
        // `validate_user(None)` is the effective uid (and gid for groups).
        Value::None if what == "user" => Ok(Value::Int(i64::from(nix::unistd::geteuid().as_raw()))),
        Value::None => Ok(Value::Int(i64::from(nix::unistd::getegid().as_raw()))),
        v => Err(format!("Not a {what}: {v}")),
    }
}

/// `os.path.abspath(os.path.normpath(os.path.join(cwd, path)))`.
pub fn absolute(cwd: &Path, path: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for part in cwd.join(path).components() {
        match part {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            other => out.push(other),
        }
    }
    out
}

/// Python's `int(s)`: decimal, surrounding whitespace and `_` between digits allowed. This is
/// what argparse's `type=int` accepts on the command line.
pub fn parse_decimal(s: &str) -> Option<i64> {
    let (negative, digits) = split_sign(s.trim());
    signed(negative, parse_digits(digits, 10)?)
}

/// Python's `int(s, 0)`, used for strings in a config file: `0x`/`0o`/`0b` prefixes, and no
/// leading zeros on decimals (`'0022'` is an error there).
pub fn parse_int_base0(s: &str) -> Option<i64> {
    let (negative, body) = split_sign(s.trim());
    let lower = body.to_ascii_lowercase();
    let magnitude = match lower.get(..2) {
        Some("0x") => parse_digits(strip_underscore(&lower[2..]), 16)?,
        Some("0o") => parse_digits(strip_underscore(&lower[2..]), 8)?,
        Some("0b") => parse_digits(strip_underscore(&lower[2..]), 2)?,
        _ if lower.starts_with('0') => {
            let zero = parse_digits(&lower, 10)?;
            (zero == 0).then_some(0)?
        }
        _ => parse_digits(&lower, 10)?,
    };
    signed(negative, magnitude)
}

/// Gunicorn's `auto_int` for `--umask`: `0022` is read as octal, then `int(s, 0)`.
pub fn parse_auto_int(s: &str) -> Option<i64> {
    let bytes = s.as_bytes();
    if bytes.len() >= 2 && bytes[0] == b'0' && bytes[1].is_ascii_digit() {
        return parse_int_base0(&format!("0o{}", &s[1..]));
    }
    parse_int_base0(s)
}

fn split_sign(s: &str) -> (bool, &str) {
    match s.as_bytes().first() {
        Some(b'-') => (true, &s[1..]),
        Some(b'+') => (false, &s[1..]),
        _ => (false, s),
    }
}

fn strip_underscore(s: &str) -> &str {
    s.strip_prefix('_').unwrap_or(s)
}

/// Digits of `radix`, with single underscores between them.
fn parse_digits(s: &str, radix: u32) -> Option<u64> {
    let well_formed =
        !s.is_empty() && !s.starts_with('_') && !s.ends_with('_') && !s.contains("__");
    if !well_formed || !s.chars().all(|c| c == '_' || c.is_digit(radix)) {
        return None;
    }
    let clean: String = s.chars().filter(|c| *c != '_').collect();
    u64::from_str_radix(&clean, radix).ok()
}

fn signed(negative: bool, magnitude: u64) -> Option<i64> {
    let n = i64::try_from(magnitude).ok()?;
    Some(if negative { -n } else { n })
}

/// `HOST[:PORT]` or `[V6][:PORT]` split as Gunicorn's `util.parse_address` splits it (the
/// last `:` starts the port; a bracketed IPv6 host may be followed only by `:PORT`), for
/// `--bind` and `--statsd-host` alike; `None` when the brackets are broken.
pub fn split_host_port(s: &str) -> Option<(&str, Option<&str>)> {
    if let Some(v6) = s.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        return match after.strip_prefix(':') {
            Some(port) => Some((host, Some(port))),
            None if after.is_empty() => Some((host, None)),
            None => None,
        };
    }
    match s.rsplit_once(':') {
        Some((host, port)) => Some((host, Some(port))),
        None => Some((s, None)),
    }
}

#[cfg(test)]
#[path = "value_tests.rs"]
mod tests;
