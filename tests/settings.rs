//! Settings the README lists as implemented, each seen working in a running server: `--env`,
//! `--pythonpath`, `--umask`, `--backlog`, `--reuse-port`, an `[v6]:port` bind,
//! `--capture-output`, and the forwarded/proxy allow lists with trusted and untrusted peers.

use crate::support::*;
use nix::sys::socket::{self, sockopt, AddressFamily, SockFlag, SockType, SockaddrIn};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::process::Command;

/// An app outside the apps directory, importable only through `--pythonpath`, that answers
/// with the `GREETING` variable `--env` set.
const PYTHONPATH_APP: &str = "import os\n\
def app(environ, start_response):\n    \
    body = os.environ.get('GREETING', 'unset').encode()\n    \
    start_response('200 OK', [('Content-Length', str(len(body)))])\n    \
    return [body]\n";

#[test]
fn env_and_pythonpath_reach_the_app() {
    let extra = tempfile::tempdir().unwrap();
    std::fs::write(extra.path().join("elsewhere_app.py"), PYTHONPATH_APP).unwrap();
    let path = extra.path().to_str().unwrap();
    let args = ["-e", "GREETING=hello from --env", "--pythonpath", path];
    let server = Server::app("elsewhere_app:app", &args, 1);
    assert_eq!(server.get("/").text(), "hello from --env");
}

#[test]
fn umask_sets_the_mode_of_a_unix_socket() {
    let dir = tempfile::tempdir().unwrap();
    let sock = dir.path().join("app.sock");
    let bind = format!("unix:{}", sock.display());
    let apps = apps();
    let args = ["-b", &bind, "-m", "0o027", "--chdir", &apps, "hello:app"];
    let server = Server::start(&args, &[]);
    server.wait_workers(1);
    let meta = std::fs::metadata(&sock).expect("the socket file");
    assert!(meta.file_type().is_socket());
    assert_eq!(
        meta.permissions().mode() & 0o777,
        0o750,
        "0777 less the umask 027"
    );
    let reply = http_unix(&sock, b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(parse_one(&reply, false).status, 200);
}

/// The listen queue of the listener on `port`, as `ss` shows it (Send-Q of a LISTEN socket).
fn listen_queue(port: u16) -> u32 {
    let out = output_of(Command::new("ss").args(["-Hltn", &format!("sport = :{port}")]));
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .nth(2)
        .and_then(|q| q.parse().ok())
        .unwrap_or_else(|| panic!("no listener on {port} in ss's output: {text:?}"))
}

#[test]
fn backlog_is_the_listen_queue() {
    let server = Server::hello(&["--backlog", "37"], 1);
    assert_eq!(listen_queue(server.port()), 37);
    let default = Server::hello(&[], 1);
    let queue = listen_queue(default.port());
    assert_ne!(queue, 37, "the default (2048, capped by somaxconn) differs");
}

/// Whether a socket with SO_REUSEPORT may bind the port too: only when the listener has it.
fn port_shared(port: u16) -> bool {
    let fd = socket::socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("a socket");
    socket::setsockopt(&fd, sockopt::ReusePort, &true).expect("SO_REUSEPORT");
    let addr = SockaddrIn::new(127, 0, 0, 1, port);
    // Bound, never listening: it takes no connection from the server.
    socket::bind(std::os::fd::AsRawFd::as_raw_fd(&fd), &addr).is_ok()
}

#[test]
fn reuse_port_lets_another_socket_share_the_port() {
    let shared = Server::hello(&["--reuse-port"], 1);
    assert!(port_shared(shared.port()), "--reuse-port");
    let alone = Server::hello(&[], 1);
    assert!(
        !port_shared(alone.port()),
        "without it the port is the server's alone"
    );
}

#[test]
fn an_ipv6_bind_in_brackets_serves() {
    // Containers often run without IPv6: say so rather than fail on the machine.
    if std::net::TcpListener::bind("[::1]:0").is_err() {
        return eprintln!("SKIPPED settings::an_ipv6_bind_in_brackets_serves: no [::1] here");
    }
    let apps = apps();
    let args = ["-b", "[::1]:0", "--chdir", &apps, "hello:app"];
    let server = Server::start(&args, &[]);
    server.wait_workers(1);
    let url = server.listening();
    let port: u16 = url
        .strip_prefix("http://[::1]:")
        .and_then(|p| p.parse().ok())
        .unwrap_or_else(|| panic!("an [::1] listener: {url}"));
    let mut stream = TcpStream::connect(("::1", port)).expect("connect to [::1]");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(b"GET / HTTP/1.0\r\n\r\n").unwrap();
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    assert_eq!(parse_one(&raw, false).status, 200);
}

#[test]
fn capture_output_sends_print_to_the_error_log() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("error.log");
    let log_arg = log.to_str().unwrap();
    let apps = apps();
    let args = [
        "-b",
        "127.0.0.1:0",
        "--chdir",
        &apps,
        "--capture-output",
        "--error-logfile",
        log_arg,
        "stuck_app:app",
    ];
    let mut server = Server::spawn(Opts::new(&args));
    let read = || std::fs::read_to_string(&log).unwrap_or_default();
    let port: u16 = poll(WAIT, "Listening at: in the error log", || {
        let text = read();
        let line = text.lines().find(|l| l.contains("Listening at: "))?;
        line.split("127.0.0.1:")
            .nth(1)?
            .split(' ')
            .next()?
            .parse()
            .ok()
    });
    let resp = poll(WAIT, "the app to answer", || {
        try_get(port, "/print?line=captured-by-the-log")
    });
    assert_eq!(resp.status, 200);
    poll(WAIT, "print() output in the error log", || {
        read().contains("captured-by-the-log").then_some(())
    });
    server.stop();
    let stdout = server.stdout.ended(WAIT).join("\n");
    assert!(
        !stdout.contains("captured-by-the-log"),
        "not on stdout: {stdout}"
    );
}

/// The scheme and client the app sees for a request from 127.0.0.1 that claims a proxy's
/// `X-Forwarded-*` fields.
fn seen_through_proxy(server: &Server) -> (String, String) {
    let raw = server.http(
        b"GET /env HTTP/1.1\r\nHost: x\r\nX-Forwarded-Proto: https\r\n\
          X-Forwarded-For: 203.0.113.9\r\nConnection: close\r\n\r\n",
    );
    let env = parse_one(&raw, false).json();
    let field = |k: &str| env[k].as_str().unwrap_or_default().to_string();
    (field("wsgi.url_scheme"), field("REMOTE_ADDR"))
}

#[test]
fn forwarded_fields_count_only_from_an_allowed_peer() {
    let trusted = Server::hello(&["--forwarded-allow-ips", "127.0.0.1"], 1);
    let (scheme, _) = seen_through_proxy(&trusted);
    assert_eq!(scheme, "https", "127.0.0.1 is allowed");
    let untrusted = Server::hello(&["--forwarded-allow-ips", "192.0.2.1"], 1);
    let (scheme, remote) = seen_through_proxy(&untrusted);
    assert_eq!(
        (scheme.as_str(), remote.as_str()),
        ("http", "127.0.0.1"),
        "another peer's claims are ignored"
    );
}

#[test]
fn a_proxy_header_from_a_peer_not_allowed_is_refused_with_403() {
    let proxy = b"PROXY TCP4 198.51.100.7 127.0.0.1 4000 80\r\nGET /env HTTP/1.0\r\n\r\n";
    let allowed = Server::hello(&["--proxy-protocol", "--proxy-allow-from", "127.0.0.1"], 1);
    let env = parse_one(&allowed.http(proxy), false).json();
    assert_eq!(env["REMOTE_ADDR"], "198.51.100.7", "{env}");
    let refused = Server::hello(&["--proxy-protocol", "--proxy-allow-from", "192.0.2.1"], 1);
    let resp = parse_one(&refused.http(proxy), false);
    assert_eq!((resp.status, resp.reason.as_str()), (403, "Forbidden"));
}

/// A request that sleeps `s` seconds in the server's only worker, started and seen in the app.
fn request_in_flight(server: &Server, s: u32) -> std::thread::JoinHandle<Option<Response>> {
    let worker = *server.worker_pids().iter().next().expect("a worker");
    let port = server.port();
    let slow = std::thread::spawn(move || try_get(port, &format!("/sleep?s={s}")));
    server.wait_marker(&format!("sleeping-{worker}"));
    slow
}

#[test]
fn quit_to_the_master_stops_at_once_without_waiting_for_requests() {
    let mut server = Server::hello(&["--graceful-timeout", "30"], 1);
    let workers = server.worker_pids();
    let slow = request_in_flight(&server, 30);
    let sent = std::time::Instant::now();
    server.signal(nix::sys::signal::Signal::SIGQUIT);
    let status = server.wait_exit(WAIT);
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(
        sent.elapsed() < std::time::Duration::from_secs(10),
        "quick, not the 30 s graceful timeout: {:?}",
        sent.elapsed()
    );
    server.wait_for("Handling signal: quit", WAIT);
    assert!(workers.iter().all(|&w| !is_alive(w)), "{workers:?}");
    assert!(slow.join().expect("client").is_none_or(|r| r.status != 200));
}

#[test]
fn graceful_timeout_running_out_kills_the_request_still_running() {
    let mut server = Server::hello(&["--graceful-timeout", "1"], 1);
    let worker = *server.worker_pids().iter().next().expect("a worker");
    let slow = request_in_flight(&server, 30);
    let sent = std::time::Instant::now();
    server.signal(nix::sys::signal::Signal::SIGTERM);
    let status = server.wait_exit(WAIT);
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}\n{}", server.log());
    assert!(
        took >= std::time::Duration::from_millis(900) && took < std::time::Duration::from_secs(10),
        "the 1 s graceful timeout, then the kill: {took:?}"
    );
    let line = server.wait_for(&format!("Worker (pid:{worker}) was killed (SIGKILL)"), WAIT);
    assert!(line.contains("did not stop in time"), "{line}");
    assert!(!is_alive(worker));
    assert!(slow.join().expect("client").is_none_or(|r| r.status != 200));
}

/// The read syscalls (`syscr` in /proc/PID/io) of `pid`.
fn read_calls(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("/proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("syscr: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("syscr in {io}"))
}

/// Read syscalls the worker makes to send an 8 MiB file through `wsgi.file_wrapper` (Flask's
/// `send_file`): a few with sendfile(2), one per 8 KiB block when the file is read and written.
fn reads_to_send_a_file(extra: &[&str], env: &[(&str, &str)]) -> u64 {
    let opts = env
        .iter()
        .fold(Opts::default().with_venv(), |o, (k, v)| o.env(k, v));
    let server = Server::app_with("green_app:app", extra, 1, opts);
    let worker = *server.worker_pids().iter().next().expect("a worker");
    // The first request writes the file; the second only sends it.
    assert_eq!(server.get("/file?mb=8").status, 200);
    let before = read_calls(worker);
    let resp = server.get("/file?mb=8");
    assert_eq!(resp.body.len(), 8 << 20);
    read_calls(worker) - before
}

#[test]
fn no_sendfile_and_sendfile_0_read_the_file_instead() {
    let with = reads_to_send_a_file(&[], &[]);
    assert!(with < 200, "sendfile(2) by default: {with} reads");
    let flag = reads_to_send_a_file(&["--no-sendfile"], &[]);
    assert!(flag >= 1024, "--no-sendfile: {flag} reads");
    let env = reads_to_send_a_file(&[], &[("SENDFILE", "0")]);
    assert!(env >= 1024, "SENDFILE=0: {env} reads");
}
