"""WSGI app for tests/lifecycle.rs: who a worker runs as, and a route that leaks memory.

Imports nothing the interpreter has not loaded at start-up, so it also serves from workers that
dropped root with --user (the standard library may be unreadable to them).
"""
import os

_leaked = []


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/whoami":
        groups = ",".join(str(g) for g in sorted(os.getgroups()))
        body = f"{os.getuid()} {os.getgid()} {groups}"
    elif path == "/leak":
        # Kept forever; written byte by byte, so the pages are resident (calloc'd zeroes are not).
        kib = int(environ.get("QUERY_STRING") or "1024")
        _leaked.append(b"x" * (kib * 1024))
        body = f"{os.getpid()} {len(_leaked)}"
    else:
        body = str(os.getpid())
    data = body.encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(data)))])
    return [data]
