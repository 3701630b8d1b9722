"""Probes for the Rust-side tests of the WSGI bridge (tests/wsgi_bridge.rs).

Routes the validator app cannot express: apps that catch body errors, keep wsgi.input past the
request, call start_response twice, use wsgi.errors, and the app forms App::load accepts.
"""
import io
import sys

KEPT = {}
CLOSED = []
TEXT = [("Content-Type", "text/plain")]


class Probe:
    """Yields chunks (raising any exception among them); close() records the X-Tag header."""

    def __init__(self, environ, chunks):
        self.tag = environ.get("HTTP_X_TAG")
        self.chunks = chunks

    def __iter__(self):
        for chunk in self.chunks:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk

    def close(self):
        CLOSED.append(self.tag)


def catch_body_error(environ, start_response):
    try:
        environ["wsgi.input"].read()
    except OSError as err:
        start_response("200 OK", TEXT)
        return [b"caught " + type(err).__name__.encode() + b" " + str(isinstance(err, OSError)).encode()]
    start_response("200 OK", TEXT)
    return [b"no error"]


def keep_input(environ, start_response):
    KEPT["input"] = environ["wsgi.input"]
    KEPT["write"] = start_response("200 OK", TEXT)
    return [b"kept"]


def use_kept(environ, start_response):
    results = []
    for name, call in (("input", lambda: KEPT["input"].read()), ("write", lambda: KEPT["write"](b"x"))):
        try:
            call()
            results.append("%s:ok" % name)
        except Exception as err:
            results.append("%s:%s" % (name, type(err).__name__))
    start_response("200 OK", TEXT)
    return [" ".join(results).encode()]


def twice(environ, start_response):
    start_response("200 OK", TEXT)
    try:
        start_response("201 Created", TEXT)
    except AssertionError as err:
        start_response("202 Accepted", TEXT, sys.exc_info())
        return [b"second call: " + str(err).encode()]
    return [b"second call allowed"]


def errors(environ, start_response):
    environ["wsgi.errors"].write("to the error log\n")
    environ["wsgi.errors"].writelines(["line one\n", "line two\n"])
    environ["wsgi.errors"].flush()
    start_response("200 OK", TEXT)
    return [b"logged"]


def bytes_header(environ, start_response):
    start_response("200 OK", [("X-Bytes", b"value")])
    return [b"bytes header"]


def latin1_header(environ, start_response):
    start_response("200 OK", [("X-Latin", " caf\xe9 ")])
    return [b""]


def probe(environ, start_response):
    start_response("200 OK", TEXT)
    return Probe(environ, [b"one", b"", b"two", b"three"])


def probe_raises(environ, start_response):
    start_response("200 OK", TEXT)
    return Probe(environ, [b"one", RuntimeError("mid-stream")])


def empty(environ, start_response):
    start_response("200 OK", [("Content-Length", "0")])
    return Probe(environ, [b"", b""])


def file_bytesio(environ, start_response):
    start_response("200 OK", TEXT)
    return environ["wsgi.file_wrapper"](io.BytesIO(b"x" * 20000), 8192)


def file_partial(environ, start_response):
    f = open(__file__, "rb")
    f.read(10)  # buffered read-ahead: the position is tell(), not the fd offset
    start_response("200 OK", [("Content-Length", "5")])
    return environ["wsgi.file_wrapper"](f)


def count(environ, start_response):
    """Stream the whole body through read(64 KiB) without keeping it."""
    total = 0
    while True:
        piece = environ["wsgi.input"].read(65536)
        if not piece:
            break
        total += len(piece)
    start_response("200 OK", TEXT)
    return [str(total).encode()]


def input_calls(environ, start_response):
    """readline/read/readlines with limits and hints, on the body b"abcdef\\nxy\\nz\\nrest"."""
    inp = environ["wsgi.input"]
    calls = [inp.readline(4), inp.readline(-1), inp.readline(0), inp.read(1), inp.readline(None)]
    calls += [inp.readlines(1), inp.read(None), inp.read(), inp.readline()]
    start_response("200 OK", TEXT)
    return [repr(calls).encode()]


ROUTES = {
    "/count": count,
    "/input_calls": input_calls,
    "/catch_body_error": catch_body_error,
    "/keep_input": keep_input,
    "/use_kept": use_kept,
    "/twice": twice,
    "/errors": errors,
    "/bytes_header": bytes_header,
    "/latin1_header": latin1_header,
    "/probe": probe,
    "/probe_raises": probe_raises,
    "/empty": empty,
    "/file_bytesio": file_bytesio,
    "/file_partial": file_partial,
}


def app(environ, start_response):
    handler = ROUTES.get(environ["PATH_INFO"])
    if handler is None:
        start_response("404 Not Found", TEXT)
        return [b"not found"]
    return handler(environ, start_response)


application = app
not_callable = 42
nothing = None


def create_app():
    return app


def create_app_args(greeting, times=1):
    def greeter(environ, start_response):
        start_response("200 OK", TEXT)
        return [greeting.encode() * times]
    return greeter


def factory_raises_type_error():
    return len(42)
