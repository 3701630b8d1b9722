//! A per-slot latency histogram: log buckets with 4 sub-buckets per power of two, from 64 µs
//! to about 128 s (`reference/tui.md` §2.3: ~80 `u32` buckets, under 20 % bucket error).
//!
//! The worker adds one to one bucket at the end of each request (a single relaxed
//! `fetch_add`, no lock, nothing the master must answer); the master copies the buckets and
//! computes percentiles itself. Counts are `u32`: a worker would need 4 billion requests in
//! one bucket to wrap, and a recycled worker starts again at zero.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// Everything below 64 µs (2^6) lands in bucket 0.
const FIRST_POW: u32 = 6;
/// The last bucket holds everything from 2^27 µs (~134 s) up.
const LAST_POW: u32 = 27;
/// Sub-buckets per power of two.
const SUBS: u32 = 4;
/// Bucket 0 (under 64 µs), 4 per octave from 2^6 to 2^27 µs, and the overflow bucket.
pub const BUCKETS: usize = 2 + ((LAST_POW - FIRST_POW) * SUBS) as usize;

/// The bucket a duration of `us` microseconds falls into.
pub fn bucket_of(us: u64) -> usize {
    if us < 1 << FIRST_POW {
        return 0;
    }
    let pow = 63 - us.leading_zeros();
    if pow >= LAST_POW {
        return BUCKETS - 1;
    }
    // The two bits below the leading one pick the quarter of the octave.
    let sub = ((us >> (pow - 2)) & 3) as u32;
    (1 + (pow - FIRST_POW) * SUBS + sub) as usize
}

/// The smallest duration (µs) of bucket `i` — and of the next, its end.
fn lower_bound_us(i: usize) -> u64 {
    match i {
        0 => 0,
        i if i >= BUCKETS - 1 => 1 << LAST_POW,
        i => {
            let i = (i - 1) as u32;
            let (pow, sub) = (FIRST_POW + i / SUBS, u64::from(i % SUBS));
            (4 + sub) << (pow - 2)
        }
    }
}

/// The slot's buckets, in shared memory.
#[repr(C)]
pub(super) struct LatencyHistogram([AtomicU32; BUCKETS]);

impl LatencyHistogram {
    pub(super) fn record(&self, elapsed: Duration) {
        let us = u64::try_from(elapsed.as_micros()).unwrap_or(u64::MAX);
        self.0[bucket_of(us)].fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn clear(&self) {
        for bucket in &self.0 {
            bucket.store(0, Ordering::Relaxed);
        }
    }

    pub(super) fn read(&self) -> Histogram {
        Histogram(std::array::from_fn(|i| {
            u64::from(self.0[i].load(Ordering::Relaxed))
        }))
    }
}

/// A copy of one or more slots' buckets, for percentiles.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Histogram(pub [u64; BUCKETS]);

impl Default for Histogram {
    fn default() -> Self {
        Histogram([0; BUCKETS])
    }
}

impl Histogram {
    pub fn count(&self) -> u64 {
        self.0.iter().sum()
    }

    /// Adds `other`'s counts (several workers, or the dead ones).
    pub fn merge(&mut self, other: &Histogram) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a += b;
        }
    }

    /// The counts added since `earlier` (a window between two snapshots of the same slots).
    pub fn since(&self, earlier: &Histogram) -> Histogram {
        Histogram(std::array::from_fn(|i| {
            self.0[i].saturating_sub(earlier.0[i])
        }))
    }

    /// The `q` quantile (0 < q ≤ 1) in milliseconds: the middle of the bucket holding it.
    /// `None` without a single request.
    pub fn quantile_ms(&self, q: f64) -> Option<f64> {
        let total = self.count();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (i, &n) in self.0.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let (lo, hi) = (lower_bound_us(i), lower_bound_us(i + 1));
                let mid = if i == BUCKETS - 1 { lo } else { (lo + hi) / 2 };
                return Some(mid as f64 / 1000.0);
            }
        }
        None
    }
}

/// Cumulative counts at every power of two from 64 µs to 2^27 µs (~134 s), as
/// `(upper bound in µs, requests at most that long)`: each is a bucket edge here, so the
/// counts are exact (Prometheus' `le` buckets; the overflow bucket is only in the total).
pub fn octave_bounds() -> impl Iterator<Item = (u64, usize)> {
    (FIRST_POW..=LAST_POW).map(|pow| (1u64 << pow, 1 + ((pow - FIRST_POW) * SUBS) as usize))
}

impl Histogram {
    /// Requests in the buckets below bucket `end` (see [`octave_bounds`]).
    pub fn count_below(&self, end: usize) -> u64 {
        self.0.iter().take(end).sum()
    }

    /// The total time of the requests counted, in seconds, approximated: no sum is kept, so
    /// each request counts as the middle of its bucket (the overflow bucket as its start).
    pub fn approx_sum_seconds(&self) -> f64 {
        let us: f64 = self
            .0
            .iter()
            .enumerate()
            .map(|(i, &n)| {
                let (lo, hi) = (lower_bound_us(i), lower_bound_us(i + 1));
                let mid = if i == BUCKETS - 1 { lo } else { (lo + hi) / 2 };
                n as f64 * mid as f64
            })
            .sum();
        us / 1e6
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_bounds_round_trip() {
        let mut last = 0;
        for us in [
            0,
            63,
            64,
            79,
            80,
            95,
            96,
            127,
            128,
            1_000,
            1_000_000,
            100_000_000,
        ] {
            let b = bucket_of(us);
            assert!(b >= last, "{us} µs went back to bucket {b}");
            assert!(lower_bound_us(b) <= us || b == 0, "{us} below its bucket");
            assert!(us < lower_bound_us(b + 1) || b == BUCKETS - 1);
            last = b;
        }
        assert_eq!(bucket_of(64), 1);
        assert_eq!(bucket_of(80), 2);
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(BUCKETS, 86);
    }

    #[test]
    fn quantiles_land_within_a_bucket_of_the_truth() {
        let mut h = Histogram::default();
        assert_eq!(h.quantile_ms(0.5), None);
        for ms in 1..=100u64 {
            h.0[bucket_of(ms * 1000)] += 1;
        }
        let p50 = h.quantile_ms(0.5).expect("p50");
        let p99 = h.quantile_ms(0.99).expect("p99");
        assert!((p50 - 50.0).abs() / 50.0 < 0.2, "p50 {p50}");
        assert!((p99 - 99.0).abs() / 99.0 < 0.2, "p99 {p99}");
    }

    #[test]
    fn octave_bounds_are_bucket_edges_and_the_sum_is_near_the_truth() {
        let bounds: Vec<_> = octave_bounds().collect();
        assert_eq!(bounds.first(), Some(&(64, 1)));
        assert_eq!(bounds.last(), Some(&(1 << 27, BUCKETS - 1)));
        for (us, end) in bounds {
            assert_eq!(
                lower_bound_us(end),
                us,
                "{us} µs is where bucket {end} starts"
            );
        }
        let mut h = Histogram::default();
        for ms in 1..=100u64 {
            h.0[bucket_of(ms * 1000)] += 1;
        }
        assert_eq!(h.count_below(bucket_of(50_000)), 49);
        let truth = 5050.0 / 1000.0;
        let sum = h.approx_sum_seconds();
        assert!((sum - truth).abs() / truth < 0.1, "{sum} vs {truth}");
    }
}
