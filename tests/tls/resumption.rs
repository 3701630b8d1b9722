//! Session resumption across workers: a client that comes back with the ticket one worker
//! gave it resumes on any worker (src/tls/tickets.rs), in TLS 1.3 and 1.2, and offering the
//! same ticket again resumes again.

use super::*;

/// Two sync workers; the client holds one worker busy (its 103 names it) while another
/// connection offers the first connection's session, so that connection is served by the
/// other worker. Every connection that offered the session resumed it, and at least one did
/// on a worker other than the one that issued it.
#[test]
fn a_session_ticket_resumes_on_any_worker() {
    let pki = Pki::new();
    let mut args: Vec<String> = vec!["-k".into(), "sync".into()];
    args.extend(pki.args("server"));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let server = Server::app_with("tls_resume:app", &args, 2, Opts::default().with_venv());
    let (port, ca) = (server.port().to_string(), pki.path("ca.pem"));
    for (version, wanted) in [("1.3", "TLSv1.3"), ("1.2", "TLSv1.2")] {
        let out = client(&["resume", "127.0.0.1", &port, &ca, "16", version]);
        assert_eq!(out["version"], wanted, "{out}");
        let rounds = out["rounds"].as_array().expect("rounds");
        assert!(!rounds.is_empty(), "{out}");
        for round in rounds {
            assert_eq!(round["held_resumed"], true, "{out}");
            assert_eq!(round["resumed"], true, "{out}");
            assert_ne!(round["held_by"][0], round["served_by"], "{out}");
        }
        let last = &rounds[rounds.len() - 1];
        assert_ne!(last["served_by"], out["issuer"], "{out}");
    }
}
