//! App forms and listener forms through the real binary: `module`, `module:factory()`,
//! `module:factory(args)`; `fd://N` (a socket handed over by a supervisor).

use crate::support::*;

#[test]
fn app_factories_and_the_default_application_name() {
    for (uri, body) in [
        ("factory", "default!"),
        ("factory:create_app()", "hi!"),
        ("factory:create_app('hey', punctuation='?')", "hey?"),
    ] {
        let server = Server::app(uri, &[], 1);
        assert_eq!(server.get("/").text(), body, "{uri}");
    }
}

#[test]
fn fd_bind_serves_on_an_inherited_socket() {
    let launcher = apps_dir().join("fd_launch.py");
    let apps = apps();
    let args = [
        launcher.to_str().unwrap(),
        bin(),
        "-b",
        "fd://FD",
        "--chdir",
        &apps,
        "hello:app",
    ];
    let mut opts = Opts::new(&args[1..]);
    opts.args.insert(0, args[0].to_string());
    let server = Server::spawn_program("python3", opts);
    let line = server.wait_for("bound port ", WAIT);
    let port: u16 = line
        .rsplit(' ')
        .next()
        .and_then(|p| p.parse().ok())
        .expect("port");
    server.wait_for("Booting worker with pid: ", WAIT);
    let listening = server.wait_for("Listening at: ", WAIT);
    assert!(
        listening.contains(&format!("http://127.0.0.1:{port}")),
        "{listening}"
    );
    assert_eq!(try_get(port, "/").map(|r| r.status), Some(200));
}
