//! The embedded interpreter: fork hooks and per-worker random state, --preload versus lazy
//! import, a real `sys.executable`, no LD_LIBRARY_PATH needed, and apps from a virtualenv
//! (Flask, and a Django project importable only through `VIRTUAL_ENV`).

use crate::support::*;
use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

fn pids_of(markers: &[String], prefix: &str) -> BTreeSet<u32> {
    markers
        .iter()
        .filter_map(|m| m.strip_prefix(prefix)?.parse().ok())
        .collect()
}

#[test]
fn fork_hooks_run_and_workers_do_not_share_a_random_seed() {
    let server = Server::hello(&["--preload"], 2);
    let workers = server.worker_pids();
    // os.register_at_fork(after_in_child=…) registered at import in the master runs in each worker.
    let atfork = poll(WAIT, "an atfork marker from each worker", || {
        let pids = pids_of(&server.markers("atfork-"), "atfork-");
        (pids.len() >= 2).then_some(pids)
    });
    assert_eq!(
        atfork, workers,
        "the at-fork hook ran in exactly the workers"
    );

    // Two concurrent requests that each hold their worker for a moment land on different workers.
    let port = server.port();
    let mut first_values: BTreeMap<u32, String> = BTreeMap::new();
    for _ in 0..10 {
        let calls: Vec<_> = (0..2)
            .map(|_| std::thread::spawn(move || try_get(port, "/random?hold=0.3")))
            .collect();
        for call in calls {
            let resp = call.join().unwrap().expect("/random answered");
            let (value, pid) = resp
                .text()
                .split_once(' ')
                .map(|(v, p)| (v.to_string(), p.parse().unwrap()))
                .unwrap();
            first_values.insert(pid, value);
        }
        if first_values.len() == 2 {
            break;
        }
    }
    assert_eq!(
        first_values.len(),
        2,
        "both workers answered: {first_values:?}"
    );
    let values: BTreeSet<&String> = first_values.values().collect();
    assert_eq!(
        values.len(),
        2,
        "each worker has its own random state: {first_values:?}"
    );
}

#[test]
fn preload_imports_once_in_the_master() {
    let server = Server::hello(&["--preload"], 2);
    assert_eq!(server.get("/").status, 200);
    let imports = pids_of(&server.markers("import-"), "import-");
    assert_eq!(
        imports,
        BTreeSet::from([server.master_pid()]),
        "--preload: one import, in the master"
    );
}

#[test]
fn without_preload_each_worker_imports_the_app() {
    let server = Server::hello(&[], 2);
    let workers = server.worker_pids();
    let imports = poll(WAIT, "an import marker from each worker", || {
        let pids = pids_of(&server.markers("import-"), "import-");
        (pids.len() >= 2).then_some(pids)
    });
    assert_eq!(
        imports, workers,
        "lazy: each worker imports, the master never does"
    );
    assert!(!imports.contains(&server.master_pid()));
}

#[test]
fn sys_executable_is_a_real_python() {
    let server = Server::hello(&[], 1);
    let info = server.get("/sys").json();
    let exe = info["executable"].as_str().unwrap().to_string();
    assert!(!exe.is_empty(), "sys.executable is empty");
    assert!(
        !exe.contains("gunicorn-rs"),
        "sys.executable is the server binary: {exe}"
    );
    let out = output_of(
        std::process::Command::new(&exe).args(["-c", "import sys; print(sys.version_info[0])"]),
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "3",
        "{exe} is a Python 3 interpreter"
    );
    assert!(info["version"].as_str().unwrap().starts_with("3."));
}

#[test]
fn runs_without_ld_library_path() {
    let opts = Opts::default()
        .env_remove("LD_LIBRARY_PATH")
        .env_remove("PYTHONHOME");
    let server = Server::app_with("hello:app", &[], 1, opts);
    let env: BTreeMap<String, String> =
        std::fs::read_to_string(format!("/proc/{}/environ", server.master_pid()))
            .unwrap()
            .split('\0')
            .filter_map(|kv| {
                kv.split_once('=')
                    .map(|(k, v)| (k.to_string(), v.to_string()))
            })
            .collect();
    assert!(
        !env.contains_key("LD_LIBRARY_PATH"),
        "the test did not remove LD_LIBRARY_PATH"
    );
    assert_eq!(server.get("/").status, 200);
    let info = server.get("/sys").json();
    assert!(!info["prefix"].as_str().unwrap().is_empty());
}

/// PATH without the venv's bin, so only `VIRTUAL_ENV` can make the venv visible.
fn path_without(venv: &Path) -> String {
    std::env::var("PATH")
        .unwrap_or_default()
        .split(':')
        .filter(|p| !Path::new(p).starts_with(venv))
        .collect::<Vec<_>>()
        .join(":")
}

fn venv_opts(venv: &Path) -> Opts {
    Opts::default()
        .env("VIRTUAL_ENV", &venv.to_string_lossy())
        .env("PATH", &path_without(venv))
}

fn same_path(a: &str, b: &Path) -> bool {
    Path::new(a).canonicalize().ok().as_deref() == Some(b)
}

#[test]
fn flask_app_from_the_venv() {
    let venv = venv();
    let server = Server::app_with("flask_app:app", &[], 1, venv_opts(&venv));
    let resp = server.get("/");
    assert_eq!((resp.status, resp.text().as_str()), (200, "flask ok\n"));
    let raw = server.http(b"POST /info?x=1 HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\nContent-Length: 4\r\n\r\nbody");
    let info = parse_one(&raw, false).json();
    assert_eq!(info["method"], "POST");
    assert_eq!(info["args"]["x"], "1");
    assert_eq!(info["body"], "body");
    assert!(
        same_path(info["prefix"].as_str().unwrap(), &venv),
        "sys.prefix {} is the venv {}",
        info["prefix"],
        venv.display()
    );
}

#[test]
fn django_project_only_importable_through_the_venv() {
    let venv = venv();
    // Without the venv, Django is not importable: the server must fail to load the app...
    let apps = apps();
    let bind = format!("127.0.0.1:{}", free_port());
    let mut without = Server::spawn(
        Opts::new(&[
            "-b",
            &bind,
            "-w",
            "1",
            "--chdir",
            &apps,
            "djproj.wsgi:application",
        ])
        .env("PATH", &path_without(&venv)),
    );
    let status = without.wait_exit(WAIT);
    assert_eq!(
        status.code(),
        Some(4),
        "django must not be importable outside the venv:\n{}",
        without.log()
    );
    assert!(without.log().contains("django"), "{}", without.log());

    // ... and with VIRTUAL_ENV it serves the project's views from the venv's Django.
    let server = Server::app_with("djproj.wsgi:application", &[], 1, venv_opts(&venv));
    let resp = server.get("/");
    assert_eq!(resp.status, 200, "{}", resp.text());
    let info = resp.json();
    assert!(
        same_path(info["prefix"].as_str().unwrap(), &venv),
        "sys.prefix {} is the venv {}",
        info["prefix"],
        venv.display()
    );
    let django_file = Path::new(info["django_file"].as_str().unwrap())
        .canonicalize()
        .unwrap();
    assert!(
        django_file.starts_with(&venv),
        "django imported from {} (venv {})",
        django_file.display(),
        venv.display()
    );
    assert!(!info["executable"].as_str().unwrap().contains("gunicorn-rs"));
    let hello = server.get("/hello/world/?q=1").json();
    assert_eq!(hello["hello"], "world");
    assert_eq!(hello["q"], "1");
}
