//! The tungstenite engine: the same load through tokio-tungstenite, a client written by
//! others, to cross-check the lean engine's numbers and correctness against.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::TcpStream;
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

use crate::{report, Args, Stats};

pub async fn load(args: &Args) -> i32 {
    let url = format!("ws://{}:{}{}", args.host, args.port, args.path);
    let addr = format!("{}:{}", args.host, args.port);
    let payload: Arc<Vec<u8>> = Arc::new((0..args.size).map(|i| b'a' + (i % 26) as u8).collect());
    let start = Arc::new(Barrier::new(args.clients + 1));
    let duration = Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut tasks = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let (url, addr, payload, start) =
            (url.clone(), addr.clone(), payload.clone(), start.clone());
        let text = args.text;
        tasks.push(tokio::spawn(async move {
            client(url, addr, payload, text, start, duration, timeout).await
        }));
    }
    start.wait().await; // every connection is open or has failed
    let began = Instant::now();
    let mut all = Stats::default();
    for t in tasks {
        all.merge(t.await.expect("client task"));
    }
    report(args, all, began.elapsed().as_secs_f64());
    0
}

type Ws = tokio_tungstenite::WebSocketStream<TcpStream>;

/// Why a connection stopped, and the counter it goes to.
enum Stop {
    Closed(String),
    Timeout(String),
    Mismatch(String),
}

impl Stats {
    fn stopped(&mut self, stop: Stop) {
        let why = match stop {
            Stop::Closed(why) => {
                self.closed += 1;
                why
            }
            Stop::Timeout(why) => {
                self.timeout += 1;
                why
            }
            Stop::Mismatch(why) => {
                self.mismatch += 1;
                why
            }
        };
        self.error(why);
    }
}

async fn client(
    url: String,
    addr: String,
    payload: Arc<Vec<u8>>,
    text: bool,
    start: Arc<Barrier>,
    duration: Duration,
    timeout: Duration,
) -> Stats {
    let mut stats = Stats::default();
    let opened = open(&url, &addr).await;
    start.wait().await;
    let mut ws = match opened {
        Ok(ws) => ws,
        Err(why) => {
            stats.connect += 1;
            stats.error(why);
            return stats;
        }
    };
    let deadline = Instant::now() + duration;
    stats.rtt_us.reserve(1 << 14);
    while Instant::now() < deadline {
        let sent = Instant::now();
        let echoed = match ws.send(message(&payload, text)).await {
            Err(e) => Err(Stop::Closed(format!("send: {e}"))),
            Ok(()) => echo(&mut ws, &payload, timeout).await,
        };
        if let Err(stop) = echoed {
            stats.stopped(stop);
            break;
        }
        let now = Instant::now();
        if now <= deadline {
            let rtt = now.duration_since(sent).as_micros().min(u32::MAX as u128) as u32;
            stats.rtt_us.push(rtt);
        }
    }
    // A polite close, bounded: the numbers are in already.
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    stats
}

/// The connection and its handshake, within 10 s.
async fn open(url: &str, addr: &str) -> Result<Ws, String> {
    let opened = tokio::time::timeout(Duration::from_secs(10), async {
        let tcp = TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(url, tcp)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok::<_, std::io::Error>(ws)
    })
    .await;
    match opened {
        Ok(Ok(ws)) => Ok(ws),
        Ok(Err(e)) => Err(format!("connect: {e}")),
        Err(_) => Err("connect: timed out after 10 s".into()),
    }
}

fn message(payload: &[u8], text: bool) -> Message {
    if text {
        Message::text(String::from_utf8(payload.to_vec()).expect("ASCII payload"))
    } else {
        Message::binary(payload.to_vec())
    }
}

/// Wait for the echo of `payload` (control frames skipped) and check it.
async fn echo(ws: &mut Ws, payload: &[u8], timeout: Duration) -> Result<(), Stop> {
    loop {
        let Ok(next) = tokio::time::timeout(timeout, ws.next()).await else {
            let waited = timeout.as_secs_f64();
            return Err(Stop::Timeout(format!("no echo within {waited} s")));
        };
        let data: &[u8] = match &next {
            Some(Ok(Message::Binary(b))) => b,
            Some(Ok(Message::Text(t))) => t.as_bytes(),
            Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
            Some(Ok(Message::Close(c))) => {
                return Err(Stop::Closed(format!("server closed: {c:?}")))
            }
            Some(Err(e)) => return Err(Stop::Closed(format!("read: {e}"))),
            None => return Err(Stop::Closed("connection ended".into())),
        };
        if data != payload {
            let (got, sent) = (data.len(), payload.len());
            return Err(Stop::Mismatch(format!(
                "echo of {got} bytes differs from the {sent} sent"
            )));
        }
        return Ok(());
    }
}
