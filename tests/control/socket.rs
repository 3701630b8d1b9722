//! The socket's file: an explicit path and mode, a peer of another uid refused,
//! `--no-control-socket`.

use super::*;
use std::os::unix::fs::PermissionsExt;
use std::process::Command as Process;

#[test]
fn explicit_path_and_mode_and_a_peer_of_another_uid_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let path = dir.path().join("ctl.sock");
    let p = path.to_string_lossy().into_owned();
    let server = Server::hello(
        &["--control-socket", &p, "--control-socket-mode", "0666"],
        1,
    );
    assert_eq!(socket_of(&server), path);
    assert_eq!(mode_of(&path), 0o666);
    assert!(Client::connect(&path).call("hello").result.is_ok());
    // Without root the uid check is covered by the master's unit test only.
    if skip_unless_root("control::explicit_path_and_mode_and_a_peer_of_another_uid_is_refused") {
        return;
    }
    // `nobody` may reach the file (0666 in a 0755 dir): only SO_PEERCRED stands in the way.
    // The refusal comes at accept, before any request: read it, then see the connection end.
    let script = "import socket,struct,sys\n\
        s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])\n\
        n=struct.unpack('>I',s.recv(4))[0]; print(s.recv(n).decode()); print(s.recv(1))";
    let mut cmd = Process::new("setpriv");
    cmd.args([
        "--reuid",
        "65534",
        "--regid",
        "65534",
        "--clear-groups",
        "/usr/bin/python3",
        "-c",
    ])
    .arg(script)
    .arg(&path);
    let (_, out, err) = output(cmd);
    assert!(
        out.contains("\"error\"") && out.contains("Permission denied") && out.contains("b''"),
        "{out}{err}"
    );
    server.wait_for("refused a client of uid", WAIT);
}

#[test]
fn no_control_socket_opens_none() {
    let mut server = Server::hello(&["--no-control-socket"], 1);
    assert_eq!(server.get("/").status, 200);
    let log = server.stop_and_log();
    assert!(!log.contains("Control socket listening"), "{log}");
}
