//! The scoreboard's slots and lanes, as the master and the dashboard read them.

use super::*;

fn line(path: &[u8]) -> RequestLine<'_> {
    RequestLine {
        method: b"POST",
        path,
        client: b"10.0.0.1:4242",
        version: (1, 1),
    }
}

#[test]
fn snapshot_counts_statuses_exceptions_and_the_current_request() {
    let board = Scoreboard::new(2, 1, 1).expect("mmap");
    let slot = board.slot(1).expect("slot 1");
    slot.claim(7);
    let lane = slot.lane(0);
    slot.request_started(lane, &line(b"/upload?x=1"));
    let snap = board.snapshot(1).expect("snapshot");
    let req = snap.request.expect("a current request");
    assert_eq!(
        (req.method.as_str(), req.path.as_str()),
        ("POST", "/upload?x=1")
    );
    assert!(!snap.request_timed_out);
    lane.expect("lane 0").mark_timed_out();
    assert!(slot.snapshot().request_timed_out);
    slot.count_response(504, true);
    slot.request_finished(lane);
    slot.request_started(lane, &line(b"/next"));
    assert!(
        !slot.snapshot().request_timed_out,
        "only the request it answered"
    );
    slot.count_response(200, false);
    slot.request_finished(lane);
    slot.request_started(lane, &line(b"/last"));
    slot.request_finished(lane);
    let snap = slot.snapshot();
    assert_eq!(snap.request, None);
    assert_eq!(snap.status, [0, 1, 0, 0, 1]);
    assert_eq!((snap.requests, snap.exceptions), (3, 1));
    assert_eq!(snap.in_flight, 0);
}

#[test]
fn in_flight_counts_requests_with_or_without_a_lane() {
    let board = Scoreboard::new(1, 1, 1).expect("mmap");
    let slot = board.slot(0).expect("slot 0");
    slot.claim(7);
    // A greenlet worker: one lane, three requests; two of them have no lane to show.
    slot.request_started(slot.lane(0), &line(b"/a"));
    slot.request_started(None, &line(b"/b"));
    slot.request_started(None, &line(b"/c"));
    let snap = slot.snapshot();
    assert_eq!((snap.in_flight, snap.busy_lanes()), (3, 1));
    slot.request_finished(None);
    slot.request_finished(slot.lane(0));
    slot.request_finished(None);
    slot.request_finished(None);
    assert_eq!(
        slot.snapshot().in_flight,
        0,
        "an extra finish does not wrap"
    );
    slot.request_started(None, &line(b"/d"));
    slot.claim(8);
    assert_eq!(slot.snapshot().in_flight, 0, "a new worker starts at zero");
}

#[test]
fn lanes_are_separate_and_the_oldest_request_is_the_slots() {
    let board = Scoreboard::new(3, 4, 1).expect("mmap");
    let (a, b) = (board.slot(1).expect("slot"), board.slot(2).expect("slot"));
    a.claim(7);
    b.claim(8);
    a.set_lanes_used(4);
    a.set_state(WorkerState::Idle);
    let (l1, l3) = (a.lane(1), a.lane(3));
    assert!(a.lane(4).is_none(), "no lane past the mapping's room");
    let (l1, l3) = (l1.expect("lane 1"), l3.expect("lane 3"));
    l3.set_state(WorkerState::App);
    // Explicit start times: the two would often share a millisecond.
    l3.begin(1_000, &line(b"/old"));
    b.request_started(b.lane(0), &line(b"/other-worker"));
    l1.begin(2_000, &line(b"/new"));
    l1.mark_timed_out();
    let snap = a.snapshot();
    assert_eq!(snap.lanes.len(), 4);
    assert_eq!(snap.busy_lanes(), 2);
    assert_eq!(
        snap.state,
        WorkerState::App,
        "a busy lane makes the worker busy"
    );
    assert_eq!(snap.request.map(|r| r.path), Some("/old".to_string()));
    assert!(!snap.request_timed_out, "lane 1's mark is not lane 3's");
    assert!(snap.lanes[1].timed_out);
    assert_eq!(
        b.snapshot().lanes.len(),
        1,
        "another slot's lanes stay its own"
    );
    a.count_connections(3, 2);
    a.count_connections(-1, -2);
    let snap = a.snapshot();
    assert_eq!((snap.connections, snap.keepalive), (2, 0));
}

#[test]
fn first_exit_reason_wins_and_claim_resets_it() {
    let board = Scoreboard::new(1, 1, 1).expect("mmap");
    let slot = board.slot(0).expect("slot 0");
    slot.claim(9);
    slot.set_exit_reason_once(ExitReason::Recycled);
    slot.set_exit_reason_once(ExitReason::Shutdown);
    assert_eq!(slot.exit_reason(), ExitReason::Recycled);
    slot.claim(10);
    assert_eq!(slot.exit_reason(), ExitReason::Unknown);
}

/// What a worker reads of its siblings when it accepts: the fewest open connections among the
/// others that take connections (booted, not stopping) and their total, never its own, `None`
/// without any.
#[test]
fn connections_elsewhere_counts_only_siblings_taking_connections() {
    let board = Scoreboard::new(4, 1, 1).expect("mmap");
    let slot = |i| board.slot(i).expect("slot");
    for (i, open) in [(0, 1), (1, 5), (2, 0), (3, 2)] {
        slot(i).claim(10 + i as i32);
        slot(i).notify();
        slot(i).set_state(WorkerState::Idle);
        slot(i).count_connections(open, 0);
    }
    // Slot 2 is stopping: its 0 connections do not make it the one to leave connections to.
    slot(2).set_state(WorkerState::Draining);
    assert_eq!(board.connections_elsewhere(slot(0), 2_000), Some((2, 7)));
    assert_eq!(board.connections_elsewhere(slot(3), 2_000), Some((1, 6)));
    // Booting siblings do not count either; alone, a worker has no one to leave them to.
    for i in 1..4 {
        slot(i).set_state(WorkerState::Booting);
    }
    assert_eq!(board.connections_elsewhere(slot(0), 2_000), None);
}
