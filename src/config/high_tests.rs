//! Unit tests of `high` (kept apart so the module itself stays short).

use super::*;

#[test]
fn request_limits_clamp_like_gunicorn() {
    assert_eq!(limit_request_line(0), 0);
    assert_eq!(limit_request_line(100), 100);
    assert_eq!(limit_request_line(8189), 8189);
    assert_eq!(limit_request_line(8190), 8190);
    assert_eq!(limit_request_line(100_000), 8190);
    assert_eq!(limit_request_line(-1), 8190);
    assert_eq!(limit_request_fields(0), 32768);
    assert_eq!(limit_request_fields(-5), 32768);
    assert_eq!(limit_request_fields(40_000), 32768);
    assert_eq!(limit_request_fields(32768), 32768);
    assert_eq!(limit_request_fields(10), 10);
    assert_eq!(limit_request_field_size(0), 8190);
    assert_eq!(limit_request_field_size(-1), 8190);
    assert_eq!(limit_request_field_size(20_000), 20_000);
}

#[test]
fn sendfile_env() {
    let env = |v: &str| Env::from([("SENDFILE".to_string(), v.to_string())]);
    assert!(sendfile(&Value::None, &Env::new()));
    assert!(sendfile(&Value::None, &env("Yes")));
    assert!(!sendfile(&Value::None, &env("0")));
    assert!(!sendfile(&Value::Bool(false), &env("1")));
}

#[test]
fn log_targets() {
    let chdir = Path::new("/srv");
    assert_eq!(
        log_target(Some("-"), LogTarget::Stderr, chdir),
        Some(LogTarget::Stderr)
    );
    assert_eq!(
        log_target(Some("-"), LogTarget::Stdout, chdir),
        Some(LogTarget::Stdout)
    );
    assert_eq!(
        log_target(Some("log/a.log"), LogTarget::Stdout, chdir),
        Some(LogTarget::File("/srv/log/a.log".into()))
    );
    assert_eq!(log_target(None, LogTarget::Stdout, chdir), None);
}

#[test]
fn pythonpath_is_comma_separated_relative_to_chdir() {
    let dirs = pythonpath(Some("lib, /opt/x,"), Path::new("/srv"));
    assert_eq!(dirs, [PathBuf::from("/srv/lib"), PathBuf::from("/opt/x")]);
}
