"""The report of benches/asgi.py: its scenarios and the settings every server runs with, the
tables of what was measured, and the verdicts on issue 9's speed targets (the "Targets"
section). See asgi.py's docstring for the benchmark itself."""

import os
import statistics

from keepalive import Scenario
from harness import (
    PINNED, cell, cpu_ratio, errors_cell, failed_row, pinning_text, ratio_cell, summary,
)

WORKERS = 2
SLEEP = 0.05              # asgi_app.py's /sleep
SLEEP_TARGET, SLEEP_IDEAL = 9500, 10000
WS_CLIENTS, WS_SIZE = 100, 1024
HELLO_VS_GRANIAN, HELLO_VS_UVICORN = 1.0, 2.0
FASTAPI_VS_UVICORN = 1.3
WS_VS_UVICORN = 1.5
TORNADO_VS_GUNICORN = 2.0
REFERENCE = {"hello": "uvicorn", "fastapi": "uvicorn", "sleep": "uvicorn", "ws": "uvicorn",
             "tornado": "gunicorn-tornado"}

SCENARIOS = {
    "hello": Scenario("raw ASGI hello world", "asgi_app:app", "/", 16, "uvicorn"),
    "fastapi": Scenario("FastAPI JSON (Pydantic model)", "fastapi_app:app", "/", 16, "uvicorn"),
    "sleep": Scenario("asyncio.sleep(0.05)", "asgi_app:app", "/sleep", 500, "uvicorn"),
    "ws": Scenario("WebSocket echo, 1 KiB", "asgi_app:app", "/ws", WS_CLIENTS, "uvicorn"),
    "tornado": Scenario("tornado hello world", "tornado_app:app", "/", 16, "gunicorn-tornado"),
}
WRK = ("hello", "fastapi", "sleep", "tornado")


def split_text(split):
    return "+".join("%.2f" % c for c in split) or "0"


def ws_cpu(runs):
    ok = [x for x in runs if isinstance(x, dict)]
    if not ok:
        return None
    out = {k: statistics.median(x[k] for x in ok) for k in ("client_cpu", "server_cpu", "other_cpu", "client_us", "server_us")}
    # the split of the round whose server CPU is the median one
    out["split"] = sorted(ok, key=lambda x: x["server_cpu"])[len(ok) // 2]["split"]
    return out


def ws_runs(runs, threads):
    """The runs of one client configuration (a server that did not start failed them all)."""
    return [x for x in runs if isinstance(x, str) or x["threads"] == threads]


def ws_best(summaries, n, counts):
    """A server's best client configuration: (threads, its summary), or (None, None)."""
    measured = [(summaries[("ws", n, t)]["rps"], t) for t in counts if summaries.get(("ws", n, t))]
    if not measured:
        return None, None
    t = max(measured)[1]
    return t, summaries[("ws", n, t)]


def report(table, scenarios, names, results, args):
    summaries = {k: summary(v) for k, v in results.items() if k[0] != "ws"}
    counts = args.ws_threads
    for (s, n), runs in results.items():
        if s == "ws":
            for t in counts:
                summaries[(s, n, t)] = summary(ws_runs(runs, t))

    def row_or_failure(s, n, title, columns):
        runs = results[(s, n)]
        print(failed_row([title, table[n].label], runs, columns - 1))

    def ratio(s, n, m):
        ref = summaries.get((s, REFERENCE[s]))
        return ratio_cell(m, ref)

    wrk_scenarios = [s for s in scenarios if s in WRK]
    if wrk_scenarios:
        print("wrk -t2 -d%ds (after a %ds warm-up), keep-alive, %d interleaved round(s), %d workers each, "
              "%d CPUs%s; medians; ratios against uvicorn (tornado: Gunicorn -k tornado)" % (
                  args.duration, args.warmup, args.rounds, WORKERS, os.cpu_count(), pinning_text()))
        print()
        print("| scenario | server | req/s | ratio | p50 ms | p99 ms | worker CPU µs/req | worker peak RSS MiB | errors |")
        print("|---|---|---:|---:|---:|---:|---:|---:|---|")
        for s in wrk_scenarios:
            title = "%s, -c%d" % (SCENARIOS[s].title, SCENARIOS[s].connections)
            for n in names:
                if s not in table[n].scenarios:
                    continue
                m = summaries[(s, n)]
                if m is None:
                    row_or_failure(s, n, title, 7)
                    continue
                print("| %s | %s | %.0f | %s | %.2f | %.2f | %.1f | %.1f | %s |" % (
                    title, table[n].label, m["rps"], ratio(s, n, m), m["p50"], m["p99"], m["cpu_us"],
                    m["rss_mib"], errors_cell(m)))
        print()
    if "ws" in scenarios:
        print("WebSocket echo: benches/ws_load (%s engine, %s thread(s)), %d clients, %d-byte binary messages, "
              "one in flight per client, %ds after a %ds warm-up, %d interleaved round(s), %d workers each; "
              "medians; CPU in cores (of %d%s) during the measured run: the client, the server's "
              "processes, the rest of the machine (other work, interrupts)" % (
                  args.ws_engine, " and ".join(map(str, counts)), WS_CLIENTS, WS_SIZE, args.duration, args.warmup, args.rounds,
                  WORKERS, os.cpu_count(), pinning_text()))
        print()
        print("| server | client threads | messages/s | ratio vs uvicorn | p50 ms | p99 ms | worker peak RSS MiB | "
              "client CPU | server CPU (per process) | other CPU | server CPU µs/msg | errors |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        for n in names:
            if "ws" not in table[n].scenarios:
                continue
            for t in counts:
                m = summaries[("ws", n, t)]
                if m is None:
                    runs = ws_runs(results[("ws", n)], t)
                    print(failed_row([table[n].label, str(t)], runs, 9))
                    continue
                ref = summaries.get(("ws", REFERENCE["ws"], t))
                cpu = ws_cpu(ws_runs(results[("ws", n)], t))
                print("| %s | %d | %.0f | %s | %.2f | %.2f | %.1f | %.2f | %.2f (%s) | %.2f | %.1f | %s |" % (
                    table[n].label, t, m["rps"], ratio_cell(m, ref),
                    m["p50"], m["p99"], m["rss_mib"], cpu["client_cpu"], cpu["server_cpu"],
                    split_text(cpu["split"]), cpu["other_cpu"], cpu["server_us"], errors_cell(m)))
        print()
    print("Targets (issue 9)")
    print()
    print("| target | measured | result |")
    print("|---|---|---|")
    for target, measured, verdict in targets(summaries, results, scenarios, counts):
        print("| %s | %s | %s |" % (target, cell(measured), verdict))


def targets(summaries, results, scenarios, counts):
    """(target, what was measured, PASS/FAIL/n/a) for each of issue 9's speed targets."""
    def missing(s, names):
        why = ["%s %s" % (n, "failed, see its row" if results.get((s, n)) else "not run")
               for n in names if not summaries.get((s, n))]
        return "not measured: " + ", ".join(why)

    def versus(s, n, ref, factor, unit="req/s"):
        target = "%s: gunicorn-rs -k %s ≥ %.1f× %s" % (SCENARIOS[s].title, n[3:], factor, ref)
        m, r = summaries.get((s, n)), summaries.get((s, ref))
        if not (m and r and r["rps"]):
            return target, missing(s, [n, ref]), "n/a"
        x = m["rps"] / r["rps"]
        text = "%.2fx (%s vs %s %s)" % (x, format(round(m["rps"]), ","), format(round(r["rps"]), ","), unit)
        if unit == "req/s":
            text += "; worker CPU " + cpu_ratio(m, r)
        ok = x >= factor and m["n_errors"] == 0
        return target, text + ("" if m["n_errors"] == 0 else ", with errors"), "PASS" if ok else "FAIL"

    rows = []
    if "hello" in scenarios:
        rows.append(versus("hello", "rs-asgi", "granian", HELLO_VS_GRANIAN))
        rows.append(versus("hello", "rs-asgi", "uvicorn", HELLO_VS_UVICORN))
    if "fastapi" in scenarios:
        rows.append(versus("fastapi", "rs-asgi", "uvicorn", FASTAPI_VS_UVICORN))
    if "sleep" in scenarios:
        target = "%s, -c500: gunicorn-rs -k asgi ≥ %s req/s (ideal %s)" % (
            SCENARIOS["sleep"].title, format(SLEEP_TARGET, ","), format(SLEEP_IDEAL, ","))
        m = summaries.get(("sleep", "rs-asgi"))
        if not m:
            rows.append((target, missing("sleep", ["rs-asgi"]), "n/a"))
        else:
            ceiling = SCENARIOS["sleep"].connections / SLEEP
            text = "%s req/s (%.0f%% of the %s ceiling), p99 %.1f ms" % (
                format(round(m["rps"]), ","), 100 * m["rps"] / ceiling, format(round(ceiling), ","), m["p99"])
            ok = m["rps"] >= SLEEP_TARGET and m["n_errors"] == 0
            rows.append((target, text + ("" if m["n_errors"] == 0 else ", with errors"), "PASS" if ok else "FAIL"))
    if "ws" in scenarios:
        rows.append(ws_target(summaries, results, counts))
    if "tornado" in scenarios:
        rows.append(versus("tornado", "rs-tornado", "gunicorn-tornado", TORNADO_VS_GUNICORN))
    return rows


def ws_target(summaries, results, counts):
    """The WebSocket target: each server at the client configuration that gets the most from it
    (the client is then not what limits that server), and the same-configuration ratios beside."""
    target = "%s: gunicorn-rs -k asgi ≥ %.1f× uvicorn (each at its best client)" % (
        SCENARIOS["ws"].title, WS_VS_UVICORN)
    t_rs, m = ws_best(summaries, "rs-asgi", counts)
    t_uv, r = ws_best(summaries, "uvicorn", counts)
    if not (m and r and r["rps"]):
        return target, "not measured: see the rows", "n/a"
    x = m["rps"] / r["rps"]
    text = "%.2fx (%s msg/s with %d client thread(s) vs %s with %d)" % (
        x, format(round(m["rps"]), ","), t_rs, format(round(r["rps"]), ","), t_uv)
    same = ["%.2fx with %d" % (summaries[("ws", "rs-asgi", t)]["rps"] / summaries[("ws", "uvicorn", t)]["rps"], t)
            for t in counts if summaries.get(("ws", "rs-asgi", t)) and summaries.get(("ws", "uvicorn", t))]
    if same:
        text += "; same client: " + ", ".join(same)
    mine = ws_cpu(ws_runs(results[("ws", "rs-asgi")], t_rs))
    ref = ws_cpu(ws_runs(results[("ws", "uvicorn")], t_uv))
    # The client's own cost caps what 2 shared cores can show; CPU per message does not
    # depend on it, so it is given beside the rate.
    text += "; server CPU per message %.1f vs %.1f µs (%.2fx less)" % (
        mine["server_us"], ref["server_us"], ref["server_us"] / mine["server_us"])
    _, echo = ws_best(summaries, "ws-echo", counts)
    if PINNED:
        # Its own core: the client kept up if it left some of that core idle.
        text += "; the client used %.2f of its core" % mine["client_cpu"]
        if echo:
            text += " (the trivial echo server on the servers' core: %s msg/s)" % format(round(echo["rps"]), ",")
    elif echo:
        text += "; the client's ceiling (ws-echo) %s msg/s" % format(round(echo["rps"]), ",")
    ok = x >= WS_VS_UVICORN and m["n_errors"] == 0
    return target, text + ("" if m["n_errors"] == 0 else ", with errors"), "PASS" if ok else "FAIL"
