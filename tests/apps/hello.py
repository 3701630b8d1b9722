"""Plain WSGI app for gunicorn-rs integration tests (started by tests/support.rs).

Marker files go to $TEST_MARKER_DIR (each test server has its own temp dir), written
atomically so a test polling for them never reads half a file.
"""
import hashlib
import json
import os
import random
import sys
import time
from urllib.parse import parse_qs

from markers import MARKER_DIR, mark  # noqa: E402,F401


# Who imported the app: the master (--preload) or each worker (lazy).
mark(f"import-{os.getpid()}", str(os.getpid()))
# Runs in every child forked after the import, i.e. only with --preload and only if the server
# calls CPython's fork hooks (PyOS_AfterFork_Child).
os.register_at_fork(after_in_child=lambda: mark(f"atfork-{os.getpid()}", str(os.getpid())))

_first_random = None


def query(environ):
    return {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}


def text(start_response, body, status="200 OK", extra=()):
    if isinstance(body, str):
        body = body.encode("utf-8")
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))] + list(extra))
    return [body]


def as_json(start_response, obj, status="200 OK"):
    body = json.dumps(obj, sort_keys=True).encode()
    start_response(status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))])
    return [body]


def env_route(environ, start_response):
    out = {k: v for k, v in environ.items() if isinstance(v, str)}
    out["__keys__"] = sorted(environ.keys())
    out["__types__"] = {k: type(v).__name__ for k, v in environ.items()}
    out["__wsgi__"] = {
        "version": list(environ["wsgi.version"]),
        "multithread": environ["wsgi.multithread"],
        "multiprocess": environ["wsgi.multiprocess"],
        "run_once": environ["wsgi.run_once"],
        "input_terminated": environ.get("wsgi.input_terminated"),
    }
    return as_json(start_response, out)


def sys_route(environ, start_response):
    return as_json(
        start_response,
        {
            "executable": sys.executable,
            "prefix": sys.prefix,
            "base_prefix": sys.base_prefix,
            "version": sys.version,
            "path": sys.path,
            "pid": os.getpid(),
            "ppid": os.getppid(),
        },
    )


def random_route(environ, start_response):
    # The first value drawn in this process after fork: equal in two workers iff they share a seed.
    global _first_random
    if _first_random is None:
        _first_random = random.random()
    hold = float(query(environ).get("hold", "0"))
    if hold:
        time.sleep(hold)  # keeps this worker busy so a concurrent request goes to another one
    return text(start_response, f"{_first_random!r} {os.getpid()}")


def echo(environ, start_response):
    body = environ["wsgi.input"].read()
    extra = [("X-Len", str(len(body))), ("X-Content-Length", environ.get("CONTENT_LENGTH", "absent"))]
    start_response("200 OK", [("Content-Type", "application/octet-stream"), ("Content-Length", str(len(body)))] + extra)
    return [body]


def sleep(environ, start_response):
    seconds = float(query(environ).get("s", "1"))
    mark(f"sleeping-{os.getpid()}", str(seconds))
    time.sleep(seconds)
    return text(start_response, f"slept {seconds}")


class Stream:
    """n chunks of `size` bytes; close() records how many were produced (PEP 3333: always called)."""

    def __init__(self, n, size):
        self.n, self.size, self.sent = n, size, 0

    def __iter__(self):
        return self

    def __next__(self):
        if self.sent >= self.n:
            raise StopIteration
        self.sent += 1
        return b"x" * self.size

    def close(self):
        path = os.environ.get("STREAM_CLOSE_MARKER") or os.path.join(MARKER_DIR, "stream-closed")
        tmp = path + ".tmp"
        with open(tmp, "w") as f:
            f.write(str(self.sent))
        os.replace(tmp, path)


def stream(environ, start_response):
    q = query(environ)
    start_response("200 OK", [("Content-Type", "application/octet-stream")])
    return Stream(int(q.get("n", "10")), int(q.get("size", "1024")))


def nolength(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"part1", b"", b"part2"]


def upload_hash(environ, start_response):
    inp = environ["wsgi.input"]
    h = hashlib.sha256()
    total = 0
    while True:
        chunk = inp.read(65536)
        if not chunk:
            break
        h.update(chunk)
        total += len(chunk)
    return as_json(
        start_response,
        {"sha256": h.hexdigest(), "total": total, "pid": os.getpid(), "content_length": environ.get("CONTENT_LENGTH")},
    )


def truncated(environ, start_response):
    """Reads the whole body the way a careful app does; records what the server presented."""
    inp = environ["wsgi.input"]
    cl = environ.get("CONTENT_LENGTH")
    data, error = b"", None
    try:
        if cl:
            n = int(cl)
            while len(data) < n:
                chunk = inp.read(n - len(data))
                if not chunk:
                    break
                data += chunk
        else:
            while True:
                chunk = inp.read(65536)
                if not chunk:
                    break
                data += chunk
    except Exception as e:  # noqa: BLE001 - recording what the server raised is the point
        error = f"{type(e).__name__}: {e}"
    result = {"content_length": cl, "got": len(data), "error": error}
    mark("truncated", json.dumps(result))
    return as_json(start_response, result)


def mark_route(environ, start_response):
    name = query(environ).get("name", "mark")
    mark(f"mark-{name}", str(os.getpid()))
    return text(start_response, f"marked {name}")


def fault(environ, start_response, kind):
    if kind == "raise":
        raise RuntimeError("boom before start_response")
    if kind == "raise-after-start":
        chunked = query(environ).get("chunked") == "1"
        headers = [("Content-Type", "text/plain")]
        if not chunked:
            headers.append(("Content-Length", "100"))
        start_response("200 OK", headers)

        def body():
            yield b"12345678"
            raise RuntimeError("boom after the headers were sent")

        return body()
    if kind == "no-start":
        return [b"start_response was never called"]
    if kind == "bad-status":
        start_response("2000 OK", [("Content-Type", "text/plain")])
        return [b"bad status"]
    if kind == "bad-header-name":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Bad Header", "injected-name")])
        return [b"bad header name"]
    if kind == "crlf-header":
        start_response("200 OK", [("Content-Type", "text/plain"), ("X-Split", "a\r\nSet-Cookie: injected=1")])
        return [b"crlf header"]
    return text(start_response, "no such fault\n", "404 Not Found")


def peer(environ, start_response):
    """Which connection carried the request: the client's port, and which worker served it."""
    return text(start_response, f"{environ.get('REMOTE_PORT', '')} {os.getpid()}")


def early_hints(environ, start_response):
    """A 103 before the response (Gunicorn 25+'s `wsgi.early_hints`)."""
    environ["wsgi.early_hints"]([("Link", "</style.css>; rel=preload; as=style")])
    return text(start_response, "after hints\n")


def lane(environ, start_response):
    """Sleeps `s` seconds; marks its start and, however it ends (a --request-timeout
    interrupt included), its end: the end marker says when the app let go of the thread."""
    q = query(environ)
    name = q.get("id", "x")
    mark(f"lane-start-{name}", str(os.getpid()))
    ended = "ok"
    try:
        time.sleep(float(q.get("s", "1")))
    except BaseException as e:  # noqa: BLE001 - the interrupt's type is what the test reads
        ended = type(e).__name__
        raise
    finally:
        mark(f"lane-end-{name}", ended)
    return text(start_response, f"lane {name} done")


def overlong(environ, start_response):
    """More body than the Content-Length it declared, shaped like a second response."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"abcd", b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"]


def short_body(environ, start_response):
    """Less body than the Content-Length it declared, returning normally."""
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])
    return [b"12345678"]


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/":
        return text(start_response, "Hello, World!\n")
    if path == "/env" or path.startswith("/env/"):
        return env_route(environ, start_response)
    if path == "/sys":
        return sys_route(environ, start_response)
    if path == "/pid":
        return text(start_response, str(os.getpid()))
    if path == "/random":
        return random_route(environ, start_response)
    if path == "/echo":
        return echo(environ, start_response)
    if path == "/sleep":
        return sleep(environ, start_response)
    if path == "/stream":
        return stream(environ, start_response)
    if path == "/nolength":
        return nolength(environ, start_response)
    if path == "/head":
        return text(start_response, "a body HEAD must not send\n")
    if path == "/upload-hash":
        return upload_hash(environ, start_response)
    if path == "/truncated":
        return truncated(environ, start_response)
    if path == "/mark":
        return mark_route(environ, start_response)
    if path == "/peer":
        return peer(environ, start_response)
    if path == "/hints":
        return early_hints(environ, start_response)
    if path == "/lane":
        return lane(environ, start_response)
    if path == "/overlong":
        return overlong(environ, start_response)
    if path == "/short-body":
        return short_body(environ, start_response)
    if path.startswith("/fault/"):
        return fault(environ, start_response, path[len("/fault/"):])
    return text(start_response, "not found\n", "404 Not Found")
