"""Every WSGI feature behind wsgiref.validate.validator (PEP 3333's checker).

A violation by the server raises AssertionError inside the request (→ 500 and a traceback in
the error log) or, for an iterable never closed, prints "Iterator garbage collected without
being closed" to stderr. WSGIWarning is turned into an error so warnings fail too.
"""
import os
import sys
import warnings
from wsgiref.validate import WSGIWarning, validator

warnings.simplefilter("error", WSGIWarning)


def ok(start_response, body, status="200 OK", ctype="text/plain"):
    start_response(status, [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def read_length(environ, start_response):
    n = int(environ.get("CONTENT_LENGTH") or 0)
    data = environ["wsgi.input"].read(n)
    return ok(start_response, b"len=%d body=%s" % (len(data), data))


def read_chunked(environ, start_response):
    inp = environ["wsgi.input"]
    parts = []
    while True:
        chunk = inp.read(7)
        if not chunk:
            break
        parts.append(chunk)
    data = b"".join(parts)
    terminated = environ.get("wsgi.input_terminated")
    return ok(start_response, b"len=%d terminated=%r body=%s" % (len(data), terminated, data))


def readline(environ, start_response):
    inp = environ["wsgi.input"]
    first = inp.readline()
    limited = inp.readline(3)
    rest = inp.readline()
    return ok(start_response, repr([first, limited, rest]).encode())


def readlines(environ, start_response):
    inp = environ["wsgi.input"]
    first = inp.readlines(1)  # a hint: the server may honour it (stop after a line) or not
    rest = inp.readlines()
    return ok(start_response, repr(first + rest).encode())


def iterate(environ, start_response):
    lines = [line for line in environ["wsgi.input"]]
    return ok(start_response, repr(lines).encode())


def write(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"written ")
    return [b"and returned"]


def stream(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        for i in range(5):
            yield b"chunk%d;" % i

    return gen()


def file_wrapper(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/x-python")])
    return environ["wsgi.file_wrapper"](open(__file__, "rb"), 8192)


def exc_info(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("replaced before any byte was sent")
    except ValueError:
        start_response("500 Internal Server Error", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"handled"]


def no_content(environ, start_response):
    start_response("204 No Content", [])
    return []


def errors(environ, start_response):
    err = environ["wsgi.errors"]
    err.write("validate_routes: a line on wsgi.errors\n")
    err.writelines(["validate_routes: writelines\n"])
    err.flush()
    return ok(start_response, b"errors written")


ROUTES = {
    "/": lambda e, s: ok(s, b"validated"),
    "/read-length": read_length,
    "/read-chunked": read_chunked,
    "/readline": readline,
    "/readlines": readlines,
    "/iter": iterate,
    "/write": write,
    "/stream": stream,
    "/file": file_wrapper,
    "/exc-info": exc_info,
    "/204": no_content,
    "/errors": errors,
}


def routes(environ, start_response):
    route = ROUTES.get(environ["PATH_INFO"])
    if route is None:
        return ok(start_response, b"not found", "404 Not Found")
    return route(environ, start_response)


app = validator(routes)
