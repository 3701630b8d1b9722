//! The environ PEP 3333 and Gunicorn give the app: the keys over TCP and a Unix socket,
//! PATH_INFO's decoding, trusted headers (scheme, SCRIPT_NAME), PROXY protocol, access-log keys.

use super::*;
use serde_json::Value;

fn environ_of(head: &RequestHead, conn: &ConnInfo) -> serde_json::Map<String, Value> {
    let run = call_with(
        &validator(),
        head,
        conn,
        &mut MemBody::new(b""),
        Sink::default(),
    );
    assert_clean(&run);
    match serde_json::from_slice(&run.sink.body).unwrap() {
        Value::Object(map) => map,
        other => panic!("not an object: {other}"),
    }
}

fn s(v: &str) -> Value {
    Value::String(v.into())
}

#[test]
fn gunicorn_keys_over_tcp() {
    let head = request(
        "GET",
        "/environ?a=%20b&c",
        &[
            ("X-MULTI", b"a"),
            ("X-MULTI", b"b"),
            ("CONTENT-TYPE", b"text/x"),
            ("X-LATIN", b"caf\xe9"),
        ],
    );
    let env = environ_of(&head, &tcp_conn());
    assert_eq!(env["REQUEST_METHOD"], s("GET"));
    assert_eq!(env["QUERY_STRING"], s("a=%20b&c"));
    assert_eq!(env["RAW_URI"], s("/environ?a=%20b&c"));
    assert_eq!(env["PATH_INFO"], s("/environ"));
    assert_eq!(env["SCRIPT_NAME"], s(""));
    assert_eq!(env["SERVER_PROTOCOL"], s("HTTP/1.1"));
    assert_eq!(env["SERVER_NAME"], s("0.0.0.0"));
    assert_eq!(env["SERVER_PORT"], s("8000"));
    assert_eq!(env["REMOTE_ADDR"], s("127.0.0.1"));
    assert_eq!(env["REMOTE_PORT"], s("50123"));
    assert_eq!(env["HTTP_HOST"], s("localhost:8000"));
    assert_eq!(env["HTTP_X_MULTI"], s("a,b"));
    assert_eq!(env["HTTP_X_LATIN"], s("caf\u{e9}"));
    assert_eq!(env["CONTENT_TYPE"], s("text/x"));
    assert!(!env.contains_key("HTTP_CONTENT_TYPE") && !env.contains_key("CONTENT_LENGTH"));
    assert_eq!(env["SERVER_SOFTWARE"], s("gunicorn-rs/0.1.0"));
    assert_eq!(env["wsgi.url_scheme"], s("http"));
    assert_eq!(env["wsgi.version"], serde_json::json!([1, 0]));
    assert_eq!(env["wsgi.multiprocess"], Value::Bool(true));
    assert_eq!(env["wsgi.multithread"], Value::Bool(false));
    assert_eq!(env["wsgi.run_once"], Value::Bool(false));
    assert_eq!(env["wsgi.input_terminated"], Value::Bool(true));
}

#[test]
fn path_info_is_decoded_latin1() {
    let env = environ_of(
        &request("GET", "/environ/caf%C3%A9%2Fx%zz", &[]),
        &tcp_conn(),
    );
    assert_eq!(env["PATH_INFO"], s("/environ/caf\u{c3}\u{a9}/x%zz"));
    assert_eq!(env["RAW_URI"], s("/environ/caf%C3%A9%2Fx%zz"));
}

#[test]
fn url_scheme_from_tls_and_trusted_header() {
    let tls = ConnInfo {
        is_tls: true,
        client_cert: None,
        ..tcp_conn()
    };
    assert_eq!(
        environ_of(&request("GET", "/environ", &[]), &tls)["wsgi.url_scheme"],
        s("https")
    );
    let mut head = request("GET", "/environ", &[]);
    head.secure_scheme = Some(true);
    assert_eq!(
        environ_of(&head, &tcp_conn())["wsgi.url_scheme"],
        s("https")
    );
}

#[test]
fn unix_socket_server_and_remote() {
    let unix = ConnInfo {
        peer: Peer::Unix,
        server: None,
        unix_path: Some("/tmp/app.sock".into()),
        ..tcp_conn()
    };
    let env = environ_of(&request("GET", "/environ", &[]), &unix);
    assert_eq!(env["REMOTE_ADDR"], s(""));
    assert!(!env.contains_key("REMOTE_PORT"));
    assert_eq!(
        (env["SERVER_NAME"].clone(), env["SERVER_PORT"].clone()),
        (s("localhost"), s("8000"))
    );
    let mut head = request("GET", "/environ", &[]);
    head.headers = vec![("HOST".into(), b"example.com".to_vec())];
    let env = environ_of(&head, &unix);
    assert_eq!(
        (env["SERVER_NAME"].clone(), env["SERVER_PORT"].clone()),
        (s("example.com"), s("80"))
    );
    head.headers.clear();
    let env = environ_of(&head, &unix);
    assert_eq!(
        (env["SERVER_NAME"].clone(), env["SERVER_PORT"].clone()),
        (s("/tmp/app.sock"), s(""))
    );
}

#[test]
fn script_name_from_trusted_header() {
    let head = request("GET", "/mount/environ", &[("SCRIPT_NAME", b"/mount")]);
    let env = environ_of(&head, &tcp_conn());
    assert_eq!(env["SCRIPT_NAME"], s("/mount"));
    assert_eq!(env["PATH_INFO"], s("/environ"));
    assert_eq!(env["HTTP_SCRIPT_NAME"], s("/mount"));
}

#[test]
fn path_outside_script_name_is_a_configuration_problem() {
    let head = request("GET", "/elsewhere", &[("SCRIPT_NAME", b"/mount")]);
    let run = call_with(
        &validator(),
        &head,
        &tcp_conn(),
        &mut MemBody::new(b""),
        Sink::default(),
    );
    assert!(
        matches!(run.outcome.error, Some(AppError::Configuration(_))),
        "{:?}",
        run.outcome.error
    );
    assert!(!run.sink.started());
}

#[test]
fn proxy_protocol_overrides_the_peer() {
    let mut head = request("GET", "/environ", &[]);
    head.proxy = Some(gunicorn_rs::http::ProxyInfo {
        protocol: "TCP4".into(),
        client_addr: "192.0.2.1".into(),
        client_port: 4242,
        proxy_addr: "192.0.2.2".into(),
        proxy_port: 443,
    });
    let env = environ_of(&head, &tcp_conn());
    assert_eq!(env["REMOTE_ADDR"], s("192.0.2.1"));
    assert_eq!(env["REMOTE_PORT"], s("4242"));
    assert_eq!(env["PROXY_PROTOCOL"], s("TCP4"));
    assert_eq!(env["PROXY_PORT"], s("443"));
}

#[test]
fn access_log_keys() {
    let app = validator();
    let mut sink = Sink::default();
    let keys = [
        "REQUEST_METHOD".to_owned(),
        "NOPE".to_owned(),
        "wsgi.version".to_owned(),
    ];
    let outcome = app.call(
        &request("GET", "/", &[]),
        &tcp_conn(),
        &mut MemBody::new(b""),
        &mut sink,
        &keys,
    );
    assert_eq!(
        outcome.environ_values,
        vec![Some("GET".into()), None, Some("(1, 0)".into())]
    );
    assert_eq!(outcome.status, Some(200));
}
