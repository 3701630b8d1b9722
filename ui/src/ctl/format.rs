//! Text output of `gunicorn-rs ctl`, per command. It reads replies leniently (every field
//! optional), so it prints Gunicorn's own replies as well as gunicorn-rs's richer ones.

use serde_json::Value;

use crate::protocol::{
    Command, ConfigData, DumpData, ListenersData, ShowTarget, Stats, WorkersData,
};
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

fn workers(data: &WorkersData) -> String {
    if data.workers.is_empty() {
        return "No workers running".into();
    }
    let mut lines = vec![format!(
        "{:<4} {:<8} {:<9} {:<32} {:>8} {:>8} {:>7} {:<16}",
        "SLOT", "PID", "STATE", "REQUEST", "ELAPSED", "KILL IN", "REQS", "LAST EXIT"
    )];
    lines.push("-".repeat(99));
    for w in &data.workers {
        let req = w.request.as_ref().filter(|_| w.state.is_busy());
        lines.push(format!(
            "{:<4} {:<8} {:<9} {:<32} {:>8} {:>8} {:>7} {:<16}",
            w.slot,
            w.pid,
            w.state.label(),
            fmt::truncate(
                &req.map(|r| format!("{} {}", r.method, r.path))
                    .unwrap_or_default(),
                32
            ),
            fmt::opt(req.map(|r| r.elapsed), fmt::duration),
            fmt::opt(w.timeout_in.filter(|_| req.is_some()), fmt::countdown),
            w.requests,
            fmt::opt(w.last_exit.as_ref(), |e| e.describe()),
        ));
    }
    lines.push(String::new());
    lines.push(format!(
        "Total: {} workers",
        data.count.max(data.workers.len())
    ));
    lines.join("\n")
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
        out.push(d.stack.trim_end().to_string());
        out.push(String::new());
    }
    out.join("\n")
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
