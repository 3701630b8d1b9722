//! The command line (and `GUNICORN_CMD_ARGS`, which is parsed the same way), built from the
//! settings table with clap's builder API so that it accepts what Gunicorn's argparse parser
//! accepts: every flag spelling, `--opt=value`, unambiguous long-option prefixes, repeated
//! options (last wins, or appended), options after the positional APP_MODULE.
//!
//! The result is raw: values as given (integers parsed, flags set), not yet validated.

use std::ffi::OsString;

use clap::error::ErrorKind;
use clap::parser::ValueSource;
use clap::{Arg, ArgAction, ArgMatches};

use super::settings::{DefaultValue, Kind, Setting, Support, SETTINGS};
use super::value::{parse_auto_int, parse_decimal, Value};
use super::ConfigError;

/// The program name, as in `--version` and usage lines.
pub const PROG: &str = "gunicorn-rs";
const VERSION: &str = env!("CARGO_PKG_VERSION");
const APP_MODULE: &str = "APP_MODULE";

/// What one command line asked for.
#[derive(Debug)]
pub enum Parsed {
    Help(String),
    Version(String),
    Args(Args),
}

/// The settings given on one command line, in table order, and the positional arguments.
#[derive(Debug, Default)]
pub struct Args {
    pub values: Vec<(&'static Setting, Value)>,
    /// APP_MODULE and anything after it (Gunicorn uses the first and ignores the rest).
    pub positionals: Vec<String>,
}

impl Args {
    /// The value given for `name`, if it was given.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values
            .iter()
            .find(|(s, _)| s.name == name)
            .map(|(_, v)| v)
    }
}

/// Parses `args` (the first item is the program name, as in `std::env::args_os`).
pub fn parse(args: Vec<OsString>) -> Result<Parsed, ConfigError> {
    let matches = match command().try_get_matches_from(args) {
        Ok(matches) => matches,
        Err(err) => return clap_outcome(err),
    };
    let mut values = Vec::new();
    for setting in SETTINGS.iter().filter(|s| s.is_cli()) {
        if matches.value_source(setting.name) == Some(ValueSource::CommandLine) {
            values.push((setting, given_value(setting, &matches)?));
        }
    }
    let positionals = matches
        .get_many::<String>(APP_MODULE)
        .map_or_else(Vec::new, |v| v.cloned().collect());
    Ok(Parsed::Args(Args {
        values,
        positionals,
    }))
}

fn clap_outcome(err: clap::Error) -> Result<Parsed, ConfigError> {
    match err.kind() {
        ErrorKind::DisplayHelp => Ok(Parsed::Help(err.to_string())),
        ErrorKind::DisplayVersion => Ok(Parsed::Version(format!("{PROG} (version {VERSION})\n"))),
        _ => {
            let text = err.to_string();
            let first = text.lines().next().unwrap_or("invalid arguments");
            let first = first.strip_prefix("error: ").unwrap_or(first);
            Err(ConfigError::Usage(format!(
                "{first} (usage: {PROG} [OPTIONS] [APP_MODULE]; see --help)"
            )))
        }
    }
}

/// The value a given option stands for, as argparse's `type`/`action` would produce it.
fn given_value(setting: &'static Setting, matches: &ArgMatches) -> Result<Value, ConfigError> {
    let text = || {
        matches
            .get_one::<String>(setting.name)
            .cloned()
            .unwrap_or_default()
    };
    let int = |parsed: Option<i64>, text: String| {
        parsed
            .map(Value::Int)
            .ok_or_else(|| ConfigError::InvalidValue {
                setting: setting.name.into(),
                value: text,
                reason: "invalid int value".into(),
            })
    };
    Ok(match setting.kind {
        Kind::Flag => Value::Bool(true),
        Kind::FlagFalse => Value::Bool(false),
        Kind::Int => int(parse_decimal(&text()), text())?,
        Kind::Octal => int(parse_auto_int(&text()), text())?,
        Kind::List => Value::List(
            matches
                .get_many::<String>(setting.name)
                .map_or_else(Vec::new, |v| v.cloned().collect()),
        ),
        _ => Value::Str(text()),
    })
}

/// The clap command: one argument per command-line setting, grouped by Gunicorn's sections.
pub fn command() -> clap::Command {
    let mut cmd = clap::Command::new(PROG)
        .version(VERSION)
        .about("A pre-fork HTTP server for Python WSGI apps, compatible with Gunicorn.")
        .override_usage(format!("{PROG} [OPTIONS] [APP_MODULE]"))
        .disable_version_flag(true)
        .args_override_self(true)
        .infer_long_args(true)
        .max_term_width(100)
        .after_help(config_file_only_help())
        .arg(
            Arg::new(APP_MODULE)
                .help("The WSGI app: MODULE[:VARIABLE] (VARIABLE defaults to application)")
                .num_args(0..)
                .action(ArgAction::Append)
                .value_parser(clap::value_parser!(String)),
        )
        .arg(
            Arg::new("version")
                .short('v')
                .long("version")
                .action(ArgAction::Version)
                .help("Print the version and exit"),
        );
    for setting in SETTINGS.iter().filter(|s| s.is_cli()) {
        cmd = cmd.arg(setting_arg(setting));
    }
    cmd
}

fn setting_arg(setting: &'static Setting) -> Arg {
    let mut arg = Arg::new(setting.name)
        .help_heading(setting.section)
        .help(help_line(setting));
    let mut longs = setting.flags.iter().filter_map(|f| f.strip_prefix("--"));
    if let Some(long) = longs.next() {
        arg = arg.long(long);
    }
    for alias in longs {
        arg = arg.visible_alias(alias);
    }
    if let Some(short) = setting
        .flags
        .iter()
        .find(|f| f.len() == 2)
        .and_then(|f| f.chars().nth(1))
    {
        arg = arg.short(short);
    }
    let meta = if setting.meta.is_empty() {
        "VALUE"
    } else {
        setting.meta
    };
    match setting.kind {
        Kind::Flag | Kind::FlagFalse => arg.action(ArgAction::SetTrue),
        Kind::List => arg
            .action(ArgAction::Append)
            .value_name(meta)
            .value_parser(clap::value_parser!(String)),
        Kind::ProxyProtocol => arg
            .num_args(0..=1)
            .default_missing_value("auto")
            .value_name(meta),
        Kind::Int | Kind::Octal => arg.value_name(meta).allow_negative_numbers(true),
        _ => arg.value_name(meta),
    }
    .value_parser(clap::value_parser!(String))
}

/// Gunicorn's help line, `SHORT [DEFAULT]`, marked when gunicorn-rs does not act on it yet.
fn help_line(setting: &Setting) -> String {
    let note = if setting.support == Support::NotYet {
        " (not supported yet)"
    } else {
        ""
    };
    format!("{} [{}]{note}", setting.help, default_hint(setting))
}

fn default_hint(setting: &Setting) -> String {
    match setting.default {
        DefaultValue::None => "None".into(),
        DefaultValue::Bool(b) => Value::Bool(b).to_string(),
        DefaultValue::Int(i) => i.to_string(),
        DefaultValue::Str(s) => s.into(),
        DefaultValue::List(l) => Value::List(l.iter().map(|s| s.to_string()).collect()).to_string(),
        DefaultValue::Map(m) => Value::Map(
            m.iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        )
        .to_string(),
        DefaultValue::Hook(name) => Value::Callable(name.into()).to_string(),
        DefaultValue::Port => "['127.0.0.1:8000'], or 0.0.0.0:$PORT".into(),
        DefaultValue::WebConcurrency => "1, or $WEB_CONCURRENCY".into(),
        DefaultValue::ForwardedAllowIps => "127.0.0.1,::1, or $FORWARDED_ALLOW_IPS".into(),
        DefaultValue::Cwd => ".".into(),
        DefaultValue::Euid => "the current user".into(),
        DefaultValue::Egid => "the current group".into(),
        DefaultValue::ControlSocket => {
            "one per server: $XDG_RUNTIME_DIR/gunicorn-rs/NAME-PID.sock".into()
        }
    }
}

/// The settings a config file can set but the command line cannot (hooks, dictionaries, …).
fn config_file_only_help() -> String {
    let only_in_file = || SETTINGS.iter().filter(|s| !s.is_cli());
    let mut text = String::from("Config file only (gunicorn.conf.py):\n");
    for setting in only_in_file().filter(|s| s.kind != Kind::Hook) {
        let note = if setting.support == Support::NotYet {
            " (not supported yet)"
        } else {
            ""
        };
        text.push_str(&format!("  {:<22} {}{note}\n", setting.name, setting.help));
    }
    let hooks = |support: bool| -> Vec<&str> {
        only_in_file()
            .filter(|s| s.kind == Kind::Hook && (s.support != Support::NotYet) == support)
            .map(|s| s.name)
            .collect()
    };
    text.push_str(&format!("  Server hooks: {}\n", hooks(true).join(", ")));
    text.push_str(&format!(
        "  Hooks not supported yet: {}\n",
        hooks(false).join(", ")
    ));
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Result<Parsed, ConfigError> {
        parse(
            std::iter::once(PROG)
                .chain(list.iter().copied())
                .map(OsString::from)
                .collect(),
        )
    }

    fn given(list: &[&str]) -> Args {
        match args(list) {
            Ok(Parsed::Args(a)) => a,
            other => panic!("expected settings, got {other:?}"),
        }
    }

    #[test]
    fn command_is_well_formed() {
        command().debug_assert();
    }

    #[test]
    fn help_lists_every_setting() {
        let Ok(Parsed::Help(text)) = args(&["--help"]) else {
            panic!("--help gives help")
        };
        for setting in SETTINGS {
            let shown = setting.flags.first().copied().unwrap_or(setting.name);
            assert!(text.contains(shown), "{shown} missing from --help");
        }
        assert!(text.contains("--limit-request-field_size"));
        assert!(text.contains("not supported yet"));
    }

    #[test]
    fn version() {
        let Ok(Parsed::Version(text)) = args(&["-v"]) else {
            panic!("-v gives the version")
        };
        assert_eq!(text, "gunicorn-rs (version 0.1.0)\n");
    }

    #[test]
    fn spellings_and_values() {
        let a = given(&[
            "app:wsgi",
            "-w3",
            "--bind=unix:/s",
            "-b",
            ":9",
            "--log-file",
            "-",
            "--limit-request-field_size",
            "10",
            "extra",
        ]);
        assert_eq!(a.positionals, ["app:wsgi", "extra"]);
        assert_eq!(a.get("workers"), Some(&Value::Int(3)));
        assert_eq!(
            a.get("bind"),
            Some(&Value::List(vec!["unix:/s".into(), ":9".into()]))
        );
        assert_eq!(a.get("errorlog"), Some(&Value::Str("-".into())));
        assert_eq!(a.get("limit_request_field_size"), Some(&Value::Int(10)));
        assert_eq!(a.get("timeout"), None);
    }

    #[test]
    fn last_one_wins_and_prefixes_work() {
        let a = given(&[
            "-w",
            "2",
            "--workers",
            "5",
            "--preload",
            "--preload",
            "--max-requests-j",
            "7",
        ]);
        assert_eq!(a.get("workers"), Some(&Value::Int(5)));
        assert_eq!(a.get("preload_app"), Some(&Value::Bool(true)));
        assert_eq!(a.get("max_requests_jitter"), Some(&Value::Int(7)));
    }

    #[test]
    fn special_forms() {
        let a = given(&[
            "--proxy-protocol",
            "--no-sendfile",
            "-m",
            "0022",
            "--limit-request-line",
            "-1",
        ]);
        assert_eq!(a.get("proxy_protocol"), Some(&Value::Str("auto".into())));
        assert_eq!(a.get("sendfile"), Some(&Value::Bool(false)));
        assert_eq!(a.get("umask"), Some(&Value::Int(0o22)));
        assert_eq!(a.get("limit_request_line"), Some(&Value::Int(-1)));
        assert_eq!(
            given(&["--proxy-protocol=v2"]).get("proxy_protocol"),
            Some(&Value::Str("v2".into()))
        );
    }

    #[test]
    fn errors() {
        let Err(ConfigError::Usage(msg)) = args(&["--bogus"]) else {
            panic!("unknown flag refused")
        };
        assert!(msg.contains("--bogus") && !msg.contains('\n'), "{msg}");
        let Err(ConfigError::InvalidValue { setting, value, .. }) = args(&["-w", "0x3"]) else {
            panic!("argparse int is decimal")
        };
        assert_eq!((setting.as_str(), value.as_str()), ("workers", "0x3"));
        assert!(matches!(args(&["--workers"]), Err(ConfigError::Usage(_))));
    }
}
