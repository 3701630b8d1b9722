//! Unit tests of `value` (kept apart so the module itself stays short).

use super::*;
use crate::config::settings::find;

fn setting(name: &str) -> &'static Setting {
    find(name).expect("declared setting")
}

#[test]
fn integers_like_python() {
    assert_eq!(parse_decimal(" 12 "), Some(12));
    assert_eq!(parse_decimal("007"), Some(7));
    assert_eq!(parse_decimal("1_000"), Some(1000));
    assert_eq!(parse_decimal("-3"), Some(-3));
    assert_eq!(parse_decimal("0x10"), None);
    assert_eq!(parse_decimal("1__0"), None);
    assert_eq!(parse_decimal(""), None);
    assert_eq!(parse_int_base0("0x1F"), Some(31));
    assert_eq!(parse_int_base0("0o22"), Some(18));
    assert_eq!(parse_int_base0("0b101"), Some(5));
    assert_eq!(parse_int_base0("0022"), None);
    assert_eq!(parse_int_base0("00"), Some(0));
    assert_eq!(parse_int_base0("18"), Some(18));
}

#[test]
fn umask_octal_forms() {
    assert_eq!(parse_auto_int("0022"), Some(0o22));
    assert_eq!(parse_auto_int("022"), Some(0o22));
    assert_eq!(parse_auto_int("0o22"), Some(0o22));
    assert_eq!(parse_auto_int("0x12"), Some(0x12));
    assert_eq!(parse_auto_int("18"), Some(18));
    assert_eq!(parse_auto_int("0"), Some(0));
    assert_eq!(parse_auto_int("08"), None);
}

#[test]
fn python_str_of_values() {
    assert_eq!(
        Value::List(vec!["127.0.0.1:8000".into()]).to_string(),
        "['127.0.0.1:8000']"
    );
    assert_eq!(Value::List(vec!["it's".into()]).to_string(), "[\"it's\"]");
    assert_eq!(
        Value::Map(vec![("A".into(), "b".into())]).to_string(),
        "{'A': 'b'}"
    );
    assert_eq!(
        Value::Callable("OnExit.on_exit".into()).to_string(),
        "<OnExit.on_exit()>"
    );
    assert_eq!(Value::Bool(false).to_string(), "False");
    assert_eq!(Value::None.to_string(), "None");
}

#[test]
fn validators() {
    let cwd = Path::new("/");
    let check = |name: &str, v: Value| validate(setting(name), v, cwd);
    assert_eq!(
        check("reload", Value::Str(" TRUE ".into())),
        Ok(Value::Bool(true))
    );
    assert!(check("reload", Value::Str("yes".into())).is_err());
    assert_eq!(
        check("workers", Value::Str("0x3".into())),
        Ok(Value::Int(3))
    );
    assert_eq!(
        check("workers", Value::Int(-1)),
        Err("Value must be positive: -1".into())
    );
    assert_eq!(
        check("header_map", Value::Str("Refuse".into())),
        Ok(Value::Str("refuse".into()))
    );
    assert!(check("header_map", Value::Str("keep".into())).is_err());
    assert_eq!(
        check("proxy_protocol", Value::Str("true".into())),
        Ok(Value::Str("auto".into()))
    );
    assert_eq!(
        check("proxy_protocol", Value::Bool(false)),
        Ok(Value::Str("off".into()))
    );
    assert_eq!(
        check("bind", Value::Str("unix:/x".into())),
        Ok(Value::List(vec!["unix:/x".into()]))
    );
    assert_eq!(
        check("forwarder_headers", Value::Str("A, B,".into())),
        Ok(Value::List(vec!["A".into(), "B".into()]))
    );
    assert!(check("forwarded_allow_ips", Value::Str("10.0.0.1/8".into())).is_err());
    assert_eq!(
        check("chdir", Value::Str("/tmp/../".into())),
        Ok(Value::Str("/".into()))
    );
    assert!(check("chdir", Value::Str("/no/such/dir".into())).is_err());
    assert!(check("secure_scheme_headers", Value::Str("x".into())).is_err());
}

#[test]
fn env_defaults() {
    let env: Env = [
        ("PORT", "5000"),
        ("WEB_CONCURRENCY", "4"),
        ("FORWARDED_ALLOW_IPS", "*"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let cwd = Path::new("/");
    let default = |name: &str| default_value(setting(name), &env, cwd);
    assert_eq!(
        default("bind"),
        Ok(Value::List(vec!["0.0.0.0:5000".into()]))
    );
    assert_eq!(default("workers"), Ok(Value::Int(4)));
    assert_eq!(
        default("forwarded_allow_ips"),
        Ok(Value::List(vec!["*".into()]))
    );
    let none = Env::new();
    assert_eq!(
        default_value(setting("bind"), &none, cwd),
        Ok(Value::List(vec!["127.0.0.1:8000".into()]))
    );
    let bad: Env = [("WEB_CONCURRENCY".to_string(), "many".to_string())]
        .into_iter()
        .collect();
    assert!(default_value(setting("workers"), &bad, cwd).is_err());
}
