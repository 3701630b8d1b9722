//! Subscriptions: snapshots, events and worker output pushed to a subscriber, and one that
//! never reads dropped while the master keeps serving.

use super::*;
use ui::protocol::Push;

#[test]
fn subscribers_get_snapshots_events_and_worker_output() {
    let server = Server::app("stuck_app:app", &[], 1);
    let socket = socket_of(&server);
    let mut client = Client::connect(&socket);
    let reply = client.call("subscribe snapshots=100 events logs");
    assert_eq!(reply.result.unwrap()["snapshot_ms"], 100);
    let workers = client.wait_push(|p| match p {
        Push::Snapshot(s) => Some(s.workers.len()),
        _ => None,
    });
    assert_eq!(workers, 1);
    assert_eq!(server.get("/print?line=hello-subscriber").status, 200);
    let line = client.wait_push(|p| match p {
        Push::Logs(lines) => lines.iter().find(|l| l.line == "hello-subscriber").cloned(),
        _ => None,
    });
    assert_eq!(line.slot, Some(0));
    let pid = *server.worker_pids().iter().next().unwrap();
    client.send(&format!("worker kill {pid}"));
    let event = client.wait_push(|p| match p {
        Push::Event(e @ ui::protocol::Event::WorkerExited { .. }) => Some(e.clone()),
        _ => None,
    });
    let ui::protocol::Event::WorkerExited {
        pid: dead, reason, ..
    } = event
    else {
        unreachable!()
    };
    assert_eq!(dead as u32, pid);
    assert_eq!(reason.cause, ui::protocol::ExitCause::Stopped);
    client.wait_push(|p| {
        matches!(p, Push::Event(ui::protocol::Event::WorkerSpawned { .. })).then_some(())
    });
    // The master's own lines are part of the stream too (the log pane of `attach`).
    server.signal(nix::sys::signal::Signal::SIGTTIN);
    let master = client.wait_push(|p| match p {
        Push::Logs(lines) => lines
            .iter()
            .find(|l| l.line.ends_with("Handling signal: ttin"))
            .cloned(),
        _ => None,
    });
    assert_eq!(master.stream, ui::protocol::LogStream::Master);
    assert_eq!(
        (master.slot, master.pid),
        (None, Some(server.master_pid() as i32))
    );
}

#[test]
fn a_subscriber_that_never_reads_is_dropped_and_the_master_keeps_serving() {
    let server = Server::app("stuck_app:app", &[], 1);
    let socket = socket_of(&server);
    let mut idle = Client::connect(&socket);
    idle.send("subscribe snapshots=50 events logs");
    // Megabytes of worker output for a client that reads nothing.
    for _ in 0..3 {
        assert_eq!(server.get("/burst?lines=20000").status, 200);
    }
    let mark = server.mark();
    server.signal(nix::sys::signal::Signal::SIGTTIN);
    server.wait_for_from(mark, "Handling signal: ttin", WAIT);
    server.wait_live_workers(2);
    assert_eq!(server.get("/").status, 200);
    server.wait_for("dropped: ", WAIT);
    assert!(Client::connect(&socket).call("show stats").result.is_ok());
    assert_eq!(server.get("/").status, 200);
    drop(idle);
}
