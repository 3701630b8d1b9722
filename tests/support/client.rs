//! The HTTP client: raw round trips, and a [`Client`] that reads responses one at a time on a
//! kept-alive or pipelined connection.

use super::{parse_response, Response, IO_TIMEOUT};
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, TcpStream};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// Reads until EOF (or a reset, keeping what arrived); panics if the server never closes.
pub fn read_all(stream: &mut impl Read) -> Vec<u8> {
    let mut out = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => return out,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) if matches!(e.kind(), ErrorKind::ConnectionReset | ErrorKind::BrokenPipe) => {
                return out
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                panic!(
                    "server did not close the connection within {IO_TIMEOUT:?}; got so far: {:?}",
                    String::from_utf8_lossy(&out)
                )
            }
            Err(e) => panic!("read failed: {e}"),
        }
    }
}

/// Reads until `needle` appears (bounded by the stream's read timeout); returns all bytes read.
pub fn read_until(stream: &mut impl Read, needle: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    let mut byte = [0u8; 1];
    while !out.windows(needle.len()).any(|w| w == needle) {
        match stream.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => out.push(byte[0]),
            Err(e) if e.kind() == ErrorKind::Interrupted => continue,
            Err(e) => panic!(
                "reading until {:?}: {e}; got {:?}",
                String::from_utf8_lossy(needle),
                String::from_utf8_lossy(&out)
            ),
        }
    }
    out
}

pub fn try_get(port: u16, path: &str) -> Option<Response> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw).ok()?;
    let (resp, _) = parse_response(&raw, false)?;
    resp.complete.then_some(resp)
}

/// Like [`try_get`] but reads one response without waiting for the server to close.
pub fn try_fetch(port: u16, path: &str) -> Option<Response> {
    let stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(IO_TIMEOUT)).ok()?;
    let mut client = Client {
        stream,
        buf: Vec::new(),
    };
    client
        .stream
        .write_all(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes())
        .ok()?;
    client.try_response(false).ok()
}

/// A unix-socket round trip: send `raw`, read until close.
pub fn http_unix(path: &Path, raw: &[u8]) -> Vec<u8> {
    let mut stream = UnixStream::connect(path).expect("connect to the unix socket");
    stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
    stream.write_all(raw).unwrap();
    read_all(&mut stream)
}

/// Half-closes our side after sending (the server sees EOF after `raw`).
pub fn send_and_half_close(stream: &mut TcpStream, raw: &[u8]) -> Vec<u8> {
    stream.write_all(raw).unwrap();
    stream.shutdown(Shutdown::Write).unwrap();
    read_all(stream)
}

/// How a connection ended when the client waited for the server to close it.
#[derive(Debug, PartialEq, Eq)]
pub enum Ending {
    /// An orderly close (FIN), with whatever bytes came before it.
    Eof(Vec<u8>),
    /// ECONNRESET (or EPIPE): the server's RST, with whatever bytes came before it.
    Reset(Vec<u8>),
    /// Still open after the wait.
    Open(Vec<u8>),
}

/// A client connection that keeps the bytes it has not consumed, so responses on a kept-alive
/// or pipelined connection are read one at a time, without waiting for the server to close.
pub struct Client {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Client {
    pub fn connect(port: u16) -> Client {
        let stream = TcpStream::connect(("127.0.0.1", port)).expect("connect to the server");
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// A client on a connection made elsewhere (from another local address, say).
    pub fn on(stream: TcpStream) -> Client {
        stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        stream.set_write_timeout(Some(IO_TIMEOUT)).unwrap();
        Client {
            stream,
            buf: Vec::new(),
        }
    }

    /// This connection's local port (what the app sees as REMOTE_PORT).
    pub fn local_port(&self) -> u16 {
        self.stream.local_addr().unwrap().port()
    }

    pub fn send(&mut self, raw: &[u8]) {
        self.stream.write_all(raw).expect("send request");
    }

    /// `GET path HTTP/1.1` (kept alive unless the server says otherwise) and its response.
    pub fn get(&mut self, path: &str) -> Response {
        self.send(format!("GET {path} HTTP/1.1\r\nHost: localhost\r\n\r\n").as_bytes());
        self.response()
    }

    /// The next final response, skipping interim (1xx) ones; panics if the connection ends
    /// first.
    pub fn response(&mut self) -> Response {
        loop {
            let resp = self.next_response(false);
            if resp.status >= 200 {
                return resp;
            }
        }
    }

    /// The next response, interim ones included; panics if the connection ends first.
    pub fn next_response(&mut self, head_request: bool) -> Response {
        match self.try_response(head_request) {
            Ok(resp) => resp,
            Err(ending) => panic!("the connection ended before a complete response: {ending:?}"),
        }
    }

    /// The next response, or how the connection ended before one was complete (a response
    /// cut short comes back as `Err` with its bytes).
    pub fn try_response(&mut self, head_request: bool) -> Result<Response, Ending> {
        loop {
            if let Some((resp, used)) = parse_response(&self.buf, head_request) {
                let framed = head_request
                    || resp.status < 200
                    || resp.status == 204
                    || resp.status == 304
                    || resp.chunked
                    || resp.header("Content-Length").is_some();
                if framed && resp.complete {
                    self.buf.drain(..used);
                    return Ok(resp);
                }
            }
            match self.fill() {
                Ok(true) => {}
                Ok(false) => {
                    // EOF: a close-delimited response is complete now, anything else is cut.
                    let bytes = std::mem::take(&mut self.buf);
                    return match parse_response(&bytes, head_request) {
                        Some((resp, _))
                            if resp.complete
                                && !resp.chunked
                                && resp.header("Content-Length").is_none() =>
                        {
                            Ok(resp)
                        }
                        _ => Err(Ending::Eof(bytes)),
                    };
                }
                Err(e) if is_reset(&e) => return Err(Ending::Reset(std::mem::take(&mut self.buf))),
                Err(e) => panic!(
                    "reading a response: {e}; got so far: {:?}",
                    String::from_utf8_lossy(&self.buf)
                ),
            }
        }
    }

    /// Reads until the server closes (or `timeout` passes): the bytes that came, and how it
    /// ended. Bytes already buffered count as having come.
    pub fn ending(&mut self, timeout: Duration) -> Ending {
        self.stream.set_read_timeout(Some(timeout)).unwrap();
        let deadline = Instant::now() + timeout;
        let ending = loop {
            match self.fill() {
                Ok(true) if Instant::now() < deadline => {}
                Ok(true) => break Ending::Open(std::mem::take(&mut self.buf)),
                Ok(false) => break Ending::Eof(std::mem::take(&mut self.buf)),
                Err(e) if is_reset(&e) => break Ending::Reset(std::mem::take(&mut self.buf)),
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    break Ending::Open(std::mem::take(&mut self.buf))
                }
                Err(e) => panic!("waiting for the server to close: {e}"),
            }
        };
        self.stream.set_read_timeout(Some(IO_TIMEOUT)).unwrap();
        ending
    }

    /// One read into the buffer: `Ok(false)` at EOF.
    fn fill(&mut self) -> std::io::Result<bool> {
        let mut chunk = [0u8; 65536];
        loop {
            match self.stream.read(&mut chunk) {
                Ok(0) => return Ok(false),
                Ok(n) => {
                    self.buf.extend_from_slice(&chunk[..n]);
                    return Ok(true);
                }
                Err(e) if e.kind() == ErrorKind::Interrupted => continue,
                Err(e) => return Err(e),
            }
        }
    }
}

fn is_reset(e: &std::io::Error) -> bool {
    matches!(
        e.kind(),
        ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::ConnectionAborted
    )
}

/// Reads server-sent events `data: 0` … `data: {n-1}` off `c`: the bytes read, and for each
/// event the number of the read that completed it. Events flushed one by one, far enough
/// apart, each complete in a read of their own; a buffered response brings them together.
pub fn events_by_read(c: &mut Client, n: usize) -> (Vec<u8>, Vec<usize>) {
    let mut wire = std::mem::take(&mut c.buf);
    let mut reads = Vec::new();
    let mut buf = [0u8; 4096];
    let mut read = 0;
    while reads.len() < n {
        let got = c.stream.read(&mut buf).expect("the stream went on");
        assert!(got > 0, "closed after {} events", reads.len());
        read += 1;
        wire.extend_from_slice(&buf[..got]);
        let text = String::from_utf8_lossy(&wire).into_owned();
        while reads.len() < n && text.contains(&format!("data: {}\n\n", reads.len())) {
            reads.push(read);
        }
    }
    (wire, reads)
}
