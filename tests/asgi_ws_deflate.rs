//! The WebSocket permessage-deflate extension (RFC 7692) under `-k asgi`, against
//! tests/apps/asgi_app.py's echo: agreed on the client's offer, both directions compressed on
//! the wire (raw frames from Rust, with flate2 as the client's compressor), interop with the
//! `websockets` library's client (its default offer), and `--no-websocket-per-message-deflate`
//! declining it, after which a compressed frame fails the connection (RFC 6455 §5.2).
//! Autobahn's cases 12 and 13 run in tests/autobahn.rs.

use crate::asgi::asgi;
use crate::asgi_ws::{close_code, frame, upgrade, ws_client};
use crate::support::*;
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::io::{Read, Write};
use std::net::TcpStream;

const OFFER: &str = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n";

/// Opens a WebSocket on /ws offering permessage-deflate: the socket and the 101's head.
fn open_with_offer(server: &Server) -> (TcpStream, String) {
    let mut s = server.connect();
    let request = upgrade("/ws").replace("\r\n\r\n", &format!("\r\n{OFFER}\r\n"));
    s.write_all(request.as_bytes()).unwrap();
    let head = String::from_utf8_lossy(&read_until(&mut s, b"\r\n\r\n")).into_owned();
    assert!(head.starts_with("HTTP/1.1 101 "), "{head}");
    (s, head)
}

/// A message's payload as a client compresses it (RFC 7692 §7.2.1: a sync flush, its
/// `00 00 ff ff` tail left off), keeping the window for the next one.
fn deflate(stream: &mut Compress, message: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(message.len() + 64);
    stream
        .compress_vec(message, &mut out, FlushCompress::Sync)
        .expect("compresses");
    assert!(
        out.ends_with(&[0, 0, 0xff, 0xff]),
        "room enough for one call"
    );
    out.truncate(out.len() - 4);
    out
}

/// The next server frame: its first byte (FIN, RSV bits, opcode) and its payload.
fn read_frame_raw(s: &mut TcpStream) -> (u8, Vec<u8>) {
    let mut head = [0u8; 2];
    s.read_exact(&mut head).expect("a frame header");
    let len = match head[1] & 0x7f {
        126 => {
            let mut b = [0u8; 2];
            s.read_exact(&mut b).unwrap();
            u16::from_be_bytes(b) as usize
        }
        127 => panic!("no frame this large is expected"),
        n => n as usize,
    };
    let mut payload = vec![0u8; len];
    s.read_exact(&mut payload).unwrap();
    (head[0], payload)
}

/// The client's offer is agreed, its compressed messages (the second one referring back to
/// the first, context takeover) are inflated for the app, and the echoes come back compressed
/// (RSV1) and inflate to the same text.
#[test]
fn compressed_messages_both_ways_on_the_wire() {
    let server = asgi("asgi_app:app", &[], 1);
    let (mut s, head) = open_with_offer(&server);
    assert!(
        head.contains("\r\nSec-WebSocket-Extensions: permessage-deflate\r\n"),
        "{head}"
    );
    let mut ours = Compress::new(Compression::default(), false);
    let mut theirs = Decompress::new(false);
    let text = "{\"greeting\": \"héllo\", \"repeat\": \"".to_string() + &"ab".repeat(300) + "\"}";
    let mut sizes = Vec::new();
    for _ in 0..2 {
        let payload = deflate(&mut ours, text.as_bytes());
        sizes.push(payload.len());
        let mut f = frame(0x1, &payload, true, true);
        f[0] |= 0x40; // RSV1: compressed
        s.write_all(&f).unwrap();
        let (first, echoed) = read_frame_raw(&mut s);
        assert_eq!(first, 0x80 | 0x40 | 0x1, "FIN, RSV1, text: {first:#x}");
        let mut input = echoed;
        input.extend_from_slice(&[0, 0, 0xff, 0xff]);
        let mut inflated = Vec::with_capacity(text.len() * 2);
        theirs
            .decompress_vec(&input, &mut inflated, FlushDecompress::Sync)
            .expect("the server's frame inflates");
        assert_eq!(String::from_utf8_lossy(&inflated), text);
    }
    assert!(
        sizes[1] < sizes[0] && sizes[0] < text.len() / 4,
        "{sizes:?}"
    );
    // A compressed ping: control frames are never compressed (RFC 7692 §6.1).
    let mut ping = frame(0x9, b"hi", true, true);
    ping[0] |= 0x40;
    s.write_all(&ping).unwrap();
    let (first, payload) = read_frame_raw(&mut s);
    assert_eq!(close_code(&(first & 0x0f, payload)), 1002);
}

/// With the extension turned off the offer is declined (no `Sec-WebSocket-Extensions` in the
/// 101), and RSV1 means what RFC 6455 §5.2 says of a reserved bit: the connection fails.
#[test]
fn turned_off_the_offer_is_declined_and_rsv1_fails() {
    let server = asgi("asgi_app:app", &["--no-websocket-per-message-deflate"], 1);
    let (mut s, head) = open_with_offer(&server);
    assert!(
        !head
            .to_ascii_lowercase()
            .contains("sec-websocket-extensions"),
        "{head}"
    );
    let mut f = frame(0x1, b"plain text", true, true);
    f[0] |= 0x40;
    s.write_all(&f).unwrap();
    let (first, payload) = read_frame_raw(&mut s);
    assert_eq!(close_code(&(first & 0x0f, payload)), 1002);
}

/// The `websockets` library's client offers permessage-deflate by default: it is agreed, and
/// many JSON messages (the window kept between them) and 1 MiB of random bytes (which do not
/// compress) are echoed intact.
#[test]
fn the_websockets_client_agrees_and_messages_round_trip() {
    let server = asgi("asgi_app:app", &[], 1);
    let out = ws_client(&server, "deflate", &[]);
    assert_eq!(
        out["extensions"], "permessage-deflate",
        "what the server answered: {out}"
    );
    assert_eq!(
        out["agreed"],
        serde_json::json!(["permessage-deflate"]),
        "{out}"
    );
    assert_eq!(out["json_echoed"], true, "{out}");
    assert_eq!(out["random_echoed"], true, "{out}");
    assert_eq!(out["close"], serde_json::json!([1000, ""]), "{out}");
}
