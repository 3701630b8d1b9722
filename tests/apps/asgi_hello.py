"""hello.py's routes as a raw ASGI 3.0 app, so the connection checks written for the WSGI kinds
(tests/keepalive.rs, tests/graceful_keepalive.rs, tests/slowloris.rs) run unchanged under
`-k asgi` (tests/asgi_conn.rs). Same paths, same answers; waits are `await asyncio.sleep`.

    /  /pid  /peer (client port and pid)  /echo  /sleep?s=  /stream?n=&size= (no length)
    /nolength  /head  /mark?name=  /lane?s=&id=  /overlong  /short-body
    /fault/raise-after-start?chunked=
"""
import asyncio
import os
from urllib.parse import parse_qs

from markers import mark

PID = os.getpid()


def query(scope):
    q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {k: v[-1] for k, v in q.items()}


async def start(send, headers=(), status=200):
    await send({"type": "http.response.start", "status": status, "headers": list(headers)})


async def text(send, body, status=200):
    body = body.encode() if isinstance(body, str) else body
    await start(send, [(b"content-type", b"text/plain"), (b"content-length", str(len(body)).encode())], status)
    await send({"type": "http.response.body", "body": body})


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise OSError("the client left before the body ended")
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body


async def stream(scope, send):
    q = query(scope)
    n, size = int(q.get("n", "10")), int(q.get("size", "1024"))
    await start(send, [(b"content-type", b"application/octet-stream")])
    for _ in range(n):
        await send({"type": "http.response.body", "body": b"x" * size, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def nolength(send):
    await start(send, [(b"content-type", b"text/plain")])
    for part in (b"part1", b"", b"part2"):
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def lane(scope, send):
    q = query(scope)
    name = q.get("id", "x")
    mark(f"lane-start-{name}", str(PID))
    ended = "ok"
    try:
        await asyncio.sleep(float(q.get("s", "1")))
    except BaseException as e:  # noqa: BLE001 - the interrupt's type is what the test reads
        ended = type(e).__name__
        raise
    finally:
        mark(f"lane-end-{name}", ended)
    await text(send, f"lane {name} done")


async def raise_after_start(scope, send):
    headers = [(b"content-type", b"text/plain")]
    if query(scope).get("chunked") != "1":
        headers.append((b"content-length", b"100"))
    await start(send, headers)
    await send({"type": "http.response.body", "body": b"12345678", "more_body": True})
    raise RuntimeError("boom after the headers were sent")


async def fixed_length(send, declared, parts):
    """A response whose body differs from the Content-Length it declared."""
    await start(send, [(b"content-type", b"text/plain"), (b"content-length", declared)])
    for part in parts:
        await send({"type": "http.response.body", "body": part, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        return await send({"type": "lifespan.shutdown.complete"})
    if scope["type"] != "http":
        return
    path, q = scope["path"], query(scope)
    if path == "/":
        return await text(send, "Hello, World!\n")
    if path == "/pid":
        return await text(send, str(PID))
    if path == "/peer":
        return await text(send, f"{scope['client'][1]} {PID}")
    if path == "/echo":
        return await text(send, await read_body(receive))
    if path == "/sleep":
        seconds = float(q.get("s", "1"))
        mark(f"sleeping-{PID}", str(seconds))
        await asyncio.sleep(seconds)
        return await text(send, f"slept {seconds}")
    if path == "/stream":
        return await stream(scope, send)
    if path == "/nolength":
        return await nolength(send)
    if path == "/head":
        return await text(send, "a body HEAD must not send\n")
    if path == "/mark":
        name = q.get("name", "mark")
        mark(f"mark-{name}", str(PID))
        return await text(send, f"marked {name}")
    if path == "/lane":
        return await lane(scope, send)
    if path == "/overlong":
        return await fixed_length(send, b"4", [b"abcd", b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"])
    if path == "/short-body":
        return await fixed_length(send, b"100", [b"12345678"])
    if path == "/fault/raise-after-start":
        return await raise_after_start(scope, send)
    return await text(send, "not found\n", status=404)
