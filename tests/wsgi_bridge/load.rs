//! Loading the app: the `module:attr` and factory forms, Gunicorn's messages for the ones
//! that fail, import tracebacks, the interpreter's `sys.executable`.

use super::*;

fn message(uri: &str) -> String {
    match load(uri) {
        Err(LoadError::Message(msg)) => msg,
        Err(LoadError::Exception(tb)) => {
            panic!("{uri}: expected a message, got traceback {tb}")
        }
        Ok(_) => panic!("{uri}: loaded"),
    }
}

fn traceback(uri: &str) -> String {
    match load(uri) {
        Err(LoadError::Exception(tb)) => tb,
        Err(LoadError::Message(msg)) => panic!("{uri}: expected a traceback, got {msg}"),
        Ok(_) => panic!("{uri}: loaded"),
    }
}

#[test]
fn app_forms() {
    for uri in [
        "wsgi_features",
        "wsgi_features:app",
        "wsgi_features:create_app()",
    ] {
        let run = get(&load(uri).unwrap(), "/probe");
        assert_eq!(body_text(&run), "onetwothree", "{uri}");
    }
    let greeter = load("wsgi_features:create_app_args('hi', times=2)").unwrap();
    assert_eq!(body_text(&get(&greeter, "/")), "hihi");
}

#[test]
fn gunicorn_messages() {
    assert_eq!(
        message("wsgi_features:missing"),
        "Failed to find attribute 'missing' in 'wsgi_features'."
    );
    assert_eq!(
        message("wsgi_features:not_callable"),
        "Application object must be callable."
    );
    assert_eq!(
        message("wsgi_features:nothing"),
        "Failed to find application object: 'nothing'"
    );
    assert_eq!(
        message("wsgi_features:a.b"),
        "Failed to parse 'a.b' as an attribute name or function call."
    );
    assert_eq!(
        message("wsgi_features:a.b()"),
        "Function reference must be a simple name: 'a.b()'"
    );
    assert_eq!(
        message("wsgi_features:create_app(x)"),
        "Failed to parse arguments as literal values: 'create_app(x)'"
    );
    assert_eq!(
        message("wsgi_features:create_app(1)"),
        "TypeError: create_app() takes 0 positional arguments but 1 was given"
    );
}

#[test]
fn import_failures_carry_the_traceback() {
    assert!(traceback("broken_app").contains("RuntimeError: broken at import"));
    assert!(traceback("no_such_module_xyz").contains("ModuleNotFoundError"));
    assert!(traceback("wsgi_features:factory_raises_type_error()").contains("len()"));
    // Run from the package root, where the file exists under this path.
    let tb = traceback("tests/apps/wsgi_features.py");
    assert!(
        tb.contains(
            "Failed to find application, did you mean 'tests/apps/wsgi_features:application'?"
        ),
        "{tb}"
    );
}

#[test]
fn describe_and_threads() {
    setup();
    assert!(
        interpreter::describe().starts_with("Python 3."),
        "{}",
        interpreter::describe()
    );
    assert!(interpreter::active_threads() >= 1);
}

#[test]
fn sys_executable_is_a_python_not_this_binary() {
    setup();
    let exe: String =
        Python::attach(|py| py.import("sys")?.getattr("executable")?.extract()).unwrap();
    let me = std::env::current_exe().unwrap();
    assert_ne!(PathBuf::from(&exe), me);
    assert!(
        PathBuf::from(&exe)
            .file_name()
            .unwrap()
            .to_string_lossy()
            .starts_with("python"),
        "{exe}"
    );
}
