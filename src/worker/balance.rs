//! Accept balancing for the kinds that hold many connections per worker (asgi, tornado,
//! gevent, eventlet): take the connection a listener woke this worker for, or leave it to a
//! sibling for a moment.
//!
//! Every worker waiting on a shared listener is woken for a new client, and whichever turns
//! first accepts. Keep-alive clients that open their connections in a burst (wrk, a pool, a
//! front's upstream keep-alive) then land mostly on one worker and stay there for their
//! lifetime, one core idle. So a worker that holds more open connections than the least-loaded
//! sibling taking connections leaves the listener to that sibling for [`ACCEPT_DEFER`]; the
//! look after such a deferral always takes the connection, so none waits longer than that on a
//! sibling that is slow to accept. Gunicorn's `max_accept = 1` with siblings still holds: the
//! kinds accept one connection per wake-up.
//!
//! Knows the scoreboard (the counts); not how a kind waits — each defers with its own loop's
//! timer (asyncio's `call_later`, the hub's sleep), never by blocking it.

use std::cell::Cell;
use std::time::Duration;

use crate::scoreboard::{Scoreboard, Slot};

/// A sibling whose heartbeat is older than this is not counted on to take connections (its
/// loop is blocked; every kind here beats at least once a second while its loop turns).
const SIBLING_FRESH_MS: u64 = 2_000;

/// How long a worker leaves the listener to a less-loaded sibling: long enough for the
/// sibling's loop to wake and accept, short enough that a connection it does not take waits
/// no more than this.
pub(crate) const ACCEPT_DEFER: Duration = Duration::from_millis(5);

/// What to do with the connection a listener woke the worker for.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub(crate) enum Accept {
    Now,
    /// Leave it to a sibling for [`ACCEPT_DEFER`], then look again.
    Later,
}

/// One per worker (shared by its listeners): the last answer, so that a deferral is never
/// followed by another.
pub(crate) struct AcceptBalance {
    last: Cell<Accept>,
}

impl AcceptBalance {
    pub(crate) fn new() -> AcceptBalance {
        AcceptBalance {
            last: Cell::new(Accept::Now),
        }
    }

    /// Accept now, or later? `Later` while `me` holds more open connections than the
    /// least-loaded sibling taking connections, unless the last answer was already `Later`.
    pub(crate) fn next(&self, me: &Slot, board: &Scoreboard) -> Accept {
        let answer = match self.last.get() {
            Accept::Later => Accept::Now,
            Accept::Now => {
                let mine = me.open_connections();
                let fewer_elsewhere = board
                    .fewest_connections_elsewhere(me, SIBLING_FRESH_MS)
                    .is_some_and(|fewest| mine > fewest);
                if fewer_elsewhere {
                    Accept::Later
                } else {
                    Accept::Now
                }
            }
        };
        self.last.set(answer);
        answer
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
    fn a_worker_ahead_of_a_sibling_defers_once_then_takes_the_next() {
        let board = board(3, 1);
        let me = board.slot(0).expect("slot 0");
        let balance = AcceptBalance::new();
        assert_eq!(balance.next(me, &board), Accept::Later);
        assert_eq!(balance.next(me, &board), Accept::Now);
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
}
