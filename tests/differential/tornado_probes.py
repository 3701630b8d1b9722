"""`-k tornado` probes for asgi_diff.py --tornado: tests/apps/tornado_app.py under gunicorn-rs
and Gunicorn 27 `-k tornado`, the same bytes to each (the differences the README lists as
deliberate — keep-alive, Host checks, header timeouts — show up here too)."""
import re
from concurrent.futures import ThreadPoolExecutor


def run_tornado(servers, only, exchange, normalize):
    def get(path, version=b"1.1", extra=b"", method=b"GET"):
        return method + b" " + path + b" HTTP/" + version + b"\r\nHost: t\r\n" + extra + b"\r\n"
    close = b"Connection: close\r\n"
    probes = [
        ("request", [get(b"/request?a=1&a=2", extra=b"X-A: 1\r\n" + close)]),
        ("request 1.0", [get(b"/request", b"1.0")]),
        ("request HEAD", [get(b"/request", method=b"HEAD", extra=close)]),
        ("form", [b"POST /form HTTP/1.1\r\nHost: t\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: 7\r\n" + close + b"\r\na=1&b=2"]),
        ("upload chunked", [b"POST /upload HTTP/1.1\r\nHost: t\r\nTransfer-Encoding: chunked\r\n" + close + b"\r\n5\r\nhello\r\n0\r\n\r\n"]),
        ("upload expect", [b"POST /upload HTTP/1.1\r\nHost: t\r\nContent-Length: 5\r\nExpect: 100-continue\r\n" + close + b"\r\n", 0.3, b"hello"]),
        ("events", [get(b"/events", extra=close)]),
        ("raise", [get(b"/raise", extra=close)]),
        ("404", [get(b"/nowhere", extra=close)]),
        ("405", [get(b"/form", method=b"DELETE", extra=close)]),
        ("keep-alive pipelined", [get(b"/request") + get(b"/nowhere", extra=close)]),
        ("1.1 no host", [b"GET /request HTTP/1.1\r\n" + close + b"\r\n"]),
        ("bad request line", [b"GARBAGE\r\n\r\n"]),
        ("ws upgrade", [get(b"/ws", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")]),
        ("ws bad version", [get(b"/ws", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")]),
        ("ws plain GET", [get(b"/ws", extra=close)]),
    ]
    diffs = 0
    for name, chunks in probes:
        if only and not re.search(only, name):
            continue
        def ask(s):
            try:
                return normalize(exchange(s.port, chunks))
            except OSError as exc:
                return f"<error {exc}>"
        with ThreadPoolExecutor(len(servers)) as pool:
            answers = dict(zip([s.name for s in servers], pool.map(ask, servers)))
        if len(set(answers.values())) > 1:
            diffs += 1
            print(f"=== {name}")
            for who, text in answers.items():
                print(f"--- {who}\n{text}")
    return diffs
