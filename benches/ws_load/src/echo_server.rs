//! The reference echo server (`--serve`): tokio-tungstenite echoing every data message back;
//! a request without `Upgrade` gets a plain 200, so the benchmark's readiness probe works on
//! it too.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::Message;

pub async fn serve(host: &str, port: u16) {
    let listener = TcpListener::bind((host, port)).await.expect("bind");
    eprintln!("ws-load echo server on {host}:{port}");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        tokio::spawn(async move {
            let _ = tcp.set_nodelay(true);
            if !wants_upgrade(&tcp).await {
                use tokio::io::AsyncWriteExt;
                let mut tcp = tcp;
                let _ = tcp
                    .write_all(
                        b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok",
                    )
                    .await;
                return;
            }
            let Ok(mut ws) = tokio_tungstenite::accept_async(tcp).await else {
                return;
            };
            while let Some(Ok(msg)) = ws.next().await {
                let echoed = match msg {
                    Message::Binary(_) | Message::Text(_) => ws.send(msg).await.is_ok(),
                    Message::Close(_) => false,
                    _ => true,
                };
                if !echoed {
                    break;
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
            return String::from_utf8_lossy(head)
                .to_ascii_lowercase()
                .contains("upgrade: websocket");
        }
        if n == seen {
            tokio::time::sleep(Duration::from_millis(1)).await; // peek does not wait for more
        }
        seen = n;
    }
    false
}
