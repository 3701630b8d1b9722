"""A WebSocket client for the `-k asgi` tests (tests/asgi_ws.rs), on the `websockets` library's
synchronous client: one scenario per run, one JSON summary line on stdout. Every wait is
bounded (10 s). Failures of the scenario itself are recorded in the summary, not raised.

    ws_client.py echo BASE          text, binary, a fragmented message, a ping (its pong)
    ws_client.py subprotocol BASE   offers x and y to /ws?subprotocol=y
    ws_client.py deny BASE          /ws-deny: the handshake's HTTP status
    ws_client.py close BASE CODE REASON   /ws-close: the close frame the server sent
    ws_client.py too-big BASE SIZE  sends one SIZE-byte text message to /ws: the close frame
    ws_client.py deflate BASE       permessage-deflate (the client's default offer): what was
                                    agreed, 200 JSON messages and 1 MiB of random bytes echoed

BASE is ws://127.0.0.1:PORT.
"""
import json
import sys

from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.sync.client import connect

TIMEOUT = 10


def closed(e):
    """The close frame the server sent, as (code, reason); None if it sent none."""
    frame = e.rcvd
    return None if frame is None else [frame.code, frame.reason]


def echo(base):
    out = {}
    with connect(f"{base}/ws", open_timeout=TIMEOUT, max_size=None) as ws:
        ws.send("héllo ✓")
        out["text"] = ws.recv(timeout=TIMEOUT)
        ws.send(b"\x00\x01\xfe\xff")
        out["binary"] = list(ws.recv(timeout=TIMEOUT))
        # An iterable is sent as one message in fragments (a text frame, then continuations).
        ws.send(["frag", "men", "ted"])
        out["fragmented"] = ws.recv(timeout=TIMEOUT)
        pong = ws.ping(b"are you there")
        out["pong"] = pong.wait(TIMEOUT)
        big = "x" * (1 << 20)
        ws.send(big)
        out["one_mib_echoed"] = ws.recv(timeout=TIMEOUT) == big
    out["close"] = [ws.protocol.close_code, ws.protocol.close_reason]
    return out


def subprotocol(base):
    with connect(f"{base}/ws?subprotocol=y", subprotocols=["x", "y"], open_timeout=TIMEOUT) as ws:
        ws.send("after negotiation")
        return {
            "subprotocol": ws.subprotocol,
            "x_accepted": ws.response.headers.get("x-accepted"),
            "echo": ws.recv(timeout=TIMEOUT),
        }


def deny(base):
    try:
        with connect(f"{base}/ws-deny", open_timeout=TIMEOUT):
            return {"status": 101}
    except InvalidStatus as e:
        return {"status": e.response.status_code}


def close(base, code, reason):
    with connect(f"{base}/ws-close?code={code}&reason={reason}", open_timeout=TIMEOUT) as ws:
        try:
            ws.recv(timeout=TIMEOUT)
            return {"close": "a message instead of a close"}
        except ConnectionClosed as e:
            return {"close": closed(e)}


def too_big(base, size):
    with connect(f"{base}/ws", open_timeout=TIMEOUT, max_size=None) as ws:
        try:
            ws.send("y" * size)
            reply = ws.recv(timeout=TIMEOUT)
            return {"close": None, "echoed": len(reply)}
        except ConnectionClosed as e:
            return {"close": closed(e)}


def deflate(base):
    import os
    out = {}
    with connect(f"{base}/ws", open_timeout=TIMEOUT, max_size=None) as ws:
        out["extensions"] = ws.response.headers.get("sec-websocket-extensions")
        out["agreed"] = [e.name for e in ws.protocol.extensions]
        messages = [json.dumps({"n": i, "items": list(range(i % 50)), "word": "é" * i})
                    for i in range(200)]
        echoed = []
        for m in messages:
            ws.send(m)
            echoed.append(ws.recv(timeout=TIMEOUT))
        out["json_echoed"] = echoed == messages
        noise = os.urandom(1 << 20)
        ws.send(noise)
        out["random_echoed"] = ws.recv(timeout=TIMEOUT) == noise
    out["close"] = [ws.protocol.close_code, ws.protocol.close_reason]
    return out


def main():
    scenario, base, *args = sys.argv[1:]
    if scenario == "echo":
        result = echo(base)
    elif scenario == "subprotocol":
        result = subprotocol(base)
    elif scenario == "deny":
        result = deny(base)
    elif scenario == "close":
        result = close(base, int(args[0]), args[1])
    elif scenario == "too-big":
        result = too_big(base, int(args[0]))
    elif scenario == "deflate":
        result = deflate(base)
    else:
        raise SystemExit(f"unknown scenario {scenario}")
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
