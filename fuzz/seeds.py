#!/usr/bin/env python3
"""Write the fuzz targets' seed corpora (fuzz/corpus/<target>/, not committed) from Gunicorn's
request corpus (tests/requests/, converted to wire bytes as its README says) and from PROXY and
control-socket examples. Each seed carries the settings bytes its target reads first
(fuzz/src/input.rs): the fixture's own config where expected.json gives one.

    python3 fuzz/seeds.py            # from the repository root or anywhere
"""

import hashlib
import json
import re
import struct
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
REQUESTS = ROOT / "tests" / "requests"
OUT = ROOT / "fuzz" / "corpus"


def wire_bytes(text: bytes) -> bytes:
    """tests/requests/README.md: drop real LFs, then the escapes in their order."""
    data = text.replace(b"\n", b"")
    for src, dst in ((b"\\r\\n", b"\r\n"), (b"\\0", b"\0"), (b"\\n", b"\n"), (b"\\t", b"\t")):
        data = data.replace(src, dst)
    return re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)


def head_settings(config: dict) -> bytes:
    """The 3 settings bytes of request_head (input::parser_settings) for a fixture config."""
    flags = 0
    for bit, name in enumerate(
        [
            "permit_obsolete_folding",
            "strip_header_spaces",
            "permit_unconventional_http_method",
            "permit_unconventional_http_version",
            "casefold_http_method",
        ]
    ):
        if config.get(name):
            flags |= 1 << bit
    flags |= {"drop": 0, "refuse": 1, "dangerous": 2}[config.get("header_map", "drop")] << 5
    if "*" in config.get("forwarded_allow_ips", []):
        flags |= 1 << 7
    more = {None: 0, "v1": 1, "v2": 2, "auto": 3}[config.get("proxy_protocol")]
    limits = 0
    picks = [
        ("limit_request_line", [0, 20, 64, 4094], 0),
        ("limit_request_fields", [100, 1, 3, 0], 2),
        ("limit_request_field_size", [8190, 10, 40, 0], 4),
    ]
    for name, table, shift in picks:
        if name in config and config[name] in table:
            limits |= table.index(config[name]) << shift
    return bytes([flags, more, limits])


def write(target: str, seed: bytes) -> None:
    folder = OUT / target
    folder.mkdir(parents=True, exist_ok=True)
    (folder / hashlib.sha1(seed).hexdigest()).write_bytes(seed)


def chunked_bodies(stream: bytes):
    """The bytes after each head that says chunked (good enough to seed: the fuzzer mutates)."""
    for match in re.finditer(rb"\r\n\r\n", stream):
        head = stream[: match.start()].lower()
        if b"transfer-encoding" in head and b"chunked" in head:
            yield stream[match.end() :]


def proxy_v2(cmd_fam: bytes, addrs: bytes) -> bytes:
    return b"\r\n\r\n\x00\r\nQUIT\n" + cmd_fam + struct.pack(">H", len(addrs)) + addrs


PROXY_EXAMPLES = [
    b"PROXY TCP4 192.168.0.1 192.168.0.11 56324 443\r\n",
    b"PROXY TCP6 2001:db8::1 ::1 56324 8443\r\n",
    b"PROXY UNKNOWN\r\n",
    b"PROXY UNKNOWN ffff::1 ::1 1 2\r\n",
    proxy_v2(b"\x21\x11", bytes([10, 0, 0, 1, 10, 0, 0, 2, 0x0F, 0xA0, 0, 80])),
    proxy_v2(b"\x21\x21", bytes(15) + b"\x01" + bytes(15) + b"\x01" + b"\x00\x01\x00\x02"),
    proxy_v2(b"\x20\x00", b""),
    proxy_v2(b"\x21\x00", b""),
    # TLVs after the addresses (PP2_TYPE_UNIQUE_ID, PP2_TYPE_CRC32C), skipped whole.
    proxy_v2(b"\x21\x11", bytes(8) + b"\x00\x01\x00\x02" + b"\x05\x00\x02ab" + b"\x03\x00\x04abcd"),
]

CONTROL_COMMANDS = [
    ("hello", []),
    ("subscribe", ["snapshots=250", "events", "logs"]),
    ("show workers", []),
    ("show stats", []),
    ("show config", []),
    ("show listeners", []),
    ("worker add", ["2"]),
    ("worker kill", ["4242", "KILL"]),
    ("dump all", []),
    ("reload", []),
    ("shutdown", ["quick"]),
]


def uwsgi_packet(variables, body=b"", modifier1=0) -> bytes:
    """A uwsgi packet: header (modifier1, the vars block's size, modifier2), the vars block of
    16-bit little-endian length-prefixed keys and values, then the body."""
    block = b"".join(
        struct.pack("<H", len(k)) + k + struct.pack("<H", len(v)) + v for k, v in variables
    )
    return bytes([modifier1]) + struct.pack("<H", len(block)) + b"\x00" + block + body


# What nginx's stock uwsgi_params send, and variants the parser refuses.
NGINX_VARS = [
    (b"QUERY_STRING", b"a=1&b=%20"), (b"REQUEST_METHOD", b"POST"),
    (b"CONTENT_TYPE", b"text/plain"), (b"CONTENT_LENGTH", b"5"),
    (b"REQUEST_URI", b"/p/q?a=1&b=%20"), (b"PATH_INFO", b"/p/q"), (b"DOCUMENT_ROOT", b"/srv"),
    (b"SERVER_PROTOCOL", b"HTTP/1.1"), (b"REQUEST_SCHEME", b"http"), (b"HTTPS", b"on"),
    (b"REMOTE_ADDR", b"192.0.2.7"), (b"REMOTE_PORT", b"51234"), (b"SERVER_PORT", b"80"),
    (b"SERVER_NAME", b"example"), (b"HTTP_HOST", b"example"), (b"HTTP_X_FORWARDED_FOR", b"10.0.0.1"),
]
UWSGI_EXAMPLES = [
    uwsgi_packet(NGINX_VARS, b"hello"),
    uwsgi_packet([v for v in NGINX_VARS if v[0] not in (b"CONTENT_LENGTH", b"CONTENT_TYPE")]),
    uwsgi_packet(NGINX_VARS + [(b"CONTENT_LENGTH", b"5")], b"hello"),
    uwsgi_packet(NGINX_VARS[:-1] + [(b"HTTP_BAD NAME", b"x")]),
    uwsgi_packet(NGINX_VARS[:-1] + [(b"HTTP_X", b"a\r\nb")]),
    uwsgi_packet([(b"REQUEST_METHOD", b"GET"), (b"PATH_INFO", b"/")]),
    uwsgi_packet(NGINX_VARS, b"hello", modifier1=5),
]


def frame(payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + payload


def main() -> None:
    expected = json.loads((REQUESTS / "expected.json").read_text())
    count = 0
    for kind in ("valid", "invalid"):
        for path in sorted((REQUESTS / kind).glob("*.http")):
            stream = wire_bytes(path.read_bytes())
            config = expected[kind][path.name].get("config", {})
            write("request_head", head_settings(config) + b"\x00" + stream)
            write("request_head", head_settings(config) + b"\x07" + stream)
            for body in chunked_bodies(stream):
                write("chunked", b"\x00\x00\x00" + body)
                write("chunked", b"\x00\x15\x03" + body)
            if stream.startswith(b"PROXY") or stream.startswith(b"\r\n\r\n\x00"):
                write("proxy", b"\x03\x00" + stream)
            count += 1
    request = b"GET /a?b=c HTTP/1.1\r\nHost: example\r\n\r\n"
    for header in PROXY_EXAMPLES:
        for mode in (1, 2, 3):
            write("proxy", bytes([mode, 0]) + header + request)
    for i, (command, args) in enumerate(CONTROL_COMMANDS):
        payload = json.dumps({"id": i + 1, "command": command, "args": args}).encode()
        write("control_frame", b"\x00" + frame(payload))
    session = b"".join(
        frame(json.dumps({"id": i, "command": c, "args": a}).encode())
        for i, (c, a) in enumerate(CONTROL_COMMANDS)
    )
    write("control_frame", b"\x05" + session)
    write("control_frame", b"\x00" + struct.pack(">I", 16 * 1024 * 1024 + 1) + b"{}")
    for packet in UWSGI_EXAMPLES:
        write("uwsgi", packet)
    print(f"seeds written under {OUT} from {count} corpus files")


if __name__ == "__main__":
    main()
