//! Who of a gthread worker's lanes waits on the sockets: one leader at a time (leader/follower,
//! Schmidt et al.). The leader takes an event and serves it itself; while it serves, nobody
//! waits on the set, so a burst of short requests is served by one lane after another with no
//! thread woken and no GIL handed over — what makes `--threads 4` as fast as `--threads 1` on
//! short requests (measured: the lanes woke each other about once per request before).
//!
//! A request that runs longer than [`PROMOTE_AFTER`] must not hold the others back: one
//! follower, the deputy, watches the leader's clock and takes over leadership when it runs
//! out; the old leader becomes a follower when its request ends. Other followers sleep until
//! a deputy is needed.

use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How long the leader may serve before the deputy takes over the sockets. Short enough to be
/// invisible beside a request that waits on I/O; long enough that short requests never pay for
/// a hand-over.
pub const PROMOTE_AFTER: Duration = Duration::from_millis(1);
/// How long after the leader's last request the deputy keeps watching on a timer before it
/// sleeps until the next request wakes it (so a quiet worker does not tick).
const WATCH_WHILE_ACTIVE: Duration = Duration::from_millis(200);

#[derive(Default)]
struct State {
    /// The lane that waits on the set, or serves what it took from it.
    leader: Option<usize>,
    /// When the leader took the event it is serving; `None` while it waits.
    busy_since: Option<Instant>,
    /// When the leader last took an event.
    last_busy: Option<Instant>,
    /// The follower that watches the leader's clock.
    deputy: Option<usize>,
    /// The deputy sleeps until woken (the worker was quiet).
    deputy_asleep: bool,
    stopped: bool,
}

#[derive(Default)]
pub struct Baton {
    state: Mutex<State>,
    /// The deputy waits here; the others on `followers`.
    deputy: Condvar,
    followers: Condvar,
}

impl Baton {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Wait until `lane` leads; `false` once the worker stops.
    pub fn lead(&self, lane: usize) -> bool {
        let mut state = self.lock();
        loop {
            if state.stopped {
                return false;
            }
            match state.leader {
                None => {
                    take_over(&mut state, lane);
                    return true;
                }
                Some(_) if state.deputy.is_none() || state.deputy == Some(lane) => {
                    state.deputy = Some(lane);
                    if self.watch(&mut state) {
                        take_over(&mut state, lane);
                        // Someone must watch the new leader in turn.
                        self.followers.notify_one();
                        return true;
                    }
                    state = self.wait_as_deputy(state);
                }
                Some(_) => {
                    state = self
                        .followers
                        .wait(state)
                        .unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// The deputy's check: has the leader served its request for too long?
    fn watch(&self, state: &mut State) -> bool {
        state
            .busy_since
            .is_some_and(|since| since.elapsed() >= PROMOTE_AFTER)
    }

    /// Sleep until the leader's clock may have run out, or — on a quiet worker — until the
    /// next request wakes us.
    fn wait_as_deputy<'a>(&self, state: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        let active = state
            .last_busy
            .is_some_and(|t| t.elapsed() < WATCH_WHILE_ACTIVE);
        let wait = match state.busy_since {
            Some(since) => Some(PROMOTE_AFTER.saturating_sub(since.elapsed())),
            None if active => Some(PROMOTE_AFTER),
            None => None,
        };
        match wait {
            Some(wait) => match self.deputy.wait_timeout(state, wait) {
                Ok((guard, _)) => guard,
                Err(e) => e.into_inner().0,
            },
            None => {
                let mut state = state;
                state.deputy_asleep = true;
                let mut state = self.deputy.wait(state).unwrap_or_else(|e| e.into_inner());
                state.deputy_asleep = false;
                state
            }
        }
    }

    /// The leader took an event and starts serving it.
    pub fn busy(&self, lane: usize) {
        let mut state = self.lock();
        if state.leader != Some(lane) {
            return;
        }
        let now = Instant::now();
        state.busy_since = Some(now);
        state.last_busy = Some(now);
        if state.deputy_asleep {
            // A quiet worker got a request: the deputy watches again.
            state.deputy_asleep = false;
            self.deputy.notify_one();
        }
    }

    /// The lane finished serving; `true` if it still leads (then it waits on the set again),
    /// `false` if the deputy took over meanwhile (then it follows).
    pub fn done(&self, lane: usize) -> bool {
        let mut state = self.lock();
        if state.leader != Some(lane) {
            return false;
        }
        state.busy_since = None;
        true
    }

    /// The worker stops: every lane leaves `lead`.
    pub fn stop(&self) {
        self.lock().stopped = true;
        self.deputy.notify_all();
        self.followers.notify_all();
    }
}

fn take_over(state: &mut State, lane: usize) {
    state.leader = Some(lane);
    state.busy_since = None;
    if state.deputy == Some(lane) {
        state.deputy = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_lane_leads_and_the_next_takes_over_a_long_request() {
        let baton = std::sync::Arc::new(Baton::default());
        assert!(baton.lead(0));
        baton.busy(0);
        let deputy = {
            let baton = baton.clone();
            std::thread::spawn(move || (baton.lead(1), Instant::now()))
        };
        let (led, _) = deputy.join().expect("deputy");
        assert!(led, "the deputy takes over a leader busy past the limit");
        assert!(!baton.done(0), "the old leader follows");
        assert!(baton.done(1));
    }

    #[test]
    fn a_short_request_keeps_the_lead_and_stop_releases_everyone() {
        let baton = std::sync::Arc::new(Baton::default());
        assert!(baton.lead(0));
        baton.busy(0);
        assert!(baton.done(0), "done before anyone took over");
        let follower = {
            let baton = baton.clone();
            std::thread::spawn(move || baton.lead(1))
        };
        baton.stop();
        assert!(!follower.join().expect("follower"), "stopped, not leading");
    }
}
