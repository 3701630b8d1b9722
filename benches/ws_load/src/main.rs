//! ws-load: the WebSocket echo load client of benches/asgi.py, and the trivial echo server that
//! shows how much the client can drive.
//!
//!     ws-load --port P [--host 127.0.0.1] [--path /ws] [--clients 100] [--size 1024]
//!             [--duration 5] [--threads 1] [--timeout 2] [--text] [--engine lean|tungstenite]
//!     ws-load --serve P [--threads 1]
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
//! Two engines make the same load: `lean` (the default, `lean.rs`: its own frames on mio, a
//! fraction of the CPU per message) and `tungstenite` (tokio-tungstenite, a client written by
//! others, to cross-check the lean one's numbers and its correctness against).
//!
//! Server (--serve): tokio-tungstenite echoing every data message back; a request without
//! `Upgrade` gets a plain 200, so the readiness probe of the benchmark works on it too.

use std::sync::Arc;
use std::time::{Duration, Instant};

mod echo_server;
mod engine_tungstenite;
mod frame;
mod lean;
mod lean_conn;

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
    tungstenite: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 0,
        path: "/ws".into(),
        clients: 100,
        size: 1024,
        duration: 5.0,
        threads: 1,
        timeout: 2.0,
        text: false,
        serve: None,
        tungstenite: false,
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
            "--engine" => match value.as_str() {
                "lean" => a.tungstenite = false,
                "tungstenite" => a.tungstenite = true,
                _ => return Err(format!("--engine: lean or tungstenite, not {value}")),
            },
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
    if args.serve.is_none() && !args.tungstenite {
        std::process::exit(load_lean(&args));
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.threads.max(1))
        .enable_all()
        .build()
        .expect("tokio runtime");
    if let Some(port) = args.serve {
        rt.block_on(echo_server::serve(&args.host, port));
    } else {
        let code = rt.block_on(engine_tungstenite::load(&args));
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
    fn merge(&mut self, s: Stats) {
        self.rtt_us.extend_from_slice(&s.rtt_us);
        self.connect += s.connect;
        self.closed += s.closed;
        self.mismatch += s.mismatch;
        self.timeout += s.timeout;
        if self.first_error.is_none() {
            self.first_error = s.first_error;
        }
    }

    fn error(&mut self, what: String) {
        if self.first_error.is_none() {
            self.first_error = Some(what);
        }
    }
}

/// The run's one JSON line.
fn report(args: &Args, mut all: Stats, wall: f64) {
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
}

/// The lean engine: `--threads` OS threads, the connections shared out among them.
fn load_lean(args: &Args) -> i32 {
    let addr = match lean::resolve(args) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("ws-load: {}:{}: {e}", args.host, args.port);
            return 2;
        }
    };
    let threads = args.threads.clamp(1, args.clients.max(1));
    let shared = Arc::new(lean::Shared {
        addr,
        host: args.host.clone(),
        path: args.path.clone(),
        payload: Arc::new((0..args.size).map(|i| b'a' + (i % 26) as u8).collect()),
        text: args.text,
        duration: Duration::from_secs_f64(args.duration),
        timeout: Duration::from_secs_f64(args.timeout),
        start: Arc::new(std::sync::Barrier::new(threads + 1)),
    });
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0x9e37_79b9, |d| d.as_nanos() as u64);
    let handles: Vec<_> = (0..threads)
        .map(|t| {
            let shared = shared.clone();
            let clients = args.clients / threads + usize::from(t < args.clients % threads);
            let seed = seed ^ (t as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15);
            std::thread::spawn(move || lean::run(&shared, clients, seed))
        })
        .collect();
    shared.start.wait(); // every connection is open or has failed
    let began = Instant::now();
    let mut all = Stats::default();
    for h in handles {
        let s = h.join().expect("client thread");
        all.merge(s);
    }
    report(args, all, began.elapsed().as_secs_f64());
    0
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
