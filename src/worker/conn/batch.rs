//! Finished responses that a lane serving alone sends together: when one wait on the sockets
//! brings several requests, their responses are held as they finish and go out one after
//! another once the lane has served them all, instead of each right after its app call.
//!
//! Why: each response that reaches a client asleep wakes it, and a wake-up that lands on the
//! other CPU costs a reschedule interrupt and two context switches — on the benchmark's
//! 2-core VM about 6 µs of kernel time in the server per request and as much in the client,
//! with the same system calls. Responses that reach the client together wake it once. With
//! a Flask app (~45 µs a request) and 16 keep-alive clients, sending each at once woke the
//! client 0.87 times and interrupted a CPU 0.45 times per request; sending a batch together,
//! 0.6 and 0.1, as bjoern does (libev writes in the loop turn after the one that read).
//!
//! What it costs: a response waits for the requests that were ready beside it (and for its
//! own `close()` and `post_request`). A request alone in its wait is answered exactly as
//! before, its response sent as the app writes it, and so is one shorter than [`HOLD_MIN`]
//! or longer than [`HOLD_LIMIT`]. Held responses go once the oldest waited [`HOLD_LIMIT`]
//! (checked before each next request), so a response waits at most that plus one request —
//! unbounded only when that one request turns out to be slow. The request's scoreboard row
//! (Idle), latency and access line are recorded when it is served, not when its held bytes
//! leave: they run ahead of the wire by at most that wait.

use std::ops::Range;
use std::time::{Duration, Instant};

use super::Conn;

/// How long a response may wait for its batch; also the longest request whose response is
/// held (a longer one says the next may be long too). A few quick requests fit in it; the
/// wake-up saved (~10 µs of CPU in all) is nothing beside a request that takes longer.
pub const HOLD_LIMIT: Duration = Duration::from_micros(500);

/// The shortest request whose response is held. Shorter ones answer so fast that the client
/// is still busy with the previous response when the next arrives, so there is no wake-up
/// to save: on hello world (~5 µs a request) holding gained nothing, and the bursts it makes
/// measured anywhere from even to 8 % slower.
pub const HOLD_MIN: Duration = Duration::from_micros(20);

/// A connection whose response waits, and where its bytes are in the batch.
struct Held {
    conn: Conn,
    token: u64,
    bytes: Range<usize>,
}

#[derive(Default)]
pub struct Batch {
    /// The lane holds responses at all (gthread with one lane).
    on: bool,
    /// The current wait on the sockets brought several events.
    several: bool,
    /// The held responses' bytes, one after another (the buffer is kept between batches).
    bytes: Vec<u8>,
    /// Where the bytes of the response waiting for its connection start (see [`Batch::add`]).
    unclaimed: usize,
    held: Vec<Held>,
    /// When the first response of this batch was held.
    since: Option<Instant>,
}

impl Batch {
    pub fn enable(&mut self) {
        self.on = true;
    }

    pub fn is_on(&self) -> bool {
        self.on
    }

    /// Did the current wait on the sockets bring several events?
    pub fn several_ready(&mut self, several: bool) {
        self.several = several;
    }

    /// May the response being served wait for the batch?
    pub fn may_hold(&self) -> bool {
        self.on && self.several
    }

    /// Keep a finished response's bytes; its connection follows with [`Batch::add`].
    pub(super) fn hold(&mut self, response: &[u8]) {
        // Bytes whose connection never came are dropped, never sent to the next one's client.
        debug_assert!(!self.awaits_conn(), "a held response lost its connection");
        self.bytes.truncate(self.unclaimed);
        self.since.get_or_insert_with(Instant::now);
        self.bytes.extend_from_slice(response);
    }

    /// Did the request just served leave its response here? Then its connection must join
    /// the batch with [`Batch::add`] (it parks once the response is sent).
    pub fn awaits_conn(&self) -> bool {
        self.bytes.len() > self.unclaimed
    }

    /// The connection of the response held last; `token` is the owner's name for it.
    pub fn add(&mut self, conn: Conn, token: u64) {
        let bytes = self.unclaimed..self.bytes.len();
        self.unclaimed = self.bytes.len();
        self.held.push(Held { conn, token, bytes });
    }

    pub fn is_empty(&self) -> bool {
        self.held.is_empty()
    }

    /// Has the oldest held response waited long enough?
    pub fn is_due(&self) -> bool {
        self.since.is_some_and(|t| t.elapsed() >= HOLD_LIMIT)
    }

    /// Send every held response, in the order they were served, each waiting at most
    /// `timeout` for its client; `done` gets each connection back with whether its
    /// response went out whole.
    pub fn send(&mut self, timeout: Duration, mut done: impl FnMut(Conn, u64, bool)) {
        for held in self.held.drain(..) {
            let response = &self.bytes[held.bytes];
            let sent = held
                .conn
                .stream
                .write_all(response, Instant::now() + timeout);
            if let Err(e) = &sent {
                crate::debug!("Ignoring EPIPE: {e}");
            }
            done(held.conn, held.token, sent.is_ok());
        }
        self.bytes.clear();
        self.unclaimed = 0;
        self.since = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::worker::conn::Stream;
    use std::io::Read;
    use std::os::unix::net::UnixStream;

    fn pair() -> (Conn, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        ours.set_nonblocking(true).expect("non-blocking");
        (Conn::new(Stream::new(ours.into()), None, 0), theirs)
    }

    fn read_all(mut peer: UnixStream) -> Vec<u8> {
        let mut got = Vec::new();
        peer.read_to_end(&mut got).expect("read");
        got
    }

    #[test]
    fn each_connection_gets_its_own_response_in_order() {
        let mut batch = Batch::default();
        let (a, peer_a) = pair();
        let (b, peer_b) = pair();
        batch.hold(b"first");
        assert!(batch.awaits_conn());
        batch.add(a, 7);
        assert!(!batch.awaits_conn());
        batch.hold(b"second");
        batch.add(b, 9);
        let mut done = Vec::new();
        batch.send(Duration::from_secs(1), |conn, token, sent| {
            done.push((token, sent));
            drop(conn); // the peer then reads to its end
        });
        assert_eq!(done, [(7, true), (9, true)]);
        assert!(batch.is_empty() && !batch.awaits_conn());
        assert_eq!(read_all(peer_a), b"first");
        assert_eq!(read_all(peer_b), b"second");
    }

    #[test]
    fn a_client_gone_is_reported_and_the_batch_starts_afresh() {
        let mut batch = Batch::default();
        let (a, peer_a) = pair();
        drop(peer_a);
        batch.hold(b"lost");
        batch.add(a, 1);
        let mut done = Vec::new();
        batch.send(Duration::from_secs(1), |_, token, sent| {
            done.push((token, sent))
        });
        assert_eq!(done, [(1, false)]);
        assert!(!batch.is_due(), "nothing held, nothing due");
    }

    #[test]
    fn only_an_enabled_lane_with_several_ready_holds() {
        let mut batch = Batch::default();
        batch.several_ready(true);
        assert!(!batch.may_hold(), "off unless the kind turns it on");
        batch.enable();
        assert!(batch.may_hold());
        batch.several_ready(false);
        assert!(
            !batch.may_hold(),
            "a request alone in its wait is sent at once"
        );
    }
}
