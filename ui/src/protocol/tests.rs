//! Round trips, Gunicorn's exact shapes, and malformed input.

use serde_json::{json, Value};

use super::*;

fn words(s: &str) -> Vec<String> {
    s.split_whitespace().map(String::from).collect()
}

#[test]
fn every_command_round_trips_through_a_request() {
    let pid = 4242;
    let commands = [
        Command::Hello,
        Command::Help,
        Command::Show(ShowTarget::All),
        Command::Show(ShowTarget::Workers),
        Command::Show(ShowTarget::Stats),
        Command::Show(ShowTarget::Config),
        Command::Show(ShowTarget::Listeners),
        Command::WorkerAdd(3),
        Command::WorkerRemove(1),
        Command::WorkerKill(pid, KillSignal::Term),
        Command::WorkerKill(pid, KillSignal::Kill),
        Command::WorkerRestart(pid),
        Command::Reload,
        Command::Reopen,
        Command::Shutdown(ShutdownMode::Graceful),
        Command::Shutdown(ShutdownMode::Quick),
        Command::Dump(DumpTarget::Pid(pid)),
        Command::Dump(DumpTarget::All),
        Command::Subscribe(Subscription::default()),
        Command::Subscribe(Subscription {
            snapshot_ms: None,
            events: true,
            logs: false,
        }),
        Command::Subscribe(Subscription {
            snapshot_ms: None,
            events: false,
            logs: false,
        }),
        Command::Unsubscribe,
        Command::Hold(pid),
        Command::Release(pid),
    ];
    for cmd in commands {
        let frame = encode(&Request::new(7, &cmd)).unwrap();
        let req: Request = decode(&frame[4..]).unwrap();
        assert_eq!(req.id, 7);
        assert_eq!(req.parse(), Ok(cmd.clone()), "{cmd:?}");
    }
}

#[test]
fn gunicornc_sends_the_whole_line_in_command() {
    // gunicornc's run_command: send_command("worker add 2") → args [].
    let req: Request = decode(br#"{"id": 1, "command": "worker add 2", "args": []}"#).unwrap();
    assert_eq!(req.parse(), Ok(Command::WorkerAdd(2)));
    let req: Request = decode(br#"{"id": 2, "command": "SHOW Workers"}"#).unwrap();
    assert_eq!(req.parse(), Ok(Command::Show(ShowTarget::Workers)));
    // Gunicorn str()s the args, so numbers are accepted.
    let req: Request = decode(br#"{"id": 3, "command": "worker kill", "args": [123]}"#).unwrap();
    assert_eq!(req.parse(), Ok(Command::WorkerKill(123, KillSignal::Term)));
}

#[test]
fn gunicorn_defaults_and_clamps() {
    assert_eq!(
        Command::parse(&words("worker add")),
        Ok(Command::WorkerAdd(1))
    );
    assert_eq!(
        Command::parse(&words("worker remove 0")),
        Ok(Command::WorkerRemove(1))
    );
    assert_eq!(
        Command::parse(&words("shutdown")),
        Ok(Command::Shutdown(ShutdownMode::Graceful))
    );
    assert_eq!(
        Command::parse(&words("subscribe snapshots=1")).map(|c| c.to_words().1),
        Ok(vec![format!("snapshots={MIN_SNAPSHOT_MS}")])
    );
}

#[test]
fn bad_commands_are_errors_not_panics() {
    for line in [
        "",
        "frobnicate",
        "show",
        "show dirty",
        "worker",
        "worker kill",
        "worker kill abc",
        "worker kill -5",
        "worker kill 5 HUP",
        "dump",
        "dump 1 2",
        "shutdown now",
        "hold",
        "subscribe everything",
        "worker add 99999999999999999999",
    ] {
        assert!(
            Command::parse(&words(line)).is_err(),
            "{line:?} should be refused"
        );
    }
    assert_eq!(
        Command::parse(&words("frobnicate")),
        Err("Unknown command: frobnicate".into())
    );
}

#[test]
fn reply_has_gunicorns_exact_shape() {
    let ok = Reply::ok(
        5,
        &WorkerAdded {
            added: 2,
            previous: 1,
            total: 3,
        },
    );
    let v: Value = serde_json::to_value(&ok).unwrap();
    assert_eq!(
        v,
        json!({"id": 5, "status": "ok", "data": {"added": 2, "previous": 1, "total": 3}})
    );
    let err = Reply::error(6, "Unknown command: x");
    let v: Value = serde_json::to_value(&err).unwrap();
    assert_eq!(
        v,
        json!({"id": 6, "status": "error", "error": "Unknown command: x"})
    );
    // Gunicorn's make_response sends {} for no data.
    let empty = serde_json::to_value(Reply::ok(1, &())).unwrap();
    assert_eq!(empty, json!({"id": 1, "status": "ok", "data": {}}));
}

#[test]
fn gunicorns_own_replies_parse_into_our_types() {
    let stats = br#"{"id": 1, "status": "ok", "data": {"uptime": 12.5, "pid": 10, "workers_current": 2,
        "workers_target": 2, "workers_spawned": 2, "workers_killed": 0, "reloads": 0, "dirty_arbiter_pid": null}}"#;
    let ServerMessage::Reply(reply) = ServerMessage::from_payload(stats).unwrap() else {
        panic!("a reply")
    };
    let s: Stats = reply.data().unwrap();
    assert_eq!((s.pid, s.workers_current, s.uptime), (10, 2, Some(12.5)));
    let workers = json!({"workers": [{"pid": 11, "age": 1, "booted": true, "aborted": false,
        "last_heartbeat": 0.42}], "count": 1});
    let w: WorkersData = serde_json::from_value(workers).unwrap();
    assert_eq!(w.workers[0].pid, 11);
    assert_eq!(w.workers[0].state, WorkerState::Unknown);
}

#[test]
fn worker_info_keeps_gunicornc_fields_at_top_level() {
    let info = WorkerInfo {
        pid: 9,
        age: 3,
        booted: true,
        last_heartbeat: Some(0.5),
        ..Default::default()
    };
    let v = serde_json::to_value(&info).unwrap();
    for key in [
        "pid",
        "age",
        "booted",
        "aborted",
        "last_heartbeat",
        "slot",
        "state",
        "timeout_in",
        "requests",
        "status",
        "p50_ms",
        "p99_ms",
        "cpu_percent",
        "rss_bytes",
        "restarts",
        "last_exit",
    ] {
        assert!(v.get(key).is_some(), "missing {key}");
    }
    assert_eq!(
        v["status"],
        json!({"1xx": 0, "2xx": 0, "3xx": 0, "4xx": 0, "5xx": 0})
    );
    let back: WorkerInfo = serde_json::from_value(v).unwrap();
    assert_eq!(back, info);
}

#[test]
fn states_use_kebab_case_and_unknown_ones_survive() {
    assert_eq!(
        serde_json::to_value(WorkerState::TimeoutPending).unwrap(),
        json!("timeout-pending")
    );
    let s: WorkerState = serde_json::from_value(json!("hibernating")).unwrap();
    assert_eq!(s, WorkerState::Unknown);
}

#[test]
fn pushes_round_trip_and_are_told_apart_from_replies() {
    let pushes = vec![
        Push::Snapshot(Box::default()),
        Push::Event(Event::WorkerSpawned {
            slot: 1,
            pid: 2,
            generation: 0,
        }),
        Push::Event(Event::WorkerExited {
            slot: 1,
            pid: 2,
            reason: ExitReason {
                cause: ExitCause::Timeout,
                signal: Some(9),
                ..Default::default()
            },
            last_request: Some(RequestInfo {
                method: "GET".into(),
                path: "/slow".into(),
                ..Default::default()
            }),
        }),
        Push::Event(Event::DumpTaken {
            dump: Box::new(Dump {
                pid: 2,
                stack: "File \"app.py\"".into(),
                ..Default::default()
            }),
        }),
        Push::Logs(vec![LogLine {
            slot: Some(0),
            pid: Some(2),
            line: "hello".into(),
            ..Default::default()
        }]),
        Push::Lagged(3),
    ];
    for push in pushes {
        let frame = encode(&push).unwrap();
        assert_eq!(
            ServerMessage::from_payload(&frame[4..]).unwrap(),
            ServerMessage::Push(push)
        );
    }
    let unknown = br#"{"push": "event", "data": {"event": "solar_flare", "x": 1}}"#;
    assert_eq!(
        ServerMessage::from_payload(unknown).unwrap(),
        ServerMessage::Push(Push::Event(Event::Unknown))
    );
}

#[test]
fn exit_reasons_read_like_a_post_mortem() {
    let r = |cause, code, signal| {
        ExitReason {
            cause,
            code,
            signal,
            at: None,
        }
        .describe()
    };
    assert_eq!(r(ExitCause::Crashed, None, Some(11)), "SIGSEGV");
    assert_eq!(r(ExitCause::Timeout, None, Some(9)), "timeout (SIGKILL)");
    assert_eq!(r(ExitCause::Exited, Some(1), None), "exit 1");
    assert_eq!(
        r(ExitCause::MaxRequests, Some(0), None),
        "max-requests (exit 0)"
    );
    assert_eq!(r(ExitCause::Stopped, None, None), "stopped");
}

#[test]
fn blocking_reader_handles_eof_truncation_and_oversize() {
    let mut stream: Vec<u8> = encode(&json!({"a": 1})).unwrap();
    stream.extend(encode(&json!({"b": 2})).unwrap());
    let mut r = &stream[..];
    assert_eq!(read_frame(&mut r).unwrap(), br#"{"a":1}"#);
    assert_eq!(read_frame(&mut r).unwrap(), br#"{"b":2}"#);
    assert!(matches!(read_frame(&mut r), Err(FrameError::Closed)));
    assert!(matches!(
        read_frame(&mut &[0u8, 0][..]),
        Err(FrameError::Truncated)
    ));
    assert!(matches!(
        read_frame(&mut &[0u8, 0, 0, 9, b'{'][..]),
        Err(FrameError::Truncated)
    ));
    let huge = ((MAX_FRAME + 1) as u32).to_be_bytes();
    assert!(matches!(
        read_frame(&mut &huge[..]),
        Err(FrameError::TooLarge(_))
    ));
}

#[test]
fn incremental_decoder_survives_any_split() {
    let mut stream = encode(&Request::new(1, &Command::Reload)).unwrap();
    stream.extend(encode(&Request::new(2, &Command::Reopen)).unwrap());
    for chunk in 1..stream.len() {
        let mut dec = FrameDecoder::new();
        let mut ids = Vec::new();
        for piece in stream.chunks(chunk) {
            dec.push(piece);
            while let Some(payload) = dec.next_frame().unwrap() {
                ids.push(decode_request(&payload).unwrap().id);
            }
        }
        assert_eq!(ids, [1, 2], "chunk size {chunk}");
        assert_eq!(dec.buffered(), 0);
    }
    let mut dec = FrameDecoder::new();
    dec.push(&u32::MAX.to_be_bytes());
    assert!(matches!(dec.next_frame(), Err(FrameError::TooLarge(_))));
}

#[test]
fn malformed_payloads_give_an_error_with_the_id_when_possible() {
    assert_eq!(
        decode_request(br#"{"id": 9, "command": 5}"#).unwrap_err().0,
        9
    );
    assert_eq!(decode_request(b"\xff\xfe not json").unwrap_err().0, 0);
    assert_eq!(decode_request(br#"[1, 2]"#).unwrap_err().0, 0);
    assert!(decode_request(br#"{"id": 1, "command": "x", "args": [{"nested": 1}]}"#).is_err());
    assert!(ServerMessage::from_payload(br#"{"id": 1, "status": "maybe"}"#).is_err());
    assert!(ServerMessage::from_payload(b"").is_err());
}

#[test]
fn a_threaded_worker_row_lists_its_threads_and_older_rows_still_parse() {
    let info = WorkerInfo {
        pid: 9,
        state: WorkerState::App,
        threads: vec![
            ThreadInfo {
                thread: 0,
                state: WorkerState::Idle,
                ..Default::default()
            },
            ThreadInfo {
                thread: 1,
                state: WorkerState::App,
                request: Some(RequestInfo {
                    method: "GET".into(),
                    path: "/slow".into(),
                    elapsed: 3.5,
                    ..Default::default()
                }),
                deadline_in: Some(26.5),
                ident: Some("0x00007f0000000002".into()),
                ..Default::default()
            },
        ],
        threads_busy: 1,
        threads_total: 2,
        connections: 4,
        keepalive: 3,
        in_flight: 1,
        ..Default::default()
    };
    let v = serde_json::to_value(&info).unwrap();
    assert_eq!(
        v["threads"][1],
        json!({"thread": 1, "state": "app", "deadline_in": 26.5, "timed_out": false,
               "ident": "0x00007f0000000002",
               "request": {"method": "GET", "path": "/slow", "client": "", "elapsed": 3.5}})
    );
    assert_eq!(
        v["threads"][0],
        json!({"thread": 0, "state": "idle", "request": null, "deadline_in": null,
               "timed_out": false})
    );
    assert_eq!(
        (
            &v["threads_busy"],
            &v["threads_total"],
            &v["connections"],
            &v["keepalive"],
            &v["in_flight"]
        ),
        (&json!(1), &json!(2), &json!(4), &json!(3), &json!(1))
    );
    assert_eq!(serde_json::from_value::<WorkerInfo>(v).unwrap(), info);
    let older: WorkerInfo =
        serde_json::from_value(json!({"pid": 9, "state": "app", "request": null})).unwrap();
    assert_eq!((older.threads.len(), older.threads_total), (0, 0));
    assert_eq!(
        older.requests_in_flight(),
        1,
        "an older server's busy worker serves one request"
    );
    assert_eq!(info.requests_in_flight(), 1);
    assert_eq!(older.in_flight, 0, "an older server sends no in_flight");
    // A greenlet worker: 500 requests on 32 thread entries, all of them busy.
    let green = WorkerInfo {
        threads_busy: 32,
        threads_total: 32,
        in_flight: 500,
        ..Default::default()
    };
    assert_eq!(green.requests_in_flight(), 500);
}
