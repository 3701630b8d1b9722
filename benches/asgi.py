#!/usr/bin/env python3
"""Benchmark gunicorn-rs's asyncio workers (-k asgi, -k tornado), in one run (issue 9).

Servers, 2 workers each, on 127.0.0.1 (benches/.venv's packages; uvloop wherever a server can
use it):

    rs-asgi           gunicorn-rs -k asgi --worker-connections 1000 --keep-alive 30
    uvicorn           uvicorn --workers 2 --loop uvloop --http httptools --no-access-log
                      --timeout-keep-alive 30 (its default WebSocket implementation, `auto`:
                      the websockets package); --no-access-log because the others log no access
                      by default and uvicorn's per-request log line would be what is measured
    gunicorn-asgi     Gunicorn 27.0.1 -k asgi (its native worker; uvloop, and the gunicorn_h1c
                      parser, as in Granian's published comparison), same connections/keep-alive
    granian           Granian --interface asgi --workers 2 (its defaults: uvloop, 1 runtime
                      thread, WebSockets on)
    rs-tornado        gunicorn-rs -k tornado --keep-alive 30
    gunicorn-tornado  Gunicorn 27.0.1 -k tornado (tornado 6.5+)
    ws-echo           benches/ws_load's own tokio-tungstenite echo server on 1 thread: not a
                      contender but the ceiling of the WebSocket client on this machine, run in
                      every round beside the others (see "The WebSocket client" below)

Scenarios:

    hello    benches/asgi_app.py `/`, raw ASGI hello world, wrk -c16, keep-alive
    fastapi  benches/fastapi_app.py `/`, a FastAPI GET returning a small dict through a Pydantic
             response model, wrk -c16
    sleep    benches/asgi_app.py `/sleep`, awaits asyncio.sleep(0.05), wrk -c500:
             500 / 0.05 s = 10,000 req/s is the ceiling
    ws       benches/asgi_app.py `/ws`, WebSocket echo: 100 clients, 1 KiB binary messages, one
             in flight per client (send, wait for the echo, send the next), for --duration
             seconds after all 100 handshakes are done; messages echoed per second
    tornado  benches/tornado_app.py, a tornado.web.RequestHandler hello world, wrk -c16

The wrk scenarios follow keepalive.py (its run_one, imported): a fresh server per run, ready
once the port answers a request, a 1 s wrk warm-up, a fresh request answered (the warm-up's
leftovers are served), then the measured wrk run. The ws scenario does the same with the
WebSocket client in wrk's place (a 1 s warm-up run of it, then the measured run). Rounds are
interleaved (every server once per round, order rotating); tables report medians of the rounds,
ratios against uvicorn (tornado: against Gunicorn -k tornado), the peak RSS of any one worker
during the measured run and the load client's errors. The issue's targets follow with
PASS/FAIL (a target met with errors is a FAIL).

    python3 benches/asgi.py [--duration 5] [--rounds 3] [--warmup 1]
        [--scenarios hello,fastapi,sleep,ws,tornado] [--servers rs-asgi,uvicorn,...]
        [--binary PATH] [--ws-client PATH] [--ws-threads 1,2] [--ws-engine lean|tungstenite]
        [--pin] [--venv PATH]

The tables go to stdout; progress to stderr; each server's output and the load client's report
are kept in a temporary directory named at the end. A server that does not start is reported
as "failed to start: <why>", is not retried, and the run goes on.

The WebSocket client. benches/ws_load/ is a small Rust program (its own cargo workspace: no
dependency of the server crate), built here with `cargo build --release --manifest-path
benches/ws_load/Cargo.toml` unless --ws-client is given. A multi-process Python client with
`websockets` would spend several times the CPU per message of the servers under test, and a
stream tool such as tcpkali (apt) sends at a set rate rather than waiting for each echo. It has
two engines making the same load (--ws-engine): `lean` (the default: its own frames over one
mio epoll per thread, a fresh masking key per frame, one `write` and one `read` per message)
and `tungstenite` (tokio-tungstenite, the first client, kept to cross-check the lean one).

Every server is measured with each client thread count of --ws-threads (default 1,2), and the
target compares each server at the count that got the most from it: on 2 shared cores the
client's threads compete with the workers for the same cores, so no one count is neutral. A
server that saturates both cores (uvicorn) does best with the cheaper one-thread client; a
server that leaves a core idle waiting on a one-thread client's turnaround does best with two.
Each server at its best is the reading of "a client that is not itself the bottleneck"; the
same-count ratios are printed beside it. How the client was checked:

  * Its CPU is measured in every run (rusage: the "client CPU" column, in cores) beside the
    server workers' (/proc utime+stime) and the rest of the machine's.
  * On 2 shared cores every microsecond the client spends per message is one the servers do
    not get, so the client is made as cheap as a client can be. Against the trivial echo
    server (2026-11-30, quiet machine, 3 s runs, 100 clients, /usr/bin/time) the tungstenite
    engine spent 9.7-9.9 us of CPU per message, 2.7-3.3 us of it in user space, and read once
    more after each echo to find nothing; the lean engine spends 7.7-8.1 us, 0.5-0.6 us in user
    space, and `strace -c` shows one `sendto` and one `recvfrom` per message and an
    `epoll_wait` per ~70 messages. What is left is the kernel's loopback TCP, which any client
    pays (loopback charges the receive path, and the wake-up of the other side, to the sender).
  * More client processes do not raise the number: 2 processes of 50 clients against uvicorn
    echoed 87.9k msg/s in all, 1 process of 100 clients 95.0k (tungstenite engine).
  * The same client against a trivial echo server (ws-load --serve, 1 tokio thread; the ws-echo
    row, run in every round) shows what client plus kernel drive here with a server that costs
    little. The table also gives each server's CPU per message echoed (server CPU / messages),
    which does not depend on the client, and the target's row sets it beside uvicorn's.

Pinning (--pin). By default the scheduler places every process, and on a 2-core machine the
load client shares both cores with the 2 workers under test. With --pin the client (wrk,
ws-load) runs on CPU 0 and every server on the other CPUs (taskset): each server's rate is
then what its own cores do, and the client's core shows whether the client kept up. That is
the reading of the WebSocket target's "a client that is not itself the bottleneck" on a
machine this size: unpinned, gunicorn-rs echoes as fast as ws-load can drive even the trivial
Rust echo server (the ws-echo row), so the client is what such a run measures; pinned, the
client has a core of its own, and the ws-echo row on the same core shows the client's ceiling
above the servers' rates. Pinned, the 2 workers of each server share one core.

Needs wrk on PATH (apt-get install -y wrk), taskset for --pin (util-linux), and cargo. Makes or reuses benches/.venv with the
lines of benches/requirements.txt this benchmark uses (gunicorn, granian, uvicorn[standard],
uvloop, httptools, gunicorn-h1c, fastapi, pydantic, tornado, websockets). Raises its own
open-file limit (inherited by wrk and the servers) for 500 connections.
"""

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, CLK_TCK, cpu_seconds, free_port, stop_server  # noqa: E402
from green import pip_install, raise_open_files, why_not_started  # noqa: E402
from harness import (  # noqa: E402
    PINNED, Server, WorkerRssPeak, build, csv, errors_text, interleaved, last_line, launch, pin,
    pinned,
)
from keepalive import run_one  # noqa: E402
# The scenarios, the settings every server runs with, and the tables and targets printed at
# the end (asgi_report.py).
from asgi_report import SCENARIOS, WORKERS, WS_CLIENTS, WS_SIZE, report, split_text  # noqa: E402

KEEPALIVE = 30
CONNECTIONS = 1000        # --worker-connections for the servers that take it
WS_CLIENT = os.path.join(BENCH, "ws_load")
ASGI = ("hello", "fastapi", "sleep", "ws")

# keepalive.Server (label, argv(port, target), scenarios) plus, when it cannot start at all
# (a client that did not build), why.
AsyncServer = namedtuple("AsyncServer", "label argv scenarios broken")


def server_table(venv, binary, ws_client, ws_broken):
    vbin = os.path.join(venv, "bin")
    bind = "127.0.0.1:%d"

    def rs(kind, scenarios):
        def argv(port, target):
            # gunicorn-rs embeds CPython: $VIRTUAL_ENV says where the packages are. `env` execs,
            # so the server's pid (whose children are the workers) stays the one we start.
            return ["env", "VIRTUAL_ENV=" + venv, binary, "-k", kind, "-w", str(WORKERS),
                    "--worker-connections", str(CONNECTIONS), "--keep-alive", str(KEEPALIVE),
                    "-b", bind % port, "--chdir", BENCH, target]
        return AsyncServer("gunicorn-rs -k " + kind, argv, scenarios, None)

    def uvicorn(port, target):
        return [os.path.join(vbin, "uvicorn"), "--workers", str(WORKERS), "--loop", "uvloop",
                "--http", "httptools", "--no-access-log", "--timeout-keep-alive", str(KEEPALIVE),
                "--host", "127.0.0.1", "--port", str(port), "--app-dir", BENCH, target]

    def gunicorn(kind, scenarios):
        def argv(port, target):
            return [os.path.join(vbin, "gunicorn"), "-k", kind, "-w", str(WORKERS),
                    "--worker-connections", str(CONNECTIONS), "--keep-alive", str(KEEPALIVE),
                    "-b", bind % port, "--chdir", BENCH, target]
        return AsyncServer("gunicorn %s -k %s" % (gunicorn_version(venv), kind), argv, scenarios, None)

    def granian(port, target):
        return [os.path.join(vbin, "granian"), "--interface", "asgi", "--workers", str(WORKERS),
                "--host", "127.0.0.1", "--port", str(port), "--working-dir", BENCH, target]

    def ws_echo(port, target):
        # One thread: on 2 shared cores a second one made it slower and erratic (tokio's
        # wake-ups across threads), 40-60k msg/s against 135-140k on one.
        return [ws_client, "--serve", str(port), "--threads", "1"]

    return {
        "rs-asgi": rs("asgi", ASGI),
        "uvicorn": AsyncServer("uvicorn (httptools, uvloop)", uvicorn, ASGI, None),
        "gunicorn-asgi": gunicorn("asgi", ASGI),
        "granian": AsyncServer("granian (ASGI)", granian, ASGI, None),
        "rs-tornado": rs("tornado", ("tornado",)),
        "gunicorn-tornado": gunicorn("tornado", ("tornado",)),
        # Pinned, the echo server is on the servers' core: a trivial server there, not what the
        # client can drive at most (its own core's idle share says that).
        "ws-echo": AsyncServer("ws-load --serve (Rust echo, 1 thread: %s)" % (
            "on the servers' core" if PINNED else "the client's ceiling"), ws_echo, ("ws",), ws_broken),
    }


def gunicorn_version(venv):
    python = os.path.join(venv or "", "bin", "python")
    if not venv or not os.path.exists(python):
        return "27.0.1"
    done = subprocess.run([python, "-c", "import gunicorn; print(gunicorn.__version__)"],
                          capture_output=True, text=True)
    return done.stdout.strip() if done.returncode == 0 else "27.0.1"


# --- the WebSocket scenario ------------------------------------------------------------------

def busy_seconds():
    """CPU time the whole machine spent not idle (all CPUs, /proc/stat), in seconds."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)  # idle + iowait
    return (sum(fields[:8]) - idle) / CLK_TCK  # user nice system idle iowait irq softirq steal


class ServerSampler(WorkerRssPeak):
    """During the measured run: the largest RSS of any one worker, and the CPU time the server's
    processes (the workers, or the server itself when it has none) spent."""

    def __init__(self, server_pid):
        super().__init__(server_pid)
        self.pids = self.processes()
        self.cpu_start = {p: cpu_seconds(p) for p in self.pids}

    def finish(self):
        rss_mib = super().finish()
        per_process = sorted((max(0.0, cpu_seconds(p) - self.cpu_start[p]) for p in self.pids), reverse=True)
        return rss_mib, per_process


def run_client(client, port, seconds, threads, engine, out_path):
    """One run of the WebSocket client: (its JSON report, its CPU seconds)."""
    cmd = pinned("client", [client, "--port", str(port), "--path", SCENARIOS["ws"].path,
                            "--clients", str(WS_CLIENTS), "--size", str(WS_SIZE),
                            "--duration", str(seconds), "--threads", str(threads), "--engine", engine])
    with open(out_path, "w") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT)
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
    with open(out_path) as f:
        text = f.read()
    if proc.returncode != 0:
        raise RuntimeError("ws-load exited with %s: %s" % (proc.returncode, last_line(text)))
    lines = [x for x in text.splitlines() if x.startswith("{")]
    if not lines:
        raise RuntimeError("ws-load printed no report: " + last_line(text))
    return json.loads(lines[-1]), usage.ru_utime + usage.ru_stime


def run_ws(server, args, log_path, client, threads):
    """One WebSocket measurement with a `threads`-thread client: a dict of numbers, or a string
    saying why there is none."""
    port = free_port()
    proc, server_said = launch(server.argv(port, SCENARIOS["ws"].target), port, log_path)
    if server_said is None:
        return proc
    try:
        try:
            if args.warmup:
                run_client(client, port, args.warmup, threads, args.ws_engine, log_path + ".warmup")
            sampler = ServerSampler(proc.pid)
            sampler.start()
            began, machine = time.monotonic(), busy_seconds()
            try:
                report, client_cpu = run_client(client, port, args.duration, threads, args.ws_engine,
                                                 log_path + ".ws")
            finally:
                rss, per_process = sampler.finish()
                wall = time.monotonic() - began
                server_cpu = sum(per_process)
                machine = busy_seconds() - machine
        except (RuntimeError, OSError, ValueError) as e:
            return "%s (server: %s)" % (e, server_said())
        result = {"threads": threads, "rps": report["msgs_per_s"], "p50": report["p50_ms"] or float("nan"),
                  "p99": report["p99_ms"] or float("nan"), "rss_mib": rss, "errors": report["errors"],
                  # CPU in cores over the client's whole run (its handshakes and close included)
                  "client_cpu": client_cpu / wall, "server_cpu": server_cpu / wall,
                  # How the load fell on the workers: each keeps the connections it accepted
                  # for the whole run, so one that took most of them works alone.
                  "split": [c / wall for c in per_process if c / wall >= 0.005],
                  # The rest of the machine's busy time: other work on a shared machine (and
                  # interrupt time no process is charged with); a large figure marks a noisy run.
                  "other_cpu": max(0.0, machine - client_cpu - server_cpu) / wall,
                  # and per message echoed: what the server spends on one, whoever limits the rate
                  "client_us": 1e6 * client_cpu / max(1, report["messages"]),
                  "server_us": 1e6 * server_cpu / max(1, report["messages"])}
        if report.get("first_error"):
            result["note"] = "client error: " + report["first_error"]
        if proc.poll() is not None:
            result["note"] = "server exited during the run: status %s, %s" % (proc.returncode, server_said())
        return result
    finally:
        if proc.poll() is None:
            stop_server(proc)


# --- setup -----------------------------------------------------------------------------------

def ensure_venv(path):
    """benches/.venv with this benchmark's part of requirements.txt."""
    wanted = ("gunicorn", "granian", "uvicorn", "uvloop", "httptools", "gunicorn-h1c", "fastapi",
              "pydantic", "tornado", "websockets")
    with open(os.path.join(BENCH, "requirements.txt")) as f:
        reqs = [x.strip() for x in f if x.strip() and not x.startswith("#")]
    reqs = [x for x in reqs if name_of(x) in wanted]
    why = pip_install(path, reqs)
    if why:
        sys.exit(why)
    return path


def prepare(args, prefix):
    """What every run of this benchmark (and burst.py) starts with: the CPUs placed (--pin),
    the open-file limit raised, the venv, a directory for logs and binaries, and the
    gunicorn-rs binary (built there unless --binary names one, or "" when no gunicorn-rs
    server is asked for). Returns (venv, logs, binary)."""
    if args.pin:
        pin()
    raise_open_files()
    venv = ensure_venv(os.path.abspath(args.venv))
    logs = tempfile.mkdtemp(prefix=prefix)
    wants_rs = any(n.startswith("rs-") for n in args.servers)
    binary = (os.path.abspath(args.binary) if args.binary
              else build(os.path.join(logs, "gunicorn-rs")) if wants_rs else "")
    return venv, logs, binary


def name_of(requirement):
    for sep in "[=<>!~ ":
        requirement = requirement.split(sep)[0]
    return requirement.strip().lower().replace("_", "-")


def build_ws_client(logs):
    """benches/ws_load's release build: (path, None) or (None, why not)."""
    target = os.path.join(WS_CLIENT, "target")
    log = os.path.join(logs, "ws-load-build.log")
    with open(log, "w") as out:
        done = subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                               os.path.join(WS_CLIENT, "Cargo.toml"), "--target-dir", target],
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        with open(log) as f:
            return None, "ws-load did not build: " + last_line(f.read())
    return os.path.join(target, "release", "ws-load"), None


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds of each measured run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="seconds of load before each measurement (0: none)")
    ap.add_argument("--scenarios", type=csv(list(SCENARIOS)), default=list(SCENARIOS),
                    help="comma-separated, from: " + ",".join(SCENARIOS))
    all_servers = list(server_table("", "", "", None))
    ap.add_argument("--servers", type=csv(all_servers), default=all_servers,
                    help="comma-separated, from: " + ",".join(all_servers))
    ap.add_argument("--binary", help="a gunicorn-rs binary to use instead of building one")
    ap.add_argument("--ws-client", help="a ws-load binary to use instead of building benches/ws_load")
    ap.add_argument("--ws-threads", type=thread_counts, default=[1, 2],
                    help="comma-separated thread counts of the WebSocket client, each measured "
                         "for every server (default 1,2; the target takes each server's best)")
    ap.add_argument("--ws-engine", choices=("lean", "tungstenite"), default="lean",
                    help="the WebSocket client's engine (see the docstring)")
    ap.add_argument("--pin", action="store_true",
                    help="the load client on CPU 0, the servers on the other CPUs (see the docstring)")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    args = ap.parse_args()
    venv, logs, binary = prepare(args, "asgi-bench-")
    scenarios = [s for s in SCENARIOS if s in args.scenarios]
    client, client_broken = None, None
    if "ws" in scenarios:
        if args.ws_client:
            client = os.path.abspath(args.ws_client)
        else:
            client, client_broken = build_ws_client(logs)
        if client_broken:
            print(client_broken, file=sys.stderr)
    table = server_table(venv, binary, client or "", client_broken)
    names = [n for n in table if n in args.servers]  # the table's order, whatever the CLI's
    results = {(s, n): [] for s in scenarios for n in names}
    refused = set()  # (scenario, server) that did not start: not retried in later rounds
    for r, s, n in interleaved(names, scenarios, table, args.rounds):
        if (s, n) in refused:
            continue
        server = table[n]
        log = os.path.join(logs, "%s-%s-%d.log" % (s, n, r + 1))
        if s == "ws" and client_broken:
            res = "failed to start: " + client_broken
        elif server.broken:
            res = "failed to start: " + server.broken
        elif s == "ws":
            # Every client configuration in each round, their order turning with the rounds.
            counts = args.ws_threads[r % len(args.ws_threads):] + args.ws_threads[:r % len(args.ws_threads)]
            runs = [run_ws(server, args, "%s-t%d" % (log, t), client, t) for t in counts]
            if any(isinstance(x, str) and x.startswith("failed to start") for x in runs):
                refused.add((s, n))
            for x in runs:
                results[(s, n)].append(x)
                print("round %d  %-7s %-16s %s" % (r + 1, s, n, progress(s, x)), file=sys.stderr, flush=True)
            continue
        else:
            res = run_one(Server(server.label, server.argv, server.scenarios), SCENARIOS[s], args, log)
        if isinstance(res, str) and res.startswith("failed to start"):
            refused.add((s, n))
            if os.path.exists(log) and not (server.broken or (s == "ws" and client_broken)):
                res = "failed to start: " + why_not_started(log)
        results[(s, n)].append(res)
        print("round %d  %-7s %-16s %s" % (r + 1, s, n, progress(s, res)), file=sys.stderr, flush=True)
    print("server logs (and the binaries, when built): %s" % logs, file=sys.stderr)
    report(table, scenarios, names, results, args)


def thread_counts(text):
    try:
        counts = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError("not a list of numbers: %s" % text)
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError("thread counts are 1 or more: %s" % text)
    return counts


def progress(s, res):
    if isinstance(res, str):
        return res
    text = "%8.0f %s  p50 %.2f ms  p99 %.2f ms  rss %.1f MiB  %s" % (
        res["rps"], "msg/s" if s == "ws" else "req/s", res["p50"], res["p99"], res["rss_mib"],
        errors_text(res["errors"]))
    if "cpu_us" in res:
        text += "  worker cpu %.1f us/req" % res["cpu_us"]
    if s == "ws":
        text += "  client threads %d" % res["threads"]
        text += "  cpu: client %.2f, server %.2f (%s), other %.2f cores; %.1f / %.1f µs/msg" % (
            res["client_cpu"], res["server_cpu"], split_text(res["split"]), res["other_cpu"],
            res["client_us"], res["server_us"])
    return text


if __name__ == "__main__":
    main()
