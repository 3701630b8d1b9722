//! Request bodies through the sync worker: Content-Length and chunked, `Expect: 100-continue`,
//! a 256 MiB upload streamed (never buffered), a body the client cut short.

use super::*;

#[test]
fn post_bodies_with_length_and_chunked() {
    let server = Server::hello(&[], 1);
    let resp = parse_one(
        &server.http(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhello world"),
        false,
    );
    assert_eq!((resp.status, resp.text().as_str()), (200, "hello world"));
    assert_eq!(resp.header("X-Content-Length"), Some("11"));

    let binary: Vec<u8> = (0..=255u8).cycle().take(70_000).collect();
    let mut req = format!(
        "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        binary.len()
    )
    .into_bytes();
    req.extend_from_slice(&binary);
    let resp = parse_one(&server.http(&req), false);
    assert_eq!(resp.status, 200);
    assert!(
        resp.body == binary,
        "70000 binary octets echoed exactly (got {})",
        resp.body.len()
    );

    let chunked = b"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n\
        5\r\nhello\r\n6;ext=1\r\n world\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n";
    let resp = parse_one(&server.http(chunked), false);
    assert_eq!(resp.status, 200);
    assert_eq!(resp.text(), "hello world0123456789");
    assert_eq!(resp.header("X-Len"), Some("21"));
}

#[test]
fn expect_100_continue_is_answered_before_the_body_is_sent() {
    let server = Server::hello(&[], 1);
    let mut stream = server.connect();
    stream
        .write_all(
            b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n",
        )
        .unwrap();
    // The server must say 100 Continue while we hold the body back (RFC 9110 §10.1.1).
    let interim = read_until(&mut stream, b"\r\n\r\n");
    assert_eq!(
        String::from_utf8_lossy(&interim),
        "HTTP/1.1 100 Continue\r\n\r\n"
    );
    stream.write_all(b"hello").unwrap();
    let resp = parse_one(&read_all(&mut stream), false);
    assert_eq!((resp.status, resp.text().as_str()), (200, "hello"));

    let raw = server.http(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nExpect: something-else\r\n\r\nhello");
    let resp = parse_one(&raw, false);
    assert_eq!(resp.status, 417);
}

/// 64 KiB blocks of consecutive little-endian u64s: block i starts at i*8192, so a reordered,
/// lost or repeated block changes the hash.
pub(crate) fn upload_block(i: u64, buf: &mut [u8]) {
    for (j, word) in buf.chunks_exact_mut(8).enumerate() {
        word.copy_from_slice(&(i * 8192 + j as u64).to_le_bytes());
    }
}

#[test]
fn large_upload_is_streamed_not_buffered() {
    const BLOCKS: u64 = 4096; // 256 MiB
    let expected = std::thread::spawn(|| {
        let script = "import array,hashlib\nh=hashlib.sha256()\nfor i in range(4096):\n    h.update(array.array('Q', range(i*8192,(i+1)*8192)).tobytes())\nprint(h.hexdigest())";
        let out = output_of(std::process::Command::new("python3").args(["-c", script]));
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap().trim().to_string()
    });
    let server = Server::hello(&[], 1);
    let mut stream = server.connect();
    let total = BLOCKS * 65536;
    stream
        .write_all(
            format!("POST /upload-hash HTTP/1.1\r\nHost: x\r\nContent-Length: {total}\r\n\r\n")
                .as_bytes(),
        )
        .unwrap();
    let mut block = vec![0u8; 65536];
    for i in 0..BLOCKS {
        upload_block(i, &mut block);
        stream.write_all(&block).unwrap();
    }
    let resp = parse_one(&read_all(&mut stream), false);
    assert_eq!(resp.status, 200, "{}", resp.text());
    let result = resp.json();
    assert_eq!(result["total"], serde_json::json!(total));
    assert_eq!(
        result["sha256"].as_str(),
        Some(expected.join().unwrap().as_str()),
        "every byte arrived, in order"
    );
    let pid = result["pid"].as_u64().unwrap() as u32;
    let peak_kib = proc_status_kb(pid, "VmHWM").expect("worker still alive with a VmHWM");
    assert!(
        peak_kib < 80 * 1024,
        "worker peak RSS {peak_kib} KiB for a 256 MiB upload: the body was buffered"
    );
}

#[test]
fn body_cut_short_by_the_client_is_never_presented_as_complete() {
    let server = Server::hello(&[], 1);
    for (name, req) in [
        ("content-length", &b"POST /truncated HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nhello"[..]),
        ("chunked", &b"POST /truncated HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n"[..]),
    ] {
        let _ = std::fs::remove_file(server.dir.path().join("truncated"));
        let mut stream = server.connect();
        let raw = send_and_half_close(&mut stream, req);
        // The server closed the connection, so the app (if it ran) has written its marker.
        match server.marker("truncated") {
            // The app ran: its read must have raised, never returned a short body as if complete.
            Some(seen) => {
                let seen: serde_json::Value = serde_json::from_str(&seen).unwrap();
                assert!(!seen["error"].is_null(), "{name}: the app read a truncated body without an error: {seen}");
            }
            // The app never ran: whatever was answered is not a success.
            None if !raw.is_empty() => {
                let resp = parse_one(&raw, false);
                assert_ne!(resp.status, 200, "{name}: answered 200 without running the app");
            }
            // Neither: the test saw nothing of what it checks.
            None => panic!("{name}: the app never ran and nothing was answered"),
        }
    }
    assert_eq!(server.get("/").status, 200, "the worker keeps serving");
}
