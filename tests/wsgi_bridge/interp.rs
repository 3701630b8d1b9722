//! Interpreter start-up and fork hooks, each in a fresh process (the test binary re-runs
//! itself for one `child_*` test).

use super::*;
use crate::support::BoundedOutput;
use std::process::Command;

const CHILD: &str = "GUNICORN_RS_BRIDGE_CHILD";

fn run_child(test: &str, configure: impl FnOnce(&mut Command)) -> String {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env_remove("VIRTUAL_ENV");
    configure(&mut cmd);
    let out = cmd.bounded_output();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "{test}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
        .lines()
        .filter_map(|l| l.strip_prefix("RESULT "))
        .collect::<Vec<_>>()
        .join("\n")
}

fn is_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

fn sys_facts() -> String {
    Python::attach(|py| -> PyResult<String> {
            let code = c"import sys, importlib.util as u; r = f'{sys.prefix}|{sys.executable}|{u.find_spec(\"venv_marker\") is not None}'";
            let globals = pyo3::types::PyDict::new(py);
            py.run(code, Some(&globals), None)?;
            globals.get_item("r")?.map_or(Ok(String::new()), |r| r.extract())
        })
        .unwrap()
}

#[test]
fn child_sys_facts() {
    if !is_child() {
        return;
    }
    interpreter::initialize().unwrap();
    println!("\nRESULT {}", sys_facts());
}

fn make_venv() -> PathBuf {
    setup();
    let python: String =
        Python::attach(|py| py.import("sys")?.getattr("executable")?.extract()).unwrap();
    let dir = std::env::temp_dir().join(format!("gunicorn-rs-venv-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let made = Command::new(python)
        .args(["-m", "venv", "--without-pip"])
        .arg(&dir)
        .bounded_output();
    assert!(made.status.success());
    let site = std::fs::read_dir(dir.join("lib"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
        .join("site-packages");
    std::fs::write(site.join("venv_marker.py"), "").unwrap();
    dir
}

#[test]
fn virtualenv_from_env_and_from_path() {
    let venv = make_venv();
    let expect = format!(
        "{}|{}|True",
        venv.display(),
        venv.join("bin/python").display()
    );
    let facts = run_child("wsgi_bridge::interp::child_sys_facts", |c| {
        c.env("VIRTUAL_ENV", &venv);
    });
    assert_eq!(facts, expect);
    let path = format!(
        "{}:{}",
        venv.join("bin").display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let facts = run_child("wsgi_bridge::interp::child_sys_facts", |c| {
        c.env("PATH", path);
    });
    assert_eq!(
        facts,
        format!(
            "{}|{}|True",
            venv.display(),
            venv.join("bin/python3").display()
        )
    );
    // No venv: the interpreter we were built against, never the test binary.
    let facts = run_child("wsgi_bridge::interp::child_sys_facts", |c| {
        c.env("PATH", "/usr/bin:/bin");
    });
    assert!(
        facts.ends_with("|False") && !facts.contains("integration"),
        "{facts}"
    );
    let _ = std::fs::remove_dir_all(&venv);
}

#[test]
fn child_fork_hooks() {
    if !is_child() {
        return;
    }
    interpreter::initialize().unwrap();
    let code = c"import os, random\nHITS = []\nos.register_at_fork(after_in_child=lambda: HITS.append(os.getpid()))";
    let main = Python::attach(|py| -> PyResult<Py<PyAny>> {
        py.run(code, None, None)?;
        Ok(py.import("__main__")?.unbind().into_any())
    })
    .unwrap();
    let mut values = Vec::new();
    for _ in 0..2 {
        let (read, write) = nix::unistd::pipe().unwrap();
        interpreter::before_fork();
        // SAFETY (test): the child only runs Python through the fork hooks, writes to a
        // pipe and _exits.
        match unsafe { nix::unistd::fork() }.unwrap() {
            nix::unistd::ForkResult::Child => {
                interpreter::after_fork_child();
                let line = Python::attach(|py| -> PyResult<String> {
                    let hits: Vec<i32> = main.bind(py).getattr("HITS")?.extract()?;
                    let value: f64 = py.import("random")?.call_method0("random")?.extract()?;
                    Ok(format!("{}:{value}", hits == [std::process::id() as i32]))
                })
                .unwrap_or_else(|e| e.to_string());
                let _ = nix::unistd::write(&write, line.as_bytes());
                unsafe { libc::_exit(0) };
            }
            nix::unistd::ForkResult::Parent { child } => {
                interpreter::after_fork_parent();
                drop(write);
                let mut buf = [0u8; 256];
                let n = nix::unistd::read(&read, &mut buf).unwrap();
                nix::sys::wait::waitpid(child, None).unwrap();
                values.push(String::from_utf8_lossy(&buf[..n]).into_owned());
            }
        }
    }
    // The parent can still use Python after the hooks released the GIL.
    Python::attach(|py| py.import("random").map(|_| ())).unwrap();
    println!("\nRESULT {}", values.join(" "));
}

#[test]
fn fork_hooks_run_and_reseed() {
    let out = run_child("wsgi_bridge::interp::child_fork_hooks", |_| {});
    let values: Vec<&str> = out.split(' ').collect();
    assert_eq!(values.len(), 2, "{out}");
    assert!(
        values.iter().all(|v| v.starts_with("true:")),
        "hooks did not run: {out}"
    );
    assert_ne!(values[0], values[1], "children share a random seed: {out}");
}
