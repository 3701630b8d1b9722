//! Unit tests of response.rs: dates, framing, heads, interim responses, error pages.
use super::*;

#[test]
fn dates_are_imf_fixdate() {
    assert_eq!(http_date(784_111_777), "Sun, 06 Nov 1994 08:49:37 GMT");
    assert_eq!(http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
    assert_eq!(http_date(1_795_744_800), "Fri, 27 Nov 2026 02:00:00 GMT");
}

#[test]
fn framing_follows_rfc9110() {
    assert_eq!(Framing::decide(true, true, 200, Some(5)), Framing::NoBody);
    assert_eq!(Framing::decide(false, true, 204, None), Framing::NoBody);
    assert_eq!(Framing::decide(false, true, 304, None), Framing::NoBody);
    assert_eq!(Framing::decide(false, true, 200, None), Framing::Chunked);
    assert_eq!(Framing::decide(false, false, 200, None), Framing::Close);
    assert_eq!(
        Framing::decide(false, false, 200, Some(3)),
        Framing::Length(3)
    );
}

#[test]
fn head_drops_hop_by_hop_and_keeps_order() {
    let mut out = Vec::new();
    let headers = vec![
        ("Content-Type".to_string(), b"text/plain".to_vec()),
        ("Connection".to_string(), b"keep-alive".to_vec()),
        ("X-A".to_string(), b"1".to_vec()),
        ("Transfer-Encoding".to_string(), b"gzip".to_vec()),
    ];
    write_head(
        &mut out,
        (1, 1),
        "200 OK",
        "D",
        "close",
        Framing::Chunked,
        &headers,
    );
    assert_eq!(
        String::from_utf8(out).unwrap(),
        "HTTP/1.1 200 OK\r\nServer: gunicorn-rs\r\nDate: D\r\nConnection: close\r\nTransfer-Encoding: chunked\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\n"
    );
}

#[test]
fn a_latin1_reason_goes_out_in_latin1() {
    let mut out = Vec::new();
    write_head(
        &mut out,
        (1, 1),
        "200 Caf\u{e9}",
        "D",
        "close",
        Framing::Close,
        &[],
    );
    assert!(out.starts_with(b"HTTP/1.1 200 Caf\xe9\r\n"), "{out:?}");
}

#[test]
fn early_hints_are_a_bare_interim_head() {
    let mut out = Vec::new();
    let link = vec![("Link".to_string(), b"</s.css>; rel=preload".to_vec())];
    write_interim(&mut out, 103, &link);
    assert_eq!(
        out,
        b"HTTP/1.1 103 Early Hints\r\nLink: </s.css>; rel=preload\r\n\r\n".to_vec()
    );
}

#[test]
fn no_length_on_204() {
    let mut out = Vec::new();
    write_head(
        &mut out,
        (1, 1),
        "204 No Content",
        "D",
        "close",
        Framing::NoBody,
        &[("Content-Length".into(), b"0".to_vec())],
    );
    assert!(!String::from_utf8(out).unwrap().contains("Content-Length"));
}

#[test]
fn error_page_matches_gunicorn() {
    let page = error_page(400, "Bad Request", "Invalid HTTP header name: 'Bad Header'");
    let text = String::from_utf8(page).unwrap();
    assert!(text.starts_with("HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Type: text/html\r\nContent-Length: 169\r\n\r\n"));
    assert!(text.contains("Invalid HTTP header name: &#x27;Bad Header&#x27;"));
}
