"""A raw ASGI 3.0 app that shows what a server does at each corner of the HTTP and WebSocket
specs (asgiref `specs/www.rst` 2.x): tests/differential/asgi_diff.py runs it under gunicorn-rs,
uvicorn and Gunicorn 27 and compares the answers. Each route is one probe; its name says what
the app does (`/cl/short`: a `content-length` larger than the body sent, and so on).
"""

import asyncio
import json

# What the last probe that looks past its response saw (`/after_response`,
# `/body_after_end`), for `/last` to tell: one worker serves both.
LAST = {}


def _text(value):
    # Bytes as latin-1 text: every byte survives into the JSON.
    return value.decode("latin-1") if isinstance(value, (bytes, bytearray)) else value


def _scope_json(scope):
    shown = {}
    for key, value in scope.items():
        if key == "headers":
            shown[key] = [[_text(n), _text(v)] for n, v in value]
        elif key == "state":
            shown[key] = "present"
        elif key in ("app", "router", "endpoint", "route_handler"):
            continue
        elif key in ("client", "server"):
            shown[key] = None if value is None else [type(value).__name__, value[0],
                                                     type(value[1]).__name__]
        else:
            shown[key] = _text(value) if isinstance(value, bytes) else value
    shown["raw_path_type"] = type(scope.get("raw_path")).__name__
    shown["query_string_type"] = type(scope.get("query_string")).__name__
    return shown


async def _reply(send, status=200, body=b"", headers=None, **start):
    await send({"type": "http.response.start", "status": status,
                "headers": headers if headers is not None else [(b"content-type", b"text/plain")],
                **start})
    await send({"type": "http.response.body", "body": body})


async def _json(send, value):
    await _reply(send, body=json.dumps(value, sort_keys=True, default=repr).encode(),
                 headers=[(b"content-type", b"application/json")])


async def _read_body(receive):
    """Every `http.request` message as (size, more_body), then what one more `receive` gives
    within 0.3 s (ASGI: it waits until the client leaves or the response is sent)."""
    messages, body = [], b""
    while True:
        message = await receive()
        if message["type"] != "http.request":
            messages.append(message["type"])
            return messages, body, "ended early"
        body += message.get("body", b"")
        messages.append([len(message.get("body", b"")), message.get("more_body", False)])
        if not message.get("more_body", False):
            break
    try:
        after = (await asyncio.wait_for(receive(), 0.3))["type"]
    except asyncio.TimeoutError:
        after = "waits"
    return messages, body, after


async def http(scope, receive, send):
    path = scope["path"]
    if path.startswith("/scope"):
        await _json(send, _scope_json(scope))
    elif path == "/body":
        messages, body, after = await _read_body(receive)
        await _json(send, {"messages": len(messages), "size": len(body), "after": after,
                           "head": _text(body[:40])})
    elif path == "/after_response":
        # After the response, the next `receive` is http.disconnect (spec 2.1: once the
        # response is sent; uvicorn says so at once).
        await _reply(send, body=b"done")
        try:
            LAST["after_response"] = (await asyncio.wait_for(receive(), 1.0))["type"]
        except asyncio.TimeoutError:
            LAST["after_response"] = "waits"
        print("probe after_response:", LAST["after_response"], flush=True)
    elif path == "/last":
        await _json(send, LAST)
    elif path == "/nocl":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"one,", "more_body": True})
        await send({"type": "http.response.body", "body": b"two"})
    elif path == "/nocl_whole":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"whole"})
    elif path == "/cl/short":
        await _reply(send, body=b"12345", headers=[(b"content-length", b"10")])
    elif path == "/cl/long":
        await _reply(send, body=b"1234567890", headers=[(b"content-length", b"3")])
    elif path == "/cl/bad":
        await _reply(send, body=b"12345", headers=[(b"content-length", b"abc")])
    elif path == "/stream":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", b"text/plain")]})
        for i in range(3):
            await send({"type": "http.response.body", "body": b"part%d;" % i, "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
    elif path.startswith("/status/"):
        await _reply(send, status=int(path.rsplit("/", 1)[1]), body=b"not for you")
    elif path == "/not_modified":
        await _reply(send, status=304, body=b"", headers=[(b"etag", b'"v1"')])
    elif path == "/empty":
        await _reply(send, body=b"")
    elif path == "/no_body_message":
        # `http.response.body` is never sent: the response is not finished.
        await send({"type": "http.response.start", "status": 200, "headers": []})
    elif path == "/cookies":
        await _reply(send, body=b"c", headers=[(b"set-cookie", b"a=1"), (b"set-cookie", b"b=2"),
                                                (b"x-dup", b"1"), (b"x-dup", b"2")])
    elif path == "/upper":
        await _reply(send, body=b"u", headers=[(b"X-Upper-Case", b"Value"),
                                                (b"Content-Type", b"text/x-upper")])
    elif path == "/str_headers":
        await _reply(send, body=b"s", headers=[("x-str", "v")])
    elif path == "/connection_close":
        await _reply(send, body=b"bye", headers=[(b"connection", b"close")])
    elif path == "/server_header":
        await _reply(send, body=b"s", headers=[(b"server", b"probe"), (b"date", b"yesterday")])
    elif path == "/te_chunked":
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"transfer-encoding", b"chunked")]})
        await send({"type": "http.response.body", "body": b"x", "more_body": True})
        await send({"type": "http.response.body", "body": b"y"})
    elif path == "/start_twice":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        try:
            await send({"type": "http.response.start", "status": 201, "headers": []})
            second = b"accepted"
        except Exception as exc:
            second = type(exc).__name__.encode()
        await send({"type": "http.response.body", "body": b"second start: " + second})
    elif path == "/body_first":
        try:
            await send({"type": "http.response.body", "body": b"early"})
            first = b"accepted"
        except Exception as exc:
            first = type(exc).__name__.encode()
        await _reply(send, body=b"body first: " + first)
    elif path == "/body_after_end":
        await _reply(send, body=b"end")
        try:
            await send({"type": "http.response.body", "body": b"more"})
            LAST["body_after_end"] = "accepted"
        except Exception as exc:
            LAST["body_after_end"] = type(exc).__name__
        print("probe body_after_end:", LAST["body_after_end"], flush=True)
    elif path == "/bad_type":
        await send({"type": "http.response.nonsense"})
    elif path == "/noresponse":
        return
    elif path == "/raise_before":
        raise RuntimeError("probe: before start")
    elif path == "/raise_after_start":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        raise RuntimeError("probe: after start")
    elif path == "/raise_after_body":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"partial", "more_body": True})
        raise RuntimeError("probe: after body")
    elif path == "/trailers":
        await send({"type": "http.response.start", "status": 200, "trailers": True,
                    "headers": [(b"trailer", b"x-checksum")]})
        await send({"type": "http.response.body", "body": b"data", "more_body": True})
        await send({"type": "http.response.body", "body": b"", "more_body": False})
        await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc")],
                    "more_trailers": False})
    elif path == "/early_hints":
        await send({"type": "http.response.informational", "status": 103,
                    "headers": [(b"link", b"</a.css>; rel=preload")]})
        await _reply(send, body=b"after hints")
    elif path == "/bad_status":
        await _reply(send, status=99, body=b"x")
    elif path == "/status_str":
        await _reply(send, status=599, body=b"x")
    elif path == "/bad_header_value":
        await _reply(send, body=b"x", headers=[(b"x-bad", b"a\r\nx-injected: 1")])
    elif path == "/body_str":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": "text, not bytes"})
    elif path == "/list-headers":
        # ASGI: `headers` is an iterable of two-item iterables; lists as well as tuples.
        await send({"type": "http.response.start", "status": 200,
                    "headers": [[b"content-type", b"text/plain"], [b"x-list", bytearray(b"yes")]]})
        await send({"type": "http.response.body", "body": b"listed"})
    elif path == "/big":
        size = int(scope["query_string"] or b"1000000")
        await _reply(send, body=b"x" * size)
    elif path == "/send_wrapped":
        # What `send` returns is an awaitable like any other, and a coroutine as asyncio
        # takes one: wrapped in a future, gathered, made a task, given a timeout.
        await asyncio.ensure_future(send({"type": "http.response.start", "status": 200,
                                          "headers": []}))
        await asyncio.gather(*[send({"type": "http.response.body", "body": b"%d," % i,
                                     "more_body": True}) for i in range(3)])
        await asyncio.create_task(send({"type": "http.response.body", "body": b"3,",
                                        "more_body": True}))
        await asyncio.wait_for(send({"type": "http.response.body", "body": b"end"}), 5)
    elif path == "/slow_stream":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        for i in range(20):
            await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            await asyncio.sleep(0.05)
        await send({"type": "http.response.body", "body": b""})
    else:
        await _reply(send, status=404, body=b"no probe " + scope["raw_path"])


async def ws_wrapped(receive, send):
    """What `send` and `receive` return are awaitables like any other (gunicorn-rs's are not
    coroutines of an `async def`): wrapped in a future, gathered, made a task, given a
    timeout, the messages still go in order."""
    await asyncio.ensure_future(send({"type": "websocket.accept"}))
    await asyncio.gather(*[send({"type": "websocket.send", "text": str(i)}) for i in range(3)])
    await asyncio.create_task(send({"type": "websocket.send", "bytes": b"3"}))
    await asyncio.wait_for(send({"type": "websocket.send", "text": "4"}), 5)
    try:
        await send({"type": "websocket.nonsense"})
    except RuntimeError as exc:
        await send({"type": "websocket.send", "text": type(exc).__name__})
    # The client sends nothing before it hears "timed out": this receive is cancelled while
    # it waits, and the next ones still get every message.
    try:
        await asyncio.wait_for(receive(), 0.05)
    except asyncio.TimeoutError:
        await send({"type": "websocket.send", "text": "timed out"})
    message = await asyncio.wait_for(receive(), 5)
    await send({"type": "websocket.send", "text": "got " + message["text"]})
    message = await asyncio.create_task(receive())
    await send({"type": "websocket.send", "text": "got " + message["text"]})
    await send({"type": "websocket.close", "code": 4000, "reason": "done"})
    try:
        await send({"type": "websocket.send", "text": "after close"})
    except OSError as exc:
        LAST["ws_send_after_close"] = type(exc).__name__


async def websocket(scope, receive, send):
    path = scope["path"]
    message = await receive()
    assert message["type"] == "websocket.connect", message
    if path == "/ws/deny":
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/ws/deny_response":
        # The WebSocket Denial Response extension (spec 2.x): a whole HTTP response instead.
        await send({"type": "websocket.http.response.start", "status": 418,
                    "headers": [(b"content-type", b"text/plain")]})
        await send({"type": "websocket.http.response.body", "body": b"teapot"})
        return
    if path == "/ws/scope":
        await send({"type": "websocket.accept"})
        await send({"type": "websocket.send", "text": json.dumps(_scope_json(scope),
                                                                  sort_keys=True)})
        await send({"type": "websocket.close", "code": 1000})
        return
    if path == "/ws/wrapped":
        return await ws_wrapped(receive, send)
    if path == "/ws/raise":
        raise RuntimeError("probe: websocket raised before accept")
    if path == "/ws/raise_after":
        await send({"type": "websocket.accept"})
        raise RuntimeError("probe: websocket raised after accept")
    offered = scope.get("subprotocols", [])
    await send({"type": "websocket.accept",
                "subprotocol": offered[-1] if offered else None,
                "headers": [(b"x-accept", b"yes")]})
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            print("probe ws disconnect", message.get("code"), flush=True)
            return
        text, data = message.get("text"), message.get("bytes")
        if text is not None and text.startswith("close "):
            _, code, reason = text.split(" ", 2)
            await send({"type": "websocket.close", "code": int(code), "reason": reason})
            return
        if text == "info":
            await send({"type": "websocket.send", "text": json.dumps({
                "both": message.get("bytes") is not None})})
            continue
        if text is not None:
            await send({"type": "websocket.send", "text": text})
        else:
            await send({"type": "websocket.send", "bytes": data})


async def lifespan(scope, receive, send):
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            scope.get("state", {})["probe"] = "started"
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


async def app(scope, receive, send):
    await {"http": http, "websocket": websocket, "lifespan": lifespan}[scope["type"]](
        scope, receive, send)
