#!/usr/bin/env python3
"""Time the Autobahn|Testsuite's large-message cases (9.*) against gunicorn-rs -k asgi and
Granian (issue 9: "the large-message cases take no longer than Granian's").

Servers, 1 worker each, on 127.0.0.1, serving the same echo app (tests/apps/asgi_echo_ws.py:
every message back as it came):

    rs-asgi    gunicorn-rs -k asgi -w 1 (its default --websocket-max-message-size, 16 MiB,
               which is the largest message of 9.*)
    granian    granian --interface asgi --workers 1 (its defaults: uvloop, 1 runtime thread)

Both run from benches/.venv, so both find the same uvloop. The client is kosoku (PyPI), which
runs Autobahn's own case files from a Rust runner; it drives one case at a time and records
each case's duration in milliseconds, from the opening handshake to the close. The 9.* cases
are 54: text and binary messages of 64 KiB to 16 MiB sent whole (9.1, 9.2), 4 MiB in
fragments of 64 B to 4 MiB (9.3, 9.4), 1 MiB sent in TCP chops of 64 B to 2 KiB (9.5, 9.6),
and 1000 round trips of 0 B to 4 KiB messages, one at a time (9.7, 9.8). A case checks the
echo, so each is a round trip.

Rounds are interleaved (every server once per round, order rotating), a fresh server each
time; per case the table gives the median duration over the rounds for each server, then the
totals (sums of the medians) and their ratio, and a second table sums the medians by group.
The wall time of each kosoku run is printed as well, for what the per-case numbers leave out
(handshakes, the runner's own work). Most cases take 2-50 ms, and on a shared machine one
case's time varies by half between rounds: compare totals and groups, not single cases, and
prefer more rounds.

Only the reports are read, not kosoku's exit status: kosoku 0.1.0 sometimes aborts while the
interpreter shuts down, after writing them (see tests/clients/autobahn_client.py).

    python3 benches/autobahn.py [--rounds 5] [--cases '9.*'] [--servers rs-asgi,granian]
        [--binary PATH] [--venv PATH]

The table goes to stdout (ready to paste into the README); progress to stderr; each server's
output and kosoku's reports are kept in a temporary directory named at the end. A case that a
server does not pass is marked with its verdict: its time is not comparable.

Builds gunicorn-rs with `cargo build --release` unless --binary is given. Makes or reuses
benches/.venv with the lines of benches/requirements.txt it needs (granian, uvloop, kosoku).
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, ROOT, free_port, stop_server  # noqa: E402
from green import pip_install  # noqa: E402
from harness import Server, build, csv, interleaved, launch  # noqa: E402

APPS = os.path.join(ROOT, "tests", "apps")
APP = "asgi_echo_ws:app"
WANTED = ("granian", "uvloop", "kosoku")
PASSING = ("OK", "NON-STRICT", "INFORMATIONAL")
# What each group of 9.* sends (Autobahn's case descriptions), for the summary table.
GROUPS = {
    "9.1": "text, sent whole, 64 KiB to 16 MiB",
    "9.2": "binary, sent whole, 64 KiB to 16 MiB",
    "9.3": "4 MiB text in fragments of 64 B to 4 MiB",
    "9.4": "4 MiB binary in fragments of 64 B to 4 MiB",
    "9.5": "1 MiB text in TCP chops of 64 B to 2 KiB",
    "9.6": "1 MiB binary in TCP chops of 64 B to 2 KiB",
    "9.7": "1000 text round trips each, 0 B to 4 KiB",
    "9.8": "1000 binary round trips each, 0 B to 4 KiB",
}


def server_table(venv, binary):
    vbin = os.path.join(venv, "bin")

    def rs(port):
        # `env` execs, so the pid we stop is the server's; VIRTUAL_ENV: the same uvloop.
        return ["env", "VIRTUAL_ENV=" + venv, binary, "-k", "asgi", "-w", "1",
                "-b", "127.0.0.1:%d" % port, "--chdir", APPS, APP]

    def granian(port):
        return [os.path.join(vbin, "granian"), "--interface", "asgi", "--workers", "1",
                "--host", "127.0.0.1", "--port", str(port), "--working-dir", APPS, APP]

    return {
        "rs-asgi": Server("gunicorn-rs -k asgi", rs, ("autobahn",)),
        "granian": Server("granian (ASGI)", granian, ("autobahn",)),
    }


def run_cases(server, venv, cases, logs, tag):
    """One kosoku run against a fresh `server`: ({case: (ms, verdict)}, wall seconds), or a
    string saying why there is none."""
    port = free_port()
    proc, said = launch(server.argv(port), port, os.path.join(logs, tag + ".log"))
    if said is None:
        return proc
    reports = os.path.join(logs, tag)
    argv = [os.path.join(venv, "bin", "kosoku"), "-o", reports, "ws://127.0.0.1:%d" % port]
    for case in cases:
        argv += ["-i", case]
    try:
        started = time.monotonic()
        done = subprocess.run(argv, capture_output=True, text=True, timeout=600)
        wall = time.monotonic() - started
    except subprocess.TimeoutExpired:
        return "kosoku did not finish in 600 s (server: %s)" % said()
    finally:
        stop_server(proc)
    index = os.path.join(reports, "index.json")
    if not os.path.exists(index):
        return "kosoku wrote no report: %s" % (done.stderr.strip() or done.stdout.strip())
    with open(index) as f:
        (results,) = json.load(f).values()
    return {case: (r["duration"], verdict(r)) for case, r in results.items()}, wall


def verdict(result):
    both = (result["behavior"], result["behaviorClose"])
    return "OK" if all(v in PASSING for v in both) else "/".join(both)


def case_key(case):
    return [int(part) for part in case.split(".")]


def report(table, names, runs):
    measured = [n for n in names if all(not isinstance(r, str) for r in runs[n])]
    for n in names:
        for r in runs[n]:
            if isinstance(r, str):
                print("%s: %s" % (table[n].label, r))
    if not measured:
        return
    cases = sorted({c for n in measured for r in runs[n] for c in r[0]}, key=case_key)
    print("| case | " + " | ".join("%s ms" % table[n].label for n in measured) + " |")
    print("|---|" + "---:|" * len(measured))
    totals = {n: 0 for n in measured}
    for case in cases:
        cells = []
        for n in measured:
            got = [r[0][case] for r in runs[n] if case in r[0]]
            ms = statistics.median(ms for ms, _ in got)
            bad = sorted({v for _, v in got if v != "OK"})
            totals[n] += ms
            cells.append("%g" % ms + (" (%s)" % ", ".join(bad) if bad else ""))
        print("| %s | %s |" % (case, " | ".join(cells)))
    print("| **total** | %s |" % " | ".join("**%g**" % totals[n] for n in measured))
    print()
    group_table(table, measured, runs, cases)
    walls = ", ".join("%s %.2f s" % (table[n].label, statistics.median(r[1] for r in runs[n]))
                      for n in measured)
    print("\nkosoku wall time per run (median): " + walls)
    if len(measured) == 2:
        a, b = measured
        print("total %s / %s: %.2f" % (table[a].label, table[b].label, totals[a] / totals[b]))


def group_table(table, measured, runs, cases):
    """The medians summed by group (9.1 ... 9.8), with the ratio to the first server's when
    there are two."""
    def median(n, case):
        return statistics.median(r[0][case][0] for r in runs[n] if case in r[0])
    two = len(measured) == 2
    print("| cases | what | " + " | ".join("%s ms" % table[n].label for n in measured)
          + (" | ratio |" if two else " |"))
    print("|---|---|" + "---:|" * (len(measured) + two))
    for group in sorted({c.rsplit(".", 1)[0] for c in cases}, key=case_key):
        sums = [sum(median(n, c) for c in cases if c.rsplit(".", 1)[0] == group) for n in measured]
        ratio = " | %.2f" % (sums[0] / sums[1]) if two and sums[1] else (" | -" if two else "")
        print("| %s.* | %s | %s%s |" % (group, GROUPS.get(group, ""),
                                        " | ".join("%g" % x for x in sums), ratio))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--cases", default="9.*", help="comma-separated case ids or globs")
    all_servers = list(server_table("", ""))
    ap.add_argument("--servers", type=csv(all_servers), default=all_servers,
                    help="comma-separated, from: " + ",".join(all_servers))
    ap.add_argument("--binary", help="a gunicorn-rs binary to use instead of building one")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    args = ap.parse_args()

    venv = os.path.abspath(args.venv)
    with open(os.path.join(BENCH, "requirements.txt")) as f:
        reqs = [x.strip() for x in f if x.strip() and not x.startswith("#")]
    why = pip_install(venv, [x for x in reqs if x.split("=")[0].split(">")[0] in WANTED])
    if why:
        sys.exit(why)
    logs = tempfile.mkdtemp(prefix="autobahn-bench-")
    binary = (os.path.abspath(args.binary) if args.binary
              else build(os.path.join(logs, "gunicorn-rs")))
    table = server_table(venv, binary)
    names = [n for n in table if n in args.servers]
    cases = [c.strip() for c in args.cases.split(",") if c.strip()]
    runs = {n: [] for n in names}
    for r, _, n in interleaved(names, ["autobahn"], table, args.rounds):
        res = run_cases(table[n], venv, cases, logs, "%s-%d" % (n, r + 1))
        runs[n].append(res)
        text = res if isinstance(res, str) else "%d cases, %d ms in cases, %.2f s wall" % (
            len(res[0]), sum(ms for ms, _ in res[0].values()), res[1])
        print("round %d  %-8s %s" % (r + 1, n, text), file=sys.stderr, flush=True)
    print("server logs and kosoku reports: %s" % logs, file=sys.stderr)
    report(table, names, runs)


if __name__ == "__main__":
    main()
