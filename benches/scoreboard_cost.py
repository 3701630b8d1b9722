#!/usr/bin/env python3
"""What the scoreboard costs: gunicorn-rs against itself built with `--features scoreboard-off`.

The feature compiles out the per-request scoreboard writes (state changes, the current request
behind its seqlock, status counters, the latency histogram); the heartbeat stays, since
liveness needs it either way. Both builds serve benches/app.py's hello world with 2 workers
while wrk sends `Connection: close` requests (one request per connection: the writes are a
larger share of each request than with keep-alive). Rounds are interleaved, order alternating,
so drift of a shared machine hits both builds alike; the ratio of the medians is reported.
Issue 4's budget: at most 3 % of throughput.

    python3 benches/scoreboard_cost.py [--duration 5] [--rounds 5] [--connections 32]

Needs wrk on PATH. Builds both binaries in release mode (CARGO_TARGET_DIR is honoured) and
copies each out of the target directory, since both builds write the same path.
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, ROOT, run_one  # noqa: E402


def build(features, dest):
    cmd = ["cargo", "build", "--release", "--quiet", "--bin", "gunicorn-rs"]
    if features:
        cmd += ["--features", features]
    subprocess.run(cmd, cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    shutil.copy2(os.path.join(target, "release", "gunicorn-rs"), dest)
    return dest


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--connections", type=int, default=32)
    args = ap.parse_args()
    tmp = tempfile.mkdtemp(prefix="scoreboard-cost-")
    binaries = {
        "scoreboard on": build("", os.path.join(tmp, "gunicorn-rs-on")),
        "scoreboard off": build("scoreboard-off", os.path.join(tmp, "gunicorn-rs-off")),
    }

    def argv(binary):
        return lambda port: [binary, "-w", "2", "-b", "127.0.0.1:%d" % port, "--chdir", BENCH,
                             "--no-control-socket", "app:app"]

    names = list(binaries)
    results = {name: [] for name in names}
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            res = run_one(name, argv(binaries[name]), "/", True, args)
            results[name].append(res["rps"])
            print("round %d  %-15s %8.0f req/s %s" % (r + 1, name, res["rps"], res["errors"]), flush=True)
    on = statistics.median(results["scoreboard on"])
    off = statistics.median(results["scoreboard off"])
    # Each round's pair ran back to back: its ratio is the least disturbed by a busy machine.
    paired = statistics.median(a / b for a, b in zip(results["scoreboard on"], results["scoreboard off"]))
    print("wrk -t2 -c%d -d%ds, hello world, Connection: close, %d interleaved rounds, 2 workers; medians"
          % (args.connections, args.duration, args.rounds))
    print("scoreboard on:  %.0f req/s" % on)
    print("scoreboard off: %.0f req/s" % off)
    print("ratio on/off:   %.3f of the medians, %.3f median of the per-round ratios" % (on / off, paired))
    print("cost:           %.1f %% of throughput (per-round ratios; budget 3 %%)" % ((1 - paired) * 100))
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
