//! Unit tests of `sock` (kept apart so the module itself stays short).

use super::*;

#[test]
fn parses_gunicorn_address_forms() {
    let tcp = |s: &str| Address::Tcp(s.parse().unwrap());
    let unix = |s: &str| Address::Unix(s.into());
    let forms = [
        ("127.0.0.1:8000", tcp("127.0.0.1:8000")),
        ("[::1]:9000", tcp("[::1]:9000")),
        ("unix:/tmp/x.sock", unix("/tmp/x.sock")),
        ("unix:///tmp/x.sock", unix("/tmp/x.sock")),
        ("fd://3", Address::Fd(3)),
        ("tcp://0.0.0.0:80", tcp("0.0.0.0:80")),
        // Gunicorn's default port, and `localhost` as the loopback address it names.
        ("10.0.0.1", tcp("10.0.0.1:8000")),
        ("localhost:5000", tcp("127.0.0.1:5000")),
        ("example.com:81", Address::TcpHost("example.com".into(), 81)),
    ];
    for (text, want) in forms {
        assert_eq!(parse_address(text).unwrap(), want, "{text}");
    }
    assert!(parse_address("127.0.0.1:http").is_err());
    assert!(parse_address("[::1:80").is_err());
    assert!(parse_address("fd://x").is_err());
}

#[test]
fn binds_port_zero_and_reports_the_real_port() {
    let opts = BindOptions {
        backlog: 16,
        reuse_port: false,
        umask: 0,
    };
    let l = bind(&parse_address("127.0.0.1:0").unwrap(), opts).unwrap();
    let Bound::Tcp(sa) = l.bound else {
        panic!("tcp")
    };
    assert_ne!(sa.port(), 0);
    assert_eq!(l.to_string(), format!("http://127.0.0.1:{}", sa.port()));
    // Accepted sockets have TCP_NODELAY from the listener, without a call of their own.
    let _client = std::net::TcpStream::connect(sa).unwrap();
    let accepted = loop {
        match l.accept() {
            Ok(a) => break a,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => std::thread::yield_now(),
            Err(e) => panic!("accept: {e}"),
        }
    };
    assert!(socket::getsockopt(&accepted.fd, sockopt::TcpNoDelay).unwrap());
}

#[test]
fn a_deferred_accept_waits_for_the_first_bytes() {
    use std::io::Write;
    let opts = BindOptions {
        backlog: 16,
        reuse_port: false,
        umask: 0,
    };
    let l = bind(&parse_address("127.0.0.1:0").unwrap(), opts).unwrap();
    let Bound::Tcp(sa) = l.bound else {
        panic!("tcp")
    };
    l.defer_accept(true).unwrap();
    // On loopback the handshake is over when connect(2) returns: without the option the
    // connection would be in the accept queue now.
    let mut client = std::net::TcpStream::connect(sa).unwrap();
    let early = l.accept().map(|_| ()).map_err(|e| e.kind());
    assert_eq!(early, Err(io::ErrorKind::WouldBlock), "nothing sent yet");
    client.write_all(b"\0").unwrap();
    accept_within(&l, std::time::Duration::from_secs(5));
    l.defer_accept(false).unwrap();
    let _second = std::net::TcpStream::connect(sa).unwrap();
    accept_within(&l, std::time::Duration::from_secs(5));
}

fn accept_within(l: &Listener, limit: std::time::Duration) -> Accepted {
    let deadline = std::time::Instant::now() + limit;
    loop {
        match l.accept() {
            Ok(a) => return a,
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => {
                assert!(std::time::Instant::now() < deadline, "never accepted");
                std::thread::yield_now();
            }
            Err(e) => panic!("accept: {e}"),
        }
    }
}
