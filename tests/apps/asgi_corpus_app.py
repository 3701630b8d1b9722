"""corpus_app.py for `-k asgi`: answers every request of the request corpus with what the
server handed the app — method, request target and the length of the body it read in full
(through `more_body`). The target is rebuilt from the scope the way ASGI splits it: `raw_path`
(the original bytes; `path` percent-decoded when a server cannot give them), then `?` and
`query_string` when there is one. Any path is a 200."""
import json
from urllib.parse import quote


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        return await send({"type": "lifespan.shutdown.complete"})
    body_len = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return
        body_len += len(message.get("body", b""))
        if not message.get("more_body", False):
            break
    raw = scope.get("raw_path")
    uri = raw.decode("latin-1") if raw is not None else quote(scope["path"], safe="/*:@!$&'()+,;=")
    if scope["query_string"]:
        uri += "?" + scope["query_string"].decode("latin-1")
    seen = {"method": scope["method"], "uri": uri, "body_len": body_len}
    out = json.dumps(seen, sort_keys=True).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(out)).encode())]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": out})
