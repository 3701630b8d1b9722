"""A fast route and a slow one, for benches/slow_heads.py: `/` answers at once, `/slow` after
0.5 s in the app (time.sleep, which releases the GIL)."""

import time

HELLO = b"Hello, World!"


def app(environ, start_response):
    if environ["PATH_INFO"] == "/slow":
        time.sleep(0.5)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(HELLO)))])
    return [HELLO]
