//! One control-socket connection as the master's poll loop sees it: bytes in through a
//! [`FrameDecoder`], frames out through a bounded queue. Nothing here blocks: a read or write
//! that would block returns, and the loop comes back when poll says so (DESIGN §3: "every
//! write to a control client is non-blocking with a per-client cap; a slow client is dropped,
//! never waited on").

use std::io::{self, Read, Write};
use std::os::fd::{AsFd, BorrowedFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};
use ui::protocol::{
    decode_request, encode, FrameDecoder, FrameError, Push, Reply, Request, Subscription,
};

/// Queued output above which pushes are dropped for this client (and counted as lagged).
const SOFT_CAP: usize = 1 << 20;
/// Queued output above which the client is dropped: a reply cannot be lost silently.
pub(super) const HARD_CAP: usize = 4 << 20;
/// A client that takes no byte for this long while output waits is dropped.
const STALL_LIMIT: Duration = Duration::from_secs(5);
/// Bytes read from one client per loop pass, so one chatty client cannot starve the loop.
const READ_BUDGET: usize = 1 << 20;

/// Where a connection is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// An unrecoverable frame error was answered: send what is queued, then close.
    Closing,
    Closed,
}

pub(super) struct Client {
    pub id: u64,
    stream: UnixStream,
    decoder: FrameDecoder,
    out: Vec<u8>,
    /// Bytes of `out` already written.
    sent: usize,
    phase: Phase,
    pub sub: Option<Subscription>,
    pub next_snapshot: Instant,
    /// Pushes dropped since the queue went over [`SOFT_CAP`]; reported as `lagged`.
    lagged: u64,
    /// Since when output has waited without a byte taken.
    stalled_since: Option<Instant>,
    /// Why the client was dropped, for the master's log.
    pub dropped: Option<String>,
}

impl Client {
    pub fn new(id: u64, stream: UnixStream) -> Client {
        Client {
            id,
            stream,
            decoder: FrameDecoder::new(),
            out: Vec::new(),
            sent: 0,
            phase: Phase::Open,
            sub: None,
            next_snapshot: Instant::now(),
            lagged: 0,
            stalled_since: None,
            dropped: None,
        }
    }

    pub fn fd(&self) -> BorrowedFd<'_> {
        self.stream.as_fd()
    }

    pub fn wants_write(&self) -> bool {
        self.pending() > 0
    }

    fn pending(&self) -> usize {
        self.out.len() - self.sent
    }

    pub fn is_done(&self) -> bool {
        self.phase == Phase::Closed || (self.phase == Phase::Closing && self.pending() == 0)
    }

    /// Read what arrived; return the complete requests (or the error each one gets).
    pub fn read_requests(&mut self) -> Vec<Result<Request, (u64, String)>> {
        if self.phase != Phase::Open {
            return Vec::new();
        }
        let mut buf = [0u8; 16 * 1024];
        let mut budget = READ_BUDGET;
        while budget > 0 {
            match self.stream.read(&mut buf) {
                Ok(0) => {
                    self.phase = Phase::Closed;
                    break;
                }
                Ok(n) => {
                    self.decoder.push(&buf[..n]);
                    budget = budget.saturating_sub(n);
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    self.phase = Phase::Closed;
                    break;
                }
            }
        }
        self.take_frames()
    }

    fn take_frames(&mut self) -> Vec<Result<Request, (u64, String)>> {
        let mut requests = Vec::new();
        loop {
            match self.decoder.next_frame() {
                Ok(Some(payload)) => requests.push(decode_request(&payload)),
                Ok(None) => break,
                Err(e @ FrameError::TooLarge(_)) => {
                    // The stream cannot be resynchronised: answer, then close.
                    requests.push(Err((0, format!("Invalid request: {e}"))));
                    self.phase = Phase::Closing;
                    break;
                }
                Err(e) => {
                    requests.push(Err((0, format!("Invalid request: {e}"))));
                    break;
                }
            }
        }
        requests
    }

    /// Queue a reply; a client whose queue would pass [`HARD_CAP`] is dropped.
    pub fn send_reply(&mut self, reply: &Reply) {
        match encode(reply) {
            Ok(frame) => self.queue(&frame),
            Err(e) => {
                let error = Reply::error(reply.id, format!("Command failed: {e}"));
                if let Ok(frame) = encode(&error) {
                    self.queue(&frame);
                }
            }
        }
    }

    /// Queue an encoded push; over [`SOFT_CAP`] it is dropped and counted instead.
    pub fn send_push(&mut self, frame: &[u8]) {
        if self.phase != Phase::Open {
            return;
        }
        if self.pending() + frame.len() > SOFT_CAP {
            self.lagged += 1;
            return;
        }
        if self.lagged > 0 {
            if let Ok(notice) = encode(&Push::Lagged(self.lagged)) {
                self.queue(&notice);
            }
            self.lagged = 0;
        }
        self.queue(frame);
    }

    fn queue(&mut self, frame: &[u8]) {
        if self.pending() + frame.len() > HARD_CAP {
            return self.drop_client(format!(
                "more than {} MiB of output waiting",
                HARD_CAP >> 20
            ));
        }
        if self.sent > 0 && self.sent == self.out.len() {
            self.out.clear();
            self.sent = 0;
        }
        self.out.extend_from_slice(frame);
    }

    fn drop_client(&mut self, why: String) {
        if self.phase != Phase::Closed {
            self.phase = Phase::Closed;
            self.dropped = Some(why);
        }
    }

    /// Write what the socket takes now; drop a client that took nothing for too long.
    pub fn flush(&mut self, now: Instant) {
        let before = self.sent;
        while self.pending() > 0 && self.phase != Phase::Closed {
            match self.stream.write(&self.out[self.sent..]) {
                Ok(0) => self.phase = Phase::Closed,
                Ok(n) => self.sent += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => self.phase = Phase::Closed,
            }
        }
        if self.sent > SOFT_CAP {
            self.out.drain(..self.sent);
            self.sent = 0;
        }
        self.stalled_since = match (self.pending(), self.sent != before) {
            (0, _) | (_, true) => None,
            (_, false) => Some(self.stalled_since.unwrap_or(now)),
        };
        if self
            .stalled_since
            .is_some_and(|since| now.duration_since(since) >= STALL_LIMIT)
        {
            self.drop_client(format!(
                "not reading ({} KiB waiting for {} s, {} pushes lagged)",
                self.pending() >> 10,
                STALL_LIMIT.as_secs(),
                self.lagged
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ui::protocol::{read_frame, ServerMessage};

    fn pair() -> (Client, UnixStream) {
        let (ours, theirs) = UnixStream::pair().expect("socketpair");
        ours.set_nonblocking(true).expect("non-blocking");
        (Client::new(1, ours), theirs)
    }

    fn push_frame(bytes: usize) -> Vec<u8> {
        let line = ui::protocol::LogLine {
            line: "x".repeat(bytes),
            ..Default::default()
        };
        encode(&Push::Logs(vec![line])).expect("encode")
    }

    #[test]
    fn pushes_over_the_soft_cap_are_dropped_then_announced_as_lagged() {
        let (mut client, mut peer) = pair();
        let frame = push_frame(64 * 1024);
        // Nothing is flushed: the queue only grows.
        let fits = SOFT_CAP / frame.len();
        for _ in 0..fits + 3 {
            client.send_push(&frame);
        }
        assert_eq!(client.lagged, 3);
        // The peer reads everything; the next push is preceded by the notice.
        peer.set_nonblocking(true).unwrap();
        let now = Instant::now();
        let mut sink = vec![0u8; 1 << 20];
        while client.pending() > 0 {
            client.flush(now);
            let _ = peer.read(&mut sink);
        }
        client.send_push(&frame);
        client.flush(now);
        peer.set_nonblocking(false).unwrap();
        let payload = read_frame(&mut peer).expect("a frame");
        let message = ServerMessage::from_payload(&payload).expect("a push");
        assert_eq!(message, ServerMessage::Push(Push::Lagged(3)));
        assert!(!client.is_done());
    }

    #[test]
    fn a_client_that_takes_nothing_is_dropped_after_the_stall_limit() {
        let (mut client, _peer) = pair();
        let frame = push_frame(256 * 1024);
        let start = Instant::now();
        for _ in 0..8 {
            client.send_push(&frame);
            client.flush(start);
        }
        assert!(client.wants_write(), "the socket buffer is full");
        client.flush(start + STALL_LIMIT / 2);
        assert!(!client.is_done());
        client.flush(start + STALL_LIMIT + Duration::from_millis(1));
        assert!(client.is_done());
        assert!(client
            .dropped
            .as_deref()
            .is_some_and(|w| w.starts_with("not reading")));
    }

    #[test]
    fn replies_past_the_hard_cap_drop_the_client() {
        let (mut client, _peer) = pair();
        let reply = Reply::ok(1, &"y".repeat(1 << 20));
        for _ in 0..5 {
            client.send_reply(&reply);
        }
        assert!(client.is_done());
        assert!(client.dropped.as_deref().is_some_and(|w| w.contains("MiB")));
    }

    #[test]
    fn an_oversize_prefix_is_answered_then_the_client_closes() {
        let (mut client, mut peer) = pair();
        peer.write_all(&u32::MAX.to_be_bytes()).unwrap();
        let got = client.read_requests();
        assert!(
            matches!(&got[..], [Err((0, e))] if e.contains("too large")),
            "{got:?}"
        );
        client.send_reply(&Reply::error(0, "too large"));
        assert!(!client.is_done(), "the error reply goes out first");
        client.flush(Instant::now());
        assert!(client.is_done());
        let reply = read_frame(&mut peer).expect("the error reply");
        assert!(String::from_utf8_lossy(&reply).contains("too large"));
    }
}
