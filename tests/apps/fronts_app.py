"""The app behind nginx and HAProxy (tests/fronts_*.rs): it answers with what it saw, and
appends one line per call to $TEST_MARKER_DIR/requests (one write(2) with O_APPEND, so lines
from several workers never mix), so a test can count exactly how many requests reached it."""

import hashlib
import json
import os
import time

from markers import MARKER_DIR

JOURNAL = os.path.join(MARKER_DIR, "requests")
SEEN = (
    "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "RAW_URI", "SERVER_PROTOCOL",
    "REMOTE_ADDR", "REMOTE_PORT", "wsgi.url_scheme", "CONTENT_LENGTH", "CONTENT_TYPE",
    "HTTP_HOST", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_TRANSFER_ENCODING",
    "PROXY_PROTOCOL", "PROXY_ADDR",
)


def journal(environ, body):
    line = f"{environ['REQUEST_METHOD']} {environ.get('RAW_URI', '')} {len(body)}\n"
    fd = os.open(JOURNAL, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, line.encode("latin-1"))
    finally:
        os.close(fd)


def stream(start_response):
    """`first` at once, `last` once the test creates the `release` marker: a client that reads
    `first` before it asked for the rest got a streamed response, not a buffered one."""
    release = os.path.join(MARKER_DIR, "release")
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Accel-Buffering", "no")])
    yield b"first\n"
    deadline = time.monotonic() + 15
    while not os.path.exists(release) and time.monotonic() < deadline:
        time.sleep(0.01)
    yield b"last\n"


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    journal(environ, body)
    if environ["PATH_INFO"] == "/stream":
        return stream(start_response)
    seen = {key: environ.get(key) for key in SEEN}
    seen["body"] = body.decode("latin-1")
    seen["sha256"] = hashlib.sha256(body).hexdigest()
    out = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
