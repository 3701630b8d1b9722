"""An app that leaks: every request keeps 1 MiB forever (a module-level list), the kind of app
`--max-requests` exists for. `/rss` reports the worker's resident set in KiB."""

import os

LEAK = []


def rss_kib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def app(environ, start_response):
    if environ["PATH_INFO"] == "/rss":
        body = ("%d %d" % (os.getpid(), rss_kib())).encode()
    else:
        LEAK.append(bytearray(1 << 20))
        body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
