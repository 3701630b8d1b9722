//! Number and time formatting for narrow columns: every output fits the width its column gives.

/// `950ms`, `4.2s`, `29.0s`, `4m12s`, `1h02m`, `3d04h`.
pub fn duration(secs: f64) -> String {
    let secs = secs.max(0.0);
    if secs < 1.0 {
        return format!("{}ms", (secs * 1000.0) as u64);
    }
    if secs < 60.0 {
        return format!("{secs:.1}s");
    }
    let s = secs as u64;
    match s {
        0..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        3600..=86_399 => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
        _ => format!("{}d{:02}h", s / 86_400, (s % 86_400) / 3600),
    }
}

/// Seconds as a coarse age: `12s`, `4m`, `1h02m`, `3d04h`.
pub fn age(secs: f64) -> String {
    let s = secs.max(0.0) as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m", s / 60),
        _ => duration(secs),
    }
}

/// The countdown to the timeout kill: `T-1.0s`, `T-12s`, or `overdue`.
pub fn countdown(secs: f64) -> String {
    if secs <= 0.0 {
        "overdue".into()
    } else if secs < 10.0 {
        format!("T-{secs:.1}s")
    } else {
        format!("T-{}", age(secs))
    }
}

/// Milliseconds: `0.4ms`, `12ms`, `1.20s`.
pub fn millis(ms: f64) -> String {
    if ms < 10.0 {
        format!("{ms:.1}ms")
    } else if ms < 1000.0 {
        format!("{}ms", ms.round() as u64)
    } else {
        format!("{:.2}s", ms / 1000.0)
    }
}

/// Bytes in binary units: `812K`, `12.7M`, `1.2G`.
pub fn bytes(b: u64) -> String {
    const K: f64 = 1024.0;
    let b = b as f64;
    if b < K * K {
        format!("{}K", (b / K).round() as u64)
    } else if b < K * K * K {
        format!("{:.1}M", b / (K * K))
    } else {
        format!("{:.1}G", b / (K * K * K))
    }
}

/// A count in at most five characters: `999`, `12.3k`, `4.5M`.
pub fn count(n: u64) -> String {
    match n {
        0..=9_999 => n.to_string(),
        10_000..=999_999 => format!("{:.1}k", n as f64 / 1e3),
        _ => format!("{:.1}M", n as f64 / 1e6),
    }
}

/// A worker's requests in flight over its threads: `3/8`; the count alone (`500`) when it is
/// beyond the threads, as a greenlet worker's is (its thread entries show only the longest
/// requests: `500/32` would read as an overload, and not fit); `-` when no threads are counted.
pub fn busy(in_flight: usize, threads: u32) -> String {
    match threads {
        0 => "-".into(),
        t if in_flight > t as usize => count(in_flight as u64),
        t => format!("{in_flight}/{t}"),
    }
}

/// A worker's BUSY cell: [`busy`] of its requests and threads; a greenlet worker's requests
/// in flight alone (`3`, `500`), since its 32 scoreboard entries are no limit — `32/32` would
/// read as a full worker while it takes up to `--worker-connections` of them.
pub fn worker_busy(w: &crate::protocol::WorkerInfo) -> String {
    match w.is_green() {
        true => count(w.requests_in_flight() as u64),
        false => busy(w.requests_in_flight(), w.threads_total),
    }
}

/// A rate: `0`, `3.5`, `120`, `12.3k`.
pub fn rate(r: f64) -> String {
    if r < 10.0 && r > 0.0 {
        format!("{r:.1}")
    } else {
        count(r.round() as u64)
    }
}

/// An optional value, `-` when missing.
pub fn opt<T>(v: Option<T>, f: impl Fn(T) -> String) -> String {
    v.map(f).unwrap_or_else(|| "-".into())
}

/// Cuts `s` to `width` characters, ending with `…` when cut.
pub fn truncate(s: &str, width: usize) -> String {
    if s.chars().count() <= width {
        return s.to_string();
    }
    let mut out: String = s.chars().take(width.saturating_sub(1)).collect();
    out.push('…');
    out
}
