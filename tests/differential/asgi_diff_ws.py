"""WebSocket and client-library probes for asgi_diff.py: the `websockets` client (handshake,
subprotocols, accept headers, denial, close codes and reasons, large and fragmented
messages, ping) and httpx against frameworks, each reduced to a line that servers must share.
"""
import json
import re
from concurrent.futures import ThreadPoolExecutor

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect


def _ws(port, path, action, **kw):
    try:
        with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=10, close_timeout=5,
                     max_size=None, **kw) as ws:
            # permessage-deflate's parameters are each server's choice: only whether.
            agreed = ws.response.headers.get("sec-websocket-extensions") or ""
            got = {"subprotocol": ws.subprotocol,
                   "x-accept": ws.response.headers.get("x-accept"),
                   "deflate": agreed.startswith("permessage-deflate")}
            try:
                got["result"] = action(ws)
                if isinstance(got["result"], str) and '"asgi"' in got["result"]:
                    scope = json.loads(got["result"])
                    scope.pop("extensions", None)
                    scope.get("asgi", {}).pop("spec_version", None)
                    for field in scope.get("headers", []):
                        if field[0] in ("host", "sec-websocket-key"):
                            field[1] = "*"
                    got["result"] = json.dumps(scope, sort_keys=True)
            except ConnectionClosed as exc:
                got["closed"] = [exc.rcvd.code if exc.rcvd else None,
                                 exc.rcvd.reason if exc.rcvd else None]
            return json.dumps(got, sort_keys=True)
    except InvalidStatus as exc:
        r = exc.response
        return f"refused {r.status_code} body={r.body[:40]!r}"
    except Exception as exc:  # noqa: BLE001 - a probe reports whatever happened
        return f"{type(exc).__name__}: {exc}"[:200]


def _echo(msg):
    def act(ws):
        ws.send(msg)
        back = ws.recv(timeout=10)
        return [type(back).__name__, len(back), back == msg]
    return act


def _fragments(ws):
    ws.send(iter(["frag", "men", "ted"]))
    return ws.recv(timeout=10)


def _ping(ws):
    return ws.ping(b"hi").wait(5)


def _close(ws):
    ws.send("close 4001 bye now")
    ws.recv(timeout=10)


def _recv(ws):
    return ws.recv(timeout=10)


def _close_with(text):
    def act(ws):
        ws.send(text)
        ws.recv(timeout=10)
    return act


WS_PROBES = [
    ("ws close reserved 1006", "/ws/echo", _close_with("close 1006 reserved"), {}),
    ("ws close reserved 1005", "/ws/echo", _close_with("close 1005 reserved"), {}),
    ("ws close code 999", "/ws/echo", _close_with("close 999 low"), {}),
    ("ws close code 5000", "/ws/echo", _close_with("close 5000 high"), {}),
    ("ws close long reason", "/ws/echo", _close_with("close 4000 " + "r" * 200), {}),
    ("ws close utf8 reason cut", "/ws/echo", _close_with("close 4000 " + "é" * 100), {}),
    ("ws echo text", "/ws/echo", _echo("hello"), {}),
    ("ws echo bytes", "/ws/echo", _echo(b"\x00\x01binary"), {}),
    ("ws echo 1MiB text", "/ws/echo", _echo("x" * (1 << 20)), {}),
    ("ws echo 1MiB bytes no deflate", "/ws/echo", _echo(b"y" * (1 << 20)), {"compression": None}),
    ("ws fragmented", "/ws/echo", _fragments, {}),
    ("ws ping", "/ws/echo", _ping, {}),
    ("ws subprotocols", "/ws/echo", _echo("p"), {"subprotocols": ["one", "two"]}),
    ("ws close code reason", "/ws/echo", _close, {}),
    ("ws deny", "/ws/deny", _recv, {}),
    ("ws deny response", "/ws/deny_response", _recv, {}),
    ("ws raise before accept", "/ws/raise", _recv, {}),
    ("ws raise after accept", "/ws/raise_after", _recv, {}),
    ("ws scope", "/ws/scope", _recv, {}),
]


def _differ(name, answers):
    if len(set(answers.values())) <= 1:
        return 0
    print(f"=== {name}")
    for who, text in answers.items():
        print(f"--- {who}\n{text}")
    return 1


def _run(servers, only, probes, ask):
    """Each probe (its name first, `ask`'s arguments after the port) sent to every server at
    once; the number of probes whose answers differ."""
    diffs = 0
    for name, *args in probes:
        if only and not re.search(only, name):
            continue
        with ThreadPoolExecutor(len(servers)) as pool:
            got = pool.map(lambda s: ask(s.port, *args[:-1], **args[-1]), servers)
            diffs += _differ(name, dict(zip([s.name for s in servers], got)))
    return diffs


def run_ws(servers, only):
    return _run(servers, only, WS_PROBES, _ws)


def _httpx(port, method, path, **kw):
    import httpx
    try:
        r = httpx.request(method, f"http://127.0.0.1:{port}{path}", timeout=10, **kw)
    except Exception as exc:  # noqa: BLE001
        return f"{type(exc).__name__}: {exc}"[:200]
    headers = sorted((k, v) for k, v in r.headers.items()
                     if k not in ("date", "server", "content-length", "transfer-encoding",
                                  "connection"))
    return f"{r.status_code} {headers} {r.content[:300]!r}"


CLIENT_PROBES = [
    ("httpx GET /", "GET", "/", {}),
    ("httpx GET /items/3?q=x", "GET", "/items/3?q=x", {}),
    ("httpx POST json", "POST", "/items", {"json": {"name": "a", "price": 1.5}}),
    ("httpx POST bad json", "POST", "/items", {"content": b"{nope", "headers": {"content-type": "application/json"}}),
    ("httpx POST wrong type", "POST", "/items", {"json": {"name": "a", "price": "x"}}),
    ("httpx HEAD /", "HEAD", "/", {}),
    ("httpx 404", "GET", "/nowhere", {}),
    ("httpx 405", "DELETE", "/", {}),
    ("httpx stream", "GET", "/stream", {}),
    ("httpx big upload", "POST", "/upload", {"content": b"z" * 3_000_000}),
]


def run_client(servers, only):
    return _run(servers, only, CLIENT_PROBES, _httpx)
