#!/usr/bin/env python3
"""Benchmark the uwsgi protocol behind nginx (issue 10): gunicorn-rs --protocol uwsgi against
uWSGI, behind the same nginx, in one run.

One nginx (its own temp prefix, `worker_processes 1`, access log off) listens for wrk and
passes every request with `uwsgi_pass` and the stock `uwsgi_params` to 127.0.0.1:UPSTREAM.
Each measured server in turn binds UPSTREAM, 2 workers each:

    rs-sync       gunicorn-rs --protocol uwsgi -k sync
    rs-gthread    gunicorn-rs --protocol uwsgi -k gthread --threads 1
    uwsgi         uWSGI 2.0 --socket, --master --processes 2 (one thread each), --lazy-apps,
                  logging off (as the others log no access)
    gunicorn      Gunicorn 27.0.1 --protocol uwsgi (its sync worker)

nginx opens a new upstream connection per request (its uwsgi module keeps none alive), so this
measures accepting, reading a packet, the app and the response, per connection; wrk keeps its
own connections to nginx alive. Scenarios: hello (benches/app.py `/`, -c16) and 64k
(benches/app.py `/64k`, -c16). Measuring follows keepalive.py (its helpers, imported): a fresh
server per run, ready once a request through nginx is answered 200, a wrk warm-up, a fresh
request answered, the measured wrk run; rounds interleaved (every server once per round, order
rotating); medians, ratios against uWSGI, the peak RSS of any one worker, and wrk's errors
(a 502 from nginx is a non-2xx). The issue's target follows with PASS/FAIL.

    python3 benches/fronts.py [--duration 5] [--rounds 3] [--warmup 1]
        [--scenarios hello,64k] [--servers rs-sync,rs-gthread,uwsgi,gunicorn]
        [--binary PATH] [--pin] [--venv PATH]

With --pin, wrk runs on CPU 0 and nginx and the server under it share the other CPUs
(taskset): the front and its upstream are measured on cores of their own, without the load
client's share of them. Unpinned, the one nginx worker is the bottleneck wherever the
scheduler puts it, and its cost per request moves by ±10 % from run to run whichever server is
behind it.

Needs nginx and wrk (apt-get install -y nginx wrk). Makes or reuses a venv (default
benches/.venv) and installs uwsgi and gunicorn==27.0.1 into it; uwsgi compiles, so pip needs
gcc and the Python headers (a pyenv Python has them; Debian: python3-dev). Builds gunicorn-rs
with `cargo build --release` unless --binary is given.
"""

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import namedtuple

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, cpu_seconds, free_port, in_venv, stop_server  # noqa: E402
from harness import (  # noqa: E402
    WorkerRssPeak, build, csv, errors_cell, errors_text, failed_row, interleaved, launch,
    parse_wrk, pin, pinned, pinning_text, ratio_cell, requests_done, run_wrk, settle, summary,
    worker_pids,
)

WORKERS = 2
REQUIREMENTS = ["gunicorn==27.0.1", "uwsgi"]

Scenario = namedtuple("Scenario", "title target path connections")
SCENARIOS = {
    "hello": Scenario("hello world", "app:app", "/", 16),
    "64k": Scenario("64 KiB body", "app:app", "/64k", 16),
}
Server = namedtuple("Server", "label argv scenarios")

# nginx's stock uwsgi_params (Debian's /etc/nginx/uwsgi_params), so every machine sends the same.
UWSGI_PARAMS = """uwsgi_param QUERY_STRING $query_string;
uwsgi_param REQUEST_METHOD $request_method;
uwsgi_param CONTENT_TYPE $content_type;
uwsgi_param CONTENT_LENGTH $content_length;
uwsgi_param REQUEST_URI $request_uri;
uwsgi_param PATH_INFO $document_uri;
uwsgi_param DOCUMENT_ROOT $document_root;
uwsgi_param SERVER_PROTOCOL $server_protocol;
uwsgi_param REQUEST_SCHEME $scheme;
uwsgi_param HTTPS $https if_not_empty;
uwsgi_param REMOTE_ADDR $remote_addr;
uwsgi_param REMOTE_PORT $remote_port;
uwsgi_param SERVER_PORT $server_port;
uwsgi_param SERVER_NAME $server_name;
"""


def server_table(venv, binary):
    vbin = os.path.join(venv, "bin")

    def rs(kind):
        def argv(port, target):
            cmd = [binary, "--protocol", "uwsgi", "-w", str(WORKERS), "-b", "127.0.0.1:%d" % port,
                   "--chdir", BENCH, "-k", kind]
            return in_venv(venv, cmd + (["--threads", "1"] if kind == "gthread" else []) + [target])
        return "gunicorn-rs --protocol uwsgi -k %s" % kind, argv

    def uwsgi(port, target):
        return [os.path.join(vbin, "uwsgi"), "--socket", "127.0.0.1:%d" % port, "--master",
                "--processes", str(WORKERS), "--die-on-term", "--lazy-apps", "--need-app",
                "--disable-logging", "--listen", "1024", "--chdir", BENCH, "--module", target]

    def gunicorn(port, target):
        return [os.path.join(vbin, "gunicorn"), "--protocol", "uwsgi", "-w", str(WORKERS),
                "-b", "127.0.0.1:%d" % port, "--chdir", BENCH, target]

    every = tuple(SCENARIOS)
    return {
        "rs-sync": Server(*rs("sync"), every),
        "rs-gthread": Server(*rs("gthread"), every),
        "uwsgi": Server("uWSGI 2.0 (uwsgi protocol)", uwsgi, every),
        "gunicorn": Server("gunicorn --protocol uwsgi (sync)", gunicorn, every),
    }


# --- the front --------------------------------------------------------------------------------

class Nginx:
    """nginx in its own prefix, passing every request to 127.0.0.1:upstream with uwsgi_pass."""

    def __init__(self, logs, upstream):
        self.port = free_port()
        self.dir = tempfile.mkdtemp(prefix="nginx-", dir=logs)
        user = "user root;" if os.geteuid() == 0 else ""
        with open(os.path.join(self.dir, "uwsgi_params"), "w") as f:
            f.write(UWSGI_PARAMS)
        conf = os.path.join(self.dir, "nginx.conf")
        d = self.dir
        with open(conf, "w") as f:
            f.write(f"""daemon off;
worker_processes 1;
{user}
pid {d}/nginx.pid;
error_log {d}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    client_body_temp_path {d}/body;
    proxy_temp_path {d}/proxy;
    fastcgi_temp_path {d}/fastcgi;
    uwsgi_temp_path {d}/uwsgi;
    scgi_temp_path {d}/scgi;
    upstream app {{ server 127.0.0.1:{upstream}; }}
    server {{
        listen 127.0.0.1:{self.port} backlog=4096;
        location / {{
            include uwsgi_params;
            uwsgi_pass app;
        }}
    }}
}}
""")
        nginx = shutil.which("nginx") or "/usr/sbin/nginx"
        # With --pin, nginx is on the servers' side: front and server share their CPUs.
        self.proc = subprocess.Popen(pinned("server", [nginx, "-e", os.path.join(d, "error.log"), "-p", d, "-c", conf]),
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                     start_new_session=True)
        deadline = time.monotonic() + 10
        while not self.status():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("nginx did not start: see %s/error.log" % d)
            time.sleep(0.05)  # nginx says nothing on stdout when it is ready: poll its port

    def status(self):
        """The status of one request through nginx, or None if it does not answer."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                s.sendall(b"GET / HTTP/1.0\r\nHost: bench\r\n\r\n")
                head = s.recv(16)
            return int(head[9:12]) if head.startswith(b"HTTP/1.") else None
        except (OSError, ValueError):
            return None

    def cpu(self):
        """CPU seconds of nginx's processes so far (its one worker does the work)."""
        return sum(cpu_seconds(p) for p in [self.proc.pid] + worker_pids(self.proc.pid))

    def stop(self):
        stop_server(self.proc)


def wait_upstream(nginx, proc, timeout=30):
    """Ready: a request through nginx is answered 200 (502 while the server does not listen)."""
    deadline = time.monotonic() + timeout
    while nginx.status() != 200:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        if time.monotonic() > deadline:
            raise RuntimeError("no 200 through nginx within %ds" % timeout)
        time.sleep(0.05)  # there is no event for "the upstream took its first packet"


def run_one(server, scenario, nginx, upstream, args, log_path):
    """One measurement: a dict of numbers, or a string saying why there is none."""
    # launch() waits for an HTTP answer on the port it is given: nginx's (a 502 until the
    # server listens), so wait_upstream is the real readiness.
    proc, server_said = launch(server.argv(upstream, scenario.target), nginx.port, log_path)
    if server_said is None:
        return proc
    try:
        try:
            wait_upstream(nginx, proc)
            if args.warmup:
                run_wrk(nginx.port, scenario.path, scenario.connections, args.warmup)
                settle(nginx.port, scenario.path)
            workers = worker_pids(proc.pid)
            before = sum(cpu_seconds(p) for p in workers), nginx.cpu()
            peak = WorkerRssPeak(proc.pid)
            peak.start()
            try:
                out = run_wrk(nginx.port, scenario.path, scenario.connections, args.duration)
            finally:
                rss = peak.finish()
                after = sum(cpu_seconds(p) for p in workers), nginx.cpu()
        except (RuntimeError, OSError) as e:
            return "%s (server: %s)" % (e, server_said())
        with open(log_path + ".wrk", "w") as f:
            f.write(out)
        result = parse_wrk(out)
        # CPU time per request of the server's workers and of nginx: with one nginx worker in
        # front, req/s is mostly nginx's; these say what each side spent.
        n = max(1, requests_done(out))
        result.update(rss_mib=rss, cpu_us=1e6 * (after[0] - before[0]) / n,
                      nginx_us=1e6 * (after[1] - before[1]) / n)
        return result
    finally:
        if proc.poll() is None:
            stop_server(proc)


def ensure_venv(path):
    if not os.path.exists(os.path.join(path, "bin", "python")):
        subprocess.run([sys.executable, "-m", "venv", path], check=True)
    subprocess.run([os.path.join(path, "bin", "pip"), "install", "-q"] + REQUIREMENTS, check=True)
    return path


# --- reporting -------------------------------------------------------------------------------

def nginx_us(runs):
    """nginx's CPU per request, the median over the rounds (summary() has the workers')."""
    values = [x["nginx_us"] for x in runs if isinstance(x, dict)]
    return statistics.median(values) if values else float("nan")


def report(table, scenarios, names, results, args):
    summaries = {k: summary(v) for k, v in results.items()}
    print("wrk -t2 -d%ds (after a %ds warm-up) → nginx (1 worker, uwsgi_pass) → the server, %d "
          "interleaved rounds, %d workers each, %d CPUs%s; medians" % (
              args.duration, args.warmup, args.rounds, WORKERS, os.cpu_count(), pinning_text()))
    print()
    print("| scenario | server | req/s | ratio vs uWSGI | p50 ms | p99 ms | worker CPU µs/req | nginx CPU µs/req | worker peak RSS MiB | errors |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---|")
    for s in scenarios:
        sc = SCENARIOS[s]
        title = "%s, -c%d" % (sc.title, sc.connections)
        ref = summaries.get((s, "uwsgi"))
        for n in names:
            m = summaries[(s, n)]
            if m is None:
                runs = results[(s, n)]
                print(failed_row([title, table[n].label], runs, 7))
                continue
            ratio = ratio_cell(m, ref)
            print("| %s | %s | %.0f | %s | %.2f | %.2f | %.1f | %.1f | %.1f | %s |" % (
                title, table[n].label, m["rps"], ratio, m["p50"], m["p99"], m["cpu_us"],
                nginx_us(results[(s, n)]), m["rss_mib"], errors_cell(m)))
    print()
    print("| target | measured | result |")
    print("|---|---|---|")
    for s in scenarios:
        ref = summaries.get((s, "uwsgi"))
        ours = [(n, summaries[(s, n)]) for n in ("rs-sync", "rs-gthread") if summaries.get((s, n))]
        target = "%s: the uwsgi protocol behind nginx ≥ 1.0× uWSGI behind the same nginx" % s
        if not ref or not ours:
            print("| %s | not measured | n/a |" % target)
            continue
        n, m = max(ours, key=lambda x: x[1]["rps"])
        ratio = m["rps"] / ref["rps"]
        clean = m["n_errors"] == 0
        text = "%s: %.2fx (%.0f vs %.0f req/s; worker CPU %.1f vs %.1f µs/req, nginx's %.1f vs %.1f)%s" % (
            table[n].label, ratio, m["rps"], ref["rps"], m["cpu_us"], ref["cpu_us"],
            nginx_us(results[(s, n)]), nginx_us(results[(s, "uwsgi")]), "" if clean else ", with errors")
        print("| %s | %s | %s |" % (target, text, "PASS" if ratio >= 1.0 and clean else "FAIL"))


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds of each measured wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measurement (0: none)")
    ap.add_argument("--scenarios", type=csv(list(SCENARIOS)), default=list(SCENARIOS),
                    help="comma-separated, from: " + ",".join(SCENARIOS))
    all_servers = list(server_table("", ""))
    ap.add_argument("--servers", type=csv(all_servers), default=all_servers,
                    help="comma-separated, from: " + ",".join(all_servers))
    ap.add_argument("--binary", help="a gunicorn-rs binary to use instead of building one")
    ap.add_argument("--pin", action="store_true",
                    help="wrk on CPU 0; nginx and the server on the other CPUs (see the docstring)")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    args = ap.parse_args()
    if args.pin:
        pin()

    venv = ensure_venv(args.venv)
    logs = tempfile.mkdtemp(prefix="fronts-bench-")
    binary = os.path.abspath(args.binary) if args.binary else build(os.path.join(logs, "gunicorn-rs"))
    table = server_table(venv, binary)
    names = [n for n in table if n in args.servers]
    scenarios = [s for s in SCENARIOS if s in args.scenarios]
    upstream = free_port()
    nginx = Nginx(logs, upstream)
    results = {(s, n): [] for s in scenarios for n in names}
    refused = set()
    try:
        for r, s, n in interleaved(names, scenarios, table, args.rounds):
            if (s, n) in refused:
                continue
            log = os.path.join(logs, "%s-%s-%d.log" % (s, n, r + 1))
            res = run_one(table[n], SCENARIOS[s], nginx, upstream, args, log)
            if isinstance(res, str) and res.startswith("failed to start"):
                refused.add((s, n))
            results[(s, n)].append(res)
            print("round %d  %-6s %-11s %s" % (r + 1, s, n, res if isinstance(res, str) else
                  "%8.0f req/s  p99 %.2f ms  cpu %.1f us/req (nginx %.1f)  rss %.1f MiB  %s" % (
                      res["rps"], res["p99"], res["cpu_us"], res["nginx_us"], res["rss_mib"], errors_text(res["errors"]))),
                  file=sys.stderr, flush=True)
    finally:
        nginx.stop()
    print("server logs, nginx's prefix (and the binary, when built): %s" % logs, file=sys.stderr)
    report(table, scenarios, names, results, args)


if __name__ == "__main__":
    main()
