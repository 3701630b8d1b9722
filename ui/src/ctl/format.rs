//! Text output of `gunicorn-rs ctl`, per command. It reads replies leniently (every field
//! optional), so it prints Gunicorn's own replies as well as gunicorn-rs's richer ones.

use serde_json::Value;

use crate::protocol::{
    Command, ConfigData, Dump, DumpData, ListenersData, ShowTarget, Stats, WorkerInfo, WorkersData,
};
use crate::stacks::{self, StackLine};
use crate::view::fmt;

/// `-j`: the reply's data, indented like gunicornc's `json.dumps(result, indent=2)`.
pub fn json(data: &Value) -> String {
    serde_json::to_string_pretty(data).unwrap_or_else(|e| format!("{{\"error\": \"{e}\"}}"))
}

/// Human output; commands without a dedicated format print their JSON, or `OK` when empty.
pub fn text(command: Option<&Command>, data: &Value) -> String {
    let parsed = match command {
        Some(Command::Show(ShowTarget::Workers)) => serde_json::from_value(data.clone())
            .ok()
            .map(|w| workers(&w)),
        Some(Command::Show(ShowTarget::Stats)) => {
            serde_json::from_value(data.clone()).ok().map(|s| stats(&s))
        }
        Some(Command::Show(ShowTarget::Listeners)) => serde_json::from_value(data.clone())
            .ok()
            .map(|l| listeners(&l)),
        Some(Command::Show(ShowTarget::Config)) => serde_json::from_value(data.clone())
            .ok()
            .map(|c| config(&c)),
        Some(Command::Dump(_)) => serde_json::from_value(data.clone()).ok().map(|d| dumps(&d)),
        Some(Command::Help) => Some(help(data)),
        _ => None,
    };
    match parsed {
        Some(text) => text,
        None if data.as_object().is_some_and(|o| o.is_empty()) => "OK".into(),
        None => json(data),
    }
}

/// One table for every worker; threaded servers (`gthread`, greenlet kinds) get BUSY
/// (busy/threads, or the requests in flight alone when beyond the threads) and
/// K-ALIVE (kept-alive connections) columns, sync ones the table they always had.
fn workers(data: &WorkersData) -> String {
    if data.workers.is_empty() {
        return "No workers running".into();
    }
    let threaded = data
        .workers
        .iter()
        .any(|w| w.is_threaded() || w.keepalive > 0);
    let titles = [
        "SLOT",
        "PID",
        "STATE",
        "BUSY",
        "REQUEST",
        "ELAPSED",
        "KILL IN",
        "REQS",
        "K-ALIVE",
        "LAST EXIT",
    ];
    let mut lines = vec![worker_line(titles.map(String::from), threaded)];
    lines.push("-".repeat(if threaded { 113 } else { 99 }));
    lines.extend(
        data.workers
            .iter()
            .map(|w| worker_line(worker_cells(w), threaded)),
    );
    lines.push(String::new());
    lines.push(format!(
        "Total: {} workers",
        data.count.max(data.workers.len())
    ));
    lines.join("\n")
}

/// The row's cells, in the title order of [`workers`].
fn worker_cells(w: &WorkerInfo) -> [String; 10] {
    let req = w.request.as_ref().filter(|_| w.state.is_busy());
    let busy = fmt::worker_busy(w);
    [
        w.slot.to_string(),
        w.pid.to_string(),
        w.state.label().to_string(),
        busy,
        fmt::truncate(
            &req.map(|r| format!("{} {}", r.method, r.path))
                .unwrap_or_default(),
            32,
        ),
        fmt::opt(req.map(|r| r.elapsed), fmt::duration),
        fmt::opt(w.timeout_in.filter(|_| req.is_some()), fmt::countdown),
        w.requests.to_string(),
        w.keepalive.to_string(),
        fmt::opt(w.last_exit.as_ref(), |e| e.describe()),
    ]
}

fn worker_line(cells: [String; 10], threaded: bool) -> String {
    let [slot, pid, state, busy, request, elapsed, kill, reqs, alive, exit] = cells;
    if threaded {
        format!(
            "{slot:<4} {pid:<8} {state:<9} {busy:>5} {request:<32} {elapsed:>8} {kill:>8} \
             {reqs:>7} {alive:>7} {exit:<16}"
        )
    } else {
        format!(
            "{slot:<4} {pid:<8} {state:<9} {request:<32} {elapsed:>8} {kill:>8} {reqs:>7} \
             {exit:<16}"
        )
    }
}

fn stats(s: &Stats) -> String {
    let mut lines = vec![
        format!("Uptime:           {}", fmt::opt(s.uptime, fmt::duration)),
        format!("PID:              {}", s.pid),
        format!("Workers current:  {}", s.workers_current),
        format!("Workers target:   {}", s.workers_target),
        format!("Workers spawned:  {}", s.workers_spawned),
        format!("Workers killed:   {}", s.workers_killed),
        format!("Reloads:          {}", s.reloads),
    ];
    if !s.name.is_empty() {
        lines.extend([
            format!("Name:             {}", s.name),
            format!("Binds:            {}", s.binds.join(" ")),
            format!("Worker class:     {}", s.worker_class),
            format!("Busy / idle:      {} / {}", s.busy, s.idle),
        ]);
        // A server that counts threads and connections (not older ones, which send zeros).
        if s.threads_total > 0 {
            lines.extend([
                in_flight(s),
                format!(
                    "Connections:      {} open, {} keep-alive",
                    s.connections, s.keepalive
                ),
            ]);
        }
        lines.extend([
            format!("Requests:         {}", s.requests),
            format!("Req/s:            {}", fmt::opt(s.req_per_s, fmt::rate)),
            format!(
                "Latency p50/p99:  {} / {}",
                fmt::opt(s.p50_ms, fmt::millis),
                fmt::opt(s.p99_ms, fmt::millis)
            ),
            format!(
                "Backlog:          {}",
                fmt::opt(s.backlog, |b| b.to_string())
            ),
            format!("Generation:       {}", s.generation),
        ]);
    }
    lines.join("\n")
}

/// Requests in flight over the threads; a greenlet server's alone, as requests: it serves more
/// than it has thread entries, which are no limit for it.
fn in_flight(s: &Stats) -> String {
    if crate::protocol::is_green(&s.worker_class) {
        format!("In flight:        {} requests", s.in_flight)
    } else if s.in_flight > s.threads_total {
        format!("In flight:        {}", s.in_flight)
    } else {
        format!(
            "In flight:        {} of {} threads",
            s.in_flight, s.threads_total
        )
    }
}

fn listeners(data: &ListenersData) -> String {
    if data.listeners.is_empty() {
        return "No listeners bound".into();
    }
    let mut lines = vec![
        format!("{:<40} {:<8} FD", "ADDRESS", "TYPE"),
        "-".repeat(55),
    ];
    lines.extend(
        data.listeners
            .iter()
            .map(|l| format!("{:<40} {:<8} {}", l.address, l.kind, l.fd)),
    );
    lines.push(String::new());
    lines.push(format!(
        "Total: {} listeners",
        data.count.max(data.listeners.len())
    ));
    lines.join("\n")
}

fn config(data: &ConfigData) -> String {
    let value = |v: &Value| match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items
            .iter()
            .map(|i| i.as_str().map_or_else(|| i.to_string(), String::from))
            .collect::<Vec<_>>()
            .join(", "),
        other => other.to_string(),
    };
    data.iter()
        .map(|(k, v)| format!("{k}: {}", value(v)))
        .collect::<Vec<_>>()
        .join("\n")
}

fn dumps(data: &DumpData) -> String {
    let mut out = Vec::new();
    for d in &data.dumps {
        let during = d
            .request
            .as_ref()
            .map(|r| format!(" — {} {} ({})", r.method, r.path, fmt::duration(r.elapsed)));
        out.push(format!("== worker {}{}", d.pid, during.unwrap_or_default()));
        if let Some(err) = &d.error {
            out.push(format!("error: {err}"));
        }
        if d.is_green() {
            request_table(&mut out, d);
        } else {
            thread_table(&mut out, d);
        }
        out.extend(
            stacks::annotate(d.stack.trim_end(), &d.threads)
                .into_iter()
                .map(|line| match line {
                    StackLine::Text(text) => text.to_string(),
                    StackLine::Owner(t) => format!("  » {}", stacks::owner_text(t, d.entry_word())),
                }),
        );
        out.push(String::new());
    }
    out.join("\n")
}

/// A threaded worker's threads and their requests when the stacks were taken, above the
/// stacks (which name their thread under its header, when the worker published identities).
fn thread_table(out: &mut Vec<String>, d: &Dump) {
    if d.threads.len() < 2 {
        return;
    }
    let busy = d.threads.iter().filter(|t| t.request.is_some()).count();
    out.push(format!("threads: {busy}/{} busy", d.threads.len()));
    out.extend(
        d.threads
            .iter()
            .map(|t| format!("  {}", stacks::owner_text(t, None))),
    );
    out.push(String::new());
}

/// A greenlet worker's requests when the stacks were taken, longest first: only those with a
/// scoreboard entry (its longest-running ones) can be listed, and say so when there were more.
fn request_table(out: &mut Vec<String>, d: &Dump) {
    // No scoreboard entries: the worker was gone before its requests could be read.
    if d.threads.is_empty() {
        return;
    }
    let listed = stacks::longest_first(&d.threads);
    let in_flight = d.requests_in_flight();
    let shown = match listed.len() {
        n if n < in_flight => format!(" ({n} longest shown)"),
        _ => String::new(),
    };
    out.push(format!("requests in flight: {in_flight}{shown}"));
    out.extend(
        listed
            .iter()
            .map(|t| format!("  {}", stacks::owner_text(t, d.entry_word()))),
    );
    out.push(String::new());
}

fn help(data: &Value) -> String {
    let Some(commands) = data.get("commands").and_then(Value::as_object) else {
        return json(data);
    };
    let width = commands.keys().map(String::len).max().unwrap_or(0);
    let mut lines = vec!["Available commands:".to_string(), String::new()];
    lines.extend(
        commands
            .iter()
            .map(|(c, d)| format!("  {c:<width$}   {}", d.as_str().unwrap_or_default())),
    );
    lines.join("\n")
}
