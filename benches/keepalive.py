#!/usr/bin/env python3
"""Benchmark gunicorn-rs's threaded worker (-k gthread) with keep-alive connections, in one run.

Servers, 2 workers each, on 127.0.0.1, driven by wrk with keep-alive connections:

    rs-t1, rs-t4          gunicorn-rs -k gthread --threads 1 / 4 --keep-alive 30
    gunicorn-t1, -t4      Gunicorn 27.0.1 -k gthread, the same threads and keep-alive
    granian               Granian --interface wsgi (its default blocking threads: for WSGI,
                          half its backpressure, 256 per worker with the default backlog)
    granian-bt4           Granian with --blocking-threads 4
    bjoern                benches/bjoern_server.py: one socket, 2 forked bjoern workers
    rs-t32, gunicorn-t32, granian-bt32
                          the same at 32 threads, for the sleep scenario only (bjoern is one
                          thread per process, so it has no place there)

Scenarios: hello (benches/app.py `/`, -c16), flask (benches/flask_app.py, JSON, -c16), 64k
(benches/app.py `/64k`, -c16), sleep (benches/sleep_app.py, 50 ms per request, -c50). Every
run starts a fresh server, waits until the port answers a request, warms up with a short wrk
run (so every worker has booted and the app is imported), waits until a fresh request is
answered (the warm-up's queued leftovers are served), then measures with a second wrk run.
Rounds are interleaved (every server once per round, order rotating) so that drift of a shared
machine hits all alike; the table reports medians of the rounds, ratios against the scenario's
reference (hello and flask: bjoern; 64k: Granian; sleep: Gunicorn --threads 32), the peak RSS
of any one worker process (a direct child of the server's process) during the measured run,
and wrk's errors (non-2xx responses and socket errors, summed over the rounds). The targets of
the gthread issue follow the table with PASS/FAIL; a target met with errors is a FAIL.

    python3 benches/keepalive.py [--duration 5] [--rounds 3] [--warmup 1]
        [--scenarios hello,flask,64k,sleep] [--servers rs-t1,rs-t4,...] [--binary PATH] [--venv PATH]

The table goes to stdout (ready to paste into the README); progress goes to stderr, and each
server's output and wrk's report are kept in a temporary directory named at the end. A server
that does not start is reported as "failed to start: <the last line of its output>", is not
retried in later rounds, and the run goes on. `--rs-kind sync` (left out of --help) runs the
gunicorn-rs rows with `-k sync` and no --threads, so the harness can be exercised, and sync
compared, without gthread.

Needs wrk on PATH (apt-get install -y wrk). Builds gunicorn-rs with `cargo build --release`
unless --binary is given (CARGO_TARGET_DIR is honoured). Makes or reuses a venv (default
benches/.venv) with benches/requirements.txt: gunicorn==27.0.1, granian, bjoern, flask.
bjoern compiles against libev, so pip needs the Debian package libev-dev
(apt-get install -y libev-dev); without its header the venv is made without bjoern, and the
bjoern rows say why they failed to start.
"""

import argparse
import os
import subprocess
import sys
import tempfile
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, cpu_seconds, free_port, in_venv, stop_server  # noqa: E402
from harness import (  # noqa: E402
    Server, WorkerRssPeak, build, cell, cpu_ratio, csv, errors_cell, errors_text, failed_row,
    interleaved, launch, parse_wrk, ratio_cell, requests_done, run_wrk, settle, summary,
    worker_pids,
)

WORKERS = 2
KEEPALIVE = 30

Scenario = namedtuple("Scenario", "title target path connections reference")
SCENARIOS = {
    "hello": Scenario("hello world", "app:app", "/", 16, "bjoern"),
    "flask": Scenario("Flask JSON", "flask_app:app", "/", 16, "bjoern"),
    "64k": Scenario("64 KiB body", "app:app", "/64k", 16, "granian"),
    "sleep": Scenario("sleep 50 ms", "sleep_app:app", "/", 50, "gunicorn-t32"),
}
FAST = ("hello", "flask", "64k")


def server_table(venv, binary, rs_kind):
    """Every server by key: its label, its command line for (port, app target), its scenarios."""
    vbin = os.path.join(venv, "bin")
    bind = "127.0.0.1:%d"

    def rs(threads):
        def argv(port, target):
            cmd = [binary, "-w", str(WORKERS), "-b", bind % port, "--chdir", BENCH,
                   "--keep-alive", str(KEEPALIVE), "-k", rs_kind]
            if rs_kind == "gthread":
                # sync refuses threads > 1 (that is gthread in Gunicorn's terms)
                cmd += ["--threads", str(threads)]
            return in_venv(venv, cmd + [target])
        label = ("gunicorn-rs gthread --threads %d" % threads if rs_kind == "gthread"
                 else "gunicorn-rs %s (in the --threads %d row)" % (rs_kind, threads))
        return label, argv

    def gunicorn(threads):
        def argv(port, target):
            return [os.path.join(vbin, "gunicorn"), "-w", str(WORKERS), "-b", bind % port,
                    "--chdir", BENCH, "-k", "gthread", "--threads", str(threads),
                    "--keep-alive", str(KEEPALIVE), target]
        return "gunicorn gthread --threads %d" % threads, argv

    def granian(blocking):
        def argv(port, target):
            cmd = [os.path.join(vbin, "granian"), "--interface", "wsgi", "--workers", str(WORKERS),
                   "--host", "127.0.0.1", "--port", str(port), "--working-dir", BENCH]
            if blocking:
                cmd += ["--blocking-threads", str(blocking)]
            return cmd + [target]
        return "granian" + (" --blocking-threads %d" % blocking if blocking else ""), argv

    def bjoern():
        def argv(port, target):
            return [os.path.join(vbin, "python"), os.path.join(BENCH, "bjoern_server.py"),
                    "--bind", bind % port, "--workers", str(WORKERS), "--chdir", BENCH, target]
        return "bjoern (forked workers)", argv

    return {
        "rs-t1": Server(*rs(1), FAST),
        "rs-t4": Server(*rs(4), FAST),
        "gunicorn-t1": Server(*gunicorn(1), FAST),
        "gunicorn-t4": Server(*gunicorn(4), FAST),
        "granian": Server(*granian(None), FAST),
        "granian-bt4": Server(*granian(4), FAST),
        "bjoern": Server(*bjoern(), FAST),
        "rs-t32": Server(*rs(32), ("sleep",)),
        "gunicorn-t32": Server(*gunicorn(32), ("sleep",)),
        "granian-bt32": Server(*granian(32), ("sleep",)),
    }


# --- measuring -------------------------------------------------------------------------------

def run_one(server, scenario, args, log_path):
    """One measurement: a dict of numbers, or a string saying why there is none."""
    port = free_port()
    proc, server_said = launch(server.argv(port, scenario.target), port, log_path)
    if server_said is None:
        return proc
    try:
        try:
            if args.warmup:
                run_wrk(port, scenario.path, scenario.connections, args.warmup)
                settle(port, scenario.path)
            workers = worker_pids(proc.pid)
            cpu_before = sum(cpu_seconds(p) for p in workers)
            peak = WorkerRssPeak(proc.pid)
            peak.start()
            try:
                out = run_wrk(port, scenario.path, scenario.connections, args.duration)
            finally:
                rss = peak.finish()
                cpu = sum(cpu_seconds(p) for p in workers) - cpu_before
        except (RuntimeError, OSError) as e:
            return "%s (server: %s)" % (e, server_said())
        with open(log_path + ".wrk", "w") as f:
            f.write(out)
        result = parse_wrk(out)
        # The workers' CPU time per request: what a server costs, whatever share of the 2
        # shared cores wrk and the rest of the machine left it (req/s moves with that share).
        result["rss_mib"], result["cpu_us"] = rss, 1e6 * cpu / max(1, requests_done(out))
        if proc.poll() is not None:
            result["note"] = "server exited during the run: status %s, %s" % (proc.returncode, server_said())
        return result
    finally:
        if proc.poll() is None:
            stop_server(proc)


# --- setup -----------------------------------------------------------------------------------

def ensure_venv(path):
    python = os.path.join(path, "bin", "python")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
    with open(os.path.join(BENCH, "requirements.txt")) as f:
        reqs = [x.strip() for x in f if x.strip() and not x.startswith("#")]
    if not os.path.exists("/usr/include/ev.h"):
        # bjoern's build needs libev's header; better the other servers than no run at all
        print("libev-dev is missing (apt-get install -y libev-dev): the venv gets no bjoern",
              file=sys.stderr)
        reqs = [x for x in reqs if not x.lower().startswith("bjoern")]
    # A no-op when everything is installed; otherwise brings a reused venv (compare.py's has
    # no bjoern or flask) up to this benchmark's list.
    subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q"] + reqs, check=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds of each measured wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measurement (0: none)")
    ap.add_argument("--scenarios", type=csv(list(SCENARIOS)), default=list(SCENARIOS),
                    help="comma-separated, from: " + ",".join(SCENARIOS))
    all_servers = list(server_table("", "", "gthread"))
    ap.add_argument("--servers", type=csv(all_servers), default=all_servers,
                    help="comma-separated, from: " + ",".join(all_servers))
    ap.add_argument("--binary", help="a gunicorn-rs binary to use instead of building one")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    ap.add_argument("--rs-kind", default="gthread", choices=["gthread", "sync"], help=argparse.SUPPRESS)
    args = ap.parse_args()

    venv = ensure_venv(args.venv)
    logs = tempfile.mkdtemp(prefix="keepalive-bench-")
    binary = os.path.abspath(args.binary) if args.binary else build(os.path.join(logs, "gunicorn-rs"))
    table = server_table(venv, binary, args.rs_kind)
    names = [n for n in table if n in args.servers]  # the table's order, whatever the CLI's
    scenarios = [s for s in SCENARIOS if s in args.scenarios]
    results = {(s, n): [] for s in scenarios for n in names}
    refused = set()  # (scenario, server) that did not start: not retried in later rounds
    for r, s, n in interleaved(names, scenarios, table, args.rounds):
        if (s, n) in refused:
            continue
        res = run_one(table[n], SCENARIOS[s], args, os.path.join(logs, "%s-%s-%d.log" % (s, n, r + 1)))
        if isinstance(res, str) and res.startswith("failed to start"):
            refused.add((s, n))
        results[(s, n)].append(res)
        print("round %d  %-6s %-13s %s" % (r + 1, s, n, res if isinstance(res, str) else
              "%8.0f req/s  p99 %.2f ms  cpu %.1f us/req  rss %.1f MiB  %s" % (
                  res["rps"], res["p99"], res["cpu_us"], res["rss_mib"], errors_text(res["errors"]))),
              file=sys.stderr, flush=True)
    print("server logs (and the binary, when built): %s" % logs, file=sys.stderr)
    report(table, scenarios, names, results, args)


# --- reporting -------------------------------------------------------------------------------

def report(table, scenarios, names, results, args):
    summaries = {k: summary(v) for k, v in results.items()}
    print("wrk -t2 -d%ds (after a %ds warm-up), keep-alive, %d interleaved rounds, %d workers each, "
          "%d CPUs; medians; gunicorn-rs -k %s" % (args.duration, args.warmup, args.rounds, WORKERS,
                                                   os.cpu_count(), args.rs_kind))
    print()
    print("| scenario | server | req/s | ratio vs reference | p50 ms | p99 ms | worker CPU µs/req | worker peak RSS MiB | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---|")
    for s in scenarios:
        sc = SCENARIOS[s]
        title = "%s, -c%d" % (sc.title, sc.connections)
        ref = summaries.get((s, sc.reference))
        ref_label = table[sc.reference].label.split(" ")[0]
        for n in names:
            if s not in table[n].scenarios:
                continue
            m = summaries[(s, n)]
            if m is None:
                runs = results[(s, n)]
                print(failed_row([title, table[n].label], runs, 6))
                continue
            ratio = ratio_cell(m, ref, " " + ref_label)
            print("| %s | %s | %.0f | %s | %.2f | %.2f | %.1f | %.1f | %s |" % (
                title, table[n].label, m["rps"], ratio, m["p50"], m["p99"], m["cpu_us"], m["rss_mib"], errors_cell(m)))
    print()
    print("Targets (gthread issue)")
    print()
    print("| target | measured | result |")
    print("|---|---|---|")
    for target, measured, verdict in targets(table, summaries, results):
        print("| %s | %s | %s |" % (target, cell(measured), verdict))


def targets(table, summaries, results):
    """(target, what was measured, PASS/FAIL/n/a) for each of the issue's targets."""
    def get(s, n):
        return summaries.get((s, n))

    def missing(s, names):
        why = []
        for n in names:
            if not get(s, n):
                runs = results.get((s, n))
                why.append("%s %s" % (n, "failed, see its row" if runs else "not run"))
        return "not measured: " + ", ".join(why)

    def clean(m):
        # throughput bought with failed requests is not a pass
        return m["n_errors"] == 0

    def versus(target, s, candidates, ref_name, factor):
        ref = get(s, ref_name)
        measured = [(n, get(s, n)) for n in candidates if get(s, n)]
        if not ref or not measured:
            return target, missing(s, [ref_name] + list(candidates)), "n/a"
        n, m = max(measured, key=lambda x: x[1]["rps"])
        ratio = m["rps"] / ref["rps"]
        which = table[n].label if len(candidates) > 1 else ""
        text = "%s%.2fx (%.0f vs %.0f req/s; worker CPU %s)" % (
            which + ": " if which else "", ratio, m["rps"], ref["rps"], cpu_ratio(m, ref))
        ok = ratio >= factor and clean(m)
        if not clean(m):
            text += ", with errors"
        return target, text, "PASS" if ok else "FAIL"

    rows = [
        versus("hello: gunicorn-rs --threads 1 ≥ 1.0× bjoern", "hello", ["rs-t1"], "bjoern", 1.0),
        versus("hello: gunicorn-rs --threads 4 ≥ 1.5× Granian", "hello", ["rs-t4"], "granian", 1.5),
        versus("Flask JSON: gunicorn-rs (--threads 1 or 4, the better) ≥ 1.0× bjoern", "flask", ["rs-t1", "rs-t4"], "bjoern", 1.0),
        versus("64 KiB: gunicorn-rs (--threads 1 or 4, the better) ≥ 1.0× Granian", "64k", ["rs-t1", "rs-t4"], "granian", 1.0),
    ]
    m = get("sleep", "rs-t32")
    if m:
        text = "%.0f req/s" % m["rps"] + ("" if clean(m) else ", with errors")
        rows.append(("sleep 50 ms, -c50: gunicorn-rs --threads 32 ≥ 970 req/s", text,
                     "PASS" if m["rps"] >= 970 and clean(m) else "FAIL"))
    else:
        rows.append(("sleep 50 ms, -c50: gunicorn-rs --threads 32 ≥ 970 req/s", missing("sleep", ["rs-t32"]), "n/a"))
    m = get("hello", "rs-t4")
    if m:
        rows.append(("hello: gunicorn-rs --threads 4 worker peak RSS ≤ 14 MiB", "%.1f MiB" % m["rss_mib"],
                     "PASS" if m["rss_mib"] <= 14 else "FAIL"))
    else:
        rows.append(("hello: gunicorn-rs --threads 4 worker peak RSS ≤ 14 MiB", missing("hello", ["rs-t4"]), "n/a"))
    return rows


if __name__ == "__main__":
    main()
