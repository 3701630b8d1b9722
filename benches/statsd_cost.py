#!/usr/bin/env python3
"""What statsd costs per request: one release build of gunicorn-rs, with and without
`--statsd-host`, serving benches/app.py's hello world with 2 workers under wrk.

Reported per round: throughput, and the workers' CPU time per request (from /proc, user +
system, divided by wrk's request count), which a busy shared machine disturbs far less than
throughput. With statsd on, a receiver thread in this script reads every datagram (a real statsd server
would), so the count of `gunicorn.requests` lines can be checked against wrk's total. Rounds are
interleaved, order alternating; the median of the per-round ratios is reported.

    python3 benches/statsd_cost.py [--duration 5] [--rounds 5] [--connections 32] [--close]

--deaf binds the receiver's port but never reads it: the server's sends cost the same (the
kernel drops what does not fit the receiver's buffer), and no receiver thread competes with the
server for the CPUs.
--close sends `Connection: close` (one request per connection); the default keeps connections
alive, where a request is cheapest and statsd's three datagrams weigh most.
Needs wrk on PATH.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, children, cpu_seconds, free_port, parse_wrk, stop_server, wait_listening  # noqa: E402
from harness import build  # noqa: E402

def workers_cpu_seconds(pid):
    """User + system time of the server's workers (children of `pid`)."""
    return sum(cpu_seconds(c) for c in children(pid))


def run_one(argv, close, args):
    """One wrk run against a fresh server: rps, wrk's error summary, CPU microseconds per request."""
    port = free_port()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen(argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
                            start_new_session=True)
    try:
        wait_listening(port, proc)
        before = workers_cpu_seconds(proc.pid)
        cmd = ["wrk", "-t", "2", "-c", str(args.connections), "-d", "%ds" % args.duration]
        if close:
            cmd += ["-H", "Connection: close"]
        cmd.append("http://127.0.0.1:%d/" % port)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        used = workers_cpu_seconds(proc.pid) - before
        result = parse_wrk(out)
        m = re.search(r"(\d+) requests in", out)
        result["cpu_us"] = used * 1e6 / int(m.group(1)) if m and int(m.group(1)) else float("nan")
        return result
    finally:
        stop_server(proc)


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


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--close", action="store_true", help="Connection: close requests")
    ap.add_argument("--deaf", action="store_true", help="a receiver that never reads")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="statsd-cost-")
    binary = build(os.path.join(tmp, "gunicorn-rs"))

    def argv(extra):
        return lambda port: [binary, "-w", "2", "-b", "127.0.0.1:%d" % port, "--chdir", BENCH,
                             "--no-control-socket"] + extra + ["app:app"]

    names = ["statsd off", "statsd on"]
    results = {name: [] for name in names}
    cpu = {name: [] for name in names}
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            receiver = None
            extra = []
            if name == "statsd on":
                receiver = Receiver()
                if not args.deaf:
                    receiver.start()
                extra = ["--statsd-host", receiver.address]
            res = run_one(argv(extra), args.close, args)
            seen = ""
            if receiver:
                receiver.stop.set()
                if not args.deaf:
                    receiver.join()
                receiver.sock.close()
                seen = " %d datagrams, %d request counters" % (receiver.datagrams, receiver.requests)
            results[name].append(res["rps"])
            cpu[name].append(res["cpu_us"])
            print("round %d  %-11s %8.0f req/s %6.1f us CPU/request %s%s"
                  % (r + 1, name, res["rps"], res["cpu_us"], res["errors"], seen), flush=True)
    on = statistics.median(results["statsd on"])
    off = statistics.median(results["statsd off"])
    paired = statistics.median(a / b for a, b in zip(results["statsd on"], results["statsd off"]))
    print("wrk -t2 -c%d -d%ds, hello world, %s, %d interleaved rounds, 2 workers%s; medians"
          % (args.connections, args.duration, "Connection: close" if args.close else "keep-alive", args.rounds,
             ", a receiver that never reads" if args.deaf else ""))
    print("statsd off: %.0f req/s" % off)
    print("statsd on:  %.0f req/s" % on)
    print("cost:       %.1f %% of throughput (median of the per-round ratios)" % ((1 - paired) * 100))
    print("CPU per request: off %.1f us, on %.1f us (medians)"
          % (statistics.median(cpu["statsd off"]), statistics.median(cpu["statsd on"])))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
