#!/usr/bin/env python3
"""Compare gunicorn-rs with Gunicorn (sync) and Granian (WSGI) on one app, in one run.

Each server runs with 2 workers on loopback; wrk drives it. The rounds are interleaved
(every server once per round, order rotating) so that drift of the machine hits all of them
alike, and the table reports the median of the rounds plus ratios against Gunicorn.

    python3 benches/compare.py [--duration 5] [--rounds 3] [--connections 32]

Needs wrk on PATH and a venv with gunicorn and granian (benches/requirements.txt); the
script makes one at benches/.venv when none is given with --venv. Builds gunicorn-rs in
release mode. Traffic goes to 127.0.0.1 only.
"""

import argparse
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benches")


def in_venv(venv, argv):
    """`argv` (a gunicorn-rs command) run in `venv`, the environment every other server of the
    comparison runs in: gunicorn-rs embeds CPython, and `$VIRTUAL_ENV` is how it finds the venv.
    Without it the embedded interpreter reads the base Python's site-packages, whose `.pth` files
    may import a hundred modules the others never load (a worker's RSS then measures the machine,
    not the server). `env` execs, so the pid the benchmark stops and samples is the server's."""
    return ["env", "VIRTUAL_ENV=" + venv] + argv


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_listening(port, proc, timeout=30):
    """Readiness: the port accepts a connection and answers a request (the server's own event)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if s.recv(16).startswith(b"HTTP/1."):
                    return
        except OSError:
            time.sleep(0.05)  # polling a port that is not bound yet: there is no event to wait on
    raise RuntimeError("server did not start")


def children(pid):
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                with open("/proc/%s/stat" % d) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                if int(fields[1]) == pid:
                    out.append(int(d))
            except OSError:
                pass
    return out


CLK_TCK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid):
    """utime + stime of pid (its own, not its children's), in seconds; 0 when it is gone."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / CLK_TCK
    except (OSError, IndexError, ValueError):
        return 0.0


def rss_kib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


class Peak(threading.Thread):
    """Samples the peak RSS of any worker (a child of the server process) while wrk runs."""

    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0, threading.Event()

    def run(self):
        while not self.stop.wait(0.2):
            for c in children(self.pid):
                self.peak = max(self.peak, rss_kib(c))


def servers(venv, binary):
    vbin = os.path.join(venv, "bin")
    return {
        "gunicorn-rs": lambda p: in_venv(venv, [binary, "-w", "2", "-b", "127.0.0.1:%d" % p, "--chdir", BENCH, "app:app"]),
        "gunicorn": lambda p: [os.path.join(vbin, "gunicorn"), "-w", "2", "-b", "127.0.0.1:%d" % p, "--chdir", BENCH, "app:app"],
        "granian": lambda p: [os.path.join(vbin, "granian"), "--interface", "wsgi", "--workers", "2", "--host", "127.0.0.1", "--port", str(p), "--working-dir", BENCH, "app:app"],
    }


def wrk_figures(text):
    """Requests per second and the p50 and p99 latencies (ms) of a wrk --latency report."""
    def latency_ms(label):
        m = re.search(r"^\s*%s\s+([\d.]+)(us|ms|s)\s*$" % label, text, re.M)
        if not m:
            return float("nan")
        return float(m.group(1)) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[m.group(2)]

    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    return {"rps": float(rps.group(1)) if rps else 0.0, "p50": latency_ms("50%"), "p99": latency_ms("99%")}


def parse_wrk(text):
    """wrk_figures, with wrk's errors as its own words."""
    errors = re.search(r"Socket errors: (.*)", text)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    words = (errors.group(1).strip() if errors else "") + (" non2xx=%s" % non2xx.group(1) if non2xx else "")
    return dict(wrk_figures(text), errors=words)


def run_one(name, argv, path, close, args):
    port = free_port()
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    proc = subprocess.Popen(argv(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env, start_new_session=True)
    try:
        wait_listening(port, proc)
        peak = Peak(proc.pid)
        peak.start()
        cmd = ["wrk", "-t", "2", "-c", str(args.connections), "-d", "%ds" % args.duration, "--latency"]
        if close:
            cmd += ["-H", "Connection: close"]
        cmd.append("http://127.0.0.1:%d%s" % (port, path))
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        peak.stop.set()
        peak.join()
        result = parse_wrk(out)
        result["rss_mib"] = peak.peak / 1024
        return result
    finally:
        stop_server(proc)


def stop_server(proc):
    """TERM to the server's process group, KILL if it has not exited within 10 s."""
    os.killpg(proc.pid, signal.SIGTERM)
    try:
        proc.wait(timeout=10)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def ensure_venv(path):
    if not os.path.exists(os.path.join(path, "bin", "granian")):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
        subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q", "-r", os.path.join(BENCH, "requirements.txt")], check=True)
    return path


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--connections", type=int, default=32)
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    args = ap.parse_args()
    venv = ensure_venv(args.venv)
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    table = servers(venv, os.path.join(ROOT, "target", "release", "gunicorn-rs"))
    scenarios = [("hello, Connection: close", "/", True), ("hello, keep-alive", "/", False),
                 ("64 KiB, Connection: close", "/64k", True), ("64 KiB, keep-alive", "/64k", False)]
    names = list(table)
    results = {(s[0], n): [] for s in scenarios for n in names}
    for r in range(args.rounds):
        for title, path, close in scenarios:
            order = names[r % len(names):] + names[:r % len(names)]
            for name in order:
                results[(title, name)].append(run_one(name, table[name], path, close, args))
    report(scenarios, names, results, args)


def report(scenarios, names, results, args):
    print("wrk -t2 -c%d -d%ds, %d interleaved rounds, 2 workers each; medians" % (args.connections, args.duration, args.rounds))
    print("| scenario | server | req/s | vs gunicorn | p50 ms | p99 ms | worker peak RSS MiB | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for title, _, _ in scenarios:
        base = statistics.median(x["rps"] for x in results[(title, "gunicorn")]) or 1.0
        for name in names:
            runs = results[(title, name)]
            rps = statistics.median(x["rps"] for x in runs)
            print("| %s | %s | %.0f | %.2fx | %.2f | %.2f | %.1f | %s |" % (
                title, name, rps, rps / base,
                statistics.median(x["p50"] for x in runs), statistics.median(x["p99"] for x in runs),
                max(x["rss_mib"] for x in runs), "; ".join(sorted({x["errors"] for x in runs if x["errors"]})) or "-"))


if __name__ == "__main__":
    main()
