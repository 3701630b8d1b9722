//! A worker's threads as the protocol shows them: one `ThreadInfo` per scoreboard lane (the
//! `--threads` of a `gthread` worker, the one thread of `sync`), each with its own request and
//! its own `--request-timeout` deadline — several requests are in flight in one worker, so the
//! deadline belongs to the request, not to the process (DESIGN §10).

use super::rows::{request_info, round2, seconds};
use crate::scoreboard::{self, LaneSnapshot, SlotSnapshot};
use std::time::Duration;
use ui::protocol::{Dump, RequestInfo, ThreadInfo, WorkerState};

/// Every lane of `snap`. `limit` is the `--request-timeout` whose clock runs for this worker
/// (`None` when unset, or while the worker is held).
pub(in crate::master) fn thread_rows(
    snap: &SlotSnapshot,
    now: u64,
    limit: Option<Duration>,
) -> Vec<ThreadInfo> {
    snap.lanes
        .iter()
        .map(|lane| thread_row(lane, now, limit))
        .collect()
}

fn thread_row(lane: &LaneSnapshot, now: u64, limit: Option<Duration>) -> ThreadInfo {
    ThreadInfo {
        thread: lane.index as u32,
        state: lane_state(lane.state),
        request: lane.request.as_ref().map(|r| request_info(r, now)),
        deadline_in: deadline_ms(lane, limit).map(|at| round2(seconds(at) - seconds(now))),
        timed_out: lane.timed_out,
        ident: lane.thread_id.map(ui::stacks::ident_text),
    }
}

/// When the lane's request reaches `limit` (monotonic ms); `None` when no clock runs for it —
/// no request, no limit, or already answered with a 504.
fn deadline_ms(lane: &LaneSnapshot, limit: Option<Duration>) -> Option<u64> {
    let request = lane.request.as_ref().filter(|_| !lane.timed_out)?;
    Some(request.start_ms + limit?.as_millis() as u64)
}

/// The soonest request deadline of the worker's lanes (monotonic ms).
pub(in crate::master) fn soonest_deadline_ms(
    snap: &SlotSnapshot,
    limit: Option<Duration>,
) -> Option<u64> {
    snap.lanes
        .iter()
        .filter_map(|l| deadline_ms(l, limit))
        .min()
}

/// What a dump tells beside the stacks, from the worker's slot when they were taken: the
/// longest-running request, every lane, and how many requests were in flight — more than the
/// lanes for a greenlet worker, whose lanes hold only its longest-running ones.
pub(in crate::master) fn dump_lanes(
    dump: &mut Dump,
    snap: &SlotSnapshot,
    now: u64,
    limit: Option<Duration>,
) {
    dump.request = longest_request(snap, now);
    dump.threads = thread_rows(snap, now, limit);
    dump.in_flight = snap.in_flight;
}

/// The worker row's `request`: the longest-running one, with the thread serving it.
pub(in crate::master) fn longest_request(snap: &SlotSnapshot, now: u64) -> Option<RequestInfo> {
    let request = snap.request.as_ref()?;
    let lane = snap
        .lanes
        .iter()
        .find(|l| l.request.as_ref() == Some(request));
    Some(RequestInfo {
        thread: lane.map(|l| l.index as u32),
        ..request_info(request, now)
    })
}

/// A lane's state in the protocol's words (the master's own knowledge — held, timed out,
/// retiring — is the worker's, not a lane's).
pub(in crate::master) fn lane_state(state: scoreboard::WorkerState) -> WorkerState {
    use scoreboard::WorkerState as S;
    match state {
        S::Free => WorkerState::Unknown,
        S::Booting => WorkerState::Booting,
        S::Idle => WorkerState::Idle,
        S::Reading => WorkerState::Reading,
        S::App => WorkerState::App,
        S::Writing => WorkerState::Writing,
        S::Draining => WorkerState::Draining,
        S::Dead => WorkerState::Dead,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoreboard::CurrentRequest;

    fn lane(index: usize, start_ms: Option<u64>, timed_out: bool) -> LaneSnapshot {
        LaneSnapshot {
            index,
            state: match start_ms {
                Some(_) => scoreboard::WorkerState::App,
                None => scoreboard::WorkerState::Idle,
            },
            request: start_ms.map(|start_ms| CurrentRequest {
                start_ms,
                method: "GET".into(),
                path: format!("/lane{index}"),
                client: "10.0.0.7:5123".into(),
                version: (1, 1),
            }),
            timed_out,
            thread_id: Some(0x7f00 + index as u64),
        }
    }

    fn worker(lanes: Vec<LaneSnapshot>) -> SlotSnapshot {
        let oldest = lanes
            .iter()
            .filter_map(|l| l.request.clone())
            .min_by_key(|r| r.start_ms);
        SlotSnapshot {
            request: oldest,
            lanes,
            ..Default::default()
        }
    }

    #[test]
    fn each_lane_has_its_request_and_deadline() {
        let snap = worker(vec![
            lane(0, None, false),
            lane(1, Some(10_000), false),
            lane(2, Some(4_000), true),
        ]);
        let limit = Some(Duration::from_secs(30));
        let rows = thread_rows(&snap, 12_000, limit);
        assert_eq!(rows.len(), 3);
        assert_eq!(
            (rows[0].state, rows[0].request.is_none()),
            (WorkerState::Idle, true)
        );
        assert_eq!(rows[0].deadline_in, None, "no request, no clock");
        assert_eq!(rows[1].request.as_ref().map(|r| r.elapsed), Some(2.0));
        assert_eq!(rows[1].deadline_in, Some(28.0));
        assert_eq!(rows[1].ident.as_deref(), Some("0x0000000000007f01"));
        assert!(rows[2].timed_out);
        assert_eq!(rows[2].deadline_in, None, "already answered 504");
        assert!(thread_rows(&snap, 12_000, None)
            .iter()
            .all(|t| t.deadline_in.is_none()));
        assert_eq!(soonest_deadline_ms(&snap, limit), Some(40_000));
        let longest = longest_request(&snap, 12_000).expect("a request");
        assert_eq!((longest.path.as_str(), longest.thread), ("/lane2", Some(2)));
    }

    #[test]
    fn a_dump_counts_every_request_in_flight_not_only_the_lanes() {
        // A greenlet worker: 500 requests, its two lanes hold the longest-running.
        let snap = SlotSnapshot {
            in_flight: 500,
            ..worker(vec![
                lane(0, Some(1_000), false),
                lane(1, Some(5_000), false),
            ])
        };
        let mut dump = Dump::default();
        dump_lanes(&mut dump, &snap, 12_000, None);
        assert_eq!((dump.in_flight, dump.threads.len()), (500, 2));
        assert_eq!(
            dump.request.as_ref().map(|r| r.path.as_str()),
            Some("/lane0")
        );
        assert_eq!(dump.requests_in_flight(), 500);
    }
}
