//! CPU % of a worker for `show workers` and the snapshots, from the CPU time in /proc that
//! [`ui::procstat`] reads (the one /proc reader, shared with the dashboard). Read only when a
//! reply or a snapshot needs it, never on every loop pass.

use std::time::Instant;

/// `utime + stime` of `pid`, in clock ticks.
pub(in crate::master) fn cpu_ticks(pid: i32) -> Option<u64> {
    ui::procstat::read(pid).map(|s| s.cpu_ticks)
}

pub(in crate::master) fn ticks_per_second() -> f64 {
    ui::procstat::ticks_per_second() as f64
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
