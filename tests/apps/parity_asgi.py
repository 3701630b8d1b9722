"""The ASGI half of tests/kind_parity.rs: parity_wsgi.py's routes, answered the same way."""

from parity_wsgi import plain_body


async def read_body(receive):
    body = b""
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return body
        body += message.get("body", b"")
        if not message.get("more_body"):
            return body


async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    path = scope["path"]
    status = 200
    if path == "/echo":
        body = await read_body(receive)
    elif path == "/204":
        status, body = 204, b"not a body"
    elif path == "/raise":
        raise RuntimeError("raised by the app")
    else:
        body = plain_body(path)
    headers = [(b"content-type", b"text/plain")]
    if path == "/lengths":
        body = b"ok"
        headers += [(b"content-length", b"2"), (b"content-length", b"3")]
    elif status != 204:
        headers.append((b"content-length", b"%d" % len(body)))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})
