#!/usr/bin/env python3
"""What statsd costs per request: one release build of gunicorn-rs, with and without
`--statsd-host`, serving benches/app.py's hello world with 2 workers under wrk.

With statsd on, a receiver thread in this script reads every datagram (a real statsd server
would), so the count of `gunicorn.requests` lines can be checked against wrk's total. Rounds are
interleaved, order alternating; the median of the per-round ratios is reported.

    python3 benches/statsd_cost.py [--duration 5] [--rounds 5] [--connections 32] [--close]

--close sends `Connection: close` (one request per connection); the default keeps connections
alive, where a request is cheapest and statsd's three datagrams weigh most.
Needs wrk on PATH.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, ROOT, run_one  # noqa: E402


class Receiver(threading.Thread):
    """A UDP statsd receiver on 127.0.0.1: counts datagrams and request counters."""

    def __init__(self):
        super().__init__(daemon=True)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.address = "127.0.0.1:%d" % self.sock.getsockname()[1]
        self.stop = threading.Event()
        self.datagrams = 0
        self.requests = 0

    def run(self):
        while not self.stop.is_set():
            try:
                data = self.sock.recv(2048)
            except socket.timeout:
                continue
            self.datagrams += 1
            if data.startswith(b"gunicorn.requests:"):
                self.requests += 1


def build(dest):
    subprocess.run(["cargo", "build", "--release", "--quiet", "--bin", "gunicorn-rs"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    shutil.copy2(os.path.join(target, "release", "gunicorn-rs"), dest)
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--close", action="store_true", help="Connection: close requests")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="statsd-cost-")
    binary = build(os.path.join(tmp, "gunicorn-rs"))

    def argv(extra):
        return lambda port: [binary, "-w", "2", "-b", "127.0.0.1:%d" % port, "--chdir", BENCH,
                             "--no-control-socket"] + extra + ["app:app"]

    names = ["statsd off", "statsd on"]
    results = {name: [] for name in names}
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            receiver = None
            extra = []
            if name == "statsd on":
                receiver = Receiver()
                receiver.start()
                extra = ["--statsd-host", receiver.address]
            res = run_one(name, argv(extra), "/", args.close, args)
            seen = ""
            if receiver:
                receiver.stop.set()
                receiver.join()
                seen = " %d datagrams, %d request counters" % (receiver.datagrams, receiver.requests)
            results[name].append(res["rps"])
            print("round %d  %-11s %8.0f req/s %s%s" % (r + 1, name, res["rps"], res["errors"], seen), flush=True)
    on = statistics.median(results["statsd on"])
    off = statistics.median(results["statsd off"])
    paired = statistics.median(a / b for a, b in zip(results["statsd on"], results["statsd off"]))
    print("wrk -t2 -c%d -d%ds, hello world, %s, %d interleaved rounds, 2 workers; medians"
          % (args.connections, args.duration, "Connection: close" if args.close else "keep-alive", args.rounds))
    print("statsd off: %.0f req/s" % off)
    print("statsd on:  %.0f req/s" % on)
    print("cost:       %.1f %% of throughput (median of the per-round ratios)" % ((1 - paired) * 100))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
