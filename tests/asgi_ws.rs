//! WebSocket under `-k asgi` (RFC 6455, the ASGI `websocket` scope; issue 9), against
//! tests/apps/asgi_app.py: with the `websockets` library's client (tests/clients/ws_client.py)
//! — text, binary, a fragmented message, ping → pong, a 1 MiB message, the close code and
//! reason the app chose, subprotocol negotiation with an extra accept header, a close before
//! accept answered as HTTP 403, `--websocket-max-message-size` → 1009 — and with raw frames
//! from Rust where a library client will not misbehave: invalid UTF-8 → 1007, an unmasked
//! frame → 1002, a ping between fragments, a client that vanishes or closes with a code →
//! `websocket.disconnect` with it; and a session counting toward `--max-requests`.
//!
//! Every expectation was checked by hand under uvicorn 0.54 (websockets 17.4 protocol) and the
//! client scenarios also under Gunicorn 27 `-k asgi`.

use crate::asgi::{asgi, only_worker};
use crate::support::*;
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// ws_client.py `scenario` against `server`, its JSON summary.
pub(crate) fn ws_client(server: &Server, scenario: &str, args: &[&str]) -> serde_json::Value {
    let base = format!("ws://127.0.0.1:{}", server.port());
    let mut all = vec![scenario, base.as_str()];
    all.extend_from_slice(args);
    PyClient::spawn("ws_client.py", &all).finish(WAIT)
}

#[test]
fn echo_of_text_binary_fragmented_and_large_messages_and_ping_pong() {
    let server = asgi("asgi_app:app", &[], 1);
    let out = ws_client(&server, "echo", &[]);
    assert_eq!(out["text"], "héllo ✓", "{out}");
    assert_eq!(out["binary"], serde_json::json!([0, 1, 254, 255]), "{out}");
    // RFC 6455 §5.4 / ASGI: fragments are reassembled into one message for the app.
    assert_eq!(out["fragmented"], "fragmented", "{out}");
    // §5.5.2: a Ping is answered with a Pong (the server's job, spec: "handle PING/PONG").
    assert_eq!(out["pong"], true, "{out}");
    assert_eq!(out["one_mib_echoed"], true, "{out}");
    // The client closed normally and the server echoed its 1000 (§5.5.1).
    assert_eq!(out["close"], serde_json::json!([1000, ""]), "{out}");
}

/// ASGI `websocket.accept` `subprotocol` and `headers` (spec 2.1): the one the app picked of
/// those offered comes back as `Sec-WebSocket-Protocol` (RFC 6455 §4.2.2), with its header.
#[test]
fn the_app_picks_a_subprotocol_and_adds_a_header() {
    let server = asgi("asgi_app:app", &[], 1);
    let out = ws_client(&server, "subprotocol", &[]);
    assert_eq!(out["subprotocol"], "y", "{out}");
    assert_eq!(out["x_accepted"], "yes", "{out}");
    assert_eq!(out["echo"], "after negotiation", "{out}");
}

/// An accept header or subprotocol holding CR LF is refused (an exception from `send`, as
/// `http.response.start`'s fields are), never written: a client's text echoed into them
/// cannot split the 101 (RFC 9110 §5.5: CR and LF are not field-value bytes).
#[test]
fn an_accept_header_or_subprotocol_with_cr_lf_is_refused() {
    let server = asgi("asgi_app:app", &[], 1);
    for place in ["header", "subprotocol"] {
        let mut s = server.connect();
        s.write_all(upgrade(&format!("/ws-split?in={place}")).as_bytes())
            .unwrap();
        let head = String::from_utf8_lossy(&read_until(&mut s, b"\r\n\r\n")).into_owned();
        assert!(head.starts_with("HTTP/1.1 403 "), "{place}: {head}");
        assert!(!head.contains("X-Injected"), "{place}: {head}");
    }
}

/// ASGI: `websocket.close` before accept → "close the connection with a HTTP 403 error code
/// (Forbidden), and not complete the WebSocket handshake".
#[test]
fn a_close_before_accept_is_an_http_403() {
    let server = asgi("asgi_app:app", &[], 1);
    assert_eq!(
        ws_client(&server, "deny", &[]),
        serde_json::json!({"status": 403})
    );
    let mut s = server.connect();
    s.write_all(upgrade("/ws-deny").as_bytes()).unwrap();
    let wire = read_all(&mut s);
    assert_eq!(
        count_status_lines(&wire),
        1,
        "{:?}",
        String::from_utf8_lossy(&wire)
    );
    assert_eq!(parse_one(&wire, false).status, 403);
}

/// ASGI `websocket.close` after accept: "the server must close the socket with the close code
/// passed in the message", with the reason (spec 2.3).
#[test]
fn the_apps_close_code_and_reason_reach_the_client() {
    let server = asgi("asgi_app:app", &[], 1);
    let out = ws_client(&server, "close", &["4001", "bye-now"]);
    assert_eq!(out["close"], serde_json::json!([4001, "bye-now"]), "{out}");
}

/// `--websocket-max-message-size 1024`: a 2 KiB message is refused with 1009 ("a message that
/// is too big for it to process", RFC 6455 §7.4.1); a 1000-byte one is echoed.
#[test]
fn a_message_past_the_max_size_is_closed_with_1009() {
    let server = asgi("asgi_app:app", &["--websocket-max-message-size", "1024"], 1);
    let out = ws_client(&server, "too-big", &["1000"]);
    assert_eq!(out["echoed"], 1000, "{out}");
    let out = ws_client(&server, "too-big", &["2048"]);
    assert_eq!(out["close"][0], 1009, "{out}");
}

/// An upgrade request with RFC 6455 §1.3's sample key.
pub(crate) fn upgrade(path: &str) -> String {
    format!(
        "GET {path} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
}

/// Opens a WebSocket on `path` with raw bytes; checks the 101 and its accept value.
pub(crate) fn handshake(server: &Server, path: &str) -> TcpStream {
    let mut s = server.connect();
    s.write_all(upgrade(path).as_bytes()).unwrap();
    let head = String::from_utf8_lossy(&read_until(&mut s, b"\r\n\r\n")).into_owned();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    // RFC 6455 §1.3: the accept value for the sample key.
    assert!(head.contains("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="), "{head}");
    s
}

/// A client frame (RFC 6455 §5.2), masked unless `masked` is false; payloads under 64 KiB.
pub(crate) fn frame(opcode: u8, payload: &[u8], fin: bool, masked: bool) -> Vec<u8> {
    let mut out = vec![if fin { 0x80 | opcode } else { opcode }];
    let mask_bit = if masked { 0x80 } else { 0 };
    if payload.len() < 126 {
        out.push(mask_bit | payload.len() as u8);
    } else {
        out.push(mask_bit | 126);
        out.extend_from_slice(&(payload.len() as u16).to_be_bytes());
    }
    let key = [0x37, 0xfa, 0x21, 0x3d];
    if masked {
        out.extend_from_slice(&key);
    }
    out.extend(
        payload
            .iter()
            .enumerate()
            .map(|(i, b)| if masked { b ^ key[i % 4] } else { *b }),
    );
    out
}

/// The next server frame: (opcode, payload). Server frames are never masked (§5.1).
pub(crate) fn read_frame(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).expect("a frame header");
    assert_eq!(head[1] & 0x80, 0, "a masked frame from the server");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => {
            let mut b = [0u8; 8];
            s.read_exact(&mut b).unwrap();
            u64::from_be_bytes(b) as usize
        }
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (head[0] & 0x0f, payload)
}

/// The close code of a Close frame.
pub(crate) fn close_code(frame: &(u8, Vec<u8>)) -> u16 {
    assert_eq!(frame.0, 8, "not a Close frame: {frame:?}");
    u16::from_be_bytes([frame.1[0], frame.1[1]])
}

/// RFC 6455 §8.1: a text message that is not valid UTF-8 fails the connection with 1007; §5.1:
/// an unmasked client frame with 1002.
#[test]
fn invalid_utf8_is_closed_with_1007_and_an_unmasked_frame_with_1002() {
    let server = asgi("asgi_app:app", &[], 1);
    let mut s = handshake(&server, "/ws");
    s.write_all(&frame(1, b"\xff\xfe", true, true)).unwrap();
    assert_eq!(close_code(&read_frame(&mut s)), 1007);
    let mut s = handshake(&server, "/ws");
    s.write_all(&frame(1, b"plain", true, false)).unwrap();
    assert_eq!(close_code(&read_frame(&mut s)), 1002);
}

/// §5.4: "Control frames MAY be injected in the middle of a fragmented message": a Ping
/// between two fragments is answered at once, and the message arrives whole after it.
#[test]
fn a_ping_between_fragments_is_answered_and_the_message_reassembled() {
    let server = asgi("asgi_app:app", &[], 1);
    let mut s = handshake(&server, "/ws");
    let mut wire = frame(1, b"ab", false, true);
    wire.extend(frame(9, b"pp", true, true));
    wire.extend(frame(0, b"cd", true, true));
    s.write_all(&wire).unwrap();
    assert_eq!(read_frame(&mut s), (10, b"pp".to_vec()));
    assert_eq!(read_frame(&mut s), (1, b"abcd".to_vec()));
}

/// ASGI `websocket.disconnect` "when either connection to the client is lost": a client that
/// closes with 4002 hands the app 4002 (and gets its Close echoed, §5.5.1); one that vanishes
/// without a Close frame hands it 1006 (RFC 6455 §7.1.5, "closed without a Close frame") or
/// 1005 (ASGI: "if no code was received"; uvicorn 0.54 says 1005) — the spec texts differ.
#[test]
fn the_app_gets_websocket_disconnect_with_the_clients_code() {
    let server = asgi("asgi_app:app", &[], 1);
    let mut s = handshake(&server, "/ws-disconnect?id=c");
    server.wait_marker("ws-open-c");
    let mut close = 4002u16.to_be_bytes().to_vec();
    close.extend_from_slice(b"going");
    s.write_all(&frame(8, &close, true, true)).unwrap();
    assert_eq!(close_code(&read_frame(&mut s)), 4002);
    assert_eq!(server.wait_marker("ws-disconnect-c"), "4002");

    let s = handshake(&server, "/ws-disconnect?id=v");
    server.wait_marker("ws-open-v");
    let gone = Instant::now();
    drop(s);
    let code = server.wait_marker("ws-disconnect-v");
    assert!(code == "1006" || code == "1005", "code {code}");
    assert!(
        gone.elapsed() < Duration::from_secs(5),
        "{:?}",
        gone.elapsed()
    );
}

/// Issue 9: a WebSocket session counts toward `--max-requests` (uvicorn #2201, Gunicorn 27:
/// they never do). `--max-requests 2`: one session, then one HTTP request, which is the
/// second and so is answered with `Connection: close` by a worker that then retires.
#[test]
fn a_websocket_session_counts_toward_max_requests() {
    let server = asgi("asgi_app:app", &["--max-requests", "2"], 1);
    let first = only_worker(&server);
    let mut s = handshake(&server, "/ws");
    s.write_all(&frame(1, b"one", true, true)).unwrap();
    assert_eq!(read_frame(&mut s), (1, b"one".to_vec()));
    s.write_all(&frame(8, &1000u16.to_be_bytes(), true, true))
        .unwrap();
    assert_eq!(close_code(&read_frame(&mut s)), 1000);
    drop(s);
    let mut c = Client::connect(server.port());
    let r = c.get("/pid");
    assert_eq!(r.text(), first.to_string());
    assert_eq!(
        r.header("Connection"),
        Some("close"),
        "the session was not counted: {r:?}"
    );
    poll(WAIT, "a new worker", || {
        let now = server.worker_pids();
        (now.len() == 1 && !now.contains(&first)).then_some(())
    });
    assert_ne!(server.fetch("/pid").text(), first.to_string());
}
