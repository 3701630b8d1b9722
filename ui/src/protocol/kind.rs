//! A worker's kind: the worker class it was spawned as, carried as Gunicorn's `-k` value
//! (`sync`, `gthread`, `gevent`, `eventlet`, `asgi`, `tornado`) in `WorkerInfo::kind` and `Dump::kind`. A string,
//! not an enum, so a kind this build does not know (a newer server's) still parses and is
//! shown as a threaded one.

/// Whether a worker of this `kind` serves each request on a greenlet (`gevent`, `eventlet`) or
/// an asyncio task (`asgi`, `tornado`). Its scoreboard entries are then not threads but its
/// longest-running requests, so neither their number nor their index means anything to a
/// user: the UI speaks of requests in flight and greenlets (tasks) instead. An empty kind (an
/// older server) is not green.
pub fn is_green(kind: &str) -> bool {
    matches!(kind, "gevent" | "eventlet" | "asgi" | "tornado")
}

/// What serves one request in a green `kind`: `greenlet`, or `task` under asgi and tornado.
pub fn entry_word(kind: &str) -> &'static str {
    match kind {
        "asgi" | "tornado" => "task",
        _ => "greenlet",
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::protocol::{is_green, Dump, WorkerInfo};

    #[test]
    fn asgi_entries_are_requests_served_by_tasks() {
        use crate::protocol::entry_word;
        assert!(
            is_green("asgi")
                && is_green("tornado")
                && is_green("gevent")
                && !is_green("gthread")
                && !is_green("")
        );
        assert_eq!(
            (entry_word("asgi"), entry_word("eventlet")),
            ("task", "greenlet")
        );
    }

    #[test]
    fn the_worker_kind_round_trips_and_older_peers_still_parse() {
        let info = WorkerInfo {
            pid: 9,
            kind: "gevent".into(),
            threads_total: 32,
            in_flight: 500,
            ..Default::default()
        };
        let v = serde_json::to_value(&info).unwrap();
        assert_eq!(v["kind"], "gevent");
        let back: WorkerInfo = serde_json::from_value(v).unwrap();
        assert_eq!(back, info);
        assert!(back.is_green());
        let dump = Dump {
            pid: 9,
            kind: "eventlet".into(),
            in_flight: 500,
            ..Default::default()
        };
        let v = serde_json::to_value(&dump).unwrap();
        assert_eq!(
            (&v["kind"], &v["in_flight"]),
            (&json!("eventlet"), &json!(500))
        );
        let back: Dump = serde_json::from_value(v).unwrap();
        assert_eq!(back, dump);
        assert!(back.is_green());
        assert_eq!(back.requests_in_flight(), 500);
        // An older server (or Gunicorn itself) sends neither field.
        let older: WorkerInfo = serde_json::from_value(json!({"pid": 9, "state": "app"})).unwrap();
        assert_eq!(older.kind, "");
        assert!(!older.is_green());
        let older: Dump = serde_json::from_value(json!({"pid": 9, "stack": ""})).unwrap();
        assert_eq!((older.kind.as_str(), older.in_flight), ("", 0));
        assert!(!older.is_green());
        for (kind, green) in [
            ("sync", false),
            ("gthread", false),
            ("gevent", true),
            ("eventlet", true),
        ] {
            assert_eq!(is_green(kind), green, "{kind}");
        }
    }
}
