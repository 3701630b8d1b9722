"""A raw ASGI 3.0 app (no framework) for the `-k asgi` tests (tests/asgi.rs, tests/asgi_ws.rs).
Checked by hand under uvicorn: `uvicorn --app-dir tests/apps asgi_app:app`.

lifespan   startup marks `lifespan-startup-PID`, puts `token` into `scope["state"]` and sets a
           module flag; with FAIL_STARTUP=msg it answers `lifespan.startup.failed` with msg.
           STARTUP_DELAY=s waits s seconds before completing; with TASK_FACTORY=1 it sets
           a task factory that counts and names the tasks it makes. Shutdown marks
           `lifespan-shutdown-PID` with the number of requests still in the app.
           Any lifespan scope at all marks `lifespan-seen-PID` (for `--asgi-lifespan off`).
           With NO_LIFESPAN=1 it raises on the lifespan scope, as apps without lifespan
           support do (the spec: the server then goes on without lifespan events).
HTTP
  /                      hello
  /pid                   the worker's pid
  /scope                 the http scope as JSON (bytes as latin-1 text)
  /state-write           writes into scope["state"] (a copy per request, says the spec)
  /echo                  reads the body through `more_body`, echoes it; header x-chunks is
                         how many http.request messages carried it; ?stream=1 echoes each
                         message as it comes (response started before the body is read)
  /stream?n=&delay=      n server-sent events `data: i`, one every `delay` seconds
  /disconnect?id=        reads the body, marks `disconnect-wait-ID`, then marks
                         `disconnect-ID` with the next message's type
  /send-after-disconnect?id=   as /disconnect, then calls send(); marks `sad-ID` with what
                         send() raised (the class and whether it is an OSError)
  /raise                 raises before http.response.start
  /bad-header?name=&value=   http.response.start with that one header (percent-decoded);
                         marks `bad-header` with what send() raised (the class, or "sent")
  /raise-after-start?chunked=  starts (Content-Length 100 unless chunked=1), sends 8 bytes,
                         raises
  /sleep?s=              await asyncio.sleep(s)
  /block?s=              time.sleep(s) on the loop, in block_the_loop()
  /hold?id=              marks `hold-ID`, waits (yielding) until the file `release` exists
  /ignore-disconnect?id= streams a line every 0.1 s for 30 s, ignoring the OSError of a
                         send after the client left (marks `ignoring-ID`, and
                         `cancelled-ID` if its task is cancelled: the disconnect grace)
  /early-hints           a 103 with a Link header before the 200: through the extension the
                         scope advertises (`http.response.early_hint`, or Gunicorn's
                         `http.response.informational`); ?always=1 sends Gunicorn's
                         `http.response.informational` without looking (as Gunicorn apps do)
  /trailers              `trailers: True` and an `http.response.trailers` message when the
                         scope advertises `http.response.trailers`; says which it did
  /contextvar            the value of a ContextVar this route sets (to the request's path and
                         query) after reading it: "unset" unless an earlier request's value
                         leaked into this one's context
  /cancel-own-task       cancels the task it runs in (asyncio.current_task()), answers, and
                         returns; says whether there was a task
  /task-name             the name of the task the request runs in
WebSocket
  /ws                    echo (text and binary); ?subprotocol=x accepts with x and a header
                         `x-accepted: yes`
  /ws-deny               websocket.close before accept (the server answers HTTP 403)
  /ws-close?code=&reason=  accepts, then closes with that code and reason
  /ws-disconnect?id=     accepts, marks `ws-open-ID`, marks `ws-disconnect-ID` with the
                         websocket.disconnect code when the client goes
  /ws-split?in=header|subprotocol  accepts with a CR LF in an accept header's value (or in
                         the subprotocol); when the server refuses that accept (an exception
                         from send), closes before accepting (the server answers HTTP 403)
"""
import asyncio
import contextvars
import json
import os
import time
from urllib.parse import parse_qs

from markers import MARKER_DIR, mark

PID = os.getpid()
_started = False
_in_flight = 0


def query(scope):
    q = parse_qs(scope.get("query_string", b"").decode("latin-1"))
    return {k: v[-1] for k, v in q.items()}


async def respond(send, body, status=200, headers=(), content_type=b"text/plain"):
    if isinstance(body, str):
        body = body.encode()
    head = [(b"content-type", content_type), (b"content-length", str(len(body)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": head + list(headers)})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive):
    """The whole body and how many http.request messages carried it."""
    body, messages = b"", 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            raise RuntimeError(f"{message['type']} before the body ended")
        messages += 1
        body += message.get("body", b"")
        if not message.get("more_body", False):
            return body, messages


async def lifespan(scope, receive, send):
    global _started
    mark(f"lifespan-seen-{PID}")
    if os.environ.get("NO_LIFESPAN"):
        raise RuntimeError("this app does not support lifespan")
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            failure = os.environ.get("FAIL_STARTUP")
            if failure:
                await send({"type": "lifespan.startup.failed", "message": failure})
                return
            await asyncio.sleep(float(os.environ.get("STARTUP_DELAY", "0")))
            if "state" in scope:
                scope["state"]["token"] = f"from-lifespan-{PID}"
            if os.environ.get("TASK_FACTORY"):
                asyncio.get_running_loop().set_task_factory(counting_task_factory)
            _started = True
            mark(f"lifespan-startup-{PID}", str(time.time()))
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            mark(f"lifespan-shutdown-{PID}", str(_in_flight))
            await send({"type": "lifespan.shutdown.complete"})
            return


def text(value):
    return value.decode("latin-1") if isinstance(value, bytes) else value


_factory_tasks = 0


def counting_task_factory(loop, coro, **kwargs):
    """With TASK_FACTORY=1, lifespan startup makes this the loop's task factory (as
    aiotask-context and tracing libraries do): every task is made here, and named so."""
    global _factory_tasks
    _factory_tasks += 1
    task = asyncio.Task(coro, loop=loop, **kwargs)
    task.set_name("factory task %d" % _factory_tasks)
    return task


async def scope_route(scope, receive, send):
    await read_body(receive)
    seen = {
        "type": scope["type"],
        "asgi": scope.get("asgi"),
        "http_version": scope["http_version"],
        "method": scope["method"],
        "scheme": scope.get("scheme", "http"),
        "path": scope["path"],
        "raw_path": text(scope.get("raw_path")),
        "query_string": text(scope["query_string"]),
        "root_path": scope.get("root_path", ""),
        "headers": [[text(n), text(v)] for n, v in scope["headers"]],
        "header_types": sorted({f"{type(n).__name__},{type(v).__name__}" for n, v in scope["headers"]}),
        "client": list(scope["client"]) if scope.get("client") else None,
        "server": list(scope["server"]) if scope.get("server") else None,
        "state_token": (scope.get("state") or {}).get("token"),
        "state_leak": (scope.get("state") or {}).get("leak"),
        "has_state": "state" in scope,
        "extensions": sorted((scope.get("extensions") or {}).keys()),
        "tls": (scope.get("extensions") or {}).get("tls"),
        "started": _started,
        "pid": PID,
    }
    await respond(send, json.dumps(seen), content_type=b"application/json")


async def echo(scope, receive, send):
    if query(scope).get("stream") == "1":
        await send({"type": "http.response.start", "status": 200, "headers": []})
        messages = 0
        while True:
            message = await receive()
            messages += 1
            more = message.get("more_body", False)
            await send({"type": "http.response.body", "body": message.get("body", b""), "more_body": more})
            if not more:
                mark(f"echo-messages-{PID}", str(messages))
                return
    body, messages = await read_body(receive)
    await respond(send, body, headers=[(b"x-chunks", str(messages).encode())])


async def stream(scope, receive, send):
    q = query(scope)
    n, delay = int(q.get("n", "5")), float(q.get("delay", "0.5"))
    headers = [(b"content-type", b"text/event-stream"), (b"cache-control", b"no-cache")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    for i in range(n):
        if i:
            await asyncio.sleep(delay)
        await send({"type": "http.response.body", "body": f"data: {i}\n\n".encode(), "more_body": True})
    await send({"type": "http.response.body", "body": b""})


async def wait_for_disconnect(scope, receive):
    name = query(scope).get("id", "x")
    await read_body(receive)
    mark(f"disconnect-wait-{name}", str(PID))
    # No response yet: the next message can only be the client leaving (ASGI: http.disconnect
    # "if receive is called ... after the HTTP connection has been closed").
    message = await receive()
    return name, message


async def disconnect(scope, receive, send):
    name, message = await wait_for_disconnect(scope, receive)
    mark(f"disconnect-{name}", message["type"])


async def send_after_disconnect(scope, receive, send):
    name, message = await wait_for_disconnect(scope, receive)
    try:
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"nobody is listening"})
        outcome = {"raised": None, "oserror": False}
    except Exception as e:  # noqa: BLE001 - what send() raised is what the test reads
        outcome = {"raised": type(e).__name__, "oserror": isinstance(e, OSError)}
    outcome["message"] = message["type"]
    mark(f"sad-{name}", json.dumps(outcome))


async def raise_after_start(scope, receive, send):
    headers = [(b"content-type", b"text/plain")]
    if query(scope).get("chunked") != "1":
        headers.append((b"content-length", b"100"))
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"12345678", "more_body": True})
    raise RuntimeError("boom after http.response.start")


async def bad_header(q, send):
    header = (q.get("name", "x").encode("latin-1"), q.get("value", "").encode("latin-1"))
    try:
        await send({"type": "http.response.start", "status": 200, "headers": [header]})
    except Exception as e:  # noqa: BLE001 - what the server raised is what the test reads
        mark("bad-header", type(e).__name__)
        raise
    mark("bad-header", "sent")
    await send({"type": "http.response.body", "body": b"sent"})


def block_the_loop(seconds):
    # A synchronous wait inside a coroutine: nothing else on this loop runs meanwhile.
    time.sleep(seconds)


async def hold(scope, receive, send):
    name = query(scope).get("id", "x")
    mark(f"hold-{name}", str(PID))
    release = os.path.join(MARKER_DIR, "release")
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)
    await respond(send, f"held {name}")


async def early_hints(scope, receive, send):
    extensions = scope.get("extensions") or {}
    link = b"</style.css>; rel=preload; as=style"
    if query(scope).get("always") == "1" or "http.response.informational" in extensions:
        await send({"type": "http.response.informational", "status": 103, "headers": [(b"link", link)]})
        how = "informational"
    elif "http.response.early_hint" in extensions:
        await send({"type": "http.response.early_hint", "links": [link]})
        how = "early_hint"
    else:
        how = "not advertised"
    await respond(send, f"after hints: {how}\n")


async def trailers(scope, receive, send):
    if "http.response.trailers" not in (scope.get("extensions") or {}):
        return await respond(send, "trailers not advertised\n")
    head = [(b"content-type", b"text/plain"), (b"trailer", b"x-checksum")]
    await send({"type": "http.response.start", "status": 200, "headers": head, "trailers": True})
    await send({"type": "http.response.body", "body": b"body before trailers\n"})
    await send({"type": "http.response.trailers", "headers": [(b"x-checksum", b"abc123")], "more_trailers": False})


async def ignore_disconnect(send, ident):
    await send({"type": "http.response.start", "status": 200, "headers": []})
    mark(f"ignoring-{ident}")
    try:
        for _ in range(300):
            try:
                await send({"type": "http.response.body", "body": b"tick\n", "more_body": True})
            except OSError:
                pass
            await asyncio.sleep(0.1)
    except asyncio.CancelledError:
        mark(f"cancelled-{ident}")
        raise


async def http(scope, receive, send):
    global _in_flight
    _in_flight += 1
    try:
        await http_route(scope, receive, send)
    finally:
        _in_flight -= 1


# Set by /contextvar: a request's contextvars start afresh, so no request sees another's.
LEAK = contextvars.ContextVar("leak")


async def http_route(scope, receive, send):
    path = scope["path"]
    q = query(scope)
    if path == "/":
        return await respond(send, "Hello, ASGI!\n")
    if path == "/pid":
        return await respond(send, str(PID))
    if path.endswith("/scope"):
        return await scope_route(scope, receive, send)
    if path == "/state-write":
        if "state" in scope:
            scope["state"]["leak"] = "written by a request"
        return await respond(send, "wrote\n")
    if path == "/echo":
        return await echo(scope, receive, send)
    if path == "/stream":
        return await stream(scope, receive, send)
    if path == "/disconnect":
        return await disconnect(scope, receive, send)
    if path == "/send-after-disconnect":
        return await send_after_disconnect(scope, receive, send)
    if path == "/raise":
        raise RuntimeError("boom before http.response.start")
    if path == "/bad-header":
        return await bad_header(q, send)
    if path == "/raise-after-start":
        return await raise_after_start(scope, receive, send)
    if path == "/sleep":
        await asyncio.sleep(float(q.get("s", "1")))
        return await respond(send, f"slept {q.get('s', '1')}")
    if path == "/block":
        mark(f"blocking-{PID}")
        block_the_loop(float(q.get("s", "10")))
        return await respond(send, "blocked\n")
    if path == "/hold":
        return await hold(scope, receive, send)
    if path == "/ignore-disconnect":
        return await ignore_disconnect(send, q.get("id", ""))
    if path == "/early-hints":
        return await early_hints(scope, receive, send)
    if path == "/trailers":
        return await trailers(scope, receive, send)
    if path == "/contextvar":
        seen = LEAK.get("unset")
        LEAK.set("%s?%s" % (path, scope["query_string"].decode("latin-1")))
        return await respond(send, seen)
    if path == "/task-name":
        return await respond(send, asyncio.current_task().get_name())
    if path == "/cancel-own-task":
        task = asyncio.current_task()
        if task is not None:
            task.cancel()
        return await respond(send, "task" if task is not None else "no task")
    return await respond(send, "not found\n", status=404)


async def ws_echo(scope, receive, send):
    subprotocol = query(scope).get("subprotocol")
    accept = {"type": "websocket.accept"}
    if subprotocol:
        accept.update(subprotocol=subprotocol, headers=[(b"x-accepted", b"yes")])
    await send(accept)
    while True:
        message = await receive()
        if message["type"] == "websocket.disconnect":
            return
        if message.get("text") is not None:
            await send({"type": "websocket.send", "text": message["text"]})
        else:
            await send({"type": "websocket.send", "bytes": message["bytes"]})


async def ws_split(where, send):
    split = "x\r\nX-Injected: 1"
    accept = {"type": "websocket.accept"}
    if where == "subprotocol":
        accept["subprotocol"] = split
    else:
        accept["headers"] = [(b"x-ok", split.encode())]
    try:
        await send(accept)
    except (ValueError, RuntimeError, OSError):
        return await send({"type": "websocket.close"})
    while True:  # accepted as sent: the test sees the injected line
        await asyncio.sleep(1)


async def websocket(scope, receive, send):
    connect = await receive()
    assert connect["type"] == "websocket.connect", connect
    path, q = scope["path"], query(scope)
    if path == "/ws":
        return await ws_echo(scope, receive, send)
    if path == "/ws-deny":
        return await send({"type": "websocket.close"})
    if path == "/ws-close":
        await send({"type": "websocket.accept"})
        code = int(q.get("code", "1000"))
        return await send({"type": "websocket.close", "code": code, "reason": q.get("reason", "")})
    if path == "/ws-split":
        return await ws_split(q.get("in", "header"), send)
    if path == "/ws-disconnect":
        name = q.get("id", "x")
        await send({"type": "websocket.accept"})
        mark(f"ws-open-{name}", str(PID))
        while True:
            message = await receive()
            if message["type"] == "websocket.disconnect":
                return mark(f"ws-disconnect-{name}", str(message.get("code")))
    await send({"type": "websocket.close", "code": 1008})


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        return await lifespan(scope, receive, send)
    if scope["type"] == "http":
        return await http(scope, receive, send)
    if scope["type"] == "websocket":
        return await websocket(scope, receive, send)
    raise RuntimeError(f"unknown scope type {scope['type']}")
