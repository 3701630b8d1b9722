#!/usr/bin/env python3
"""What the scoreboard costs: gunicorn-rs against itself built with `--features scoreboard-off`.

The feature compiles out the per-request scoreboard writes (state changes, the current request
behind its seqlock, status counters, the latency histogram); the heartbeat stays, since
liveness needs it either way. Both builds serve benches/app.py's hello world with 2 workers
while wrk sends `Connection: close` requests (one request per connection: the writes are a
larger share of each request than with keep-alive). Rounds are interleaved, order alternating,
so drift of a shared machine hits both builds alike; the ratio of the medians is reported.
Issue 4's budget: at most 3 % of throughput.

    python3 benches/scoreboard_cost.py [--duration 5] [--rounds 5] [--connections 32] [--scrape]

--scrape serves --metrics-bind in both builds and GETs /metrics once a second during every
round, as a Prometheus server would (issue 11): the master's reads of the scoreboard and /proc
then run beside the workers' writes.

Needs wrk on PATH. Builds both binaries in release mode (CARGO_TARGET_DIR is honoured) and
copies each out of the target directory, since both builds write the same path.
"""

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import threading
import urllib.request

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, free_port, run_one  # noqa: E402
from harness import build  # noqa: E402


class Scraper(threading.Thread):
    """GET /metrics on `port` once a second until stopped; counts the answers."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.url = "http://127.0.0.1:%d/metrics" % port
        self.stop = threading.Event()
        self.scrapes = 0

    def run(self):
        while not self.stop.wait(1.0):
            try:
                with urllib.request.urlopen(self.url, timeout=5) as r:
                    r.read()
                    self.scrapes += 1
            except OSError:
                pass  # not listening yet, or already stopped


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--scrape", action="store_true", help="scrape /metrics once a second")
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="scoreboard-cost-")
    binaries = {
        "scoreboard on": build(os.path.join(tmp, "gunicorn-rs-on")),
        "scoreboard off": build(os.path.join(tmp, "gunicorn-rs-off"), "scoreboard-off"),
    }

    metrics_port = free_port() if args.scrape else None

    def argv(binary):
        scrape = ["--metrics-bind", "127.0.0.1:%d" % metrics_port] if metrics_port else []
        return lambda port: [binary, "-w", "2", "-b", "127.0.0.1:%d" % port, "--chdir", BENCH,
                             "--no-control-socket"] + scrape + ["app:app"]

    names = list(binaries)
    results = {name: [] for name in names}
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            scraper = Scraper(metrics_port) if metrics_port else None
            if scraper:
                scraper.start()
            res = run_one(name, argv(binaries[name]), "/", True, args)
            scrapes = ""
            if scraper:
                scraper.stop.set()
                scraper.join()
                scrapes = " %d scrapes" % scraper.scrapes
            results[name].append(res["rps"])
            print("round %d  %-15s %8.0f req/s %s%s" % (r + 1, name, res["rps"], res["errors"], scrapes), flush=True)
    on = statistics.median(results["scoreboard on"])
    off = statistics.median(results["scoreboard off"])
    # Each round's pair ran back to back: its ratio is the least disturbed by a busy machine.
    paired = statistics.median(a / b for a, b in zip(results["scoreboard on"], results["scoreboard off"]))
    print("wrk -t2 -c%d -d%ds, hello world, Connection: close, %d interleaved rounds, 2 workers; medians%s"
          % (args.connections, args.duration, args.rounds, "; /metrics scraped every second" if args.scrape else ""))
    print("scoreboard on:  %.0f req/s" % on)
    print("scoreboard off: %.0f req/s" % off)
    print("ratio on/off:   %.3f of the medians, %.3f median of the per-round ratios" % (on / off, paired))
    print("cost:           %.1f %% of throughput (per-round ratios; budget 3 %%)" % ((1 - paired) * 100))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
