//! Accept balancing for the kinds that hold many connections per worker (asgi, tornado,
//! gevent, eventlet): take the connection a listener woke this worker for, or leave it to a
//! sibling.
//!
//! Every worker waiting on a shared listener is woken for a new client, and whichever turns
//! first accepts. Keep-alive clients that open their connections in a burst (wrk, a pool, a
//! front's upstream keep-alive) then land mostly on one worker and stay there for their
//! lifetime, one core idle. So a worker that holds more open connections than the least-loaded
//! sibling taking connections skips the client, and its sibling, woken for the same client,
//! takes it.
//!
//! A skip leaves the listener watched: the listener stays readable until someone accepts, so
//! the worker looks again on its loop's next turn (its own connections served meanwhile), and
//! stops skipping as soon as the sibling has taken the client or caught up. Each skip yields
//! the CPU first (`sched_yield`), so that a sibling sharing the core runs and accepts. A
//! sibling that is slow to (its loop busy in the app) is waited for at most [`SKIP_FOR`]:
//! then this worker takes the client itself. Whether a look is still about the same client
//! is read off the siblings' connection total: while it has not moved, no sibling has taken
//! anyone, however far apart this worker's looks are (a busy loop turns slowly).
//!
//! Before, a skip stopped watching the listener for 5 ms. In a burst the two workers took
//! turns ahead of each other, and each turn left both asleep at once: 500 connections opened
//! together took 0.7 s to be accepted (about 4 every 5 ms), their first requests waiting
//! behind that, where every connection now is accepted as fast as the loops turn.
//!
//! Knows the scoreboard (the counts); not how a kind waits — each looks again through its own
//! loop (asyncio's reader callback, the hub's wait), never by blocking it.

use std::cell::Cell;
use std::time::{Duration, Instant};

use crate::scoreboard::{Scoreboard, Slot};

/// A sibling whose heartbeat is older than this is not counted on to take connections (its
/// loop is blocked; every kind here beats at least once a second while its loop turns).
const SIBLING_FRESH_MS: u64 = 2_000;

/// How long a worker leaves a waiting client to a less-loaded sibling before taking it: a
/// sibling whose loop is in the app for longer should not hold the client up.
const SKIP_FOR: Duration = Duration::from_millis(2);

/// What to do with the connection a listener woke the worker for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Accept {
    Now,
    /// Leave it to a sibling: look again on the loop's next turn.
    Later,
}

/// One per worker (shared by its listeners): since when it has been skipping the waiting
/// client, and the siblings' connection total then.
pub(crate) struct AcceptBalance {
    skipping: Cell<Option<(Instant, u64)>>,
}

impl AcceptBalance {
    pub(crate) fn new() -> AcceptBalance {
        AcceptBalance {
            skipping: Cell::new(None),
        }
    }

    /// Accept now, or later? `Later` while `me` holds more open connections than the
    /// least-loaded sibling taking connections, for at most [`SKIP_FOR`] of one client.
    pub(crate) fn next(&self, me: &Slot, board: &Scoreboard) -> Accept {
        let mine = me.open_connections();
        let elsewhere = board.connections_elsewhere(me, SIBLING_FRESH_MS);
        let ahead = elsewhere.is_some_and(|(fewest, _)| mine > fewest);
        let total = elsewhere.map_or(0, |(_, total)| total);
        let answer = self.decide(ahead, total, Instant::now());
        if answer == Accept::Later {
            // SAFETY: sched_yield takes no arguments and only asks the scheduler to run
            // another task; it cannot fail on Linux.
            unsafe { libc::sched_yield() };
        }
        answer
    }

    /// The rule, apart from the clock and the scoreboard: `elsewhere` is the siblings'
    /// connection total.
    fn decide(&self, ahead: bool, elsewhere: u64, now: Instant) -> Accept {
        if !ahead {
            self.skipping.set(None);
            return Accept::Now;
        }
        let since = match self.skipping.get() {
            // No sibling has taken (or dropped) a connection since: the same wait.
            Some((since, total)) if total == elsewhere => since,
            _ => now,
        };
        if now.saturating_duration_since(since) >= SKIP_FOR {
            self.skipping.set(None);
            return Accept::Now;
        }
        self.skipping.set(Some((since, elsewhere)));
        Accept::Later
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scoreboard::WorkerState;

    /// Two live workers; `me` (slot 0) holds `mine` connections, the sibling `theirs`.
    fn board(mine: i32, theirs: i32) -> Scoreboard {
        let board = Scoreboard::new(2, 1, 1).expect("a scoreboard");
        for (i, open) in [(0, mine), (1, theirs)] {
            let slot = board.slot(i).expect("two slots");
            slot.claim(100 + i as i32);
            slot.set_state(WorkerState::Idle);
            slot.notify();
            slot.count_connections(open, 0);
        }
        board
    }

    #[test]
    fn a_worker_ahead_of_a_sibling_leaves_it_the_client() {
        let board = board(3, 1);
        let me = board.slot(0).expect("slot 0");
        let balance = AcceptBalance::new();
        assert_eq!(balance.next(me, &board), Accept::Later);
        assert_eq!(balance.next(me, &board), Accept::Later);
    }

    #[test]
    fn a_worker_level_with_its_siblings_takes_every_connection() {
        let board = board(2, 2);
        let me = board.slot(0).expect("slot 0");
        let balance = AcceptBalance::new();
        assert_eq!(balance.next(me, &board), Accept::Now);
        assert_eq!(balance.next(me, &board), Accept::Now);
    }

    #[test]
    fn a_client_the_sibling_does_not_take_in_time_is_taken() {
        let balance = AcceptBalance::new();
        let t0 = Instant::now();
        let at = |us: u64| t0 + Duration::from_micros(us);
        // Looks on every loop turn while ahead, the sibling taking no one: a busy loop's
        // turns far apart are still the same wait.
        let mut us = 0;
        while us < SKIP_FOR.as_micros() as u64 {
            assert_eq!(balance.decide(true, 5, at(us)), Accept::Later, "at {us} µs");
            us += 1500;
        }
        assert_eq!(balance.decide(true, 5, at(us)), Accept::Now);
        // The next client is a new wait.
        assert_eq!(balance.decide(true, 5, at(us + 50)), Accept::Later);
    }

    #[test]
    fn a_sibling_taking_a_client_starts_a_new_wait() {
        let balance = AcceptBalance::new();
        let t0 = Instant::now();
        let at = |ms: u64| t0 + Duration::from_millis(ms);
        assert_eq!(balance.decide(true, 5, at(0)), Accept::Later);
        // The sibling took that client; this look is for a new one.
        assert_eq!(balance.decide(true, 6, at(10)), Accept::Later);
        assert_eq!(balance.decide(true, 6, at(11)), Accept::Later);
        assert_eq!(balance.decide(true, 6, at(12)), Accept::Now);
        // Caught up with: taken at once, and the wait is over.
        assert_eq!(balance.decide(true, 7, at(13)), Accept::Later);
        assert_eq!(balance.decide(false, 7, at(13)), Accept::Now);
        assert_eq!(balance.decide(true, 7, at(14)), Accept::Later);
    }
}
