#!/usr/bin/env python3
"""Benchmark gunicorn-rs's greenlet workers (-k gevent, -k eventlet), in one run (issue 8).

Servers, on 127.0.0.1, driven by wrk (2 workers each) or by this script's own client (memory):

    rs-gevent, rs-eventlet  gunicorn-rs -k gevent / -k eventlet (benches/.venv's gevent/eventlet)
    gunicorn-gevent         Gunicorn 27.0.1 -k gevent
    gunicorn-eventlet       Gunicorn -k eventlet from a second venv (benches/.venv25): Gunicorn 26
                            removed that worker, so it is the newest 25.x pip finds, with eventlet
    granian                 Granian --interface wsgi --workers 2, its default blocking threads:
                            the threaded reference (a WSGI sleep blocks one of its threads)

The greenlet servers get --worker-connections 1000 and --keep-alive 30 (as keepalive.py's).

Scenarios:

    sleep   benches/sleep_app.py: time.sleep(0.05) per request (monkey-patched under the
            greenlet workers), wrk -c500: 500 / 0.05 s = 10,000 req/s is the ceiling
    hello   benches/app.py `/`, wrk -c16, keep-alive
    memory  benches/inflight_app.py, 1 worker, --worker-connections 1100: 1,000 concurrent
            requests that spend 5 s in the app, from this script's asyncio client; the worker's
            RSS (VmRSS of the server's one child) idle, then once all 1,000 are inside the app
            (the app's /until answers when they are: an event, not a guess), then after they are
            answered; growth per request in flight = (in flight - idle) / requests in flight.
            Granian has no row: its WSGI requests each hold a thread, there is no greenlet to
            measure.

The wrk scenarios follow keepalive.py (its run_one, imported): a fresh server per run, ready
once the port answers a request, a 1 s wrk warm-up, a fresh request answered (the warm-up's
leftovers are served), then the measured wrk run. Rounds are interleaved (every server once per
round, order rotating); tables report medians of the rounds, ratios against Gunicorn gevent,
the peak RSS of any one worker during the measured run and wrk's errors. The issue's targets
follow with PASS/FAIL (a target met with errors is a FAIL), then the memory table.

    python3 benches/green.py [--duration 5] [--rounds 3] [--scenarios sleep,hello,memory]
        [--servers rs-gevent,rs-eventlet,...] [--binary PATH] [--venv PATH] [--venv25 PATH]

The tables go to stdout; progress to stderr; each server's output and wrk's report are kept in
a temporary directory named at the end. A server that does not start (or a venv that does not
install) is reported as "failed to start: <why>", is not retried, and the run goes on.

Needs wrk on PATH (apt-get install -y wrk). Builds gunicorn-rs with `cargo build --release`
unless --binary is given. Makes or reuses benches/.venv with the lines of
benches/requirements.txt that this benchmark uses (gunicorn, granian, gevent, eventlet, and
packaging, which Gunicorn 27.0.1's gevent worker imports without requiring it) and
benches/.venv25 with gunicorn>=25,<26 and eventlet. Raises its own open-file limit (inherited
by wrk and the servers) for 500 and 1,000 connections.
"""

import argparse
import asyncio
import os
import re
import resource
import subprocess
import sys
import tempfile
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, free_port, rss_kib, stop_server  # noqa: E402
from green_report import (  # noqa: E402
    CONNECTIONS, IN_FLIGHT, KEEPALIVE, MEMORY_CONNECTIONS, SCENARIOS, WORKERS, WRK, per_request,
    report,
)
from harness import (  # noqa: E402
    Server, build, csv, errors_text, interleaved, last_line, launch, worker_pids,
)
from keepalive import run_one  # noqa: E402

GUNICORN25 = ["gunicorn>=25,<26", "eventlet"]  # Gunicorn 26 removed -k eventlet

# Server is harness.Server (label, argv(port, target), scenarios) plus the argv for the
# memory scenario (1 worker) and, when its venv did not install, why it cannot start.
GreenServer = namedtuple("GreenServer", "label argv memory_argv scenarios broken")


def server_table(venv, binary, venv25, venv25_broken):
    bind = "127.0.0.1:%d"

    def rs(kind):
        def argv(workers, conns):
            # gunicorn-rs embeds CPython: $VIRTUAL_ENV says where gevent/eventlet are. `env`
            # execs, so the server's pid (whose children are the workers) stays the one we start.
            return lambda port, target: [
                "env", "VIRTUAL_ENV=" + venv, binary, "-k", kind, "-w", str(workers),
                "--worker-connections", str(conns), "--keep-alive", str(KEEPALIVE),
                "-b", bind % port, "--chdir", BENCH, target]
        return GreenServer("gunicorn-rs -k " + kind, argv(WORKERS, CONNECTIONS),
                           argv(1, MEMORY_CONNECTIONS), ("sleep", "hello", "memory"), None)

    def gunicorn(kind, env_dir, version, broken):
        def argv(workers, conns):
            return lambda port, target: [
                os.path.join(env_dir or "", "bin", "gunicorn"), "-k", kind, "-w", str(workers),
                "--worker-connections", str(conns), "--keep-alive", str(KEEPALIVE),
                "-b", bind % port, "--chdir", BENCH, target]
        return GreenServer("gunicorn %s -k %s" % (version, kind), argv(WORKERS, CONNECTIONS),
                           argv(1, MEMORY_CONNECTIONS), ("sleep", "hello", "memory"), broken)

    def granian():
        def argv(port, target):
            return [os.path.join(venv, "bin", "granian"), "--interface", "wsgi",
                    "--workers", str(WORKERS), "--host", "127.0.0.1", "--port", str(port),
                    "--working-dir", BENCH, target]
        return GreenServer("granian (WSGI, default threads)", argv, None, WRK, None)

    return {
        "rs-gevent": rs("gevent"),
        "rs-eventlet": rs("eventlet"),
        "gunicorn-gevent": gunicorn("gevent", venv, gunicorn_version(venv, "27.0.1"), None),
        "gunicorn-eventlet": gunicorn("eventlet", venv25, gunicorn_version(venv25, "25.x"), venv25_broken),
        "granian": granian(),
    }


def gunicorn_version(env_dir, unknown):
    """The installed Gunicorn's version, for the row's label (25.x is whatever pip found)."""
    python = os.path.join(env_dir or "", "bin", "python")
    if not env_dir or not os.path.exists(python):
        return unknown
    done = subprocess.run([python, "-c",
                           "import gunicorn; print(gunicorn.__version__)"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else unknown


# --- the memory scenario ----------------------------------------------------------------------

async def http_get(port, path, timeout):
    """One request on its own connection (Connection: close): (status line, body)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
    try:
        writer.write(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path.encode())
        await writer.drain()
        data = await asyncio.wait_for(reader.read(), timeout)  # to EOF: the server closes
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    return head.split(b"\r\n", 1)[0].decode("latin-1"), body


async def hold_in_flight(port, worker):
    """Put IN_FLIGHT slow requests in flight; RSS of `worker` when they are all inside the app
    and after they are answered. Returns (inside, busy_kib, after_kib, failed requests)."""
    timeout = 60.0  # a generous bound: each request takes 5 s once accepted
    slow = [asyncio.ensure_future(http_get(port, "/slow", timeout)) for _ in range(IN_FLIGHT)]
    # The app answers /until once IN_FLIGHT requests are inside it at once, or when its own
    # timeout (the slow requests' 5 s: after that the first leave) ends the wait.
    status, body = await http_get(port, "/until?n=%d&timeout=5" % IN_FLIGHT, timeout)
    busy = rss_kib(worker)
    if not status.startswith("HTTP/1.1 200"):
        raise RuntimeError("/until answered %r" % status)
    inside = int(body)
    results = await asyncio.gather(*slow, return_exceptions=True)
    after = rss_kib(worker)
    failed = [r for r in results if isinstance(r, BaseException) or not r[0].startswith("HTTP/1.1 200")]
    return inside, busy, after, failed


def run_memory(server, log_path):
    """One memory measurement: a dict of numbers, or a string saying why there is none."""
    port = free_port()
    proc, server_said = launch(server.memory_argv(port, SCENARIOS["memory"].target), port, log_path)
    if server_said is None:
        return proc
    try:
        workers = worker_pids(proc.pid)
        if len(workers) != 1:
            return "expected 1 worker process, found %d: %s" % (len(workers), workers)
        worker = workers[0]
        # A few quick requests first, so that "idle" is a worker that has served (its first
        # request's one-time costs are not charged to the 1,000).
        for _ in range(10):
            asyncio.run(http_get(port, "/", 10))
        idle = rss_kib(worker)
        try:
            inside, busy, after, failed = asyncio.run(hold_in_flight(port, worker))
        except (RuntimeError, OSError, asyncio.TimeoutError, ValueError) as e:
            return "%s (server: %s)" % (str(e) or type(e).__name__, server_said())
        result = {"idle_kib": idle, "busy_kib": busy, "after_kib": after, "inside": inside,
                  "failed": len(failed)}
        if failed:
            first = failed[0]
            result["note"] = "failed requests: %d, first: %s" % (
                len(failed), first if isinstance(first, BaseException) else first[0])
        if proc.poll() is not None:
            result["note"] = "server exited during the run: status %s, %s" % (proc.returncode, server_said())
        return result
    finally:
        if proc.poll() is None:
            stop_server(proc)


# --- setup -----------------------------------------------------------------------------------

def raise_open_files():
    """Room for 1,000 client sockets here (the memory client) and in wrk (-c500), which
    inherits the limit, as do the servers (gunicorn-rs raises its workers' own, Gunicorn not)."""
    want = 4096
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
        if new < IN_FLIGHT + 100:
            print("open-file limit: hard %d is too low for %d connections" % (hard, IN_FLIGHT),
                  file=sys.stderr)


def pip_install(path, reqs):
    """Make the venv if needed and install reqs (a no-op when present): None, or why not."""
    if not os.path.exists(os.path.join(path, "bin", "python")):
        done = subprocess.run([sys.executable, "-m", "venv", path], capture_output=True, text=True)
        if done.returncode != 0:
            return "venv %s: %s" % (path, last_line(done.stderr or done.stdout))
    done = subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q"] + reqs,
                          capture_output=True, text=True)
    if done.returncode != 0:
        return "pip install %s: %s" % (" ".join(reqs), last_line(done.stderr or done.stdout))
    return None


def ensure_venv(path):
    """benches/.venv with this benchmark's part of requirements.txt (keepalive.py's bjoern and
    flask are left to it: bjoern needs libev's header, and nothing here uses either)."""
    wanted = ("gunicorn", "granian", "gevent", "eventlet", "packaging")
    with open(os.path.join(BENCH, "requirements.txt")) as f:
        reqs = [x.strip() for x in f if x.strip() and not x.startswith("#")]
    reqs = [x for x in reqs if x.split("=")[0].split("<")[0].split(">")[0].strip().lower() in wanted]
    why = pip_install(path, reqs)
    if why:
        sys.exit(why)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds of each measured wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measurement (0: none)")
    ap.add_argument("--scenarios", type=csv(list(SCENARIOS)), default=list(SCENARIOS),
                    help="comma-separated, from: " + ",".join(SCENARIOS))
    all_servers = list(server_table("", "", "", None))
    ap.add_argument("--servers", type=csv(all_servers), default=all_servers,
                    help="comma-separated, from: " + ",".join(all_servers))
    ap.add_argument("--binary", help="a gunicorn-rs binary to use instead of building one")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    ap.add_argument("--venv25", default=os.path.join(BENCH, ".venv25"),
                    help="the venv with Gunicorn 25.x and eventlet (for gunicorn-eventlet)")
    args = ap.parse_args()

    raise_open_files()
    venv = ensure_venv(os.path.abspath(args.venv))
    venv25, venv25_broken = None, None
    if "gunicorn-eventlet" in args.servers:
        venv25 = os.path.abspath(args.venv25)
        venv25_broken = pip_install(venv25, GUNICORN25)
        if venv25_broken:
            venv25 = None
            print("gunicorn-eventlet: %s" % venv25_broken, file=sys.stderr)
    logs = tempfile.mkdtemp(prefix="green-bench-")
    binary = os.path.abspath(args.binary) if args.binary else build(os.path.join(logs, "gunicorn-rs"))
    table = server_table(venv, binary, venv25, venv25_broken)
    names = [n for n in table if n in args.servers]  # the table's order, whatever the CLI's
    scenarios = [s for s in SCENARIOS if s in args.scenarios]
    results = {(s, n): [] for s in scenarios for n in names}
    refused = set()  # (scenario, server) that did not start: not retried in later rounds
    for r, s, n in interleaved(names, scenarios, table, args.rounds):
        if (s, n) in refused:
            continue
        server = table[n]
        log = os.path.join(logs, "%s-%s-%d.log" % (s, n, r + 1))
        if server.broken:
            res = "failed to start: " + server.broken
        elif s == "memory":
            res = run_memory(server, log)
        else:
            res = run_one(Server(server.label, server.argv, server.scenarios), SCENARIOS[s], args, log)
        if isinstance(res, str) and res.startswith("failed to start"):
            refused.add((s, n))
            if not server.broken:
                res = "failed to start: " + why_not_started(log)
        results[(s, n)].append(res)
        print("round %d  %-6s %-17s %s" % (r + 1, s, n, progress(s, res)), file=sys.stderr, flush=True)
    print("server logs (and the binary, when built): %s" % logs, file=sys.stderr)
    report(table, scenarios, names, results, args)


def why_not_started(log_path):
    """The line of a server's output that says why it did not start. Its last line is often
    the end of a traceback Gunicorn prints inside brackets ("]"), so prefer the last line that
    names an error."""
    with open(log_path) as f:
        lines = [x.strip() for x in f if x.strip()]
    errors = [x for x in lines if re.search(r"Error|error|cannot|not found", x)]
    return (errors or lines or ["(no output)"])[-1]


def progress(s, res):
    if isinstance(res, str):
        return res
    if s == "memory":
        return "%d inside, idle %.1f MiB, in flight %.1f MiB (%.1f KiB each), after %.1f MiB, %d failed" % (
            res["inside"], res["idle_kib"] / 1024, res["busy_kib"] / 1024, per_request(res),
            res["after_kib"] / 1024, res["failed"])
    return "%8.0f req/s  p50 %.2f ms  p99 %.2f ms  rss %.1f MiB  %s" % (
        res["rps"], res["p50"], res["p99"], res["rss_mib"], errors_text(res["errors"]))


if __name__ == "__main__":
    main()
