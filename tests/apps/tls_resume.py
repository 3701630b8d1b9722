"""The app of the TLS session-resumption test (tests/tls/resumption.rs): every answer is the
worker's pid; `/held` first sends a 103 naming its worker (`wsgi.early_hints`), then keeps
that worker busy for `s` seconds, so that a connection made meanwhile goes to another."""

import os
import time
from urllib.parse import parse_qs


def app(environ, start_response):
    pid = str(os.getpid())
    if environ["PATH_INFO"] == "/held":
        environ["wsgi.early_hints"]([("X-Worker", pid)])
        seconds = parse_qs(environ.get("QUERY_STRING", "")).get("s", ["1"])[0]
        time.sleep(float(seconds))
    body = pid.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
