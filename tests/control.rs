//! The control socket against a real headless master (issue 4): Gunicorn 27's own `gunicornc`
//! (from the test venv, `GUNICORN_RS_TEST_VENV`), `gunicorn-rs ctl -j`, and a raw protocol client
//! for what neither sends (malformed and oversize frames, subscriptions, a client that never
//! reads, a peer of another uid). Apps: tests/apps/hello.py and stuck_app.py. `hold`, the
//! subscriptions and the socket's file have files of their own in tests/control/.

use crate::support::*;
use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::Command as Process;
use ui::protocol::{read_frame, write_frame, Push, Reply, Request, ServerMessage};

mod hold;
mod socket;
mod subscribe;

/// The path the master announced (`Control socket listening at PATH`).
pub(crate) fn socket_of(server: &Server) -> PathBuf {
    let line = server.wait_for("Control socket listening at ", WAIT);
    let path = line
        .split("Control socket listening at ")
        .nth(1)
        .expect("a path");
    PathBuf::from(path.trim())
}

/// Gunicorn 27's `gunicornc -s SOCKET -c COMMAND [-j]`: (exit code, stdout, stderr).
fn gunicornc(socket: &Path, command: &str, json: bool) -> (i32, String, String) {
    let mut cmd = Process::new(venv().join("bin").join("gunicornc"));
    cmd.arg("-s").arg(socket).arg("-c").arg(command);
    if json {
        cmd.arg("-j");
    }
    output(cmd)
}

/// `gunicorn-rs ctl -s SOCKET -j WORDS…`, parsed.
pub(crate) fn ctl_json(socket: &Path, words: &[&str]) -> serde_json::Value {
    let mut cmd = Process::new(bin());
    cmd.arg("ctl").arg("-s").arg(socket).arg("-j").args(words);
    let (code, out, err) = output(cmd);
    assert_eq!(code, 0, "ctl {words:?} failed: {out}{err}");
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ctl {words:?}: {e}: {out}"))
}

/// Runs a client (bounded) in the runtime dir of the server whose socket it names, so it
/// could find no other server even if it looked.
fn output(mut cmd: Process) -> (i32, String, String) {
    if let Some(runtime) = runtime_of(&cmd) {
        cmd.env("XDG_RUNTIME_DIR", runtime);
    }
    let out = output_of(&mut cmd);
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (
        out.status.code().unwrap_or(-1),
        text(&out.stdout),
        text(&out.stderr),
    )
}

/// The runtime dir of the server that made `-s SOCKET` (`<dir>/gunicorn-rs/NAME-PID.sock`).
fn runtime_of(cmd: &Process) -> Option<PathBuf> {
    let args: Vec<&std::ffi::OsStr> = cmd.get_args().collect();
    let socket = Path::new(args.windows(2).find(|w| w[0] == "-s")?[1]);
    let dir = socket.parent()?;
    (dir.file_name()? == "gunicorn-rs").then(|| dir.parent().map(Path::to_path_buf))?
}

/// A raw protocol client: one request at a time, pushes collected on the way.
struct Client {
    stream: UnixStream,
    next_id: u64,
}

impl Client {
    fn connect(path: &Path) -> Client {
        let stream = UnixStream::connect(path).expect("connect to the control socket");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        Client { stream, next_id: 1 }
    }

    fn send(&mut self, command: &str) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        let words: Vec<String> = command.split_whitespace().map(String::from).collect();
        let request = Request {
            id,
            command: words[0].clone(),
            args: words[1..].to_vec(),
        };
        write_frame(&mut self.stream, &request).expect("send a request");
        id
    }

    fn next(&mut self) -> ServerMessage {
        let payload = read_frame(&mut self.stream).expect("a frame from the server");
        ServerMessage::from_payload(&payload).expect("a server message")
    }

    fn reply_to(&mut self, id: u64) -> Reply {
        loop {
            if let ServerMessage::Reply(reply) = self.next() {
                assert_eq!(reply.id, id, "replies come in order");
                return reply;
            }
        }
    }

    fn call(&mut self, command: &str) -> Reply {
        let id = self.send(command);
        self.reply_to(id)
    }

    /// Pushes until `found` returns `Some`.
    fn wait_push<T>(&mut self, mut found: impl FnMut(&Push) -> Option<T>) -> T {
        loop {
            if let ServerMessage::Push(push) = self.next() {
                if let Some(hit) = found(&push) {
                    return hit;
                }
            }
        }
    }
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path).expect("stat").permissions().mode() & 0o777
}

#[test]
fn gunicornc_drives_gunicorn_rs() {
    let mut server = Server::hello(&[], 2);
    let socket = socket_of(&server);
    assert!(
        socket
            .to_string_lossy()
            .ends_with(&format!("-{}.sock", server.pid())),
        "one path per server: {}",
        socket.display()
    );
    // Under this test's own runtime dir (the harness sets XDG_RUNTIME_DIR), not the user's.
    assert_eq!(
        socket.parent(),
        Some(server.runtime_dir().join("gunicorn-rs").as_path()),
        "{}",
        socket.display()
    );
    assert_eq!(mode_of(&socket), 0o600);
    assert_eq!(mode_of(socket.parent().unwrap()), 0o700);

    let (code, out, err) = gunicornc(&socket, "show workers", false);
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("Total: 2 workers"), "{out}");
    for pid in server.worker_pids() {
        assert!(out.contains(&pid.to_string()), "worker {pid} listed: {out}");
    }
    let (code, out, _) = gunicornc(&socket, "show stats", false);
    assert_eq!(code, 0);
    assert!(out.contains("Workers current:  2"), "{out}");
    assert!(
        out.contains(&format!("PID:              {}", server.pid())),
        "{out}"
    );

    let (code, out, _) = gunicornc(&socket, "worker add 1", true);
    assert_eq!(code, 0, "{out}");
    let added: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (added["added"].as_u64(), added["total"].as_u64()),
        (Some(1), Some(3))
    );
    server.wait_live_workers(3);
    let (code, out, _) = gunicornc(&socket, "worker remove 1", false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("\"removed\": 1"), "{out}");
    server.wait_live_workers(2);

    let victim = *server.worker_pids().iter().next().unwrap();
    let (code, out, _) = gunicornc(&socket, &format!("worker kill {victim}"), false);
    assert_eq!(code, 0, "{out}");
    assert!(out.contains(&format!("\"killed\": {victim}")), "{out}");
    poll(WAIT, "the killed worker replaced", || {
        let pids = server.worker_pids();
        (!pids.contains(&victim) && pids.len() == 2).then_some(())
    });
    let (code, out, _) = gunicornc(&socket, "worker kill 1", false);
    assert_eq!(
        code, 0,
        "a Gunicorn-style failure is a reply, not an error: {out}"
    );
    assert!(out.contains("not found"), "{out}");

    let mark = server.mark();
    let (code, out, _) = gunicornc(&socket, "reload", false);
    assert_eq!((code, out.contains("reloading")), (0, true), "{out}");
    server.wait_for_from(mark, "Handling signal: hup", WAIT);
    let (code, out, _) = gunicornc(&socket, "show stats", false);
    assert_eq!(code, 0);
    assert!(out.contains("Reloads:          1"), "{out}");

    let (code, out, _) = gunicornc(&socket, "shutdown", false);
    assert_eq!((code, out.contains("shutting_down")), (0, true), "{out}");
    assert!(server.wait_exit(WAIT).success());
    assert!(!socket.exists(), "the socket file is removed on shutdown");
}

#[test]
fn ctl_shows_the_scoreboard_and_dumps_a_worker_stuck_in_c() {
    let server = Server::app(
        "stuck_app:app",
        &["--timeout", "60", "--graceful-timeout", "1"],
        1,
    );
    let socket = socket_of(&server);
    let pid = *server.worker_pids().iter().next().unwrap();
    let port = server.port();
    std::thread::spawn(move || try_get(port, "/c"));
    server.wait_marker(&format!("c-{pid}"));

    let rows = ctl_json(&socket, &["show", "workers"]);
    let row = &rows["workers"][0];
    assert_eq!(row["pid"].as_u64(), Some(u64::from(pid)), "{rows}");
    assert_eq!(row["state"], "app", "{row}");
    assert_eq!(row["request"]["method"], "GET");
    assert_eq!(row["request"]["path"], "/c");
    assert!(row["request"]["client"]
        .as_str()
        .unwrap()
        .starts_with("127.0.0.1:"));
    assert!(row["request"]["elapsed"].as_f64().unwrap() >= 0.0);
    let left = row["timeout_in"].as_f64().expect("a countdown");
    assert!(left > 0.0 && left <= 60.0, "{row}");
    assert!(row["rss_bytes"].as_u64().unwrap() > 1 << 20, "{row}");
    assert_eq!(row["slot"].as_u64(), Some(0));
    assert_eq!(
        row["kind"], "sync",
        "the worker class it was spawned as: {row}"
    );

    let stats = ctl_json(&socket, &["show", "stats"]);
    assert_eq!(
        (stats["busy"].as_u64(), stats["total"].as_u64()),
        (Some(1), Some(1)),
        "{stats}"
    );
    assert_eq!(stats["worker_class"], "sync");

    let dump = ctl_json(&socket, &["dump", &pid.to_string()]);
    let one = &dump["dumps"][0];
    let stack = one["stack"].as_str().unwrap_or_default();
    assert!(
        stack.contains("burn_in_c"),
        "the app's function in the stack: {dump}"
    );
    assert_eq!(one["request"]["path"], "/c", "{dump}");
    assert_eq!(
        (&one["kind"], one["in_flight"].as_u64()),
        (&serde_json::json!("sync"), Some(1)),
        "{dump}"
    );
}

#[test]
fn worker_restart_boots_the_replacement_before_the_old_one_stops() {
    let server = Server::hello(&[], 1);
    let socket = socket_of(&server);
    let old = *server.worker_pids().iter().next().unwrap();
    let reply = ctl_json(&socket, &["worker", "restart", &old.to_string()]);
    assert_eq!(reply["success"], true, "{reply}");
    server.wait_for(&format!("Worker exiting (pid: {old})"), WAIT);
    let new = poll(WAIT, "a new worker", || {
        server.worker_pids().into_iter().find(|&p| p != old)
    });
    let log = server.stderr.snapshot();
    let booted = log
        .iter()
        .position(|l| l.contains(&format!("Booting worker with pid: {new}")))
        .expect("the new worker booted");
    let exiting = log
        .iter()
        .position(|l| l.contains(&format!("Worker exiting (pid: {old})")))
        .expect("the old worker exited");
    assert!(booted < exiting, "new one first:\n{}", log.join("\n"));
    // "Worker exiting" is the old worker's last line; the master reaps it a moment later.
    let rows = poll(WAIT, "the old worker reaped", || {
        let rows = ctl_json(&socket, &["show", "workers"]);
        (rows["count"].as_u64() == Some(1)).then_some(rows)
    });
    assert_eq!(
        rows["workers"][0]["pid"].as_u64(),
        Some(u64::from(new)),
        "{rows}"
    );
    assert_eq!(rows["workers"][0]["booted"], true);
    assert_eq!(server.get("/").status, 200);
}

#[test]
fn malformed_and_oversize_frames_get_an_error_and_http_goes_on() {
    let server = Server::hello(&[], 1);
    let socket = socket_of(&server);
    let mut client = Client::connect(&socket);
    let garbage = b"{not json";
    client
        .stream
        .write_all(&(garbage.len() as u32).to_be_bytes())
        .unwrap();
    client.stream.write_all(garbage).unwrap();
    let reply = client.reply_to(0);
    let error = reply.result.expect_err("an error reply");
    assert!(error.starts_with("Invalid request"), "{error}");
    let reply = client.call("no such command");
    assert!(reply.result.unwrap_err().contains("Unknown command"));
    assert!(
        client.call("hello").result.is_ok(),
        "the connection still serves"
    );

    let mut big = Client::connect(&socket);
    big.stream.write_all(&u32::MAX.to_be_bytes()).unwrap();
    let error = big.reply_to(0).result.expect_err("an error reply");
    assert!(error.contains("too large"), "{error}");
    // EOF: neither a read timeout (a connection left open) nor more bytes pass.
    let mut rest = [0u8; 64];
    let end = big.stream.read(&mut rest);
    assert!(
        matches!(end, Ok(0)),
        "then the connection is closed: {end:?}"
    );

    assert_eq!(server.get("/").status, 200);
    assert!(Client::connect(&socket).call("show workers").result.is_ok());
}

#[test]
fn dump_all_answers_for_every_worker_in_one_wait() {
    let server = Server::app("stuck_app:app", &["--graceful-timeout", "1"], 3);
    let socket = socket_of(&server);
    let port = server.port();
    std::thread::spawn(move || try_get(port, "/c"));
    let stuck = poll(WAIT, "the /c request in the app", || {
        server.markers("c-").pop()
    })
    .trim_start_matches("c-")
    .to_string();
    // Every worker has its dump handler before it serves; wait until all three said so.
    poll(WAIT, "three workers ready to dump", || {
        let dump = ctl_json(&socket, &["dump", "all"]);
        let dumps = dump["dumps"].as_array().cloned().unwrap_or_default();
        (dumps.len() == 3 && dumps.iter().all(|d| d["error"].is_null())).then_some(())
    });
    // Timed on a connection opened beforehand: the figure is the master's, not a process
    // start's (which a loaded machine can stretch past any tight bound).
    let mut client = Client::connect(&socket);
    let started = std::time::Instant::now();
    let reply = client.call("dump all");
    let took = started.elapsed();
    let dump = reply.result.expect("dump all answered");
    let dumps = dump["dumps"].as_array().expect("a list");
    assert_eq!(dumps.len(), 3, "{dump}");
    let busy: Vec<&serde_json::Value> = dumps
        .iter()
        .filter(|d| {
            d["stack"]
                .as_str()
                .unwrap_or_default()
                .contains("burn_in_c")
        })
        .collect();
    assert_eq!(
        busy.len(),
        1,
        "exactly the stuck worker is in the app: {dump}"
    );
    assert_eq!(busy[0]["pid"].as_u64().map(|p| p.to_string()), Some(stuck));
    // Signalled together, settled together: below three sequential waits at the cap
    // (`DUMP_WAIT`, 500 ms each), which a dump one worker at a time would take.
    assert!(
        took < std::time::Duration::from_millis(1500),
        "dump all took {took:?}"
    );
}
