"""50 ms of blocking work per request, for benches/keepalive.py.

time.sleep stands in for a database or upstream call: the worker's thread is busy but the CPU
is idle, so throughput measures how many requests a server overlaps (threads), not how fast it
parses. A separate file rather than a route of app.py, so compare.py's app stays as it was.
"""

import time

BODY = b"Hello, World!"


def app(environ, start_response):
    time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]
