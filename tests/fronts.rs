//! The fronts of issue 10 as real programs: nginx and HAProxy started as children of the test,
//! each in its own temp dir (config, pid file, temp paths, logs to stderr), on ports picked by
//! binding port 0, and stopped by pid when the test ends. A missing program fails the test
//! with one line saying what to install: CI installs them (`.ci/run`), and a front that is
//! silently skipped proves nothing.

use crate::support::{free_port, poll, BoundedOutput, Lines, Opts, Server, WAIT};
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The stock `uwsgi_params` of nginx (as Debian ships it), written beside each nginx config so
/// `include uwsgi_params;` means the same thing on every machine.
const UWSGI_PARAMS: &str = "uwsgi_param QUERY_STRING $query_string;
uwsgi_param REQUEST_METHOD $request_method;
uwsgi_param CONTENT_TYPE $content_type;
uwsgi_param CONTENT_LENGTH $content_length;
uwsgi_param REQUEST_URI $request_uri;
uwsgi_param PATH_INFO $document_uri;
uwsgi_param DOCUMENT_ROOT $document_root;
uwsgi_param SERVER_PROTOCOL $server_protocol;
uwsgi_param REQUEST_SCHEME $scheme;
uwsgi_param HTTPS $https if_not_empty;
uwsgi_param REMOTE_ADDR $remote_addr;
uwsgi_param REMOTE_PORT $remote_port;
uwsgi_param SERVER_PORT $server_port;
uwsgi_param SERVER_NAME $server_name;
";

/// The full path of `program`, or a failed test saying how to get it.
pub fn require(program: &str) -> PathBuf {
    let path = std::env::var("PATH").unwrap_or_default();
    // nginx and haproxy live in sbin, which a non-root PATH may lack.
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/usr/local/sbin", "/sbin"])
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file());
    found.unwrap_or_else(|| {
        panic!("{program} is not installed: apt-get install {program} (.ci/run installs it)")
    })
}

/// A running front: its stderr (nginx's error log, also in `error.log` in its dir; HAProxy's
/// warnings) and its temp dir (config, pid file, temp paths), removed when it stops.
pub struct Front {
    child: Child,
    pub stderr: Arc<Lines>,
    _dir: tempfile::TempDir,
}

impl Front {
    fn spawn(cmd: &mut Command, dir: tempfile::TempDir) -> Front {
        // SAFETY: prctl(2) is async-signal-safe and touches only the child being made. The
        // front gets TERM if the test's thread dies without dropping it (a panic that aborts,
        // a killed test binary), so no nginx outlives the test.
        unsafe {
            cmd.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM);
                Ok(())
            });
        }
        // A group of its own: nginx's worker goes with its master even if the master is
        // KILLed (drop's last resort).
        cmd.process_group(0);
        let mut child = cmd
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn the front");
        let stderr = Lines::spawn(child.stderr.take().expect("piped stderr"));
        Front {
            child,
            stderr,
            _dir: dir,
        }
    }

    /// nginx with `http` inside its `http {}` block (the servers: their `listen` ports are
    /// the test's, from [`port`]).
    pub fn nginx(http: &str) -> Front {
        let nginx = require("nginx");
        let dir = temp_dir("nginx");
        let d = dir.path().display();
        // As root, workers would become `nobody` and could not reach sockets and temp files
        // in the test's private dirs.
        let user = match nix::unistd::geteuid().is_root() {
            true => "user root;",
            false => "",
        };
        let conf = format!(
            "daemon off;\nworker_processes 1;\n{user}\npid {d}/nginx.pid;\nerror_log stderr notice;\nerror_log {d}/error.log notice;\n\
             events {{ worker_connections 512; }}\n\
             http {{\n  access_log off;\n  client_body_temp_path {d}/body;\n  proxy_temp_path {d}/proxy;\n\
             \x20 fastcgi_temp_path {d}/fastcgi;\n  uwsgi_temp_path {d}/uwsgi;\n  scgi_temp_path {d}/scgi;\n\
             {http}\n}}\n"
        );
        std::fs::write(dir.path().join("nginx.conf"), conf).expect("write nginx.conf");
        std::fs::write(dir.path().join("uwsgi_params"), UWSGI_PARAMS).expect("uwsgi_params");
        let conf = dir.path().join("nginx.conf");
        let mut cmd = Command::new(nginx);
        cmd.arg("-e")
            .arg("stderr")
            .arg("-p")
            .arg(dir.path())
            .arg("-c")
            .arg(&conf);
        let front = Front::spawn(&mut cmd, dir);
        // The master binds every listener before it starts its worker.
        front.wait_for("start worker process");
        front
    }

    /// HAProxy with `sections` (frontends, backends) after a global and defaults section;
    /// ready once it accepts on `port`.
    pub fn haproxy(port: u16, sections: &str) -> Front {
        let haproxy = require("haproxy");
        let dir = temp_dir("haproxy");
        let d = dir.path().display();
        let conf = format!(
            "global\n    pidfile {d}/haproxy.pid\n\ndefaults\n    mode http\n    timeout connect 5s\n\
             \x20   timeout client 30s\n    timeout server 30s\n\n{sections}\n"
        );
        let path = dir.path().join("haproxy.cfg");
        std::fs::write(&path, conf).expect("write haproxy.cfg");
        let mut cmd = Command::new(haproxy);
        cmd.arg("-db").arg("-f").arg(&path);
        let mut front = Front::spawn(&mut cmd, dir);
        // HAProxy says nothing when it is ready: its listener accepting is the event.
        poll(WAIT, "haproxy to listen", || {
            assert!(
                front.child.try_wait().ok().flatten().is_none(),
                "haproxy exited: {}",
                front.stderr.text()
            );
            TcpStream::connect(("127.0.0.1", port)).ok()
        });
        front
    }

    fn wait_for(&self, pattern: &str) {
        if self.stderr.find_from(0, pattern, WAIT).is_none() {
            panic!(
                "the front never logged {pattern:?}; its stderr:\n{}",
                self.stderr.text()
            );
        }
    }
}

impl Drop for Front {
    /// TERM (nginx: fast shutdown, its workers with it; HAProxy: stop), then KILL if need be.
    fn drop(&mut self) {
        let pid = Pid::from_raw(self.child.id() as i32);
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = kill(pid, Signal::SIGTERM);
            let deadline = Instant::now() + Duration::from_secs(10);
            while self.child.try_wait().ok().flatten().is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(20));
            }
            let _ = nix::sys::signal::killpg(pid, Signal::SIGKILL);
            let _ = self.child.wait();
        }
    }
}

fn temp_dir(what: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(&format!("gunicorn-rs-{what}-"))
        .tempdir()
        .expect("temp dir")
}

/// `fronts_app:app` on 127.0.0.1:0 (gthread unless `extra` says otherwise).
pub fn upstream(extra: &[&str]) -> Server {
    let mut args = vec!["-k", "gthread", "--threads", "4", "--access-logfile", "-"];
    args.extend_from_slice(extra);
    Server::app_with("fronts_app:app", &args, 1, Opts::default())
}

/// The requests the app was called for, one line each (`METHOD RAW_URI BODY_LEN`).
pub fn requests_seen(server: &Server) -> Vec<String> {
    server
        .marker("requests")
        .unwrap_or_default()
        .lines()
        .map(String::from)
        .collect()
}

/// A self-signed certificate for `localhost` and 127.0.0.1, made now with `openssl req`:
/// (certificate, key) paths in `dir`.
pub fn test_certificate(dir: &Path) -> (PathBuf, PathBuf) {
    let (cert, key) = (dir.join("cert.pem"), dir.join("key.pem"));
    let out = Command::new(require("openssl"))
        .args([
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        ])
        .args(["-subj", "/CN=localhost"])
        .args(["-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
        .arg("-keyout")
        .arg(&key)
        .arg("-out")
        .arg(&cert)
        .bounded_output();
    assert!(
        out.status.success(),
        "openssl req: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    (cert, key)
}

/// `curl` with `args`: (HTTP status, body). Fails the test if curl itself fails.
pub fn curl(args: &[&str]) -> (u16, String) {
    let out = Command::new(require("curl"))
        .args(["-sS", "--max-time", "15", "-w", "\n%{http_code}"])
        .args(args)
        .bounded_output();
    assert!(
        out.status.success(),
        "curl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, code) = text.rsplit_once('\n').expect("curl's status line");
    (code.parse().expect("status code"), body.to_string())
}

/// Sends `raw` (which says `Connection: close`) to the front on one connection and returns
/// all it answered until it closed. No half-close: nginx takes one for a client gone.
pub fn exchange(port: u16, raw: &[u8]) -> String {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the front");
    stream
        .set_read_timeout(Some(crate::support::IO_TIMEOUT))
        .unwrap();
    stream.write_all(raw).expect("send");
    let mut out = Vec::new();
    let _ = stream.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

/// A port for a front to listen on.
pub fn port() -> u16 {
    free_port()
}

/// Requests that try to hide a second request from the front (reliability.md §3): CL+TE,
/// obfuscated Transfer-Encodings, and a request carried in a body. Each ends with the hidden
/// `GET /smuggled`; the outer request says `Connection: close`, so the front forwards at most
/// what it reads as one request, and the client reads until the front closes.
pub fn smuggling_attempts() -> Vec<(&'static str, Vec<u8>)> {
    let hidden = "GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n";
    let chunked_then = format!("0\r\n\r\n{hidden}");
    let te = |field: &str| {
        format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n{field}\r\n\r\n{chunked_then}",
            chunked_then.len()
        )
    };
    vec![
        ("CL+TE", te("Transfer-Encoding: chunked")),
        ("TE, CL", format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n{chunked_then}"
        )),
        ("TE with a space before the colon", te("Transfer-Encoding : chunked")),
        ("TE with a tab", te("Transfer-Encoding:\tchunked")),
        ("TE xchunked", te("Transfer-Encoding: xchunked")),
        ("TE chunked, identity", te("Transfer-Encoding: chunked, identity")),
        ("two TE fields", te("Transfer-Encoding: chunked\r\nTransfer-Encoding: identity")),
        ("TE in another case", te("transfer-encoding: CHUNKED")),
        ("a request in the body", format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{hidden}",
            hidden.len()
        )),
        ("chunk size with an extension and LF", format!(
            "POST /a HTTP/1.1\r\nHost: x\r\nConnection: close\r\nTransfer-Encoding: chunked\r\n\r\n{:x};x\n{hidden}\r\n0\r\n\r\n",
            hidden.len()
        )),
    ]
    .into_iter()
    .map(|(name, raw)| (name, raw.into_bytes()))
    .collect()
}

/// Sends every smuggling attempt through the front on port `port`, then one plain request, and
/// checks that the app was called exactly as often as the client got an answer of the app,
/// that `/smuggled` never reached it unless the front answered it as a request of its own,
/// and that the last plain request got its own answer (no response left behind by a hidden
/// request on a kept-alive upstream connection).
pub fn smuggling_never_reaches_the_app(port: u16, app: &Server) {
    let mut answered = 0;
    let mut smuggled_answers = 0;
    for (name, raw) in smuggling_attempts() {
        let reply = exchange(port, &raw);
        let answers = reply.matches("\"REQUEST_METHOD\"").count();
        answered += answers;
        smuggled_answers += reply.matches("\"RAW_URI\": \"/smuggled\"").count();
        let seen = requests_seen(app);
        assert_eq!(
            seen.len(),
            answered,
            "{name}: the app saw {seen:?}; the client got:\n{reply}"
        );
    }
    let last = exchange(
        port,
        b"GET /final HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
    );
    assert!(
        last.contains("\"RAW_URI\": \"/final\""),
        "the last request's own answer: {last}"
    );
    let seen = requests_seen(app);
    assert_eq!(seen.len(), answered + 1, "{seen:?}");
    let smuggled = seen.iter().filter(|l| l.contains("/smuggled")).count();
    assert_eq!(smuggled, smuggled_answers, "{seen:?}");
}

/// A connection to 127.0.0.1:`port` from 127.0.0.2, so the client's address differs from the
/// front's (both on loopback): an app that sees 127.0.0.2 was told it by the front.
pub fn connect_from_127_0_0_2(port: u16) -> TcpStream {
    use nix::sys::socket::{bind, connect, socket, AddressFamily, SockFlag, SockType, SockaddrIn};
    use std::os::fd::AsRawFd;
    let fd = socket(
        AddressFamily::Inet,
        SockType::Stream,
        SockFlag::SOCK_CLOEXEC,
        None,
    )
    .expect("socket");
    bind(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 2, 0)).expect("bind 127.0.0.2");
    connect(fd.as_raw_fd(), &SockaddrIn::new(127, 0, 0, 1, port)).expect("connect to the front");
    TcpStream::from(fd)
}
