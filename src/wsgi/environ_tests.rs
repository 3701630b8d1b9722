//! Unit tests of environ.rs: PATH_INFO under SCRIPT_NAME, peer addresses, unix sockets.
use super::*;

#[test]
fn script_name_is_stripped_or_refused() {
    assert_eq!(path_info("/app/x%20y", "/app").ok(), Some(b"/x y".to_vec()));
    assert!(matches!(
        path_info("/other", "/app"),
        Err(AppError::Configuration(_))
    ));
}

#[test]
fn peers_are_written_as_python_would() {
    let mut buf = [0u8; 64];
    assert_eq!(decimal(&mut buf, 0), b"0");
    assert_eq!(decimal(&mut buf, 65535), b"65535");
    let v4: std::net::IpAddr = "10.0.255.1".parse().expect("v4");
    assert_eq!(ip_text(&mut buf, v4), b"10.0.255.1");
    let v6: std::net::IpAddr = "::1".parse().expect("v6");
    assert_eq!(ip_text(&mut buf, v6), b"::1");
}

#[test]
fn unix_sockets_take_the_host_header() {
    let named = unix_server_name("/tmp/s.sock", Some(b"example.com:8080"), false);
    assert_eq!(named, ("example.com".into(), "8080".into()));
    let by_scheme = unix_server_name("/tmp/s.sock", Some(b"example.com"), true);
    assert_eq!(by_scheme, ("example.com".into(), "443".into()));
    let bare = unix_server_name("/tmp/s.sock", None, false);
    assert_eq!(bare, ("/tmp/s.sock".into(), String::new()));
}
