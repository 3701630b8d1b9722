//! tls-load: the new-connections client of benches/tls.py. Every request is a new TCP
//! connection with a full TLS handshake: no session is kept, so none is offered back.
//!
//!     tls-load --port P [--host 127.0.0.1] [--path /] [--connections 16] [--duration 5]
//!              [--timeout 5]
//!
//! Each of --connections threads, for --duration seconds: connect (TCP_NODELAY), handshake
//! (rustls on ring, TLS 1.3 or 1.2 as the server picks; the certificate is not checked against
//! a root, but every handshake signature is verified, as a client's must be), send `GET path
//! HTTP/1.1` with `Connection: close`, read the answer to the server's close, check its status
//! is 200. Prints one JSON line: the connections completed within the duration, their rate,
//! latency percentiles of the whole exchange (connect to close), the errors by kind and the
//! first error's text, and what the last handshake negotiated.
//!
//! Why not wrk: it resumes. wrk reconnects a slot by clearing its OpenSSL object, which keeps
//! the session, so the next handshake offers it back. Its OpenSSL 3.0 client also spends
//! ~0.5 ms of CPU per handshake, more than the servers measured here, on a machine whose cores
//! it shares with them. Blocking threads keep this client simple: one connection per thread
//! at a time, as wrk's -c, and a thread that waits for the server spends no CPU.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, SignatureScheme, StreamOwned};

struct Args {
    host: String,
    port: u16,
    path: String,
    connections: usize,
    duration: f64,
    timeout: f64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        host: "127.0.0.1".into(),
        port: 0,
        path: "/".into(),
        connections: 16,
        duration: 5.0,
        timeout: 5.0,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let bad = || format!("{flag}: not a number: {value}");
        match flag.as_str() {
            "--host" => a.host = value.clone(),
            "--port" => a.port = value.parse().map_err(|_| bad())?,
            "--path" => a.path = value.clone(),
            "--connections" => a.connections = value.parse().map_err(|_| bad())?,
            "--duration" => a.duration = value.parse().map_err(|_| bad())?,
            "--timeout" => a.timeout = value.parse().map_err(|_| bad())?,
            _ => return Err(format!("unknown option {flag}")),
        }
    }
    if a.port == 0 {
        return Err("--port is required".into());
    }
    Ok(a)
}

/// A throwaway self-signed certificate is accepted as it is (wrk -k does the same), but the
/// handshake's signature is checked: that is the client's half of the handshake's cost.
#[derive(Debug)]
struct AnyCertificate(Arc<CryptoProvider>);

impl ServerCertVerifier for AnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

fn client_config() -> Arc<ClientConfig> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyCertificate(provider)))
        .with_no_client_auth();
    // No session kept, no ticket stored: every handshake is a full one.
    config.resumption = rustls::client::Resumption::disabled();
    Arc::new(config)
}

/// Errors by kind, as wrk's "Socket errors" line has them, plus the status check.
#[derive(Default)]
struct Tally {
    latency_us: Vec<u32>,
    connect: u64,
    handshake: u64,
    read: u64,
    write: u64,
    timeout: u64,
    status: u64,
    first_error: Option<String>,
    negotiated: Option<String>,
}

impl Tally {
    fn error(&mut self, kind: Kind, text: String) {
        match kind {
            Kind::Connect => self.connect += 1,
            Kind::Handshake => self.handshake += 1,
            Kind::Read => self.read += 1,
            Kind::Write => self.write += 1,
            Kind::Timeout => self.timeout += 1,
            Kind::Status => self.status += 1,
        }
        self.first_error.get_or_insert(text);
    }

    fn add(&mut self, other: Tally) {
        self.latency_us.extend(other.latency_us);
        self.connect += other.connect;
        self.handshake += other.handshake;
        self.read += other.read;
        self.write += other.write;
        self.timeout += other.timeout;
        self.status += other.status;
        if self.first_error.is_none() {
            self.first_error = other.first_error;
        }
        if other.negotiated.is_some() {
            self.negotiated = other.negotiated;
        }
    }
}

#[derive(Clone, Copy)]
enum Kind {
    Connect,
    Handshake,
    Read,
    Write,
    Timeout,
    Status,
}

fn kind_of(e: &io::Error, otherwise: Kind) -> Kind {
    match e.kind() {
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut => Kind::Timeout,
        io::ErrorKind::InvalidData => Kind::Handshake, // rustls's own errors
        _ => otherwise,
    }
}

/// One new connection, one request: `Ok(negotiated)` when it was answered with a 200.
fn exchange(
    args: &Args,
    config: &Arc<ClientConfig>,
    request: &[u8],
    answer: &mut Vec<u8>,
) -> Result<String, (Kind, String)> {
    let timeout = Some(Duration::from_secs_f64(args.timeout));
    let tcp = TcpStream::connect((args.host.as_str(), args.port))
        .map_err(|e| (kind_of(&e, Kind::Connect), format!("connect: {e}")))?;
    let _ = tcp.set_nodelay(true);
    let _ = tcp.set_read_timeout(timeout);
    let _ = tcp.set_write_timeout(timeout);
    let name = ServerName::try_from("localhost").expect("a valid name");
    let session = ClientConnection::new(config.clone(), name)
        .map_err(|e| (Kind::Handshake, format!("session: {e}")))?;
    let mut tls = StreamOwned::new(session, tcp);
    // The first write drives the handshake, then sends the request in the same flight as
    // the client's Finished.
    tls.write_all(request)
        .map_err(|e| (kind_of(&e, Kind::Write), format!("handshake or write: {e}")))?;
    answer.clear();
    match tls.read_to_end(answer) {
        Ok(_) => {}
        // A server that closes without close_notify, once the answer is in, is not an error
        // here (Gunicorn's --suppress-ragged-eofs default says the same the other way).
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof && !answer.is_empty() => {}
        Err(e) => return Err((kind_of(&e, Kind::Read), format!("read: {e}"))),
    }
    if !(answer.starts_with(b"HTTP/1.1 200") || answer.starts_with(b"HTTP/1.0 200")) {
        let line = answer.split(|&b| b == b'\r').next().unwrap_or_default();
        return Err((
            Kind::Status,
            format!("answer: {}", String::from_utf8_lossy(line)),
        ));
    }
    let session = &tls.conn;
    Ok(format!(
        "{:?} {:?}",
        session
            .protocol_version()
            .unwrap_or(rustls::ProtocolVersion::Unknown(0)),
        session
            .negotiated_cipher_suite()
            .map(|s| s.suite())
            .unwrap_or(rustls::CipherSuite::Unknown(0))
    ))
}

fn run_thread(args: &Args, config: &Arc<ClientConfig>, end: Instant) -> Tally {
    let request = format!(
        "GET {} HTTP/1.1\r\nHost: {}:{}\r\nConnection: close\r\n\r\n",
        args.path, args.host, args.port
    );
    let mut answer = Vec::with_capacity(1024);
    let mut tally = Tally::default();
    while Instant::now() < end {
        let start = Instant::now();
        let outcome = exchange(args, config, request.as_bytes(), &mut answer);
        let done = Instant::now();
        if done > end {
            break; // finished after the deadline: not counted, as wrk does
        }
        match outcome {
            Ok(negotiated) => {
                tally
                    .latency_us
                    .push((done - start).as_micros().min(u32::MAX as u128) as u32);
                tally.negotiated = Some(negotiated);
            }
            Err((kind, text)) => tally.error(kind, text),
        }
    }
    tally
}

fn main() {
    let args = match parse_args() {
        Ok(a) => Arc::new(a),
        Err(e) => {
            eprintln!("tls-load: {e}");
            std::process::exit(2);
        }
    };
    let config = client_config();
    let end = Instant::now() + Duration::from_secs_f64(args.duration);
    let all = Arc::new(Mutex::new(Tally::default()));
    let threads: Vec<_> = (0..args.connections)
        .map(|_| {
            let (args, config, all) = (args.clone(), config.clone(), all.clone());
            std::thread::spawn(move || {
                let tally = run_thread(&args, &config, end);
                all.lock().unwrap().add(tally);
            })
        })
        .collect();
    for t in threads {
        t.join().expect("a client thread panicked");
    }
    let mut all = std::mem::take(&mut *all.lock().unwrap());
    all.latency_us.sort_unstable();
    let pct = |p: f64| -> String {
        if all.latency_us.is_empty() {
            return "null".into();
        }
        let i = ((all.latency_us.len() as f64 * p).ceil() as usize).clamp(1, all.latency_us.len());
        format!("{:.3}", all.latency_us[i - 1] as f64 / 1000.0)
    };
    let n = all.latency_us.len();
    println!(
        "{{\"requests\": {n}, \"seconds\": {:.3}, \"rps\": {:.1}, \"p50_ms\": {}, \"p99_ms\": {}, \
         \"errors\": {{\"connect\": {}, \"handshake\": {}, \"read\": {}, \"write\": {}, \
         \"timeout\": {}, \"status\": {}}}, \"first_error\": {}, \"negotiated\": {}}}",
        args.duration,
        n as f64 / args.duration,
        pct(0.50),
        pct(0.99),
        all.connect,
        all.handshake,
        all.read,
        all.write,
        all.timeout,
        all.status,
        json_str(all.first_error.as_deref()),
        json_str(all.negotiated.as_deref()),
    );
}

fn json_str(s: Option<&str>) -> String {
    let Some(s) = s else { return "null".into() };
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
