//! A greenlet per listener: wait (through the hub) until a client is queued, accept, give the
//! connection its own greenlet — while fewer than `--worker-connections` are open; past it,
//! new clients wait in the backlog (or go to another worker), never reset. A worker ahead of a
//! sibling in open connections leaves a client to it (`balance.rs`).

use std::time::Duration;

use super::{Green, CONN};
use crate::worker::balance::Accept;
use crate::worker::conn::Conn;

/// How long an acceptor waits before it looks at the worker's state again.
const LOOK_AGAIN: Duration = Duration::from_secs(1);

pub(super) fn accept_loop(green: &Green<'_, '_>, index: usize) {
    let svc = green.svc;
    let Some(listener) = svc.listeners.get(index) else {
        return;
    };
    // With siblings, one connection per wake-up (Gunicorn's `max_accept = 1`): every worker's
    // hub is woken for a new client, and the first to accept should not take the queue.
    let batch = if svc.cfg.workers > 1 { 1 } else { 64 };
    loop {
        while green.open.get() >= svc.cfg.worker_connections {
            if green.stopping.get() {
                return;
            }
            green.hub.sleep(0.01);
        }
        if green.stopping.get() {
            return;
        }
        match green.hub.wait(listener.raw_fd(), false, Some(LOOK_AGAIN)) {
            Ok(true) => {}
            Ok(false) => continue,
            Err(_) => return,
        }
        if green.balance.next(svc.slot, svc.board) == Accept::Later {
            // The sibling's hub was woken too and takes this client. The other greenlets run
            // (the hub's turn), then the wait above looks again: the client is gone, or is
            // taken here once the sibling has been slow to (balance.rs).
            green.hub.sleep(0.0);
            continue;
        }
        for _ in 0..batch {
            if !take_one(green, index) {
                break;
            }
        }
    }
}

/// Accept one connection and spawn its greenlet; `false` when there is none (or no room).
fn take_one(green: &Green<'_, '_>, index: usize) -> bool {
    let listener = &green.svc.listeners[index];
    if green.open.get() >= green.svc.cfg.worker_connections {
        return false;
    }
    match listener.accept() {
        Ok(accepted) => {
            let Some(stream) = green.svc.stream(accepted.fd) else {
                return true;
            };
            let conn = Conn::new(stream, accepted.peer, index);
            let id = {
                let mut arriving = green.arriving.borrow_mut();
                let free = arriving.iter().position(Option::is_none);
                match free {
                    Some(i) => {
                        arriving[i] = Some(conn);
                        i
                    }
                    None => {
                        arriving.push(Some(conn));
                        arriving.len() - 1
                    }
                }
            };
            green.opened();
            if let Err(e) = green.hub.spawn(CONN | id as u64) {
                crate::error!("Cannot start a greenlet for a connection: {e}");
                green.arriving.borrow_mut()[id] = None;
                green.closed();
            }
            true
        }
        Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => false,
        Err(e) if matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE)) => {
            crate::warning!(
                "accept failed: {e} (raise the open-file limit, or lower --worker-connections)"
            );
            green.hub.sleep(0.1);
            false
        }
        Err(e) => {
            // EINVAL: the master shut the listener down (graceful stop).
            crate::debug!("accept failed: {e}");
            false
        }
    }
}
