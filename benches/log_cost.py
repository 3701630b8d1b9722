#!/usr/bin/env python3
"""What each way of writing the access log costs per request (issue 11's "say in the README
which parts run in Python and what that costs per request").

One release binary serves benches/app.py's hello world (`-k gthread -w 2 --threads 2`,
keep-alive) in five set-ups, rounds interleaved (order rotating) so drift of a shared machine
hits all alike; the medians and the cost per request against no access log are reported:

- `none`: no access log (Gunicorn's default);
- `text`: `--access-logfile /dev/null`, Gunicorn's format written by Rust;
- `json`: the same with `--log-format json`;
- `logconfig`: a `logconfig_dict` whose `gunicorn.access` handler writes `%(message)s` to
  /dev/null: every request goes through Python's `logging` (GIL, atoms dict, format, handler);
- `logger_class`: `--logger-class` with a subclass of Gunicorn's own `glogging.Logger` that
  overrides nothing: every request calls its Python `access()`.

    python3 benches/log_cost.py [--duration 5] [--rounds 3] [--connections 32] [--venv DIR]

Needs wrk on PATH and, for `logger_class`, gunicorn importable in the venv given (default: the
test venv, $GUNICORN_RS_TEST_VENV). Builds the release binary first.
"""

import argparse
import os
import statistics
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, ROOT, run_one  # noqa: E402

CONF = """
logconfig_dict = {
    "formatters": {"plain": {"format": "%(message)s"}},
    "handlers": {"null": {"class": "logging.FileHandler", "filename": "/dev/null", "formatter": "plain"}},
    "root": {"level": "WARNING", "handlers": ["null"]},
    "loggers": {"gunicorn.access": {"level": "INFO", "handlers": ["null"], "propagate": False}},
}
"""

LOGGER = "import gunicorn.glogging\n\n\nclass Logger(gunicorn.glogging.Logger):\n    pass\n"


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--venv", default=os.environ.get("GUNICORN_RS_TEST_VENV", os.path.join(ROOT, ".venv")))
    args = ap.parse_args()
    subprocess.run(["cargo", "build", "--release", "-q"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    binary = os.path.join(target, "release", "gunicorn-rs")
    tmp = tempfile.mkdtemp(prefix="gunicorn-rs-logcost-")
    with open(os.path.join(tmp, "logconf.py"), "w") as f:
        f.write(CONF)
    with open(os.path.join(tmp, "bench_logger.py"), "w") as f:
        f.write(LOGGER)
    os.environ["VIRTUAL_ENV"] = args.venv
    setups = {
        "none": [],
        "text": ["--access-logfile", "/dev/null"],
        "json": ["--access-logfile", "/dev/null", "--log-format", "json"],
        "logconfig": ["-c", os.path.join(tmp, "logconf.py")],
        "logger_class": ["--access-logfile", "/dev/null", "--logger-class", "bench_logger.Logger",
                         "--pythonpath", tmp],
    }

    def argv(extra):
        return lambda port: [binary, "-b", "127.0.0.1:%d" % port, "-k", "gthread", "-w", "2", "--threads", "2",
                             "--chdir", BENCH, *extra, "app:app"]

    results = {name: [] for name in setups}
    names = list(setups)
    for r in range(args.rounds):
        order = names[r % len(names):] + names[:r % len(names)]
        for name in order:
            rps = run_one(name, argv(setups[name]), "/", False, args)["rps"]
            results[name].append(rps)
            print("round %d %-12s %10.0f req/s" % (r + 1, name, rps), flush=True)
    base = statistics.median(results["none"])
    print("\n%-12s %10s %8s %14s" % ("set-up", "req/s", "ratio", "cost/request"))
    for name in names:
        rps = statistics.median(results[name])
        # Two workers: each request costs 2/rps seconds of worker time.
        cost_us = (2 / rps - 2 / base) * 1e6
        print("%-12s %10.0f %8.3f %11.1f us" % (name, rps, rps / base, cost_us))


if __name__ == "__main__":
    main()
