"""The echo peer the Autobahn|Testsuite's server cases expect (tests/autobahn.rs,
benches/autobahn.py): every WebSocket message comes back as it came, text as text and bytes
as bytes, until the client leaves. Plain HTTP gets a 404 (the benchmark's readiness check).
"""


async def app(scope, receive, send):
    if scope["type"] == "websocket":
        await echo(receive, send)
    elif scope["type"] == "http":
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
    elif scope["type"] == "lifespan":
        await lifespan(receive, send)


async def echo(receive, send):
    if (await receive())["type"] != "websocket.connect":
        return
    await send({"type": "websocket.accept"})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def lifespan(receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return
