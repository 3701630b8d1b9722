"""Apps for the logging tests (tests/log_json.rs, tests/syslog.rs, tests/log_config.rs): the same
routes as WSGI (`app`) and ASGI (`asgi`).

- `/` answers `hello`;
- `/raise` raises a ValueError whose text has quotes, so the error log gets a traceback;
- `/print` prints one line to stdout and one to stderr, as an app's stray output does;
- `/errors` (WSGI) writes one line to `wsgi.errors`.
"""
import sys


class Boom(ValueError):
    pass


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/raise":
        raise Boom('bad "value" \\ here')
    if path == "/print":
        print("plain stdout line from the app", flush=True)
        print('plain stderr line with "quotes"', file=sys.stderr, flush=True)
    if path == "/errors":
        environ["wsgi.errors"].write("a wsgi.errors line\n")
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
    return [b"hello"]


async def asgi(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    path = scope["path"]
    if path == "/raise":
        raise Boom('bad "value" \\ here')
    if path == "/print":
        print("plain stdout line from the app", flush=True)
        print('plain stderr line with "quotes"', file=sys.stderr, flush=True)
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"content-length", b"5")]})
    await send({"type": "http.response.body", "body": b"hello"})
