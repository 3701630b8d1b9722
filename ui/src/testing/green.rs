//! Greenlet fixtures: gevent workers, whose 32 scoreboard entries hold their longest-running
//! requests however many they serve, as the master sends them.

use super::*;

/// Scoreboard entries of a greenlet worker (the server's `GREEN_LANES`).
pub const GREEN_LANES: u32 = 32;

/// A gevent worker serving `in_flight` requests; `serving` lists (entry, path, elapsed) of those
/// its entries hold — the longest-running ones.
pub fn gevent(
    slot: u32,
    pid: i32,
    requests: u64,
    in_flight: u32,
    serving: &[(u32, &str, f64)],
) -> WorkerInfo {
    WorkerInfo {
        kind: "gevent".into(),
        in_flight,
        connections: in_flight + 9,
        ..laned(slot, pid, requests, GREEN_LANES, serving)
    }
}

/// Two gevent workers: slot 0 serves 500 requests, its 32 entries hold the longest (up to
/// 11.7 s, in no particular entry order); slot 1 serves three, one stuck 29 s of its 30 s
/// deadline, so it sorts first. A dump of slot 1 names each request's greenlet.
pub fn scenario_gevent() -> FakeSource {
    let paths: Vec<String> = (0..GREEN_LANES).map(|n| format!("/feed/{n}")).collect();
    // Entries are handed out as requests come and go: the longest is anywhere.
    let crowd: Vec<(u32, &str, f64)> = (0..GREEN_LANES)
        .map(|n| {
            (
                n,
                paths[n as usize].as_str(),
                f64::from((n * 7) % 32) * 0.375,
            )
        })
        .collect();
    let quiet = [
        (4, "/export/orders.csv", 29.0),
        (9, "/api/cart", 0.012),
        (6, "/report?year=2024", 4.5),
    ];
    let workers = |r: u64| {
        vec![
            gevent(0, 4101, r, 500, &crowd),
            gevent(1, 4102, r + 7, 3, &quiet),
        ]
    };
    let snap = |requests, workers| snapshot_of("gevent", requests, workers);
    let stuck = workers(60).swap_remove(1);
    let greenlet = |n: u32, frame: &str| {
        format!(
            "Greenlet {:#018x} (most recent call first):\n  File \"shop/{frame}\n\n",
            0x7f00 + n
        )
    };
    let dump = Dump {
        pid: 4102,
        slot: Some(1),
        kind: "gevent".into(),
        in_flight: 3,
        stack: [
            "Current thread 0x00007f3c1a2b4740 (most recent call first):\n  File \"gevent/hub.py\", line 647 in run\n\n".into(),
            greenlet(6, "report.py\", line 40 in totals"),
            greenlet(9, "cart.py\", line 12 in cart"),
            greenlet(4, "export.py\", line 88 in render_rows"),
        ]
        .concat(),
        request: stuck.request,
        threads: stuck.threads,
        ..Default::default()
    };
    FakeSource::default()
        .at(0, hello())
        .at(0, logs())
        .at(1, snap(300, workers(60)))
        .at(2, snap(420, workers(90)))
        .at(
            2,
            Event::ServerEvent(ServerEvent::DumpTaken {
                dump: Box::new(dump),
            }),
        )
}
