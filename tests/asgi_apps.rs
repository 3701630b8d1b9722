//! Real ASGI frameworks under `-k asgi` (issue 9), each from the test virtualenv and each
//! checked by hand under uvicorn 0.54 first: Starlette (lifespan state, path and query
//! parameters, a StreamingResponse, a 5 MB `request.body()`, a WebSocket echo), FastAPI (a
//! Pydantic model body validated into JSON, 422 for a body or a path parameter that does not
//! validate), and Django's ASGI handler (tests/apps/djproj/asgi.py).

use crate::asgi::asgi;
use crate::support::*;
use serde_json::json;
use std::io::Write;

fn post_json(server: &Server, path: &str, body: &str) -> Response {
    let mut c = Client::connect(server.port());
    c.send(
        format!(
            "POST {path} HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
        .as_bytes(),
    );
    c.response()
}

#[test]
fn starlette_serves_routes_state_streams_uploads_and_websockets() {
    let server = asgi("starlette_app:app", &[], 1);
    // Starlette's lifespan yields its state; the server copies it into each request's scope.
    assert_eq!(
        server.fetch("/").json(),
        json!({"hello": "starlette", "state": "starlette state"})
    );
    assert_eq!(
        server.fetch("/items/7?q=z").json(),
        json!({"id": 7, "q": "z"})
    );
    assert_eq!(server.fetch("/items/x").status, 404);
    let r = server.fetch("/stream?n=3");
    assert!(
        r.chunked,
        "a StreamingResponse has no length: {:?}",
        r.headers
    );
    assert_eq!(r.text(), "line 0\nline 1\nline 2\n");

    let body = vec![b'u'; 5_000_000];
    let mut c = Client::connect(server.port());
    let mut writer = c.stream.try_clone().unwrap();
    let mut raw = format!(
        "POST /upload HTTP/1.1\r\nHost: x\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .into_bytes();
    raw.extend_from_slice(&body);
    let sender = std::thread::spawn(move || writer.write_all(&raw).is_ok());
    assert_eq!(c.response().json(), json!({"length": 5_000_000}));
    assert!(sender.join().unwrap());

    let script = format!(
        "from websockets.sync.client import connect\n\
         with connect('ws://127.0.0.1:{}/ws', open_timeout=10) as ws:\n    \
         ws.send('through starlette'); print(ws.recv(timeout=10))",
        server.port()
    );
    let out = output_of(
        std::process::Command::new(venv().join("bin").join("python")).args(["-c", &script]),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "through starlette"
    );
}

/// FastAPI validates a JSON body against a Pydantic model: a good one comes back computed, a
/// bad one (an empty name, a negative price; or not JSON at all) is a 422 naming the fields.
#[test]
fn fastapi_validates_a_pydantic_body_and_answers_422_for_a_bad_one() {
    let server = asgi("fastapi_app:app", &[], 1);
    let r = server.fetch("/items/5?q=a");
    assert_eq!(r.status, 200);
    let seen = r.json();
    assert_eq!(
        (&seen["item_id"], &seen["q"]),
        (&json!(5), &json!("a")),
        "{seen}"
    );
    assert_eq!(server.fetch("/items/abc").status, 422);

    let r = post_json(
        &server,
        "/items",
        r#"{"name":"pen","price":1.5,"quantity":4}"#,
    );
    assert_eq!(r.status, 200, "{}", r.text());
    assert_eq!(
        r.json(),
        json!({"name": "pen", "price": 1.5, "quantity": 4, "total": 6.0})
    );

    let r = post_json(&server, "/items", r#"{"name":"","price":-1}"#);
    assert_eq!(r.status, 422, "{}", r.text());
    let fields: Vec<String> = r.json()["detail"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["loc"][1].as_str().unwrap_or_default().to_string())
        .collect();
    assert_eq!(fields, ["name", "price"], "{}", r.text());
    assert_eq!(post_json(&server, "/items", "{not json").status, 422);
}

/// Django's `get_asgi_application()` with the project's settings: views answer, path
/// converters and query strings reach them.
#[test]
fn django_asgi_serves_the_project() {
    let server = asgi("djproj.asgi:application", &[], 1);
    let r = server.fetch("/");
    assert_eq!(r.status, 200, "{}", r.text());
    assert!(r.json()["django"].as_str().is_some(), "{}", r.text());
    assert_eq!(
        server.fetch("/hello/bob/?q=1").json(),
        json!({"hello": "bob", "q": "1"})
    );
    assert_eq!(server.fetch("/nowhere/").status, 404);
}
