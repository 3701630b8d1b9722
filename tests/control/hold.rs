//! `hold` and `release`: a held worker is neither killed by the heartbeat's timeout nor cut
//! by its request timeout until it is released.

use super::*;
use std::time::Duration;

#[test]
fn a_held_worker_survives_its_timeout_until_released() {
    let server = Server::app(
        "stuck_app:app",
        &["--timeout", "2", "--graceful-timeout", "1"],
        1,
    );
    let socket = socket_of(&server);
    let pid = *server.worker_pids().iter().next().unwrap();
    assert_eq!(
        ctl_json(&socket, &["hold", &pid.to_string()])["success"],
        true
    );
    let port = server.port();
    std::thread::spawn(move || try_get(port, "/c"));
    server.wait_marker(&format!("c-{pid}"));
    let mark = server.mark();
    // Twice the timeout with the heartbeat stale: no kill may happen.
    let killed = server
        .stderr
        .find_from(mark, "WORKER TIMEOUT", Duration::from_secs(5));
    assert_eq!(killed, None, "a held worker is not killed");
    let rows = ctl_json(&socket, &["show", "workers"]);
    assert_eq!(rows["workers"][0]["state"], "held", "{rows}");
    assert!(is_alive(pid));
    assert_eq!(
        ctl_json(&socket, &["release", &pid.to_string()])["success"],
        true
    );
    server.wait_for_from(mark, &format!("WORKER TIMEOUT (pid:{pid})"), WAIT);
}

#[test]
fn a_held_worker_is_not_cut_by_its_request_timeout() {
    let mut server = Server::app("stuck_app:app", &["--request-timeout", "1"], 1);
    let socket = socket_of(&server);
    let pid = *server.worker_pids().iter().next().unwrap();
    assert_eq!(
        ctl_json(&socket, &["hold", &pid.to_string()])["success"],
        true
    );
    // Three times the request timeout: held, the request runs to its end.
    let resp = server.get("/python?s=3");
    assert_eq!(resp.status, 200, "{}", resp.text());
    assert_eq!(
        ctl_json(&socket, &["release", &pid.to_string()])["success"],
        true
    );
    assert_eq!(
        server.get("/python?s=3").status,
        504,
        "released: the clock runs again"
    );
    // In the whole log: the released request's timeout, and none for the held one.
    let log = server.stop_and_log();
    assert_eq!(log.matches("Request timeout (pid:").count(), 1, "{log}");
}
