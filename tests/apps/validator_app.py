"""A WSGI app checked by ``wsgiref.validate.validator`` (PEP 3333 conformance of the server).

Every route except ``/bad/*`` runs under the validator, which raises AssertionError (→ 500)
when the server hands it a non-conforming environ, input stream or start_response. The
``/bad/*`` routes bypass the validator on purpose: they send what the validator would refuse,
to check that the server refuses it too.

Routes (method-independent unless noted):
  /                    200 "Hello, World!"; HEAD gets the same headers (server drops the body)
  /echo                POST: the whole body, read with read()
  /echo/sized?n=N      the body read in read(N) pieces, pieces joined
  /readline            the body's lines read with readline(), as "len,len,..."
  /readlines           the body's lines from readlines(), as "len,len,..."
  /iter                the body's lines from iterating wsgi.input, as "len,len,..."
  /environ, /environ/* JSON of the environ's str, bool, int and tuple values
  /write               body sent with the write() callable, then an empty iterable
  /stream?n=N          a generator of N chunks; /closed tells how many responses were closed
  /closed              number of app iterables whose close() has run in this process
  /file?offset=K       this file through wsgi.file_wrapper, from byte K
  /exc_info            start_response 200, then an error page via start_response(..., exc_info)
  /exc_info/late       one body chunk, then start_response(..., exc_info): the server aborts
  /204                 204 No Content, no body
  /raise/before        raises before start_response
  /raise/after         raises after the first body chunk
  /bad/no-start        returns a body without calling start_response
  /bad/status          start_response("OK", ...)
  /bad/header-name     a header named "Bad Header"
  /bad/crlf            a header value with CR LF (response splitting attempt)
  /bad/str-body        yields str instead of bytes
  /raw/file?offset=K   /file without the validator's wrapper, so the server can use sendfile
"""
import json
import os
import sys
from urllib.parse import parse_qs
from wsgiref.validate import validator

CLOSED = []
TEXT = [("Content-Type", "text/plain")]


def _arg(environ, name, default):
    values = parse_qs(environ.get("QUERY_STRING", "")).get(name)
    return int(values[0]) if values else default


def _ok(start_response, body, headers=TEXT):
    start_response("200 OK", list(headers) + [("Content-Length", str(len(body)))])
    return [body]


def _lengths(lines):
    return ",".join(str(len(line)) for line in lines).encode()


class Stream:
    """An iterable with a close() probe."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        return iter(self.chunks)

    def close(self):
        CLOSED.append(1)


def _read_lines(inp):
    lines = []
    while True:
        line = inp.readline()
        if not line:
            return lines
        lines.append(line)


def _body(environ):
    # PEP 3333: a server need not give EOF past CONTENT_LENGTH, so read exactly that much.
    return environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))


def hello(environ, start_response):
    return _ok(start_response, b"Hello, World!")


def echo(environ, start_response):
    return _ok(start_response, _body(environ))


def echo_sized(environ, start_response):
    n = _arg(environ, "n", 7)
    remaining = int(environ.get("CONTENT_LENGTH") or 0)
    pieces = []
    while remaining > 0:
        piece = environ["wsgi.input"].read(min(n, remaining))
        if not piece:
            break
        pieces.append(piece)
        remaining -= len(piece)
    return _ok(start_response, b"".join(pieces))


def readline(environ, start_response):
    return _ok(start_response, _lengths(_read_lines(environ["wsgi.input"])))


def readlines(environ, start_response):
    return _ok(start_response, _lengths(environ["wsgi.input"].readlines()))


def iterate(environ, start_response):
    return _ok(start_response, _lengths(list(environ["wsgi.input"])))


def show_environ(environ, start_response):
    values = {k: v for k, v in environ.items() if isinstance(v, (str, bool, int, tuple))}
    return _ok(start_response, json.dumps(values, sort_keys=True).encode(), [("Content-Type", "application/json")])


def write(environ, start_response):
    out = start_response("200 OK", TEXT)
    out(b"written ")
    out(b"with write()")
    return []


def stream(environ, start_response):
    start_response("200 OK", TEXT)
    return Stream([b"chunk %d\n" % i for i in range(_arg(environ, "n", 3))])


def closed(environ, start_response):
    return _ok(start_response, str(len(CLOSED)).encode())


def file(environ, start_response):
    f = open(__file__, "rb")
    f.seek(_arg(environ, "offset", 0))
    size = os.path.getsize(__file__) - f.tell()
    start_response("200 OK", [("Content-Type", "text/x-python"), ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 4096)


def exc_info(environ, start_response):
    start_response("200 OK", TEXT)
    try:
        raise RuntimeError("changed my mind")
    except RuntimeError:
        start_response("500 Internal Server Error", TEXT, sys.exc_info())
    return [b"error page"]


def exc_info_late(environ, start_response):
    start_response("200 OK", TEXT)
    yield b"partial"
    try:
        raise RuntimeError("too late")
    except RuntimeError:
        start_response("500 Internal Server Error", TEXT, sys.exc_info())
    yield b"never sent"


def no_content(environ, start_response):
    start_response("204 No Content", [])
    return []


def raise_before(environ, start_response):
    raise RuntimeError("before start_response")


def raise_after(environ, start_response):
    start_response("200 OK", TEXT)
    yield b"first"
    raise RuntimeError("after the first chunk")


def bad_no_start(environ, start_response):
    return [b"no start_response"]


def bad_status(environ, start_response):
    start_response("OK", TEXT)
    return [b"bad status"]


def bad_header_name(environ, start_response):
    start_response("200 OK", [("Bad Header", "x")])
    return [b"bad header name"]


def bad_crlf(environ, start_response):
    start_response("200 OK", [("X-Evil", "a\r\nSet-Cookie: injected=1")])
    return [b"crlf"]


def bad_str_body(environ, start_response):
    start_response("200 OK", TEXT)
    return ["not bytes"]


ROUTES = {
    "/": hello,
    "/echo": echo,
    "/echo/sized": echo_sized,
    "/readline": readline,
    "/readlines": readlines,
    "/iter": iterate,
    "/environ": show_environ,
    "/write": write,
    "/stream": stream,
    "/closed": closed,
    "/file": file,
    "/exc_info": exc_info,
    "/exc_info/late": exc_info_late,
    "/204": no_content,
    "/raise/before": raise_before,
    "/raise/after": raise_after,
}
BAD = {
    "/bad/no-start": bad_no_start,
    "/bad/status": bad_status,
    "/bad/header-name": bad_header_name,
    "/bad/crlf": bad_crlf,
    "/bad/str-body": bad_str_body,
}
UNVALIDATED = dict(BAD, **{"/raw/file": file})


def not_found(environ, start_response):
    body = b"Not Found"
    start_response("404 Not Found", TEXT + [("Content-Length", str(len(body)))])
    return [body]


def _dispatch(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/environ/"):
        return show_environ(environ, start_response)
    return ROUTES.get(path, not_found)(environ, start_response)


validated = validator(_dispatch)


def application(environ, start_response):
    bad = UNVALIDATED.get(environ.get("PATH_INFO", ""))
    if bad is not None:
        return bad(environ, start_response)
    return validated(environ, start_response)


app = application
