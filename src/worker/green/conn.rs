//! A connection's greenlet: read heads (waiting through the hub), serve each request with the
//! shared exchange, keep the connection alive between them, close it.

use std::time::{Duration, Instant};

use super::Green;
use crate::worker::conn::{refuse_head, After, Conn, HeadProgress};
use crate::worker::dispatch::SILENT_GRACE;

/// A closing connection is drained this long (RFC 9112 §9.6; as the other kinds).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 64 * 1024;

/// What the connection waits for between reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    /// The rest of a head; bounded by `--header-timeout` from its first byte.
    Head,
    /// The next request; bounded by `--keep-alive`.
    KeepAlive,
}

pub(super) fn serve(green: &Green<'_, '_>, id: usize) {
    let conn = green
        .arriving
        .borrow_mut()
        .get_mut(id)
        .and_then(Option::take);
    let Some(mut conn) = conn else { return };
    let after = requests(green, &mut conn);
    match after {
        After::Linger => linger(green, &mut conn),
        After::Close | After::KeepAlive => {}
    }
    green.hub.forget(conn.stream.raw());
    drop(conn);
    green.closed();
}

/// Serve requests until the connection ends; how it ends.
fn requests(green: &Green<'_, '_>, conn: &mut Conn) -> After {
    let svc = green.svc;
    let mut wait = Wait::Head;
    let mut deadline = Instant::now() + svc.cfg.header_timeout;
    loop {
        let after = match turn(green, conn) {
            Ok(after) => after,
            Err(ended) => return ended,
        };
        match after {
            Some(After::KeepAlive) if green.stopping.get() && !conn.has_pipelined() => {
                return After::Linger
            }
            Some(After::KeepAlive) => {
                wait = Wait::KeepAlive;
                deadline = Instant::now() + svc.cfg.keepalive;
                // Read before waiting: a client that sends its next request as soon as it has
                // the response (wrk, a balancer's pool) has often sent it by now, and a read
                // that finds it spares a turn of the hub — a turn that, under load, waits
                // behind every other greenlet woken with it (benches/green.py, sleep: 1.4 ms
                // of each request's latency). Pipelined bytes are read from the buffer first.
                continue;
            }
            Some(other) => return other,
            None if wait == Wait::KeepAlive && !conn.buffered().is_empty() => {
                // The first byte of the next request came: now the head has its own bound.
                wait = Wait::Head;
                deadline = Instant::now() + svc.cfg.header_timeout;
            }
            None => {}
        }
        if let Some(ended) = wait_readable(green, conn, wait, deadline) {
            return ended;
        }
    }
}

/// One read of the connection: its request served when the head is whole (`Some(what
/// next)`), `None` while it is not, `Err(how the connection ends)`. The lane is let go
/// before an error page is written, which may wait for the client.
fn turn(green: &Green<'_, '_>, conn: &mut Conn) -> Result<Option<After>, After> {
    let svc = green.svc;
    let mut lane = green.lane();
    let trust = conn.trust(svc);
    let progress = conn.read_head(&svc.parser, trust, &mut lane.spare);
    let served = match progress {
        HeadProgress::Complete { head, consumed } => {
            let persist = !svc.cfg.keepalive.is_zero() && !green.stopping.get();
            green.request_begins(&mut lane, &head, conn.client());
            let after = svc.serve(&mut lane, conn, &head, consumed, persist);
            green.request_ends(&lane);
            conn.give_back(&mut lane.spare);
            Ok(Some(after))
        }
        HeadProgress::Partial => {
            conn.give_back(&mut lane.spare);
            Ok(None)
        }
        HeadProgress::Closed(e) => {
            if let Some(e) = e {
                crate::debug!("Ignored premature client disconnection. {e}");
            }
            Err(None)
        }
        HeadProgress::Refused(e) => Err(Some(e)),
        HeadProgress::Failed(e) => {
            crate::debug!("Socket error reading the request head: {e}");
            Err(None)
        }
    };
    green.release_lane(lane);
    match served {
        Ok(after) => Ok(after),
        Err(Some(refused)) => Err(refuse_head(svc, conn, &refused)),
        Err(None) => Err(After::Close),
    }
}

/// Wait until the connection has bytes; `Some(how it ends)` when it does not get them.
fn wait_readable(
    green: &Green<'_, '_>,
    conn: &Conn,
    wait: Wait,
    deadline: Instant,
) -> Option<After> {
    // A connection that holds no request — between requests, or opened and silent so far (a
    // browser's preconnect, a balancer's spare) — is idle: a stop closes it, a silent one
    // after a short grace for a request just behind its connect.
    let silent = wait == Wait::Head && conn.buffered().is_empty();
    let holds_nothing = wait == Wait::KeepAlive || silent;
    let stopping = green.stopping.get();
    if wait == Wait::KeepAlive && stopping {
        return Some(After::Linger);
    }
    let deadline = match silent && stopping {
        true => deadline.min(Instant::now() + SILENT_GRACE),
        false => deadline,
    };
    let left = deadline.saturating_duration_since(Instant::now());
    let idle = match holds_nothing && !stopping {
        true => green.idle_begin(),
        false => None,
    };
    let ready = green.hub.wait(conn.stream.raw(), false, Some(left));
    green.idle_end(idle);
    match (ready, wait) {
        (Ok(true), _) => None,
        // An idle connection past --keep-alive, or a stop: our FIN, then a lingering close,
        // so a request crossing it meets an orderly EOF rather than a reset.
        (Ok(false), Wait::KeepAlive) | (Err(_), Wait::KeepAlive) => Some(After::Linger),
        // The stop came while it waited: wait again, with the grace.
        (Err(e), Wait::Head) if silent && e.kind() == std::io::ErrorKind::Interrupted => {
            wait_readable(green, conn, wait, deadline)
        }
        (Ok(false), Wait::Head) if silent && stopping => Some(After::Linger),
        (Ok(false), Wait::Head) => {
            crate::debug!(
                "Closing connection: no complete request head within {:?}",
                green.svc.cfg.header_timeout
            );
            Some(After::Close)
        }
        (Err(e), Wait::Head) => {
            crate::debug!("Waiting for a request head: {e}");
            Some(After::Close)
        }
    }
}

/// Half-close, then read and drop what the client still sends, for a short while (into the
/// connection's own buffer: no scratch in the frame a parked greenlet saves).
fn linger(green: &Green<'_, '_>, conn: &mut Conn) {
    conn.stream.shutdown_write();
    let until = Instant::now() + LINGER;
    let mut drained = 0;
    while drained < LINGER_BYTES {
        match conn.discard_now() {
            Ok(Some(n)) if n > 0 => drained += n,
            Ok(None) => {
                let left = until.saturating_duration_since(Instant::now());
                if left.is_zero() {
                    return;
                }
                match green.hub.wait(conn.stream.raw(), false, Some(left)) {
                    Ok(true) => {}
                    _ => return,
                }
            }
            _ => return,
        }
    }
}
