//! Gunicorn's request hooks and the access log's `{key}e` atoms under the event-loop kinds, as
//! Gunicorn 27's asgi worker runs them: `pre_request(worker, req)` before the app sees an HTTP
//! request, `post_request(worker, req, environ, resp)` after its response (also when the app
//! raised), a raising `pre_request` failing its request with a 500. An ASGI app (and a
//! tornado `Application`) has no environ: the hook and the log get the one Gunicorn's asgi
//! worker builds for logging (method, URIs, protocol, client, `HTTP_*`); a WSGI app under
//! tornado gets its own. The hooks are `tests/apps/hooks_conf.py`'s (see tests/hooks.rs).

use crate::hooks::HookLog;
use crate::support::*;
use serde_json::{json, Value};

/// A worker kind with an app of tests/apps: the path that answers 200 and the one that
/// raises in the app.
struct Case {
    kind: &'static str,
    app: &'static str,
    ok: &'static str,
    raises: &'static str,
}

const ASGI: Case = Case {
    kind: "asgi",
    app: "asgi_app:app",
    ok: "/pid",
    raises: "/raise",
};
const TORNADO: Case = Case {
    kind: "tornado",
    app: "tornado_app:app",
    ok: "/request",
    raises: "/raise",
};
/// A WSGI app under tornado (through its WSGI container, as Gunicorn's tornado worker).
const TORNADO_WSGI: Case = Case {
    kind: "tornado",
    app: "hello:app",
    ok: "/pid",
    raises: "/fault/raise",
};

const ACCESS_FORMAT: &str =
    "env %({PATH_INFO}e)s|%({HTTP_X_CUSTOM}e)s|%({REMOTE_ADDR}e)s|%({REQUEST_METHOD}e)s";

fn hooked(case: &Case, raise: &str) -> (Server, HookLog) {
    hooked_with(case, raise, &[])
}

fn hooked_with(case: &Case, raise: &str, extra: &[&str]) -> (Server, HookLog) {
    let log = HookLog::new();
    let conf = apps_dir().join("hooks_conf.py");
    let mut args = vec![
        "-c",
        conf.to_str().expect("utf-8 path"),
        "-k",
        case.kind,
        "--access-logfile",
        "-",
        "--access-logformat",
        ACCESS_FORMAT,
    ];
    args.extend_from_slice(extra);
    let opts = Opts::default()
        .with_venv()
        .env("HOOKS_LOG", log.path().to_str().expect("utf-8 path"))
        .env("HOOKS_RAISE", raise);
    let server = Server::app_with(case.app, &args, 1, opts);
    log.wait("post_worker_init", 1);
    (server, log)
}

macro_rules! every_case {
    ($($check:ident),* $(,)?) => {
        mod asgi { $( #[test] fn $check() { super::$check(&super::ASGI) } )* }
        mod tornado { $( #[test] fn $check() { super::$check(&super::TORNADO) } )* }
        mod tornado_wsgi { $( #[test] fn $check() { super::$check(&super::TORNADO_WSGI) } )* }
    };
}

every_case!(
    request_hooks_run_around_each_request,
    a_raising_pre_request_fails_that_request,
);

fn request_hooks_run_around_each_request(case: &Case) {
    let (server, log) = hooked(case, "");
    let worker = *server.worker_pids().iter().next().expect("a worker");
    let raw = format!(
        "GET {}?a=1 HTTP/1.1\r\nHost: example\r\nX-Custom: v\r\n\r\n",
        case.ok
    );
    let resp = server.http(raw.as_bytes());
    assert_eq!(parse_one(&resp, false).status, 200, "{}", server.log());
    let pre = &log.wait("pre_request", 1)[0];
    assert_eq!(pre["pid"], worker, "{pre}");
    assert_eq!(
        (&pre["method"], &pre["path"], &pre["query"], &pre["scheme"]),
        (
            &json!("GET"),
            &json!(case.ok),
            &json!("a=1"),
            &json!("http")
        )
    );
    assert_eq!(pre["uri"], format!("{}?a=1", case.ok));
    assert_eq!(
        pre["headers"],
        json!([["HOST", "example"], ["X-CUSTOM", "v"]])
    );
    assert_eq!(
        (&pre["nr"], &pre["peer_addr"][0]),
        (&json!(0), &json!("127.0.0.1"))
    );
    let post = &log.wait("post_request", 1)[0];
    assert_eq!(
        (
            &post["path"],
            &post["environ_path"],
            &post["environ_method"]
        ),
        (&json!(case.ok), &json!(case.ok), &json!("GET"))
    );
    assert_eq!(
        (&post["status"], &post["status_code"], &post["nr"]),
        (&json!("200 OK"), &json!(200), &json!(1))
    );
    assert!(post["sent"].as_u64().is_some_and(|n| n > 0), "{post}");
    let line = format!("env {}|v|127.0.0.1|GET", case.ok);
    assert!(server.stdout.find_from(0, &line, WAIT).is_some(), "{line}");

    // The app raises: its 500 went out, and post_request says so.
    assert_eq!(server.get(case.raises).status, 500);
    let post = &log.wait("post_request", 2)[1];
    assert_eq!(
        (&post["path"], &post["status_code"]),
        (&json!(case.raises), &json!(500))
    );
    // A header the request lacks is `-` in the line, as under every kind.
    let line = format!("env {}|-|127.0.0.1|GET", case.raises);
    assert!(server.stdout.find_from(0, &line, WAIT).is_some(), "{line}");

    // PATH_INFO is the decoded path, as in every WSGI kind's environ.
    server.get("/no%20such");
    let post = &log.wait("post_request", 3)[2];
    assert_eq!(post["environ_path"], "/no such", "{post}");
    let line = "env /no such|-|127.0.0.1|GET";
    assert!(server.stdout.find_from(0, line, WAIT).is_some(), "{line}");
}

fn a_raising_pre_request_fails_that_request(case: &Case) {
    let (server, log) = hooked(case, "pre_request");
    assert_eq!(server.get(case.ok).status, 500);
    server.wait_for(
        &format!("] [ERROR] Error handling request GET {}", case.ok),
        WAIT,
    );
    server.wait_for("RuntimeError: raised by pre_request", WAIT);
    // post_request still runs, with no response and an empty environ: the app never ran.
    let post = &log.wait("post_request", 1)[0];
    assert_eq!(
        (&post["path"], &post["status"], &post["environ_path"]),
        (&json!(case.ok), &Value::Null, &Value::Null)
    );
    // The worker goes on: the next request fails the same way, on a new connection.
    assert_eq!(server.get(case.ok).status, 500);
    log.wait("post_request", 2);
}

/// A WebSocket session is not a request to the hooks (as in Gunicorn's asgi worker); the
/// request after it is.
#[test]
fn a_websocket_session_runs_no_request_hook() {
    let (server, log) = hooked(&ASGI, "");
    let ws = crate::asgi_ws::handshake(&server, "/ws");
    drop(ws);
    assert_eq!(server.get("/pid").status, 200);
    let pre = log.wait("pre_request", 1);
    let post = log.wait("post_request", 1);
    assert_eq!((pre.len(), &pre[0]["path"]), (1, &json!("/pid")));
    assert_eq!((post.len(), &post[0]["path"]), (1, &json!("/pid")));
}

/// A request still in the app when the graceful timeout ends is cut, and post_request runs
/// for it all the same (Gunicorn's asgi worker calls it in a `finally`), with no response:
/// the worker stops waiting a tenth of the timeout before the master's kill.
#[test]
fn post_request_runs_for_a_request_the_stop_cuts() {
    let (mut server, log) = hooked_with(&ASGI, "", &["--graceful-timeout", "3"]);
    let port = server.port();
    let held = std::thread::spawn(move || try_fetch(port, "/hold?id=cut"));
    server.wait_marker("hold-cut");
    server.signal(nix::sys::signal::Signal::SIGTERM);
    assert_eq!(server.wait_exit(WAIT).code(), Some(0), "{}", server.log());
    let post = &log.wait("post_request", 1)[0];
    assert_eq!(
        (&post["path"], &post["status"], &post["sent"]),
        (&json!("/hold"), &Value::Null, &json!(0))
    );
    // The client saw its connection end without a response.
    assert!(held.join().expect("client thread").is_none());
}
