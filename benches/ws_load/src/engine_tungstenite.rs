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
    let opened = tokio::time::timeout(Duration::from_secs(10), async {
        let tcp = TcpStream::connect(&addr).await?;
        tcp.set_nodelay(true)?;
        let (ws, _) = tokio_tungstenite::client_async(url.as_str(), tcp)
            .await
            .map_err(|e| std::io::Error::other(e.to_string()))?;
        Ok::<_, std::io::Error>(ws)
    })
    .await;
    start.wait().await;
    let mut ws = match opened {
        Ok(Ok(ws)) => ws,
        Ok(Err(e)) => {
            stats.connect += 1;
            stats.error(format!("connect: {e}"));
            return stats;
        }
        Err(_) => {
            stats.connect += 1;
            stats.error("connect: timed out after 10 s".into());
            return stats;
        }
    };
    let message = || {
        if text {
            Message::text(String::from_utf8(payload.to_vec()).expect("ASCII payload"))
        } else {
            Message::binary(payload.to_vec())
        }
    };
    let deadline = Instant::now() + duration;
    stats.rtt_us.reserve(1 << 14);
    'run: while Instant::now() < deadline {
        let sent = Instant::now();
        if let Err(e) = ws.send(message()).await {
            stats.closed += 1;
            stats.error(format!("send: {e}"));
            break;
        }
        loop {
            let next = match tokio::time::timeout(timeout, ws.next()).await {
                Err(_) => {
                    stats.timeout += 1;
                    stats.error(format!("no echo within {} s", timeout.as_secs_f64()));
                    break 'run;
                }
                Ok(next) => next,
            };
            let data: &[u8] = match &next {
                Some(Ok(Message::Binary(b))) => b,
                Some(Ok(Message::Text(t))) => t.as_bytes(),
                Some(Ok(Message::Ping(_) | Message::Pong(_) | Message::Frame(_))) => continue,
                Some(Ok(Message::Close(c))) => {
                    stats.closed += 1;
                    stats.error(format!("server closed: {c:?}"));
                    break 'run;
                }
                Some(Err(e)) => {
                    stats.closed += 1;
                    stats.error(format!("read: {e}"));
                    break 'run;
                }
                None => {
                    stats.closed += 1;
                    stats.error("connection ended".into());
                    break 'run;
                }
            };
            if data != payload.as_slice() {
                stats.mismatch += 1;
                stats.error(format!(
                    "echo of {} bytes differs from the {} sent",
                    data.len(),
                    payload.len()
                ));
                break 'run;
            }
            let now = Instant::now();
            if now <= deadline {
                stats
                    .rtt_us
                    .push(now.duration_since(sent).as_micros().min(u32::MAX as u128) as u32);
            }
            break;
        }
    }
    // A polite close, bounded: the numbers are in already.
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    stats
}
