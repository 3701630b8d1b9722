"""The scenarios and settings of benches/green.py (issue 8's greenlet targets), and its
tables and targets: requests per second and worker CPU for the wrk scenarios, memory per
request in flight for the memory scenario, PASS/FAIL per target.
"""

import os
import statistics

from harness import cell, errors_cell, failed_row, ratio_cell, summary
from keepalive import Scenario

WORKERS = 2
KEEPALIVE = 30
CONNECTIONS = 1000       # --worker-connections for the wrk scenarios (500 and 16 clients)
IN_FLIGHT = 1000         # the memory scenario's concurrent requests
MEMORY_CONNECTIONS = 1100  # room for them, the /until request and readiness probes
SLEEP = 0.05             # sleep_app.py's time.sleep
RSS_TARGET_KIB = 48
SLEEP_TARGET, SLEEP_IDEAL = 9500, 10000
HELLO_FACTOR = 3.0
REFERENCE = "gunicorn-gevent"

SCENARIOS = {
    "sleep": Scenario("sleep 50 ms", "sleep_app:app", "/", 500, REFERENCE),
    "hello": Scenario("hello world", "app:app", "/", 16, REFERENCE),
    "memory": Scenario("1,000 in flight, 5 s each", "inflight_app:app", "/slow", IN_FLIGHT, None),
}
WRK = ("sleep", "hello")


def per_request(m):
    return (m["busy_kib"] - m["idle_kib"]) / m["inside"] if m["inside"] else float("nan")


def memory_summary(runs):
    ok = [x for x in runs if isinstance(x, dict)]
    if not ok:
        return None
    notes = [x["note"] for x in ok if "note" in x] + [x for x in runs if isinstance(x, str)]
    return {"idle_kib": statistics.median(x["idle_kib"] for x in ok),
            "busy_kib": statistics.median(x["busy_kib"] for x in ok),
            "after_kib": statistics.median(x["after_kib"] for x in ok),
            "per_kib": statistics.median(per_request(x) for x in ok),
            "inside": min(x["inside"] for x in ok), "failed": sum(x["failed"] for x in ok),
            "notes": sorted(set(notes))}


def report(table, scenarios, names, results, args):
    wrk_scenarios = [s for s in scenarios if s in WRK]
    summaries = {k: summary(v) for k, v in results.items() if k[0] in WRK}
    mem = {k: memory_summary(v) for k, v in results.items() if k[0] == "memory"}
    if wrk_scenarios:
        print("wrk -t2 -d%ds (after a %ds warm-up), keep-alive, %d interleaved round(s), %d workers each, "
              "--worker-connections %d for the greenlet servers, %d CPUs; medians" % (
                  args.duration, args.warmup, args.rounds, WORKERS, CONNECTIONS, os.cpu_count()))
        print()
        print("| scenario | server | req/s | ratio vs Gunicorn gevent | p50 ms | p99 ms | worker peak RSS MiB | errors |")
        print("|---|---|---:|---:|---:|---:|---:|---|")
        for s in wrk_scenarios:
            sc = SCENARIOS[s]
            title = "%s, -c%d" % (sc.title, sc.connections)
            ref = summaries.get((s, REFERENCE))
            for n in names:
                if s not in table[n].scenarios:
                    continue
                m = summaries[(s, n)]
                if m is None:
                    runs = results[(s, n)]
                    print(failed_row([title, table[n].label], runs, 5))
                    continue
                ratio = ratio_cell(m, ref)
                print("| %s | %s | %.0f | %s | %.2f | %.2f | %.1f | %s |" % (
                    title, table[n].label, m["rps"], ratio, m["p50"], m["p99"], m["rss_mib"], errors_cell(m)))
        print()
        if "sleep" in wrk_scenarios and "granian" in names:
            print("Granian runs with its default blocking threads; a WSGI sleep holds one of them, so "
                  "in the sleep rows it is the reference for a threaded server, not a greenlet one.")
            print()
    print("Targets (issue 8)")
    print()
    print("| target | measured | result |")
    print("|---|---|---|")
    for target, measured, verdict in targets(summaries, mem, results):
        print("| %s | %s | %s |" % (target, cell(measured), verdict))
    if "memory" in scenarios:
        print()
        print("Memory: 1 worker, --worker-connections %d, %s requests held 5 s in the app; the "
              "worker's VmRSS idle (after 10 requests), when all are inside the app, and after they "
              "are answered; %d round(s), medians" % (MEMORY_CONNECTIONS, format(IN_FLIGHT, ","), args.rounds))
        print()
        print("| server | idle RSS MiB | RSS with %s in flight MiB | growth per request in flight KiB | RSS after MiB | notes |" % format(IN_FLIGHT, ","))
        print("|---|---:|---:|---:|---:|---|")
        for n in names:
            if "memory" not in table[n].scenarios:
                continue
            m = mem[("memory", n)]
            if m is None:
                runs = results[("memory", n)]
                print("| %s | - | - | - | - | %s |" % (table[n].label, cell(runs[-1] if runs else "not run")))
                continue
            notes = list(m["notes"])
            if m["inside"] < IN_FLIGHT:
                notes.insert(0, "only %d of %d were in flight at once (per request: divided by that)" % (m["inside"], IN_FLIGHT))
            print("| %s | %.1f | %.1f | %.1f | %.1f | %s |" % (
                table[n].label, m["idle_kib"] / 1024, m["busy_kib"] / 1024, m["per_kib"],
                m["after_kib"] / 1024, cell("; ".join(notes) or "-")))


def targets(summaries, mem, results):
    """(target, what was measured, PASS/FAIL/n/a) for each of issue 8's targets."""
    def missing(s, names):
        why = ["%s %s" % (n, "failed, see its row" if results.get((s, n)) else "not run")
               for n in names if not (mem if s == "memory" else summaries).get((s, n))]
        return "not measured: " + ", ".join(why)

    rows = []
    for n in ("rs-gevent", "rs-eventlet"):
        target = "sleep 50 ms, -c500: gunicorn-rs -k %s ≥ %s req/s (ideal %s)" % (
            n[3:], format(SLEEP_TARGET, ","), format(SLEEP_IDEAL, ","))
        m = summaries.get(("sleep", n))
        if not m:
            rows.append((target, missing("sleep", [n]), "n/a"))
            continue
        ceiling = SCENARIOS["sleep"].connections / SLEEP
        text = "%s req/s (%.0f%% of the %s ceiling%s)" % (
            format(round(m["rps"]), ","), 100 * m["rps"] / ceiling, format(round(ceiling), ","),
            ", ideal met" if m["rps"] >= SLEEP_IDEAL else "")
        ok = m["rps"] >= SLEEP_TARGET and m["n_errors"] == 0
        rows.append((target, text + ("" if m["n_errors"] == 0 else ", with errors"), "PASS" if ok else "FAIL"))

    target = "hello, -c16: gunicorn-rs -k gevent ≥ %.1f× Gunicorn -k gevent" % HELLO_FACTOR
    m, ref = summaries.get(("hello", "rs-gevent")), summaries.get(("hello", REFERENCE))
    if m and ref and ref["rps"]:
        ratio = m["rps"] / ref["rps"]
        text = "%.2fx (%s vs %s req/s)" % (ratio, format(round(m["rps"]), ","), format(round(ref["rps"]), ","))
        ok = ratio >= HELLO_FACTOR and m["n_errors"] == 0
        rows.append((target, text + ("" if m["n_errors"] == 0 else ", with errors"), "PASS" if ok else "FAIL"))
    else:
        rows.append((target, missing("hello", ["rs-gevent", REFERENCE]), "n/a"))

    for n in ("rs-gevent", "rs-eventlet"):
        target = "memory: gunicorn-rs -k %s ≤ %d KiB per request in flight" % (n[3:], RSS_TARGET_KIB)
        m = mem.get(("memory", n))
        if not m:
            rows.append((target, missing("memory", [n]), "n/a"))
            continue
        text = "%.1f KiB" % m["per_kib"]
        whole = m["inside"] >= IN_FLIGHT and m["failed"] == 0
        if m["inside"] < IN_FLIGHT:
            text += ", only %d in flight at once" % m["inside"]
        if m["failed"]:
            text += ", %d requests failed" % m["failed"]
        rows.append((target, text, "PASS" if m["per_kib"] <= RSS_TARGET_KIB and whole else "FAIL"))
    return rows
