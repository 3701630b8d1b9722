"""A WSGI app with one route per thing a framework leans on (PEP 3333), for the app-level
differential run (tests/differential/app_diff.py): the same file behind gunicorn-rs and
Gunicorn 27 under each worker kind, so a difference in the answers is the servers'.

/env/...          what the app sees: the environ keys a framework reads, as JSON
/keys/...         every environ key, each str and flag value, and whether the streams and
                  callables do what PEP 3333 and Gunicorn say (tests/wsgi_probe.rs: the same
                  environ under every kind; not in the differential run, as it names this server)
/read/<how>       the body read one way (read(), read(n) loops, readline(), readlines(),
                  iteration, read(-1), reads past the end), echoed as the repr of the pieces
/resp/<how>       the response given one way (list, generator with close(), write(),
                  wsgi.file_wrapper, empty bodies, 204/304, Content-Length the app gets wrong,
                  Set-Cookie twice, a latin-1 header value, an app-set Connection: close,
                  a 103 through wsgi.early_hints first)
/err/<when>       an exception before start_response, before the first chunk, mid-body
/sr/<how>         start_response called twice, with and without exc_info
/closed           how many response iterables had close() called since the last ask
/slow             answers after 2 s (for --request-timeout)
"""
import io
import json
import sys
import time

CLOSED = [0]


def text():
    """A new header list each time: tornado's WSGIContainer appends Content-Length to the
    list the app passes (a shared one would carry the first response's length to the next)."""
    return [("Content-Type", "text/plain")]


ENVIRON_KEYS = (
    "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "RAW_URI", "CONTENT_TYPE",
    "CONTENT_LENGTH", "SERVER_NAME", "SERVER_PORT", "SERVER_PROTOCOL", "REMOTE_ADDR",
    "wsgi.url_scheme", "wsgi.multithread", "wsgi.multiprocess", "wsgi.run_once",
    "wsgi.input_terminated", "wsgi.version",
)


class Closing:
    """A response iterable whose close() is counted (PEP 3333: the server MUST call it)."""

    def __init__(self, chunks):
        self.chunks = chunks

    def __iter__(self):
        for chunk in self.chunks:
            if isinstance(chunk, Exception):
                raise chunk
            yield chunk

    def close(self):
        CLOSED[0] += 1


def env(environ, start_response):
    seen = {k: environ.get(k, "<absent>") for k in ENVIRON_KEYS}
    seen["wsgi.version"] = list(seen["wsgi.version"])
    seen["headers"] = sorted([k, v] for k, v in environ.items() if k.startswith("HTTP_"))
    # Every CGI value is a native str (PEP 3333 "Unicode Issues"): say so where one is not.
    seen["not_str"] = sorted(
        k for k, v in environ.items() if k.isupper() and not isinstance(v, str)
    )
    seen["body"] = environ["wsgi.input"].read().decode("latin-1")
    out = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def keys(environ, start_response):
    inp, errors = environ["wsgi.input"], environ["wsgi.errors"]
    seen = {
        "keys": sorted(environ),
        "values": {k: v for k, v in environ.items() if isinstance(v, (str, bool))},
        "version": list(environ["wsgi.version"]),
        "not_str": sorted(k for k, v in environ.items() if k.isupper() and not isinstance(v, str)),
        "body": inp.read().decode("latin-1"),
        # PEP 3333 "Input and Error Streams"; Gunicorn's file_wrapper and early_hints.
        "can": {
            "input": all(callable(getattr(inp, m, None))
                         for m in ("read", "readline", "readlines", "__iter__")),
            "errors": all(callable(getattr(errors, m, None))
                          for m in ("write", "writelines", "flush")),
            "file_wrapper": callable(environ.get("wsgi.file_wrapper")),
            "early_hints": callable(environ.get("wsgi.early_hints")),
        },
    }
    out = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]


def read_pieces(how, inp):
    if how == "all":
        return [inp.read()]
    if how == "minus1":
        return [inp.read(-1), inp.read(-1)]
    if how == "n":
        pieces = []
        while True:
            piece = inp.read(3)
            pieces.append(piece)
            if not piece:
                return pieces
    if how == "line":
        pieces = []
        while True:
            piece = inp.readline()
            pieces.append(piece)
            if not piece:
                return pieces
    if how == "line_limit":
        return [inp.readline(2), inp.readline(100), inp.readline(0), inp.readline(-1)]
    if how == "lines":
        return inp.readlines()
    if how == "lines_hint":
        return [inp.readlines(3), inp.readlines()]
    if how == "iter":
        return list(inp)
    if how == "past":
        return [inp.read(), inp.read(10), inp.read(), inp.readline(), inp.readlines()]
    if how == "mixed":
        return [inp.readline(), inp.read(2), inp.readline(5), inp.readlines()]
    if how == "none":
        return []
    return None


def read(environ, start_response):
    how = environ["PATH_INFO"][len("/read/"):]
    pieces = read_pieces(how, environ["wsgi.input"])
    if pieces is None:
        return not_found(environ, start_response)
    start_response("200 OK", text())
    return [repr(pieces).encode()]


def resp_list(environ, start_response):
    start_response("200 OK", text())
    return [b"one ", b"", b"two"]


def resp_gen(environ, start_response):
    start_response("200 OK", text())
    return Closing([b"one ", b"", b"two"])


def resp_write(environ, start_response):
    write = start_response("200 OK", text())
    write(b"written ")
    write(b"")
    return [b"then returned"]


def resp_write_only(environ, start_response):
    write = start_response("200 OK", text() + [("Content-Length", "7")])
    write(b"written")
    return []


def resp_file(environ, start_response):
    f = open(__file__, "rb")
    start_response("200 OK", text())
    return environ["wsgi.file_wrapper"](f, 4096)


def resp_file_cl(environ, start_response):
    f = open(__file__, "rb")
    start_response("200 OK", text() + [("Content-Length", "100")])
    return environ["wsgi.file_wrapper"](f)


def resp_bytesio(environ, start_response):
    start_response("200 OK", text())
    return environ["wsgi.file_wrapper"](io.BytesIO(b"0123456789" * 1000), 1000)


def resp_empty(environ, start_response):
    start_response("200 OK", text())
    return []


def resp_empty_cl(environ, start_response):
    start_response("200 OK", text() + [("Content-Length", "0")])
    return Closing([b""])


def status_route(code, body, length=None):
    def route(environ, start_response):
        headers = [("X-Code", code)]
        if length is not None:
            headers.append(("Content-Length", length))
        start_response(code, headers)
        return Closing(body)
    return route


def resp_cl_short(environ, start_response):
    start_response("200 OK", text() + [("Content-Length", "3")])
    return Closing([b"hello", b" world"])


def resp_cl_long(environ, start_response):
    start_response("200 OK", text() + [("Content-Length", "100")])
    return Closing([b"hello"])


def resp_chunks(environ, start_response):
    start_response("200 OK", text())
    return Closing([b"a" * 10, b"b" * 20, b"", b"c"])


def resp_cookies(environ, start_response):
    start_response("200 OK", text() + [("Set-Cookie", "a=1; Path=/"), ("Set-Cookie", "b=2"), ("X-Dup", "1"), ("X-Dup", "2")])
    return [b"cookies"]


def resp_latin1(environ, start_response):
    start_response("200 OK", text() + [("X-Latin", "caf\xe9 \xff")])
    return [b"latin1"]


def resp_conn_close(environ, start_response):
    start_response("200 OK", text() + [("Connection", "close"), ("Content-Length", "5")])
    return [b"close"]


def resp_hints(environ, start_response):
    environ["wsgi.early_hints"]([("Link", "</style.css>; rel=preload; as=style")])
    start_response("200 OK", text())
    return [b"after hints"]


def resp_reason(environ, start_response):
    start_response("299 Quite Fine Thanks", text())
    return [b"reason"]


def err_before(environ, start_response):
    raise RuntimeError("before start_response")


def err_first_chunk(environ, start_response):
    start_response("200 OK", text())
    return Closing([RuntimeError("before the first chunk")])


def err_mid(environ, start_response):
    start_response("200 OK", text())
    return Closing([b"first ", RuntimeError("mid-body")])


def err_mid_cl(environ, start_response):
    start_response("200 OK", text() + [("Content-Length", "20")])
    return Closing([b"first ", RuntimeError("mid-body")])


def err_str_body(environ, start_response):
    start_response("200 OK", text())
    return ["a str, not bytes"]


def sr_twice(environ, start_response):
    start_response("200 OK", text())
    start_response("201 Created", text())
    return [b"twice"]


def sr_exc_info(environ, start_response):
    start_response("200 OK", text() + [("X-First", "1")])
    try:
        raise ValueError("replaced")
    except ValueError:
        start_response("500 Internal Server Error", [("X-Second", "1")], sys.exc_info())
    return [b"replaced by exc_info"]


def sr_exc_info_after_output(environ, start_response):
    write = start_response("200 OK", text())
    write(b"sent ")
    try:
        raise ValueError("too late")
    except ValueError:
        start_response("500 Internal Server Error", text(), sys.exc_info())
    return [b"never"]


def slow(environ, start_response):
    """Past a --request-timeout of 1 s (a patched sleep under the greenlet kinds)."""
    time.sleep(2)
    start_response("200 OK", text())
    return [b"late"]


def closed(environ, start_response):
    count, CLOSED[0] = CLOSED[0], 0
    start_response("200 OK", text())
    return [str(count).encode()]


def not_found(environ, start_response):
    start_response("404 Not Found", text())
    return [b"not found"]


ROUTES = {
    "/resp/list": resp_list,
    "/resp/gen": resp_gen,
    "/resp/write": resp_write,
    "/resp/write_only": resp_write_only,
    "/resp/file": resp_file,
    "/resp/file_cl": resp_file_cl,
    "/resp/bytesio": resp_bytesio,
    "/resp/empty": resp_empty,
    "/resp/empty_cl": resp_empty_cl,
    "/resp/204": status_route("204 No Content", []),
    "/resp/204_body": status_route("204 No Content", [b"not allowed"]),
    "/resp/204_cl": status_route("204 No Content", [], "0"),
    "/resp/304": status_route("304 Not Modified", []),
    "/resp/304_body": status_route("304 Not Modified", [b"not allowed"]),
    "/resp/304_cl": status_route("304 Not Modified", [], "42"),
    "/resp/cl_short": resp_cl_short,
    "/resp/cl_long": resp_cl_long,
    "/resp/chunks": resp_chunks,
    "/resp/cookies": resp_cookies,
    "/resp/latin1": resp_latin1,
    "/resp/conn_close": resp_conn_close,
    "/resp/reason": resp_reason,
    "/resp/hints": resp_hints,
    "/err/before": err_before,
    "/err/first_chunk": err_first_chunk,
    "/err/mid": err_mid,
    "/err/mid_cl": err_mid_cl,
    "/err/str_body": err_str_body,
    "/sr/twice": sr_twice,
    "/sr/exc_info": sr_exc_info,
    "/sr/exc_info_after_output": sr_exc_info_after_output,
    "/closed": closed,
    "/slow": slow,
}


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path.startswith("/env"):
        return env(environ, start_response)
    if path.startswith("/keys"):
        return keys(environ, start_response)
    if path.startswith("/read/"):
        return read(environ, start_response)
    return ROUTES.get(path, not_found)(environ, start_response)
