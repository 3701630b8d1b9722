//! What /proc says of a process: its command line, state, parent, memory, sockets.

use super::Server;
use std::collections::{BTreeMap, BTreeSet};

/// `/proc/PID/cmdline` with NULs as spaces (process titles overwrite argv).
pub fn cmdline(pid: u32) -> Option<String> {
    let raw = std::fs::read(format!("/proc/{pid}/cmdline")).ok()?;
    Some(
        String::from_utf8_lossy(&raw)
            .replace('\0', " ")
            .trim()
            .to_string(),
    )
}

/// (state, ppid) from /proc/PID/stat; the comm field may contain spaces and parentheses.
fn stat(pid: u32) -> Option<(char, u32)> {
    let raw = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &raw[raw.rfind(')')? + 2..];
    let mut fields = rest.split(' ');
    let state = fields.next()?.chars().next()?;
    let ppid = fields.next()?.parse().ok()?;
    Some((state, ppid))
}

pub fn proc_state(pid: u32) -> Option<char> {
    stat(pid).map(|(s, _)| s)
}

/// True while `pid` exists and is not a zombie.
pub fn is_alive(pid: u32) -> bool {
    proc_state(pid).is_some_and(|s| s != 'Z')
}

/// Live (non-zombie) children of `parent`.
pub fn children(parent: u32) -> BTreeSet<u32> {
    let mut out = BTreeSet::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return out;
    };
    for entry in entries.flatten() {
        let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some((state, ppid)) = stat(pid) {
            if ppid == parent && state != 'Z' {
                out.insert(pid);
            }
        }
    }
    out
}

/// A `key:  value kB` field of /proc/PID/status, in KiB.
pub fn proc_status_kb(pid: u32, key: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status.lines().find(|l| l.starts_with(&format!("{key}:")))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// The sockets the server's workers hold when no client is connected: measured after a
/// `Connection: close` round trip, so every worker is past its start-up and that client's
/// socket is closed on the server's side (its EOF came after the close).
pub fn idle_worker_sockets(server: &Server) -> BTreeMap<u32, usize> {
    for _ in 0..server.worker_pids().len() {
        server.http(b"GET / HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    }
    server
        .worker_pids()
        .into_iter()
        .map(|pid| (pid, socket_count(pid)))
        .collect()
}

/// How many sockets process `pid` holds (its /proc/PID/fd links to `socket:[…]`).
pub fn socket_count(pid: u32) -> usize {
    let Ok(entries) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|target| target.to_string_lossy().starts_with("socket:"))
        })
        .count()
}

/// Raise this test process's open-file soft limit to its hard limit (tests that hold
/// thousands of client sockets); returns the new soft limit.
pub fn raise_own_nofile_limit() -> u64 {
    use nix::sys::resource::{getrlimit, setrlimit, Resource};
    let (_, hard) = getrlimit(Resource::RLIMIT_NOFILE).expect("getrlimit");
    setrlimit(Resource::RLIMIT_NOFILE, hard, hard).expect("setrlimit");
    hard
}

/// Live (non-zombie) members of process group `pgid`.
pub fn group_members(pgid: u32) -> BTreeSet<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return BTreeSet::new();
    };
    entries
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&pid| {
            let Ok(raw) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            // proc(5): after `(comm)`, state, ppid, pgrp.
            let Some(rest) = raw.rfind(')').map(|i| &raw[i + 2..]) else {
                return false;
            };
            let fields: Vec<&str> = rest.split(' ').take(3).collect();
            fields.len() == 3 && fields[0] != "Z" && fields[2].parse() == Ok(pgid)
        })
        .collect()
}
