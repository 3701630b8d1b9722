"""A Flask app for the greenlet workers (tests/green.rs), importable only from the test
virtualenv. Every wait in it is one the worker's monkey-patching makes cooperative
(`time.sleep`, sockets through `requests`), so one worker serves many of these at once.

    /upstream       GET $UPSTREAM_URL with requests (a slow local server), answer its body
    /sleep?s=1      time.sleep(s)
    /hold?id=X      count itself in flight, mark `hold-X`, wait until the file `release`
                    exists in TEST_MARKER_DIR, then answer the most ever in flight at once
    /abandoned?id=X sleep, then answer; marks its start and its end (a client that left)
    /drip?id=X&n=N  N chunks, one every 20 ms; marks how many were produced when the
                    response was closed (PEP 3333: close() is always called)
    /patched        who patched the standard library, and the environ's wsgi.multi* flags
    /big?mb=N       N MiB of body from a generator, 64 KiB at a time
    /file?mb=N      an N MiB file through wsgi.file_wrapper (Flask's send_file)
    /upload         read the whole request body, answer its length
    /pid            the worker's pid
"""
import json
import os
import socket
import sys
import time

import requests
from flask import Flask, Response, request, send_file

from markers import MARKER_DIR, mark

app = Flask(__name__)

# Greenlets share the process: a module global counts the requests inside /hold.
_in_flight = 0
_most_in_flight = 0


@app.route("/pid")
def pid():
    return str(os.getpid())


@app.route("/upstream")
def upstream():
    r = requests.get(os.environ["UPSTREAM_URL"], timeout=60)
    return f"{r.status_code} {r.text}"


@app.route("/sleep")
def sleep():
    seconds = float(request.args.get("s", "1"))
    time.sleep(seconds)
    return f"slept {seconds}"


@app.route("/hold")
def hold():
    global _in_flight, _most_in_flight
    _in_flight += 1
    _most_in_flight = max(_most_in_flight, _in_flight)
    name = request.args.get("id", "x")
    try:
        mark(f"hold-{name}", str(os.getpid()))
        release = os.path.join(MARKER_DIR, "release")
        deadline = time.monotonic() + 60
        while not os.path.exists(release) and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        _in_flight -= 1
    return json.dumps({"id": name, "most_in_flight": _most_in_flight})


@app.route("/abandoned")
def abandoned():
    name = request.args.get("id", "x")
    mark(f"abandoned-start-{name}", str(os.getpid()))
    try:
        time.sleep(float(request.args.get("s", "1")))
    finally:
        mark(f"abandoned-end-{name}", str(os.getpid()))
    return "nobody is listening\n" * 1000


@app.route("/drip")
def drip():
    name = request.args.get("id", "x")
    n = int(request.args.get("n", "100"))
    sent = 0

    def chunks():
        nonlocal sent
        try:
            for _ in range(n):
                sent += 1
                yield b"x" * 1024
                time.sleep(0.02)
        finally:
            mark(f"drip-closed-{name}", str(sent))

    mark(f"drip-start-{name}", str(os.getpid()))
    return Response(chunks(), mimetype="application/octet-stream")


@app.route("/patched")
def patched():
    env = request.environ
    return {
        "socket": socket.socket.__module__,
        "sleep": time.sleep.__module__,
        "gevent": "gevent" in sys.modules,
        "eventlet": "eventlet" in sys.modules,
        "multithread": env["wsgi.multithread"],
        "multiprocess": env["wsgi.multiprocess"],
        "run_once": env["wsgi.run_once"],
        "pid": os.getpid(),
    }


@app.route("/big")
def big():
    mb = int(request.args.get("mb", "8"))
    piece = b"b" * 65536

    def pieces():
        for _ in range(mb * 16):
            yield piece

    return Response(pieces(), mimetype="application/octet-stream")


@app.route("/file")
def file():
    mb = int(request.args.get("mb", "8"))
    path = os.path.join(MARKER_DIR, f"file-{mb}.bin")
    if not os.path.exists(path):
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "wb") as f:
            f.write(b"f" * (mb << 20))
        os.replace(tmp, path)
    return send_file(path, mimetype="application/octet-stream")


@app.route("/upload", methods=["POST"])
def upload():
    return str(len(request.get_data()))
