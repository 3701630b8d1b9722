#!/usr/bin/env python3
"""Fast requests beside slow heads and slow requests: does anything make them wait?

For each server (2 workers, 127.0.0.1), in one run:

  * 40 clients trickle a request head, one header line a second (slowloris), for the whole
    run, reconnecting when the server closes them;
  * one client keeps a slow request in flight (the app sleeps 0.5 s), one after another;
  * a prober sends fast requests (`GET /`) on new connections, one at a time, and records how
    long each took to be answered (timeouts count as the timeout).

It prints, per server, the prober's p50 / p99 / max latency and how many probes failed. A
server whose workers hold on to heads, or whose heads wait behind a busy worker while another
is idle, shows up as seconds in p99 instead of milliseconds (issue 7: "a head that completes
while its worker is busy must not wait behind that request while another worker is idle").

    python3 benches/slow_heads.py [--duration 10] [--binary PATH] [--venv PATH]

Servers: gunicorn-rs -k sync, gunicorn-rs -k gthread --threads 2, Gunicorn 27.0.1 sync and
gthread --threads 2 (from benches/.venv, see keepalive.py). Builds gunicorn-rs in release mode
unless --binary is given. Not a test: it reports, it does not judge.
"""

import argparse
import os
import socket
import statistics
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, ROOT, free_port, in_venv, wait_listening  # noqa: E402

TRICKLERS = 40
PROBE_TIMEOUT = 10.0


def servers(binary, venv):
    gunicorn = os.path.join(venv, "bin", "gunicorn")
    common = ["-w", "2", "--chdir", BENCH]
    return {
        "gunicorn-rs sync": lambda p: in_venv(venv, [binary, "-k", "sync", "-b", "127.0.0.1:%d" % p] + common + ["mixed_app:app"]),
        "gunicorn-rs gthread -t2": lambda p: in_venv(venv, [binary, "-k", "gthread", "--threads", "2", "-b", "127.0.0.1:%d" % p] + common + ["mixed_app:app"]),
        "gunicorn sync": lambda p: [gunicorn, "-k", "sync", "-b", "127.0.0.1:%d" % p] + common + ["mixed_app:app"],
        "gunicorn gthread -t2": lambda p: [gunicorn, "-k", "gthread", "--threads", "2", "-b", "127.0.0.1:%d" % p] + common + ["mixed_app:app"],
    }


def trickle(port, stop):
    """One slowloris client: a header line a second, forever; reconnect when closed."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /slowloris HTTP/1.1\r\nHost: x\r\n")
                n = 0
                while not stop.wait(1.0):
                    s.sendall(b"X-Trickle-%d: %d\r\n" % (n, n))
                    n += 1
        except OSError:
            stop.wait(0.1)


def slow_requests(port, stop):
    """Keep one slow request (0.5 s in the app) in flight."""
    while not stop.is_set():
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                s.sendall(b"GET /slow HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
                while s.recv(4096):
                    pass
        except OSError:
            stop.wait(0.1)


def probe(port):
    """One fast request on a new connection: seconds to the response, or None on failure."""
    started = time.monotonic()
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=PROBE_TIMEOUT) as s:
            s.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
            data = b""
            while True:
                chunk = s.recv(4096)
                if not chunk:
                    break
                data += chunk
        if not data.startswith(b"HTTP/1.1 200"):
            return None
        return time.monotonic() - started
    except OSError:
        return None


def run(name, argv, duration):
    port = free_port()
    proc = subprocess.Popen(argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stop = threading.Event()
    threads = []
    try:
        wait_listening(port, proc)
        threads = [threading.Thread(target=trickle, args=(port, stop), daemon=True) for _ in range(TRICKLERS)]
        threads.append(threading.Thread(target=slow_requests, args=(port, stop), daemon=True))
        for t in threads:
            t.start()
        time.sleep(2.0)  # let the tricklers connect and the slow request start (load shape, not readiness)
        latencies, failures = [], 0
        until = time.monotonic() + duration
        while time.monotonic() < until:
            took = probe(port)
            if took is None:
                failures += 1
                latencies.append(PROBE_TIMEOUT)
            else:
                latencies.append(took)
        return latencies, failures
    finally:
        stop.set()
        os.killpg(proc.pid, 15)
        try:
            proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--duration", type=float, default=10.0)
    ap.add_argument("--binary")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    args = ap.parse_args()
    binary = args.binary
    if not binary:
        subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
        binary = os.path.join(ROOT, "target", "release", "gunicorn-rs")
    print("%d trickling clients, one 0.5 s request always in flight, fast probes for %gs; 2 workers"
          % (TRICKLERS, args.duration))
    print()
    print("| server | probes | p50 ms | p99 ms | max ms | failed |")
    print("|---|---:|---:|---:|---:|---:|")
    for name, argv in servers(binary, args.venv).items():
        lat, failed = run(name, argv, args.duration)
        lat.sort()
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        print("| %s | %d | %.1f | %.1f | %.1f | %d |" % (
            name, len(lat), statistics.median(lat) * 1000, p99 * 1000, lat[-1] * 1000, failed))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
