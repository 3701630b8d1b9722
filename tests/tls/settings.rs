//! The SSL settings refused or warned about as Gunicorn does: one line before binding for a
//! missing or mismatched key, a cipher rustls lacks, TLS 1.1, `ssl_context`; an expired
//! certificate served with a warning; protocol and cipher refusals as openssl sees them.

use super::*;
use std::process::Command;

/// One line and the config-error exit code, before anything is bound: a missing key file, a
/// key that does not match, a cipher rustls lacks, TLS 1.1, the `ssl_context` hook.
#[test]
fn bad_tls_settings_are_one_line_before_binding() {
    let pki = Pki::new();
    let conf = pki.path("ssl_context.py");
    std::fs::write(
        &conf,
        "def ssl_context(conf, default):\n    return default()\n",
    )
    .unwrap();
    let cases: Vec<(Vec<String>, &str)> = vec![
        (
            vec![
                "--certfile".into(),
                pki.path("server.pem"),
                "--keyfile".into(),
                pki.path("nope.key"),
            ],
            "cannot read keyfile",
        ),
        (
            vec![
                "--certfile".into(),
                pki.path("server.pem"),
                "--keyfile".into(),
                pki.path("other.key"),
            ],
            "does not match",
        ),
        (
            [
                pki.args("server"),
                vec![
                    "--ciphers".into(),
                    "ECDHE-RSA-AES128-GCM-SHA256:AES128-SHA".into(),
                ],
            ]
            .concat(),
            "'AES128-SHA'",
        ),
        (
            [pki.args("server"), vec!["--ssl-version".into(), "4".into()]].concat(),
            "ssl_version",
        ),
        (
            [pki.args("server"), vec!["-c".into(), conf.clone()]].concat(),
            "ssl_context hook",
        ),
        (
            [pki.args("server"), vec!["--cert-reqs".into(), "2".into()]].concat(),
            "ca_certs",
        ),
    ];
    for (args, want) in cases {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let bind = taken.local_addr().unwrap().to_string();
        drop(taken);
        let mut all = vec!["-b".to_string(), bind.clone(), "--chdir".into(), apps()];
        all.extend(args);
        all.push("hello:app".into());
        let argv: Vec<&str> = all.iter().map(String::as_str).collect();
        let (status, _, stderr) = run(Opts::new(&argv).with_venv());
        assert_eq!(status.code(), Some(1), "{want}: {stderr}");
        let lines: Vec<&str> = stderr.lines().collect();
        assert_eq!(lines.len(), 1, "{want}: one line: {stderr}");
        assert!(lines[0].contains(want), "{want}: {stderr}");
        assert!(std::net::TcpListener::bind(&bind).is_ok(), "{want}: bound");
    }
}

/// An expired certificate still serves (clients decide), with a WARNING at start.
#[test]
fn an_expired_certificate_is_a_warning_and_still_serves() {
    let pki = Pki::new();
    let mut args = vec!["-k".to_string(), "gthread".into()];
    args.extend(pki.args("expired"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::app_with("hello:app", &args, 1, Opts::default().with_venv());
    let line = server.wait_for("expired on", WAIT);
    assert!(line.contains("[WARNING]"), "{line}");
    let url = format!("https://127.0.0.1:{}/", server.port());
    let (ok, text) = curl(&["-k", &url]);
    assert!(ok && text.contains("Hello"), "{text}");
}

/// `openssl s_client`: TLS 1.1 is refused; with `--ciphers`, a TLS 1.2 client gets the suite
/// named and no other.
#[test]
fn protocol_and_cipher_refusals_seen_by_openssl() {
    let pki = Pki::new();
    let server = tls_server(
        &pki,
        "gthread",
        "hello:app",
        &["--ciphers", "ECDHE-ECDSA-CHACHA20-POLY1305"],
    );
    let connect = format!("127.0.0.1:{}", server.port());
    let s_client = |extra: &[&str]| {
        let out = Command::new("openssl")
            .args([
                "s_client",
                "-connect",
                &connect,
                "-CAfile",
                &pki.path("ca.pem"),
            ])
            .args(extra)
            .stdin(std::process::Stdio::null())
            .bounded_output();
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    let old = s_client(&["-tls1_1"]);
    assert!(!old.contains("Cipher is ECDHE"), "{old}");
    let tls12 = s_client(&["-tls1_2"]);
    assert!(tls12.contains("ECDHE-ECDSA-CHACHA20-POLY1305"), "{tls12}");
    let other = s_client(&["-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-GCM-SHA256"]);
    assert!(
        other.contains("Cipher is (NONE)") || other.contains("alert"),
        "{other}"
    );
}
