//! One connection of the lean engine: its phase, its buffers, its writes and its end.

use std::io::{self, Write};
use std::time::Instant;

use mio::net::TcpStream;
use mio::{Interest, Poll, Token};
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

use crate::frame::{self, OP_BINARY, OP_CLOSE};

#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// The TCP connect is under way.
    Connecting,
    /// The upgrade request went; the 101 is awaited.
    Upgrading,
    /// The session is open; `sent_at` says whether an echo is awaited.
    Open,
    /// Our close frame went; the server's close or its end is awaited.
    Closing,
    Done,
}

pub struct Conn {
    pub sock: TcpStream,
    pub phase: Phase,
    pub key: String,
    pub input: frame::Input,
    /// A data message arriving in fragments (RFC 6455 §5.4).
    pub partial: Vec<u8>,
    pub partial_op: u8,
    pub out: Vec<u8>,
    pub out_at: usize,
    /// Whether WRITABLE is in the registration (only while `out` has bytes left).
    pub wants_write: bool,
    pub sent_at: Option<Instant>,
}

impl Conn {
    pub fn new(sock: TcpStream) -> Conn {
        Conn {
            sock,
            phase: Phase::Connecting,
            key: String::new(),
            input: frame::Input::new(),
            partial: Vec::new(),
            partial_op: OP_BINARY,
            out: Vec::with_capacity(2048),
            out_at: 0,
            wants_write: true,
            sent_at: None,
        }
    }

    /// Writes what `out` holds; what the socket does not take waits for WRITABLE.
    pub fn flush(&mut self, poll: &Poll, token: Token) -> io::Result<()> {
        while self.out_at < self.out.len() {
            match self.sock.write(&self.out[self.out_at..]) {
                Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero)),
                Ok(n) => self.out_at += n,
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(e) => return Err(e),
            }
        }
        let left = self.out_at < self.out.len();
        if !left {
            self.out.clear();
            self.out_at = 0;
        }
        if left != self.wants_write {
            let interest = if left {
                Interest::READABLE | Interest::WRITABLE
            } else {
                Interest::READABLE
            };
            poll.registry()
                .reregister(&mut self.sock, token, interest)?;
            self.wants_write = left;
        }
        Ok(())
    }

    /// While closing: reads until the server's close frame or its end.
    pub fn drain_closing(&mut self, poll: &Poll) {
        loop {
            match self.input.fill_once(&mut self.sock) {
                Ok((0, _)) => return self.close_now(poll),
                Ok(_) => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => return,
                Err(_) => return self.close_now(poll),
            }
            while let Ok(Some(f)) = frame::parse(self.input.unread()) {
                let op = f.opcode;
                self.input.consume(f.len);
                if op == OP_CLOSE {
                    return self.close_now(poll);
                }
            }
        }
    }

    pub fn close_now(&mut self, poll: &Poll) {
        if self.phase != Phase::Done {
            let _ = poll.registry().deregister(&mut self.sock);
            let _ = self.sock.shutdown(std::net::Shutdown::Both);
            self.phase = Phase::Done;
        }
    }
}

/// The server's answer to the upgrade: 101 with the accept key derived from ours (RFC 6455
/// §4.2.2); anything else fails the connection, as a browser would.
pub fn check_101(head: &[u8], key: &str) -> io::Result<()> {
    let text = String::from_utf8_lossy(head);
    let mut lines = text.split("\r\n");
    let status = lines.next().unwrap_or("");
    if !status.starts_with("HTTP/1.1 101") {
        return Err(io::Error::other(format!("not upgraded: {status}")));
    }
    let want = derive_accept_key(key.as_bytes());
    let accepted = lines
        .filter_map(|l| l.split_once(':'))
        .any(|(name, value)| {
            name.trim().eq_ignore_ascii_case("sec-websocket-accept") && value.trim() == want
        });
    if !accepted {
        return Err(io::Error::other(
            "101 without the right Sec-WebSocket-Accept",
        ));
    }
    Ok(())
}
