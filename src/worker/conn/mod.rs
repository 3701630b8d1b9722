//! The connection layer every worker kind stands on (DESIGN §10): a client connection with a
//! read buffer that lives as long as the connection, the request head read from it without
//! ever blocking, the request body, the response sink, and one request's whole exchange with
//! the app ([`exchange`]). A kind decides only who waits on sockets and who runs the app.

mod answer;
pub mod batch;
pub mod body;
pub mod exchange;
mod lane;
mod outbox;
mod service;
pub mod sink;
pub mod stream;
mod tls;
pub use tls::TlsInfo;

use std::io;
use std::net::SocketAddr;

use crate::http::{self, ParseError, ParserConfig, PeerTrust, Protocol, ProxyInfo, RequestHead};
pub use answer::refuse_head;
pub(crate) use answer::warn_invalid;
pub use exchange::{After, Lane};
pub use service::Service;
pub use stream::Stream;

/// How much room a read asks for: one read gets a typical request head whole.
const READ_CHUNK: usize = 16 * 1024;

/// A client connection between requests, and while one is served.
pub struct Conn {
    pub stream: Stream,
    /// `None` for a Unix-socket peer.
    pub peer: Option<SocketAddr>,
    /// Index of the listener it was accepted on.
    pub listener: usize,
    /// Bytes read and not yet consumed: after a request, the start of the next one
    /// (pipelining). Emptied — and its memory given back — when an idle connection parks.
    buf: Vec<u8>,
    /// Requests answered on this connection (a PROXY header may only precede the first).
    pub served: u64,
    /// The PROXY protocol header of the first request, inherited by the later ones.
    proxy: Option<ProxyInfo>,
    /// How far the head being received has been checked (RFC 9112 refusals as early as the
    /// bytes allow, each read scanning only its new bytes).
    scan: http::HeadScan,
    /// In the worker's epoll set (added on its first park).
    pub(crate) polled: bool,
    /// `ip:port` of the peer for the scoreboard, formatted once per connection.
    client: Option<String>,
    /// What the peer may tell us, decided at its first request (the allow-lists are matched
    /// once per connection, not per request).
    trust: Option<PeerTrust>,
}

/// What reading a request head got.
// The head is returned by value, once per read: boxing it would cost an allocation per
// request.
#[allow(clippy::large_enum_variant)]
pub enum HeadProgress {
    Complete {
        head: RequestHead,
        /// Bytes of the buffer the head took; the body starts after them.
        consumed: usize,
    },
    /// Incomplete, and nothing more to read right now: wait for the socket.
    Partial,
    /// The client closed: quietly between requests (`None`), or in the middle of a head
    /// (Gunicorn's NoMoreData, still only a debug line).
    Closed(Option<ParseError>),
    /// Malformed: answer with the error page and close.
    Refused(ParseError),
    Failed(io::Error),
}

impl Conn {
    pub fn new(stream: Stream, peer: Option<SocketAddr>, listener: usize) -> Conn {
        Conn {
            stream,
            peer,
            listener,
            buf: Vec::new(),
            served: 0,
            proxy: None,
            scan: http::HeadScan::default(),
            polled: false,
            client: None,
            trust: None,
        }
    }

    /// A connection a sibling worker started reading (the sync worker's hand-off).
    pub fn adopted(
        stream: Stream,
        peer: Option<SocketAddr>,
        listener: usize,
        read: Vec<u8>,
    ) -> Conn {
        Conn {
            buf: read,
            ..Conn::new(stream, peer, listener)
        }
    }

    /// `ip:port` of the peer (empty for a Unix socket), as the scoreboard shows it.
    pub fn client(&mut self) -> &str {
        let peer = self.peer;
        self.client
            .get_or_insert_with(|| peer.map(|p| p.to_string()).unwrap_or_default())
    }

    /// What the peer may tell us (`forwarded_allow_ips`, `proxy_allow_from`,
    /// `uwsgi_allow_ips`), matched at the first call and kept.
    pub fn trust(&mut self, svc: &Service<'_>) -> PeerTrust {
        if let Some(trust) = self.trust {
            return trust;
        }
        let trust = svc.trust(self.peer);
        self.trust = Some(trust);
        trust
    }

    /// Bytes received and not consumed by a request yet.
    pub fn buffered(&self) -> &[u8] {
        &self.buf
    }

    /// Read what the socket has, without waiting, until a head is complete. Bytes already
    /// buffered (pipelined after the previous request) are parsed before the socket is read.
    ///
    /// A connection with nothing buffered reads into `spare`, the lane's buffer, and keeps it
    /// only while it needs it (see [`Conn::give_back`]): a request costs no allocation, and an
    /// idle connection holds no buffer memory (10,000 kept-alive clients must not cost 160 MiB
    /// of empty read buffers).
    pub fn read_head(
        &mut self,
        cfg: &ParserConfig,
        trust: PeerTrust,
        spare: &mut Vec<u8>,
    ) -> HeadProgress {
        if self.buf.capacity() == 0 {
            std::mem::swap(&mut self.buf, spare);
        }
        let first = self.served == 0;
        loop {
            if !self.buf.is_empty() {
                let parsed = match cfg.protocol {
                    Protocol::Http => {
                        http::resume_head(&mut self.scan, &self.buf, cfg, trust, first)
                    }
                    Protocol::Uwsgi => http::parse_packet(&self.buf, trust),
                };
                match parsed {
                    Ok(Some((mut head, consumed))) => {
                        self.inherit_proxy(&mut head);
                        return HeadProgress::Complete { head, consumed };
                    }
                    Ok(None) => {}
                    Err(e) => return HeadProgress::Refused(e),
                }
            }
            match self.fill_now() {
                Ok(Some(0)) => return HeadProgress::Closed(http::head_eof(&self.buf)),
                Ok(Some(_)) => continue,
                Ok(None) => return HeadProgress::Partial,
                Err(e) => return HeadProgress::Failed(e),
            }
        }
    }

    /// Gunicorn keeps the first request's PROXY header for the connection's later requests.
    fn inherit_proxy(&mut self, head: &mut RequestHead) {
        match &head.proxy {
            Some(info) => self.proxy = Some(info.clone()),
            None => head.proxy = self.proxy.clone(),
        }
    }

    /// Append what the socket has now; `Ok(None)` when it has nothing.
    fn fill_now(&mut self) -> io::Result<Option<usize>> {
        self.stream.recv_append(&mut self.buf, READ_CHUNK)
    }

    /// The buffer, for the request body to read on from `consumed`; give it back with
    /// [`Conn::finish_request`].
    pub(crate) fn take_buffer(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.buf)
    }

    /// After a request: keep what lies past `used` (the next request, if pipelined) and count
    /// the request.
    pub(crate) fn finish_request(&mut self, mut buf: Vec<u8>, used: usize) {
        buf.drain(..used.min(buf.len()));
        self.buf = buf;
        self.scan = http::HeadScan::default();
        self.served += 1;
    }

    /// Between requests: an empty buffer goes back to the lane (`spare`) — or is freed when
    /// the lane has one — so an idle connection holds none.
    pub fn give_back(&mut self, spare: &mut Vec<u8>) {
        if !self.buf.is_empty() {
            return;
        }
        if spare.capacity() == 0 {
            std::mem::swap(&mut self.buf, spare);
        } else {
            self.buf = Vec::new();
        }
    }

    /// Read and drop what the peer sent, up to 8 KiB, for a lingering close: into the
    /// connection's own buffer, so no scratch buffer is zeroed per call (8 KiB of memset was
    /// a third of a sync request's instructions). `Ok(Some(0))` at EOF, `Ok(None)` when
    /// nothing has arrived yet.
    pub fn discard_now(&mut self) -> std::io::Result<Option<usize>> {
        self.buf.clear();
        let got = self.stream.recv_append(&mut self.buf, 8192);
        self.buf.clear();
        got
    }

    /// Is a whole next request possibly here already (bytes after the last one, or bytes
    /// TLS decrypted with the last one's)? When not, the next one is waited for on the socket.
    pub fn has_pipelined(&self) -> bool {
        !self.buf.is_empty() || self.stream.holds_plaintext()
    }
}
