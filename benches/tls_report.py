"""The scenarios of benches/tls.py (issue 10's TLS targets), and its table and targets:
medians with the lowest and highest round, CPU per request split into user, system and
the client's, and PASS/FAIL per target.
"""

import os
import statistics
from collections import namedtuple

from harness import cell, errors_cell, failed_row, ratio_cell, summary
from keepalive import WORKERS

# client: "wrk" or "tls-load"; close: every request with Connection: close (for wrk)
Scenario = namedtuple("Scenario", "title path connections client close")
SCENARIOS = {
    "hello": Scenario("TLS hello world, keep-alive", "/", 16, "wrk", False),
    "handshakes": Scenario("new TLS connections, full handshakes", "/", 16, "tls-load", True),
}
KEYS = {
    "ec": ("ECDSA P-256", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"]),
    "rsa": ("RSA-2048", ["-newkey", "rsa:2048"]),
}


def tls_summary(runs):
    """harness.summary (medians, errors, notes) plus the spread of the rounds and the CPU."""
    m = summary(runs)
    if m is None:
        return None
    ok = [x for x in runs if isinstance(x, dict)]
    m.update(lo=min(x["rps"] for x in ok), hi=max(x["rps"] for x in ok),
             **{k: statistics.median(x[k] for x in ok) for k in ("user_us", "sys_us", "client_us")})
    return m


def same_threads_gunicorn(n):
    return {"rs-t1": "gunicorn-t1", "rs-t4": "gunicorn-t4"}.get(n)


def report(table, cases, names, results, args, checked, resumed):
    summaries = {k: tls_summary(v) for k, v in results.items()}
    others = sorted(x["others"] for v in results.values() for x in v if isinstance(x, dict))
    print("%ds runs (after a %ds warm-up), 16 connections, TLS 1.3, %d interleaved rounds, %d workers "
          "each, %d CPUs; medians, with the lowest and highest round. Keep-alive: "
          "wrk -t2 -c16, latency from request to answer; full handshakes: tls-load, latency from "
          "connect to close" % (args.duration, args.warmup, args.rounds, WORKERS, os.cpu_count()))
    if others:
        print()
        print("Other work on the machine during the measured runs (CPU time neither the server "
              "nor the client used): median %.2f cores, %.2f-%.2f" % (
                  statistics.median(others), others[0], others[-1]))
    print()
    print("| scenario | server | req/s | rounds min-max | vs Gunicorn same threads | vs Granian | "
          "p50 ms | p99 ms | worker CPU us/req user+sys (client) | worker peak RSS MiB | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for c in cases:
        s, k = c.split("/")
        title = "%s, %s" % (SCENARIOS[s].title, KEYS[k][0])
        granian = summaries.get((c, "granian"))
        for n in names:
            m = summaries[(c, n)]
            if m is None:
                runs = results[(c, n)]
                print(failed_row([title, table[n].label], runs, 8))
                continue
            ref = summaries.get((c, same_threads_gunicorn(n)))
            vs_gunicorn = ratio_cell(m, ref)
            vs_granian = ratio_cell(m, granian) if n != "granian" else "-"
            print("| %s | %s | %.0f | %.0f-%.0f | %s | %s | %.2f | %.2f | %.1f+%.1f (%.1f) | %.1f | %s |" % (
                title, table[n].label, m["rps"], m["lo"], m["hi"], vs_gunicorn, vs_granian, m["p50"],
                m["p99"], m["user_us"], m["sys_us"], m["client_us"], m["rss_mib"], errors_cell(m)))
    print()
    print("Full handshakes: %s." % checked)
    print()
    print("Targets (issue 10)")
    print()
    print("| target | measured | result |")
    print("|---|---|---|")
    for target, measured, verdict in targets(table, cases, summaries, results, resumed):
        print("| %s | %s | %s |" % (target, cell(measured), verdict))


def targets(table, cases, summaries, results, resumed):
    """(target, what was measured, PASS/FAIL/n/a) for each of the issue's TLS targets, per key."""
    def versus(target, c, candidates, ref_name, factor):
        ref = summaries.get((c, ref_name))
        measured = [(n, summaries.get((c, n))) for n in candidates if summaries.get((c, n))]
        if not ref or not measured:
            gone = [n for n in [ref_name] + candidates if not summaries.get((c, n))]
            return target, "not measured: " + ", ".join(gone), "n/a"
        n, m = max(measured, key=lambda x: x[1]["rps"])
        ratio = m["rps"] / ref["rps"]
        which = table[n].label + ": " if len(candidates) > 1 else ""
        text = "%s%.2fx (%.0f vs %.0f req/s)" % (which, ratio, m["rps"], ref["rps"])
        clean = m["n_errors"] == 0
        if not clean:
            text += ", with errors"
        return target, text, "PASS" if ratio >= factor and clean else "FAIL"

    rows = []
    for c in cases:
        s, k = c.split("/")
        key = KEYS[k][0]
        if s == "hello":
            for t in (1, 4):
                rows.append(versus("TLS hello, %s: gunicorn-rs --threads %d ≥ 2.0× Gunicorn --threads %d"
                                   % (key, t, t), c, ["rs-t%d" % t], "gunicorn-t%d" % t, 2.0))
            rows.append(versus("TLS hello, %s: gunicorn-rs (--threads 1 or 4, the better) ≥ 1.0× Granian"
                               % key, c, ["rs-t1", "rs-t4"], "granian", 1.0))
        elif s == "handshakes":
            for t in (1, 4):
                row = versus("new TLS connections/s, %s: gunicorn-rs --threads %d ≥ 2.0× Gunicorn --threads %d"
                             % (key, t, t), c, ["rs-t%d" % t], "gunicorn-t%d" % t, 2.0)
                if resumed:
                    row = (row[0], row[1] + "; but tls-load resumed sessions", "n/a")
                rows.append(row)
    return rows
