//! The lean engine's opening phase: every connection's TCP connect and WebSocket upgrade, run
//! concurrently on the thread's epoll before the measured echo starts (`lean.rs`).

use std::io;
use std::time::Instant;

use mio::Token;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;

use super::{Thread, OPEN_WITHIN};
use crate::lean_conn::{check_101, Phase};

impl Thread<'_> {
    /// Connect and upgrade every connection, concurrently (as many clients arriving at once
    /// would: a server's workers share them out as they would share real ones).
    pub(super) fn upgrade_all(&mut self) {
        let until = Instant::now() + OPEN_WITHIN;
        while self
            .conns
            .iter()
            .any(|c| matches!(c.phase, Phase::Connecting | Phase::Upgrading))
        {
            let now = Instant::now();
            if now >= until {
                break;
            }
            let ready = match self.wait_ready(until - now) {
                Ok(ready) => ready,
                Err(e) => {
                    self.stats.error(format!("poll: {e}"));
                    break;
                }
            };
            for super::Ready {
                i,
                readable,
                writable,
            } in ready
            {
                if let Err(e) = self.step_upgrade(i, readable, writable) {
                    self.stats.connect += 1;
                    self.stats.error(format!("connect: {e}"));
                    self.conns[i].phase = Phase::Done;
                }
            }
        }
        for c in &mut self.conns {
            if matches!(c.phase, Phase::Connecting | Phase::Upgrading) {
                self.stats.connect += 1;
                self.stats.error("connect: timed out after 10 s".into());
                c.phase = Phase::Done;
            }
        }
    }

    /// One connection's readiness while it opens: the connect done, the upgrade request
    /// written, the 101 read and checked. An error ends the connection (counted as a failed
    /// connect).
    fn step_upgrade(&mut self, i: usize, readable: bool, writable: bool) -> io::Result<()> {
        let shared = self.shared;
        let c = &mut self.conns[i];
        if c.phase == Phase::Connecting && writable {
            if let Some(e) = c.sock.take_error()? {
                return Err(e);
            }
            if c.sock.peer_addr().is_err() {
                return Ok(()); // not connected yet: another edge comes
            }
            c.sock.set_nodelay(true)?;
            c.key = generate_key();
            let request = format!(
                "GET {} HTTP/1.1\r\nHost: {}:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                 Sec-WebSocket-Key: {}\r\nSec-WebSocket-Version: 13\r\n\r\n",
                shared.path,
                shared.host,
                shared.addr.port(),
                c.key
            );
            c.out.extend_from_slice(request.as_bytes());
            c.phase = Phase::Upgrading;
            c.flush(&self.poll, Token(i))?;
        } else if c.phase == Phase::Upgrading && writable {
            c.flush(&self.poll, Token(i))?;
        }
        if c.phase == Phase::Upgrading && readable {
            match c.input.fill_once(&mut c.sock) {
                Ok((0, _)) => return Err(io::Error::other("closed during the handshake")),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return Ok(()),
                Err(e) => return Err(e),
            }
            if let Some(head_len) = c.input.head_end() {
                check_101(&c.input.unread()[..head_len], &c.key)?;
                // Whatever followed the head (a server's early ping) is parsed with the
                // first echo.
                c.input.consume(head_len);
                c.phase = Phase::Open;
            }
        }
        Ok(())
    }
}
