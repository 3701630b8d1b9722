//! ws-load: the WebSocket echo load client of benches/asgi.py, and the trivial echo server that
//! shows how much the client can drive.
//!
//!     ws-load --port P [--host 127.0.0.1] [--path /ws] [--clients 100] [--size 1024]
//!             [--duration 5] [--threads 2] [--timeout 2] [--text]
//!     ws-load --serve P [--threads 2]
//!
//! Client: opens --clients connections (each its own TCP connection and handshake, TCP_NODELAY,
//! no permessage-deflate offered), waits until all are open (or failed), then each sends a
//! --size message (binary, or text with --text), waits for its echo, checks it and sends the
//! next, for --duration seconds. One message in flight per connection, as a chat or RPC client:
//! the rate is the server's turnaround, not how deep a pipe it can buffer. Prints one JSON line:
//! the echoes received before the deadline, their rate, round-trip percentiles and the errors
//! (a connection that failed to open, closed early, an echo that differed, or one that did not
//! come within --timeout seconds; such a connection stops, as wrk's would).
//!
//! Server (--serve): tokio-tungstenite echoing every data message back; a request without
//! `Upgrade` gets a plain 200, so the readiness probe of the benchmark works on it too.

use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Barrier;
use tokio_tungstenite::tungstenite::Message;

struct Args {
    host: String,
    port: u16,
    path: String,
    clients: usize,
    size: usize,
    duration: f64,
    threads: usize,
    timeout: f64,
    text: bool,
    serve: Option<u16>,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 0,
        path: "/ws".into(),
        clients: 100,
        size: 1024,
        duration: 5.0,
        threads: 2,
        timeout: 2.0,
        text: false,
        serve: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        if flag == "--text" {
            a.text = true;
            continue;
        }
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--host" => a.host = value.clone(),
            "--port" => a.port = value.parse().map_err(|_| bad())?,
            "--path" => a.path = value.clone(),
            "--clients" => a.clients = value.parse().map_err(|_| bad())?,
            "--size" => a.size = value.parse().map_err(|_| bad())?,
            "--duration" => a.duration = value.parse().map_err(|_| bad())?,
            "--threads" => a.threads = value.parse().map_err(|_| bad())?,
            "--timeout" => a.timeout = value.parse().map_err(|_| bad())?,
            "--serve" => a.serve = Some(value.parse().map_err(|_| bad())?),
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.serve.is_none() && a.port == 0 {
        return Err("--port (or --serve) is required".into());
    }
    Ok(a)
}

fn main() {
    let args = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ws-load: {e}");
            std::process::exit(2);
        }
    };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(port) = args.serve {
        rt.block_on(serve(&args.host, port));
    } else {
        let code = rt.block_on(load(&args));
        std::process::exit(code);
    }
}

// --- the client ---------------------------------------------------------------------------------

#[derive(Default)]
struct Stats {
    rtt_us: Vec<u32>,
    connect: u64,
    closed: u64,
    mismatch: u64,
    timeout: u64,
    first_error: Option<String>,
}

impl Stats {
    fn error(&mut self, what: String) {
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

async fn load(args: &Args) -> i32 {
    let url = format!("ws://{}:{}{}", args.host, args.port, args.path);
    let addr = format!("{}:{}", args.host, args.port);
    let payload: Arc<Vec<u8>> = Arc::new((0..args.size).map(|i| b'a' + (i % 26) as u8).collect());
    let start = Arc::new(Barrier::new(args.clients + 1));
    let duration = Duration::from_secs_f64(args.duration);
    let timeout = Duration::from_secs_f64(args.timeout);
    let mut tasks = Vec::with_capacity(args.clients);
    for _ in 0..args.clients {
        let (url, addr, payload, start) = (url.clone(), addr.clone(), payload.clone(), start.clone());
        let text = args.text;
        tasks.push(tokio::spawn(async move {
            client(url, addr, payload, text, start, duration, timeout).await
        }));
    }
    start.wait().await; // every connection is open or has failed
    let began = Instant::now();
    let mut all = Stats::default();
    for t in tasks {
        let s = t.await.expect("client task");
        all.rtt_us.extend_from_slice(&s.rtt_us);
        all.connect += s.connect;
        all.closed += s.closed;
        all.mismatch += s.mismatch;
        all.timeout += s.timeout;
        if all.first_error.is_none() {
            all.first_error = s.first_error;
        }
    }
    let wall = began.elapsed().as_secs_f64();
    all.rtt_us.sort_unstable();
    let pct = |p: f64| -> f64 {
        if all.rtt_us.is_empty() {
            return f64::NAN;
        }
        let i = ((p * all.rtt_us.len() as f64).ceil() as usize).clamp(1, all.rtt_us.len()) - 1;
        all.rtt_us[i] as f64 / 1000.0
    };
    let n = all.rtt_us.len();
    println!(
        "{{\"clients\": {}, \"size\": {}, \"seconds\": {}, \"wall_seconds\": {:.3}, \"messages\": {}, \
         \"msgs_per_s\": {:.1}, \"p50_ms\": {}, \"p99_ms\": {}, \"max_ms\": {}, \
         \"errors\": {{\"connect\": {}, \"closed\": {}, \"mismatch\": {}, \"timeout\": {}}}, \"first_error\": {}}}",
        args.clients,
        args.size,
        args.duration,
        wall,
        n,
        n as f64 / args.duration,
        json_num(pct(0.50)),
        json_num(pct(0.99)),
        json_num(pct(1.0)),
        all.connect,
        all.closed,
        all.mismatch,
        all.timeout,
        all.first_error.map_or("null".to_string(), |e| json_str(&e)),
    );
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
                stats.error(format!("echo of {} bytes differs from the {} sent", data.len(), payload.len()));
                break 'run;
            }
            let now = Instant::now();
            if now <= deadline {
                stats.rtt_us.push(now.duration_since(sent).as_micros().min(u32::MAX as u128) as u32);
            }
            break;
        }
    }
    // A polite close, bounded: the numbers are in already.
    let _ = tokio::time::timeout(Duration::from_secs(1), ws.close(None)).await;
    stats
}

fn json_num(x: f64) -> String {
    if x.is_finite() {
        format!("{x:.3}")
    } else {
        "null".into()
    }
}

fn json_str(s: &str) -> String {
    let mut out = String::from("\"");
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

// --- the reference echo server -----------------------------------------------------------------

async fn serve(host: &str, port: u16) {
    let listener = TcpListener::bind((host, port)).await.expect("bind");
    eprintln!("ws-load echo server on {host}:{port}");
    loop {
        let Ok((tcp, _)) = listener.accept().await else { continue };
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            if !wants_upgrade(&tcp).await {
                use tokio::io::AsyncWriteExt;
                let mut tcp = tcp;
                let _ = tcp.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok").await;
                return;
            }
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else { return };
            while let Some(Ok(msg)) = ws.next().await {
                match msg {
                    Message::Binary(_) | Message::Text(_) => {
                        if ws.send(msg).await.is_err() {
                            break;
                        }
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        });
    }
}

/// Whether the request head waiting on `tcp` asks for a WebSocket (peeked, not consumed).
async fn wants_upgrade(tcp: &TcpStream) -> bool {
    let mut buf = [0u8; 4096];
    let mut seen = 0;
    for _ in 0..1000 {
        let n = match tcp.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        let head = &buf[..n];
        if head.windows(4).any(|w| w == b"\r\n\r\n") || n == buf.len() {
            return String::from_utf8_lossy(head).to_ascii_lowercase().contains("upgrade: websocket");
        }
        if n == seen {
            tokio::time::sleep(Duration::from_millis(1)).await; // peek does not wait for more
        }
        seen = n;
    }
    false
}
