//! Certificates in use: client certificates required, optional and seen by the app, and HUP
//! reloading the server's certificate (a bad one keeps the old).

use super::*;
use nix::sys::signal::Signal;
use std::process::Command;

/// `--cert-reqs 2`: no certificate, no connection; with one signed by `--ca-certs`, the app
/// finds it in `SSL_CLIENT_CERT`. `--cert-reqs 1`: a client without one is served.
#[test]
fn client_certificates_required_optional_and_seen_by_the_app() {
    let pki = Pki::new();
    let ca = pki.path("ca.pem");
    let server = tls_server(
        &pki,
        "gthread",
        "hello:app",
        &["--cert-reqs", "2", "--ca-certs", &ca],
    );
    let without = session(&server, &pki, 1, "/", None);
    assert!(without["error"].is_string(), "{without}");
    let with = session(&server, &pki, 1, "/env", Some("client"));
    let body = with["bodies"][0].as_str().unwrap_or_default();
    let env: serde_json::Value = serde_json::from_str(body).unwrap_or_default();
    let pem = env["SSL_CLIENT_CERT"].as_str().unwrap_or_default();
    let want = std::fs::read_to_string(pki.path("client.pem")).unwrap();
    assert_eq!(pem.trim(), want.trim(), "{with}");
    drop(server);
    let server = tls_server(
        &pki,
        "gthread",
        "hello:app",
        &["--cert-reqs", "1", "--ca-certs", &ca],
    );
    let out = session(&server, &pki, 1, "/env", None);
    assert_eq!(out["statuses"][0], 200, "{out}");
    assert!(!out["bodies"][0]
        .as_str()
        .unwrap_or_default()
        .contains("SSL_CLIENT_CERT"));
}

/// HUP re-reads the certificate: a request in flight across it is answered whole by the old
/// worker (issue 10: connections in flight are not dropped), new connections get the renewed
/// certificate; a broken one on the next HUP is logged and the running one kept.
#[test]
fn hup_reloads_the_certificate_and_a_bad_one_keeps_the_old() {
    let pki = Pki::new();
    let live = |name: &str| {
        (
            pki.path(&format!("{name}.pem")),
            pki.path(&format!("{name}.key")),
        )
    };
    let (cert, key) = (pki.path("live.pem"), pki.path("live.key"));
    let copy = |name: &str| {
        let (c, k) = live(name);
        std::fs::copy(c, &cert).unwrap();
        std::fs::copy(k, &key).unwrap();
    };
    copy("server");
    let args = [
        "-k",
        "gthread",
        "--certfile",
        &cert,
        "--keyfile",
        &key,
        "--keep-alive",
        "30",
    ];
    let server = Server::app_with("hello:app", &args, 1, Opts::default().with_venv());
    let port = server.port().to_string();
    let seen = || {
        client(&["peercert", "127.0.0.1", &port])["sha256"]
            .as_str()
            .unwrap_or_default()
            .to_string()
    };
    assert_eq!(seen(), sha256_of_pem(&live("server").0));
    // A request the old worker is serving when HUP comes.
    let ca = pki.path("ca.pem");
    let url = format!("https://127.0.0.1:{port}/sleep?s=1");
    let in_flight = std::thread::spawn(move || curl(&["--cacert", &ca, &url]));
    server.wait_marker_prefix("sleeping-");
    copy("renewed");
    let mark = server.mark();
    server.signal(Signal::SIGHUP);
    server.wait_for_from(mark, "Booting worker", WAIT);
    let (ok, text) = in_flight.join().expect("curl thread");
    assert!(ok && text.contains("slept 1"), "{text}");
    poll(WAIT, "the renewed certificate served", || {
        (seen() == sha256_of_pem(&live("renewed").0)).then_some(())
    });
    std::fs::write(&cert, "not a certificate\n").unwrap();
    let mark = server.mark();
    server.signal(Signal::SIGHUP);
    let line = server.wait_for_from(mark, "Reload failed", WAIT);
    assert!(line.contains("certificate"), "{line}");
    assert_eq!(seen(), sha256_of_pem(&live("renewed").0));
}

pub(crate) fn sha256_of_pem(path: &str) -> String {
    let out = Command::new("openssl")
        .args(["x509", "-in", path, "-outform", "DER"])
        .bounded_output();
    let digest = output_within(
        &mut Command::new("sha256sum"),
        Some(&out.stdout),
        COMMAND_WAIT,
    );
    String::from_utf8_lossy(&digest.stdout)
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}
