//! `--log-syslog` against a real syslog daemon: Debian's rsyslogd, run by each test as its own
//! process with a generated config (imuxsock on a socket in a temp dir, imudp on a free port),
//! writing what it received to a temp file through a template that shows the facility and
//! severity numbers, the program name and the message.

use crate::support::*;
use nix::sys::signal::{kill, Signal};
use nix::unistd::Pid;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

/// One received message, as the template writes it.
#[derive(Debug)]
struct Received {
    facility: u8,
    severity: u8,
    program: String,
    message: String,
}

struct Rsyslog {
    child: Child,
    dir: tempfile::TempDir,
}

impl Rsyslog {
    /// rsyslogd listening on `DIR/log.sock` and, with `udp`, on that 127.0.0.1 port.
    fn start(udp: Option<u16>) -> Rsyslog {
        let dir = tempfile::Builder::new()
            .prefix("gunicorn-rs-syslog-")
            .tempdir()
            .expect("temp dir");
        let d = dir.path().display();
        let udp_input = udp.map_or(String::new(), |port| {
            format!(
                "module(load=\"imudp\")\ninput(type=\"imudp\" address=\"127.0.0.1\" port=\"{port}\")\n"
            )
        });
        let conf = format!(
            r#"global(workDirectory="{d}")
module(load="imuxsock" SysSock.Use="off")
input(type="imuxsock" Socket="{d}/log.sock" CreatePath="on" RateLimit.Interval="0")
{udp_input}template(name="fields" type="string" string="%syslogfacility%|%syslogseverity%|%programname%|%msg%\n")
*.* action(type="omfile" file="{d}/received.log" template="fields")
"#
        );
        std::fs::write(dir.path().join("rsyslog.conf"), conf).expect("write rsyslog.conf");
        let child = Command::new("rsyslogd")
            .args(["-n", "-i"])
            .arg(dir.path().join("rsyslogd.pid"))
            .arg("-f")
            .arg(dir.path().join("rsyslog.conf"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("rsyslogd is installed (Debian's rsyslog package)");
        let syslog = Rsyslog { child, dir };
        poll(WAIT, "rsyslogd's unix socket", || {
            syslog.socket().exists().then_some(())
        });
        if let Some(port) = udp {
            poll(WAIT, "rsyslogd's UDP port", || {
                udp_bound(port).then_some(())
            });
        }
        syslog
    }

    fn socket(&self) -> PathBuf {
        self.dir.path().join("log.sock")
    }

    fn received(&self) -> Vec<Received> {
        let text =
            std::fs::read_to_string(self.dir.path().join("received.log")).unwrap_or_default();
        text.lines()
            .filter_map(|l| {
                let mut parts = l.splitn(4, '|');
                Some(Received {
                    facility: parts.next()?.parse().ok()?,
                    severity: parts.next()?.parse().ok()?,
                    program: parts.next()?.to_string(),
                    message: parts.next()?.trim_start().to_string(),
                })
            })
            .collect()
    }

    /// Waits for a message containing `text`.
    fn wait_for(&self, text: &str) -> Received {
        poll(
            WAIT,
            &format!("a syslog message containing {text:?}"),
            || {
                self.received()
                    .into_iter()
                    .find(|r| r.message.contains(text))
            },
        )
    }
}

impl Drop for Rsyslog {
    fn drop(&mut self) {
        let _ = kill(Pid::from_raw(self.child.id() as i32), Signal::SIGKILL);
        let _ = self.child.wait();
    }
}

/// Is a UDP socket bound to 127.0.0.1:`port` (rsyslogd's imudp)? From /proc/net/udp.
fn udp_bound(port: u16) -> bool {
    let needle = format!("0100007F:{port:04X}");
    std::fs::read_to_string("/proc/net/udp").is_ok_and(|t| t.contains(&needle))
}

/// A UDP port free right now (the kernel's choice for port 0), for rsyslogd to bind.
fn free_udp_port() -> u16 {
    let socket = std::net::UdpSocket::bind("127.0.0.1:0").expect("bind udp");
    socket.local_addr().expect("local addr").port()
}

fn serve(kind: &str, app: &str, extra: &[&str]) -> Server {
    let mut args = vec!["-k", kind, "--threads", "2", "--log-syslog"];
    args.extend_from_slice(extra);
    Server::app(app, &args, 1)
}

fn check_unix(kind: &str, app: &str, to: &str) {
    let syslog = Rsyslog::start(None);
    let to = format!("unix://{}{to}", syslog.socket().display());
    let mut server = serve(
        kind,
        app,
        &[
            "--log-syslog-to",
            &to,
            "--log-syslog-facility",
            "LOCAL3",
            "--log-syslog-prefix",
            "shop",
        ],
    );
    let worker = *server.worker_pids().iter().next().expect("a worker");
    let ua = "ua \"q\"";
    let raw = server.http(
        format!("GET /?x=1 HTTP/1.1\r\nHost: h\r\nUser-Agent: {ua}\r\nConnection: close\r\n\r\n")
            .as_bytes(),
    );
    assert!(raw.starts_with(b"HTTP/1.1 200"));
    assert_eq!(server.get("/raise").status, 500);

    let booting = syslog.wait_for(&format!("Booting worker with pid: {worker}"));
    assert_eq!(
        (booting.facility, booting.severity, booting.program.as_str()),
        (19, 6, "gunicorn.shop.error")
    );
    assert_eq!(
        booting.message,
        format!("[{worker}] Booting worker with pid: {worker}")
    );
    let master = server.master_pid();
    let listening = syslog.wait_for("Listening at: ");
    assert!(listening
        .message
        .starts_with(&format!("[{master}] Listening at: http://127.0.0.1:")));
    // Access lines go to syslog by default, at INFO, in access_log_format.
    let access = syslog.wait_for("\"GET /?x=1 HTTP/1.1\" 200 5");
    assert_eq!(
        (access.facility, access.severity, access.program.as_str()),
        (19, 6, "gunicorn.shop.access")
    );
    assert!(
        access
            .message
            .starts_with(&format!("[{worker}] 127.0.0.1 - - [")),
        "{access:?}"
    );
    assert!(
        access.message.ends_with("\"-\" \"ua \\\"q\\\"\""),
        "{access:?}"
    );
    // An error with its traceback: one message, at ERROR.
    let error = syslog.wait_for("Traceback (most recent call last)");
    assert_eq!(error.severity, 3, "{error:?}");
    assert!(error.message.contains("Boom: bad"), "{error:?}");
    // The error log itself is still written.
    server.wait_for("Booting worker with pid:", WAIT);
    server.stop();
}

#[test]
fn sync_to_a_unix_datagram_socket() {
    check_unix("sync", "log_app:app", "#dgram");
}

/// Without `#dgram`, Gunicorn's rule: a datagram socket first, then a stream socket.
#[test]
fn asgi_to_a_unix_socket_of_either_type() {
    check_unix("asgi", "log_app:asgi", "");
}

/// UDP with the defaults: facility `user`, the program name from the app (`proc_name` with
/// `.` for `:`); no access lines with `--disable-redirect-access-to-syslog`.
#[test]
fn gthread_over_udp_with_defaults() {
    let port = free_udp_port();
    let syslog = Rsyslog::start(Some(port));
    let mut server = serve(
        "gthread",
        "log_app:app",
        &[
            "--log-syslog-to",
            &format!("udp://127.0.0.1:{port}"),
            "--disable-redirect-access-to-syslog",
            "--access-logfile",
            "-",
        ],
    );
    assert_eq!(server.get("/marker-request").status, 200);
    let booting = syslog.wait_for("Booting worker with pid:");
    assert_eq!(
        (booting.facility, booting.severity, booting.program.as_str()),
        (1, 6, "gunicorn.log_app.app.error")
    );
    server
        .stdout
        .find_from(0, "GET /marker-request", WAIT)
        .expect("the access line on stdout");
    // A later error record is there, and still no access line came before it.
    assert_eq!(server.get("/raise").status, 500);
    let error = syslog.wait_for("Traceback (most recent call last)");
    assert_eq!((error.facility, error.severity), (1, 3), "{error:?}");
    server.stop();
    assert!(
        !syslog
            .received()
            .iter()
            .any(|r| r.program.ends_with(".access")),
        "{:?}",
        syslog.received()
    );
}

fn refused(args: &[&str]) -> String {
    let mut all = vec!["--log-syslog"];
    all.extend_from_slice(args);
    let apps = apps();
    all.extend_from_slice(&["-b", "127.0.0.1:0", "--chdir", &apps, "log_app:app"]);
    let (status, _, err) = run(Opts::new(&all));
    assert_eq!(status.code(), Some(1), "{err}");
    assert!(!err.contains("Listening at"), "{err}");
    err
}

#[test]
fn bad_syslog_settings_are_refused_before_binding() {
    let err = refused(&["--log-syslog-facility", "local9"]);
    assert!(
        err.contains("syslog_facility: local9: unknown facility name"),
        "{err}"
    );
    let err = refused(&["--log-syslog-to", "localhost:514"]);
    assert!(
        err.contains("syslog_addr: localhost:514: invalid syslog address"),
        "{err}"
    );
    let err = refused(&["--log-syslog-to", "udp://localhost:syslog"]);
    assert!(err.contains("is not a valid port number"), "{err}");
    let missing = Path::new("/nonexistent-gunicorn-rs/log.sock");
    let err = refused(&["--log-syslog-to", &format!("unix://{}", missing.display())]);
    assert!(
        err.contains("cannot reach syslog at unix:///nonexistent-gunicorn-rs/log.sock"),
        "{err}"
    );
}
