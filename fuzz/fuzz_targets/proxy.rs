//! The PROXY protocol header (v1 text, v2 binary; haproxy.org `proxy-protocol.txt`) in front of
//! the first request. Input: a mode byte (bits 0–1: auto, v1, v2, auto; bit 2: peer not allowed),
//! a seed for the reads, then the bytes.
#![no_main]

use gunicorn_rs::http::{parse_head, ProxyInfo};
use gunicorn_rs_fuzz::conn::{check_head_at_every_read, serialise};
use gunicorn_rs_fuzz::input::parser_settings;
use libfuzzer_sys::fuzz_target;
use std::net::IpAddr;

fuzz_target!(|data: &[u8]| {
    let Some((&[mode, seed], stream)) = data.split_first_chunk::<2>() else {
        return;
    };
    // Mode 0 (off) is not this target's business: read it as auto.
    let more = if mode & 3 == 0 { mode | 3 } else { mode };
    let (cfg, trust) = parser_settings(0, more, 0);
    check_head_at_every_read(stream, &cfg, trust, seed);
    let Ok(Some((head, _))) = parse_head(stream, &cfg, trust, true) else {
        return;
    };
    let Some(info) = &head.proxy else {
        return;
    };
    // The header written again, as v1 and as v2, in front of the same head reads the same.
    let request = serialise(&head);
    for (version, header, want) in [
        ("v1", v1(info), Some(info.clone())),
        ("v2", v2(info), canonical(info)),
    ] {
        let (Some(header), Some(want)) = (header, want) else {
            continue;
        };
        let bytes = [header, request.clone()].concat();
        let auto = parser_settings(0, 3, 0).0;
        match parse_head(&bytes, &auto, trust, true) {
            Ok(Some((again, used))) => {
                assert_eq!(again.proxy.as_ref(), Some(&want), "{version}: {bytes:?}");
                assert_eq!(used, bytes.len(), "{version}: {bytes:?}");
            }
            other => panic!("{version} {bytes:?} of {info:?}: {other:?}"),
        }
    }
});

/// The v1 line for `info`; `None` for LOCAL, which only v2 has.
fn v1(info: &ProxyInfo) -> Option<Vec<u8>> {
    let line = match info.protocol.as_str() {
        "UNKNOWN" => "PROXY UNKNOWN\r\n".to_string(),
        "TCP4" | "TCP6" => format!(
            "PROXY {} {} {} {} {}\r\n",
            info.protocol, info.client_addr, info.proxy_addr, info.client_port, info.proxy_port
        ),
        _ => return None,
    };
    Some(line.into_bytes())
}

/// The v2 header for `info` (§2.2): signature, version 2 and command, family, length, addresses.
fn v2(info: &ProxyInfo) -> Option<Vec<u8>> {
    let mut out = b"\r\n\r\n\x00\r\nQUIT\n".to_vec();
    let addr = |text: &str| text.parse::<IpAddr>().ok();
    let (cmd_fam, addrs) = match info.protocol.as_str() {
        "LOCAL" => ([0x20, 0x00], Vec::new()),
        "UNKNOWN" => ([0x21, 0x00], Vec::new()),
        "TCP4" | "TCP6" => {
            let (src, dst) = (addr(&info.client_addr)?, addr(&info.proxy_addr)?);
            let (fam, mut bytes) = match (src, dst) {
                (IpAddr::V4(s), IpAddr::V4(d)) => (0x11, [s.octets(), d.octets()].concat()),
                (IpAddr::V6(s), IpAddr::V6(d)) => (0x21, [s.octets(), d.octets()].concat()),
                _ => return None,
            };
            bytes.extend_from_slice(&info.client_port.to_be_bytes());
            bytes.extend_from_slice(&info.proxy_port.to_be_bytes());
            ([0x21, fam], bytes)
        }
        _ => return None,
    };
    out.extend_from_slice(&cmd_fam);
    out.extend_from_slice(&u16::try_from(addrs.len()).ok()?.to_be_bytes());
    out.extend_from_slice(&addrs);
    Some(out)
}

/// `info` as v2 reports it: addresses in their canonical text.
fn canonical(info: &ProxyInfo) -> Option<ProxyInfo> {
    let text = |a: &str| a.parse::<IpAddr>().ok().map(|ip| ip.to_string());
    Some(match info.protocol.as_str() {
        "TCP4" | "TCP6" => ProxyInfo {
            client_addr: text(&info.client_addr)?,
            proxy_addr: text(&info.proxy_addr)?,
            ..info.clone()
        },
        _ => info.clone(),
    })
}
