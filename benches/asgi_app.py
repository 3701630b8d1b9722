"""The raw ASGI app of benches/asgi.py, the same for every server.

    /       hello world (13 bytes, Content-Length)
    /sleep  awaits asyncio.sleep(0.05), then hello world
    /ws     WebSocket echo: every message back as it came (text as text, bytes as bytes)

Lifespan is answered (startup and shutdown complete at once), so servers that run it in
`auto` mode neither warn nor skip it.
"""

import asyncio

BODY = b"Hello, World!"
START = {
    "type": "http.response.start",
    "status": 200,
    "headers": [(b"content-type", b"text/plain"), (b"content-length", b"13")],
}
END = {"type": "http.response.body", "body": BODY}


async def app(scope, receive, send):
    kind = scope["type"]
    if kind == "http":
        if scope["path"] == "/sleep":
            await asyncio.sleep(0.05)
        await send(START)
        await send(END)
    elif kind == "websocket":
        await echo(receive, send)
    elif kind == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return


async def echo(receive, send):
    message = await receive()
    if message["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.receive":
            if message.get("bytes") is not None:
                await send({"type": "websocket.send", "bytes": message["bytes"]})
            else:
                await send({"type": "websocket.send", "text": message["text"]})
        elif message["type"] == "websocket.disconnect":
            return
