"""The raw requests of app_diff.py, as exact bytes: (name, steps) for app_wire.exchange.
Each case is one connection; a request after the first shows whether it stayed usable."""
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "apps"))
import wsgi_probe  # noqa: E402

HOST = b"Host: example.com\r\n"
BODY = b"line1\nline2\n\nlast"
READS = ("all", "minus1", "n", "line", "line_limit", "lines", "lines_hint", "iter", "past", "mixed", "none")


def get(path, version=b"1.1", method=b"GET", extra=b""):
    return method + b" " + path + b" HTTP/" + version + b"\r\n" + HOST + extra + b"\r\n"


def with_length(path, body, extra=b"", version=b"1.1"):
    head = b"POST " + path + b" HTTP/" + version + b"\r\n" + HOST + extra
    return head + b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n" + body


def chunked(path, body, trailers=b"", extra=b"", size=5):
    head = b"POST " + path + b" HTTP/1.1\r\n" + HOST + extra + b"Transfer-Encoding: chunked\r\n\r\n"
    out = b""
    for i in range(0, len(body), size):
        piece = body[i : i + size]
        out += b"%x\r\n" % len(piece) + piece + b"\r\n"
    return head + out + b"0\r\n" + trailers + b"\r\n"


NEXT = get(b"/resp/list")


def route_cases():
    for route in wsgi_probe.ROUTES:
        if route in ("/closed", "/slow"):
            continue
        path = route.encode()
        yield f"GET {route} 1.1 + next", [("send", get(path), ["GET"]), ("send", NEXT, ["GET"])]
        yield f"HEAD {route} 1.1 + next", [("send", get(path, method=b"HEAD"), ["HEAD"]), ("send", NEXT, ["GET"])]
        yield f"GET {route} 1.0", [("send", get(path, b"1.0"), ["GET"])]
        ka = b"Connection: keep-alive\r\n"
        yield f"GET {route} 1.0 keep-alive + next", [
            ("send", get(path, b"1.0", extra=ka), ["GET"]),
            ("send", get(b"/resp/list", b"1.0", extra=ka), ["GET"]),
        ]


def env_cases():
    yield "env: decoded path, query, folded and latin-1 fields", [("send", get(
        b"/env/a%20b/%C3%A9/%2F/%ff?x=1&y=%20&z=%C3%A9",
        extra=b"X-Dup: 1\r\nX-Dup: 2\r\nX-Latin: caf\xe9\r\nCookie: a=1\r\nCookie: b=2\r\n"
        b"Content-Type: text/plain\r\nX_Under: dropped\r\nAccept:  spaced  \r\nX-Empty:\r\n",
    ), ["GET"])]
    yield "env: HTTP/1.0 without Host", [("send", b"GET /env/ten HTTP/1.0\r\n\r\n", ["GET"])]
    yield "env: absolute-form", [("send", get(b"http://other.example:8080/env/abs?q=1"), ["GET"])]
    yield "env: leading //", [("send", get(b"//env//double/"), ["GET"])]
    yield "env: empty query, fragment", [("send", get(b"/env/q?#frag"), ["GET"])]
    yield "env: encoded NUL and ?", [("send", get(b"/env/%00/%3F/%25"), ["GET"])]
    yield "env: forwarded proto https", [("send", get(b"/env/fwd", extra=b"X-Forwarded-Proto: https\r\n"), ["GET"])]
    yield "env: SCRIPT_NAME header", [("send", get(b"/app/env/x", extra=b"SCRIPT_NAME: /app\r\n"), ["GET"])]
    yield "env: OPTIONS *", [("send", b"OPTIONS * HTTP/1.1\r\n" + HOST + b"\r\n", ["OPTIONS"])]
    yield "env: POST Content-Length", [("send", with_length(b"/env/post", BODY, b"Content-Type: text/x\r\n"), ["POST"])]
    yield "env: POST Content-Length 0", [("send", with_length(b"/env/post", b""), ["POST"])]
    yield "env: POST no framing", [("send", get(b"/env/post", method=b"POST"), ["POST"])]
    yield "env: POST chunked", [("send", chunked(b"/env/chunked", BODY), ["POST"])]
    yield "env: POST chunked, trailers", [("send", chunked(b"/env/trailers", BODY, b"X-Sum: 1\r\nX-More: 2\r\n"), ["POST"])]
    yield "env: POST chunked, extensions", [("send", b"POST /env/ext HTTP/1.1\r\n" + HOST +
        b"Transfer-Encoding: chunked\r\n\r\n3;a=b\r\nabc\r\n2 ; c\r\nde\r\n0\r\n\r\n", ["POST"])]
    yield "env: POST chunked, HTTP/1.0 keep-alive", [("send", with_length(b"/env/k", b"x", b"Connection: keep-alive\r\n", b"1.0"), ["POST"]),
                                                 ("send", get(b"/env/k2", b"1.0"), ["GET"])]
    expect = b"Expect: 100-continue\r\n"
    head = b"POST /env/expect HTTP/1.1\r\n" + HOST + expect + b"Content-Length: 5\r\n\r\n"
    yield "expect: 100-continue, HTTP/1.1", [("expect100", head, b"hello", "POST")]
    head10 = b"POST /env/expect HTTP/1.0\r\n" + HOST + expect + b"Content-Length: 5\r\n\r\n"
    yield "expect: 100-continue, HTTP/1.0", [("expect100", head10, b"hello", "POST")]
    headc = b"POST /env/expect HTTP/1.1\r\n" + HOST + expect + b"Transfer-Encoding: chunked\r\n\r\n"
    yield "expect: 100-continue, chunked", [("expect100", headc, b"5\r\nhello\r\n0\r\n\r\n", "POST")]
    head0 = b"POST /env/expect HTTP/1.1\r\n" + HOST + expect + b"Content-Length: 0\r\n\r\n"
    yield "expect: 100-continue, no body", [("expect100", head0, b"", "POST")]
    headn = b"POST /read/none HTTP/1.1\r\n" + HOST + expect + b"Content-Length: 5\r\n\r\n"
    yield "expect: 100-continue, app never reads", [("expect100", headn, b"hello", "POST"), ("send", NEXT, ["GET"])]


def read_cases():
    for how in READS:
        path = b"/read/" + how.encode()
        yield f"read {how}: Content-Length + next", [("send", with_length(path, BODY), ["POST"]), ("send", NEXT, ["GET"])]
        yield f"read {how}: chunked + next", [("send", chunked(path, BODY), ["POST"]), ("send", NEXT, ["GET"])]
        yield f"read {how}: empty", [("send", with_length(path, b""), ["POST"])]
    big = b"x" * 100000
    yield "read none: 100 kB unread + next", [("send", with_length(b"/read/none", big), ["POST"]), ("send", NEXT, ["GET"])]
    yield "read none: 30 kB unread chunked + next", [("send", chunked(b"/read/none", big[:30000]), ["POST"]), ("send", NEXT, ["GET"])]
    yield "read all: 100 kB chunked", [("send", chunked(b"/read/all", big, size=7000), ["POST"])]


def pipeline_cases():
    three = get(b"/resp/chunks") + with_length(b"/read/all", BODY) + get(b"/env/third")
    yield "pipeline: three at once", [("send", three, ["GET", "POST", "GET"])]
    mixed = get(b"/resp/gen", method=b"HEAD") + chunked(b"/read/line", BODY) + get(b"/resp/204") + get(b"/resp/file")
    yield "pipeline: HEAD, chunked, 204, file", [("send", mixed, ["HEAD", "POST", "GET", "GET"])]
    closing = get(b"/resp/list", extra=b"Connection: close\r\n") + get(b"/env/never")
    yield "pipeline: Connection: close then one more", [("send", closing, ["GET"])]
    ten = get(b"/env/ten", b"1.0") + get(b"/env/never", b"1.0")
    yield "pipeline: HTTP/1.0 then one more", [("send", ten, ["GET"])]


def raw_cases():
    yield from env_cases()
    yield from read_cases()
    yield from pipeline_cases()
    yield from route_cases()
