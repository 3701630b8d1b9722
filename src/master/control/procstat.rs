//! CPU time of a worker from `/proc/PID/stat` (proc(5): fields 14 `utime` and 15 `stime`, in
//! clock ticks). Read only when a reply or a snapshot needs it, never on every loop pass.

use std::time::Instant;

/// `utime + stime` of `pid`, in clock ticks.
pub(in crate::master) fn cpu_ticks(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_ticks(&stat)
}

/// The command name (field 2) may hold spaces and parentheses: count fields after the last `)`.
fn parse_ticks(stat: &str) -> Option<u64> {
    let rest = &stat[stat.rfind(')')? + 1..];
    let mut fields = rest.split_whitespace().skip(11);
    let utime: u64 = fields.next()?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(utime + stime)
}

pub(in crate::master) fn ticks_per_second() -> f64 {
    nix::unistd::sysconf(nix::unistd::SysconfVar::CLK_TCK)
        .ok()
        .flatten()
        .filter(|&t| t > 0)
        .unwrap_or(100) as f64
}

/// CPU % of one core between the previous read (`before`) and `now`; the first read of a
/// worker averages over its life instead (`age_s` seconds).
pub(super) fn cpu_percent(
    ticks: u64,
    now: Instant,
    before: Option<(u64, Instant)>,
    age_s: f64,
) -> Option<f64> {
    let (used, secs) = match before {
        Some((t, at)) if now > at => (
            ticks.saturating_sub(t),
            now.duration_since(at).as_secs_f64(),
        ),
        _ => (ticks, age_s),
    };
    (secs > 0.0).then(|| used as f64 / ticks_per_second() / secs * 100.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_after_a_command_name_with_spaces_and_parens() {
        let stat = "42 (a (b) c) S 1 42 42 0 -1 4194560 100 0 0 0 7 5 0 0 20 0 1 0 300 0";
        assert_eq!(parse_ticks(stat), Some(12));
        assert!(cpu_ticks(std::process::id() as i32).is_some());
    }

    #[test]
    fn percent_between_reads_or_over_the_life() {
        let t0 = Instant::now();
        let hz = ticks_per_second();
        let later = t0 + std::time::Duration::from_secs(2);
        let busy = cpu_percent(hz as u64 * 2 + 10, later, Some((10, t0)), 0.0).unwrap();
        assert!((busy - 100.0).abs() < 1e-6, "{busy}");
        let life = cpu_percent(hz as u64, t0, None, 4.0).unwrap();
        assert!((life - 25.0).abs() < 1e-6, "{life}");
    }
}
