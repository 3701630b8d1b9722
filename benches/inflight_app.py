"""Requests that stay in flight, for benches/green.py's memory scenario.

`/slow` spends 5 s in the app (time.sleep: monkey-patched under the greenlet workers, so it
parks the request's greenlet, not the worker). `/until?n=N&timeout=T` answers once N `/slow`
requests are inside the app at the same time, or after T seconds, with the number inside: the
benchmark samples the worker's RSS when that answer comes, an event it can observe rather than
a guess at how long 1,000 connections take to arrive. `/` answers at once (readiness).

The condition is made at import, i.e. after the worker monkey-patched threading: under gevent
and eventlet it is a green one, so waiting on it parks a greenlet like the sleep does.
"""

import threading
import time
from urllib.parse import parse_qs

SLOW = 5.0
HELLO = b"Hello, World!"

_changed = threading.Condition()
_inside = 0  # /slow requests inside the app now; only touched under _changed


def _slow():
    global _inside
    with _changed:
        _inside += 1
        _changed.notify_all()
    try:
        time.sleep(SLOW)
    finally:
        with _changed:
            _inside -= 1
    return b"slept"


def _until(query):
    q = parse_qs(query)
    want = int(q.get("n", ["1"])[0])
    timeout = float(q.get("timeout", [str(SLOW)])[0])
    with _changed:
        _changed.wait_for(lambda: _inside >= want, timeout)
        return str(_inside).encode()


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/slow":
        body = _slow()
    elif path == "/until":
        body = _until(environ.get("QUERY_STRING", ""))
    else:
        body = HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
