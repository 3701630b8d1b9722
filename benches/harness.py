"""What the wrk-driven benchmarks share (keepalive.py, green.py, tls.py, asgi.py, fronts.py,
autobahn.py, and the cost scripts): starting a server and waiting for its port, finding its
workers and their peak RSS, running wrk and reading its report, the interleaved order of the
rounds, medians over them, and the build of the binary measured.
"""

import argparse
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import ROOT, rss_kib, stop_server, wait_listening, wrk_figures  # noqa: E402

# A measured server: its label in the tables, `argv(...)` making its command line (each script
# gives its own arguments), and the scenarios it runs.
Server = namedtuple("Server", "label argv scenarios")


def worker_pids(pid):
    """The direct children of pid, whichever of its threads forked them."""
    out = []
    try:
        tids = os.listdir("/proc/%d/task" % pid)
    except OSError:
        return out  # the server is gone
    for tid in tids:
        try:
            with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                out += [int(c) for c in f.read().split()]
        except OSError:
            pass  # that thread ended since the listing; its children, if any, were reparented
    return out


class WorkerRssPeak(threading.Thread):
    """The largest RSS any single worker reaches while the measured wrk run goes on."""

    INTERVAL = 0.1  # RSS moves slowly; ten samples a second cost little next to wrk

    def __init__(self, server_pid):
        super().__init__(daemon=True)
        self.server_pid, self.peak_kib, self.done = server_pid, 0, threading.Event()

    def processes(self):
        """The workers, or the server itself when it has none."""
        return worker_pids(self.server_pid) or [self.server_pid]

    def sample(self):
        for pid in self.processes():
            self.peak_kib = max(self.peak_kib, rss_kib(pid))

    def run(self):
        self.sample()
        while not self.done.wait(self.INTERVAL):
            self.sample()

    def finish(self):
        self.done.set()
        self.join()
        self.sample()  # RSS mostly grows, so the end of the run matters most: never miss it
        return self.peak_kib / 1024


# --pin (asgi.py): the CPUs of each role, "client" and "server", as taskset(1) lists; empty
# when the scheduler places every process where it likes.
PINNED = {}


def pin():
    """The load client (wrk, ws-load) on CPU 0 from now on, the servers on every other CPU.
    Unpinned on a small machine, the client takes its share of the servers' cores, and against
    a server that spends less per request than the client does, the client is what is
    measured. Pinned, each side has its own cores: a server's rate is what its cores do, and
    whether the client keeps up shows (its own core idle, or not)."""
    cpus = os.cpu_count() or 1
    if cpus < 2:
        sys.exit("--pin needs 2 CPUs or more (this machine has %d)" % cpus)
    if not shutil.which("taskset"):
        sys.exit("--pin needs taskset (util-linux)")
    PINNED.update(client="0", server="1" if cpus == 2 else "1-%d" % (cpus - 1))


def pinned(role, argv):
    """`argv` run on `role`'s CPUs when --pin is on, else as it is."""
    cpus = PINNED.get(role)
    return ["taskset", "-c", cpus] + list(argv) if cpus else list(argv)


def pinning_text():
    """How the run placed its processes, for the tables' headers ("" unpinned)."""
    if not PINNED:
        return ""
    return "; pinned: the load client on CPU %s, the servers on CPU %s" % (PINNED["client"], PINNED["server"])


def run_wrk(port, path, connections, seconds):
    cmd = pinned("client", ["wrk", "-t", "2", "-c", str(connections), "-d", "%ds" % seconds,
                            "--latency", "http://127.0.0.1:%d%s" % (port, path)])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError("wrk failed: " + last_line(done.stderr or done.stdout))
    return done.stdout


def requests_done(text):
    """The requests wrk counts as answered (its "N requests in" line)."""
    m = re.search(r"^\s*(\d+) requests in", text, re.M)
    return int(m.group(1)) if m else 0


def settle(port, path):
    """Returns once a fresh request is answered, i.e. once the warm-up's leftovers are done.

    When wrk stops it leaves requests behind: sent on connections still waiting in the accept
    queue (a server with fewer threads than connections has a queue), which the server will
    accept and serve anyway. With 50 ms per request, 2 sync workers and 50 connections that is
    over a second of work that would eat into the measured run. The accept queue is served in
    order, so the answer to a request queued behind them means they are gone.
    """
    with socket.create_connection(("127.0.0.1", port), timeout=60) as s:
        s.sendall(b"GET %s HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n" % path.encode())
        if not s.recv(16).startswith(b"HTTP/1."):
            raise RuntimeError("no HTTP answer after the warm-up")


def parse_wrk(text):
    """compare.wrk_figures, with wrk's errors as counts by kind."""
    errors = {}
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", text)
    if socket_errors:
        errors.update(zip(("connect", "read", "write", "timeout"), map(int, socket_errors.groups())))
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    errors["non-2xx"] = int(non2xx.group(1)) if non2xx else 0
    return dict(wrk_figures(text), errors=errors)


def last_line(text):
    lines = [re.sub(r"\x1b\[[0-9;]*m", "", x).strip() for x in text.splitlines()]
    lines = [x for x in lines if x]
    return lines[-1] if lines else "(no output)"


def launch(argv, port, log_path, ready=wait_listening):
    """Start a server with its output in `log_path` and wait until `port` answers: `(proc,
    said)` (`said()` is the log's last line, for messages), or `(why, None)` when it did not
    start ("failed to start: ..."; the process is stopped). `ready(port, proc)` is the wait
    (a TLS port needs a TLS client's request: tls.py passes its own)."""
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")

    def said():
        with open(log_path) as f:
            return last_line(f.read())

    with open(log_path, "w") as log:
        proc = subprocess.Popen(pinned("server", argv), stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    try:
        ready(port, proc)
    except RuntimeError as e:
        why = "failed to start: " + (said() if proc.poll() is not None else "%s (%s)" % (e, said()))
        if proc.poll() is None:
            stop_server(proc)
        return why, None
    return proc, said


def interleaved(names, scenarios, table, rounds):
    """(round, scenario, server name) in measuring order: every server once per round and
    scenario, each round starting elsewhere in the list, spread evenly over the rounds, so that
    no server always runs first (cold machine) or right after the same neighbour."""
    for r in range(rounds):
        for s in scenarios:
            here = [n for n in names if s in table[n].scenarios]
            shift = r * len(here) // rounds
            for n in here[shift:] + here[:shift]:
                yield r, s, n


def build(dest, features=""):
    """A release build (with cargo `features`, if any), copied out of the target directory: the
    run then measures one binary throughout, even if someone rebuilds the shared target
    directory while it goes on."""
    cmd = ["cargo", "build", "--release", "--quiet", "--bin", "gunicorn-rs"]
    if features:
        cmd += ["--features", features]
    done = subprocess.run(cmd, cwd=ROOT)
    if done.returncode != 0:
        sys.exit("cargo build --release failed (above); --binary PATH benchmarks an existing build")
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    shutil.copy2(os.path.join(target, "release", "gunicorn-rs"), dest)
    return dest


def csv(choices):
    def parse(text):
        items = [x.strip() for x in text.split(",") if x.strip()]
        unknown = [x for x in items if x not in choices]
        if unknown:
            raise argparse.ArgumentTypeError("unknown: %s (choose from %s)" % (", ".join(unknown), ", ".join(choices)))
        return items
    return parse


def errors_text(errors):
    return ", ".join("%s %d" % (k, v) for k, v in errors.items() if v) or "-"


def summary(runs):
    """Medians over the rounds that measured something, or None when none did."""
    ok = [x for x in runs if isinstance(x, dict)]
    if not ok:
        return None
    errors = {}
    for x in ok:
        for k, v in x["errors"].items():
            errors[k] = errors.get(k, 0) + v
    # One note per kind of trouble (server log lines differ by timestamps), with its last words.
    kinds = {}
    for note in [x["note"] for x in ok if "note" in x] + [x for x in runs if isinstance(x, str)]:
        kind, _, detail = note.partition(": ")
        count, _ = kinds.get(kind, (0, ""))
        kinds[kind] = (count + 1, detail)
    notes = ["%s in %d of %d rounds, last: %s" % (kind, count, len(runs), detail)
             for kind, (count, detail) in kinds.items()]
    return {"rps": statistics.median(x["rps"] for x in ok), "p50": statistics.median(x["p50"] for x in ok),
            "p99": statistics.median(x["p99"] for x in ok), "rss_mib": max(x["rss_mib"] for x in ok),
            "cpu_us": statistics.median(x.get("cpu_us", float("nan")) for x in ok),
            "errors": errors, "n_errors": sum(errors.values()), "notes": notes}


def cell(text):
    return text.replace("|", "\\|")


def ratio_cell(m, ref, suffix=""):
    """`m`'s rate over `ref`'s for a table ("1.23x", then `suffix`), or "-" without a
    reference rate."""
    if not (ref and ref["rps"]):
        return "-"
    return "%.2fx%s" % (m["rps"] / ref["rps"], suffix)


def errors_cell(m):
    """A summary's errors for a table: wrk's counts, then a note per kind of trouble."""
    text = errors_text(m["errors"])
    return cell(text + ("; " + "; ".join(m["notes"]) if m["notes"] else ""))


def failed_row(cells, runs, blanks):
    """The row of a server that measured nothing: its leading `cells`, why (the last round's
    words, or "not run"), then `blanks` empty columns."""
    why = cell(runs[-1] if runs else "not run")
    return "| %s | %s |%s" % (" | ".join(cells), why, " - |" * blanks)


def cpu_ratio(m, ref):
    """Worker CPU per request of a server and of its reference, and how many times less."""
    return "%.1f vs %.1f µs/req, %.2fx less" % (m["cpu_us"], ref["cpu_us"], ref["cpu_us"] / m["cpu_us"])
