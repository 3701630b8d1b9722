"""Apps that get stuck, for tests/stuck.rs: in one long C call, in C holding the GIL, and in
pure Python.

Each route prints a line first (to stderr, which is line-buffered) so the tests can find it
among the worker's last output in the WORKER TIMEOUT block, and writes a marker file so a test
knows the request reached the app without sleeping.
"""
import hashlib
import os
import re
import sys
import time
from urllib.parse import parse_qs

from markers import MARKER_DIR, mark  # noqa: E402,F401


def text(start_response, body, status="200 OK"):
    body = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def burn_in_c(seconds_hint):
    # One C call, far longer than any timeout in the tests: no Python-level handler can run in
    # this thread meanwhile. (hashlib releases the GIL around it; see hold_the_gil.)
    return hashlib.pbkdf2_hmac("sha256", b"pw", b"salt", 200_000_000)


def hold_the_gil():
    # Catastrophic backtracking: the re module never releases the GIL while it matches, so no
    # other Python thread runs for minutes (about 2 s at 27 characters, doubling with each).
    return re.match(r"(x+x+)+y", "x" * 36)


def spin_in_python(seconds):
    # Pure Python: an interrupt raises at the next bytecode.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)


def app(environ, start_response):
    path = environ["PATH_INFO"]
    query = {k: v[-1] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
    pid = os.getpid()
    if path == "/c":
        print(f"stuck_app: entering C in pid {pid}", file=sys.stderr, flush=True)
        mark(f"c-{pid}")
        burn_in_c(query.get("s", "60"))
        return text(start_response, "finished C\n")
    if path == "/gil":
        print(f"stuck_app: holding the GIL in pid {pid}", file=sys.stderr, flush=True)
        mark(f"gil-{pid}")
        hold_the_gil()
        return text(start_response, "finished holding the GIL\n")
    if path == "/python":
        print(f"stuck_app: spinning in Python in pid {pid}", file=sys.stderr, flush=True)
        mark(f"python-{pid}")
        try:
            spin_in_python(float(query.get("s", "30")))
        except Exception as e:
            mark(f"caught-{pid}", f"{type(e).__module__}.{type(e).__name__}: {e}")
            raise
        return text(start_response, "finished spinning\n")
    if path == "/streaming":
        start_response("200 OK", [("Content-Type", "text/plain")])
        mark(f"streaming-{pid}")

        def body():
            yield b"first chunk\n"
            spin_in_python(float(query.get("s", "30")))
            yield b"never\n"

        return body()
    if path == "/burst":
        # Far more than a pipe holds: the worker must not stall on a master that drains.
        lines = int(query.get("lines", "20000"))
        for i in range(lines):
            sys.stderr.write(f"burst line {i:06d} " + "x" * 180 + "\n")
        sys.stderr.write("burst done\n")
        sys.stderr.flush()
        return text(start_response, "burst\n")
    if path == "/partial":
        sys.stderr.write("partial-start ")
        sys.stderr.flush()
        mark(f"partial-{pid}")
        time.sleep(0.3)
        sys.stderr.write("partial-end\n")
        sys.stderr.flush()
        return text(start_response, "partial\n")
    if path == "/print":
        print(query.get("line", "hello from the app"), flush=True)
        return text(start_response, "printed\n")
    return text(start_response, f"ok {pid}\n")
