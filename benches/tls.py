#!/usr/bin/env python3
"""Benchmark TLS: gunicorn-rs against Gunicorn and Granian with a certificate, in one run (issue 10).

Servers, 2 workers each, on 127.0.0.1, all with the same certificate and key:

    rs-t1, rs-t4          gunicorn-rs -k gthread --threads 1 / 4 --keep-alive 30
                          --certfile --keyfile
    gunicorn-t1, -t4      Gunicorn 27.0.1 -k gthread, the same threads, keep-alive and files
    granian               Granian --interface wsgi --ssl-certificate --ssl-keyfile (its
                          defaults otherwise, as keepalive.py's granian row)

Scenarios, on benches/app.py `/` (hello world), wrk -t2 -c16 to https://:

    hello        keep-alive: one handshake per connection, then the record layer (AES-GCM)
                 and the server's HTTP work
    handshakes   new connections: every request is a new TCP connection, a full TLS
                 handshake, one GET with `Connection: close`, and the server's close; driven
                 by benches/tls_load (16 connections at a time, see "Full handshakes" below)

each with an ECDSA P-256 key (`ec`) and an RSA-2048 key (`rsa`): the server signs every full
handshake with its key, and an RSA-2048 signature costs far more than a P-256 one. The
certificates are made at bench time (openssl req -x509) in the run's temporary directory. All
three servers and wrk's OpenSSL settle on TLS 1.3 with TLS_AES_256_GCM_SHA384 (the progress
lines show what a Python client got from each server).

Everything else follows keepalive.py (its launch, interleaved, WorkerRssPeak, parse_wrk and
build are imported): a fresh server per run, ready once a TLS request is answered, a 1 s wrk
warm-up, a fresh request answered (the warm-up's leftovers are served), then the measured wrk
run. Rounds are interleaved (every server once per round, order rotating). The table reports
medians of the rounds, the lowest and highest round (how noisy the shared machine was), ratios
against Gunicorn with the same threads and against Granian, latency, the CPU time the worker
processes spent per request (user / system, from /proc/PID/stat) beside the client's, the peak RSS
of any one worker during the measured run, and the client's errors. Above the table: the CPU
time the rest of the machine used during the measured runs (neither the workers nor the
client), the measure of how shared the machine was. Where others take most of the 2 cores, a
server's rate follows its share of the CPU more than its cost per request, so the CPU per
request is the steadier comparison. The issue's targets follow with PASS/FAIL (a target met
with errors is a FAIL).

    python3 benches/tls.py [--duration 5] [--rounds 3] [--warmup 1] [--keys ec,rsa]
        [--scenarios hello,handshakes] [--servers rs-t1,rs-t4,...] [--binary PATH] [--venv PATH]

Full handshakes. wrk (4.1, OpenSSL 3.0) resumes: it reconnects a connection slot by clearing
its SSL object (SSL_clear), which keeps the session, so the next handshake offers it back;
against a server that issues session tickets nearly every `Connection: close` handshake is a
resumption. Its OpenSSL 3.0 client also spends 0.5 ms of CPU or more on each handshake (it
polls the socket for writability while it waits for the server's flight, so the slower the
server, the more wrk spends), more than the fastest servers here, on the 2 cores it shares with
them. So the handshakes scenario
is driven by benches/tls_load, a small Rust client (rustls on ring, its own cargo workspace,
built here): one blocking thread per connection, no session kept (rustls's resumption off), the
handshake signature verified as any client must (the self-signed certificate itself is taken
as it is, like wrk's). Its latency is the whole exchange, connect to close; wrk's (hello) is
from the request's write to its answer. Neither client is trusted to do what it
says: before measuring, each runs for a second against a small Python ssl server that issues
TLS 1.3 session tickets and counts the handshakes that resumed. The counts are printed below the
table; if tls_load resumed any, the handshake targets say n/a.

Needs wrk and openssl on PATH (apt-get install -y wrk openssl) and cargo. Builds gunicorn-rs
with `cargo build --release` unless --binary is given, and benches/tls_load unless
--tls-load is given; makes or reuses the venv as keepalive.py does.
"""

import argparse
import json
import os
import socket
import socketserver
import ssl
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, free_port, in_venv, stop_server  # noqa: E402
from harness import (  # noqa: E402
    Server, WorkerRssPeak, build, csv, errors_text, interleaved, last_line, launch, parse_wrk,
    requests_done, worker_pids,
)
from keepalive import KEEPALIVE, WORKERS, ensure_venv  # noqa: E402
from tls_report import KEYS, SCENARIOS, Scenario, report  # noqa: E402

TLS_LOAD = os.path.join(BENCH, "tls_load")

TARGET_APP = "app:app"
CLK_TCK = os.sysconf("SC_CLK_TCK")


def server_table(venv, binary, certs):
    """Every server by key: its label, its command line for (port, key name), its scenarios
    (every one: the key is the variable here, passed where keepalive.py passes the app)."""
    vbin = os.path.join(venv, "bin")
    bind = "127.0.0.1:%d"

    def rs(threads):
        def argv(port, key):
            cert, keyfile = certs[key]
            return in_venv(venv, [binary, "-w", str(WORKERS), "-b", bind % port, "--chdir", BENCH,
                                  "-k", "gthread", "--threads", str(threads),
                                  "--keep-alive", str(KEEPALIVE),
                                  "--certfile", cert, "--keyfile", keyfile, TARGET_APP])
        return "gunicorn-rs gthread --threads %d" % threads, argv

    def gunicorn(threads):
        def argv(port, key):
            cert, keyfile = certs[key]
            return [os.path.join(vbin, "gunicorn"), "-w", str(WORKERS), "-b", bind % port,
                    "--chdir", BENCH, "-k", "gthread", "--threads", str(threads),
                    "--keep-alive", str(KEEPALIVE), "--certfile", cert, "--keyfile", keyfile,
                    TARGET_APP]
        return "gunicorn gthread --threads %d" % threads, argv

    def granian(port, key):
        cert, keyfile = certs[key]
        return [os.path.join(vbin, "granian"), "--interface", "wsgi", "--workers", str(WORKERS),
                "--host", "127.0.0.1", "--port", str(port), "--working-dir", BENCH,
                "--ssl-certificate", cert, "--ssl-keyfile", keyfile, TARGET_APP]

    every = tuple(SCENARIOS)
    return {
        "rs-t1": Server(*rs(1), every),
        "rs-t4": Server(*rs(4), every),
        "gunicorn-t1": Server(*gunicorn(1), every),
        "gunicorn-t4": Server(*gunicorn(4), every),
        "granian": Server("granian", granian, every),
    }


# --- certificates and the TLS client ---------------------------------------------------------

def make_certificate(directory, key):
    """A self-signed certificate for 127.0.0.1 and its key (PKCS#8 PEM, which Granian needs):
    (cert path, key path)."""
    cert, keyfile = os.path.join(directory, key + "-cert.pem"), os.path.join(directory, key + "-key.pem")
    cmd = (["openssl", "req", "-x509"] + KEYS[key][1] +
           ["-nodes", "-days", "2", "-subj", "/CN=localhost", "-keyout", keyfile, "-out", cert,
            "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1"])
    done = subprocess.run(cmd, capture_output=True, text=True)
    if done.returncode != 0:
        sys.exit("openssl req failed: " + last_line(done.stderr or done.stdout))
    return cert, keyfile


CLIENT = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
CLIENT.check_hostname = False
CLIENT.verify_mode = ssl.CERT_NONE  # a throwaway self-signed certificate, as wrk does


def https_get(port, path, timeout):
    """One request on a new TLS connection: (the answer's first bytes, "TLSv1.3 <suite>")."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as raw:
        with CLIENT.wrap_socket(raw) as s:
            s.sendall(b"GET %s HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n" % path.encode())
            return s.recv(16), "%s %s" % (s.version(), s.cipher()[0])


def wait_tls(port, proc, timeout=30):
    """keepalive.launch's readiness for a TLS port: a request over TLS is answered."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError("server exited with %s" % proc.returncode)
        try:
            if https_get(port, "/", 1)[0].startswith(b"HTTP/1."):
                return
        except OSError:  # ssl.SSLError too
            pass
        time.sleep(0.05)  # polling a port that is not bound yet: there is no event to wait on
    raise RuntimeError("server did not answer a TLS request")


def settle(port, path):
    """keepalive.settle over TLS: returns once a fresh request is answered, i.e. once the
    warm-up's queued leftovers are served. Returns what the connection negotiated."""
    first, negotiated = https_get(port, path, 60)
    if not first.startswith(b"HTTP/1."):
        raise RuntimeError("no HTTP answer after the warm-up")
    return negotiated


def build_tls_load(logs):
    """benches/tls_load's release build (its own target directory)."""
    target = os.path.join(TLS_LOAD, "target")
    log = os.path.join(logs, "tls-load-build.log")
    with open(log, "w") as out:
        done = subprocess.run(["cargo", "build", "--release", "--quiet", "--manifest-path",
                               os.path.join(TLS_LOAD, "Cargo.toml"), "--target-dir", target],
                              stdout=out, stderr=subprocess.STDOUT)
    if done.returncode != 0:
        with open(log) as f:
            sys.exit("tls-load did not build: " + last_line(f.read()))
    return os.path.join(target, "release", "tls-load")


def resumption(client_argv, cert, key):
    """Whether a client resumes TLS sessions on new connections: (full, resumed) handshakes
    against a Python ssl server that issues session tickets (TLS 1.3, two per handshake).
    `client_argv(port)` is the client's command line for one second of new connections."""
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    counts, lock = {"full": 0, "resumed": 0}, threading.Lock()

    class Handler(socketserver.BaseRequestHandler):
        def handle(self):
            try:
                with ctx.wrap_socket(self.request, server_side=True) as s:
                    head = b""
                    while b"\r\n\r\n" not in head:
                        chunk = s.recv(4096)
                        if not chunk:
                            return
                        head += chunk
                    s.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
                    with lock:
                        counts["resumed" if s.session_reused else "full"] += 1
            except OSError:
                pass  # wrk stopping mid-handshake

    class Threaded(socketserver.ThreadingTCPServer):
        daemon_threads = True
        allow_reuse_address = True

    with Threaded(("127.0.0.1", 0), Handler) as server:
        threading.Thread(target=server.serve_forever, daemon=True).start()
        subprocess.run(client_argv(server.server_address[1]), capture_output=True)
        server.shutdown()
    with lock:
        return counts["full"], counts["resumed"]


# --- measuring -------------------------------------------------------------------------------

def cpu_ticks(pids):
    """(utime, stime) summed over pids, in clock ticks; a pid that is gone counts nothing."""
    user = system = 0
    for pid in pids:
        try:
            with open("/proc/%d/stat" % pid) as f:
                fields = f.read().rsplit(")", 1)[1].split()
            user, system = user + int(fields[11]), system + int(fields[12])
        except (OSError, IndexError, ValueError):
            pass
    return user, system


def wrk_argv(port, scenario, seconds):
    cmd = ["wrk", "-t", "2", "-c", str(scenario.connections), "-d", "%ds" % seconds, "--latency"]
    if scenario.close:
        cmd += ["-H", "Connection: close"]
    return cmd + ["https://127.0.0.1:%d%s" % (port, scenario.path)]


def tls_load_argv(binary, port, scenario, seconds):
    return [binary, "--port", str(port), "--path", scenario.path, "--connections",
            str(scenario.connections), "--duration", str(seconds)]


def busy_ticks():
    """Clock ticks the whole machine spent not idle (all CPUs, /proc/stat)."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:9]]
    return sum(fields) - fields[3] - fields[4]  # user nice system idle iowait irq softirq steal


def run_client(port, scenario, seconds, args):
    """The scenario's client for `seconds`: (its report's text, the numbers parse_wrk gives
    plus "requests", its own CPU seconds)."""
    if scenario.client == "wrk":
        cmd = wrk_argv(port, scenario, seconds)
    else:
        cmd = tls_load_argv(args.tls_load, port, scenario, seconds)
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    out = proc.stdout.read()
    _, status, usage = os.wait4(proc.pid, 0)
    proc.stdout.close()
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError("%s failed: %s" % (scenario.client, last_line(out)))
    cpu = usage.ru_utime + usage.ru_stime
    if scenario.client == "wrk":
        result = parse_wrk(out)
        result["requests"] = requests_done(out)
        return out, result, cpu
    lines = [x for x in out.splitlines() if x.startswith("{")]
    if not lines:
        raise RuntimeError("tls-load printed no report: " + last_line(out))
    report = json.loads(lines[-1])
    result = {"rps": report["rps"], "requests": report["requests"],
              "p50": report["p50_ms"] if report["p50_ms"] is not None else float("nan"),
              "p99": report["p99_ms"] if report["p99_ms"] is not None else float("nan"),
              "errors": report["errors"]}
    if report["first_error"]:
        result["note"] = "client error: " + report["first_error"]
    return out, result, cpu


def run_one(server, scenario, key, args, log_path):
    """One measurement: a dict of numbers, or a string saying why there is none."""
    port = free_port()
    proc, server_said = launch(server.argv(port, key), port, log_path, ready=wait_tls)
    if server_said is None:
        return proc
    try:
        try:
            negotiated = "?"
            if args.warmup:
                run_client(port, scenario, args.warmup, args)
                negotiated = settle(port, scenario.path)
            workers = worker_pids(proc.pid)
            cpu_before, busy_before, began = cpu_ticks(workers), busy_ticks(), time.monotonic()
            peak = WorkerRssPeak(proc.pid)
            peak.start()
            try:
                out, result, client_cpu = run_client(port, scenario, args.duration, args)
            finally:
                rss = peak.finish()
                cpu_after, busy_after, wall = cpu_ticks(workers), busy_ticks(), time.monotonic() - began
        except (RuntimeError, OSError) as e:
            return "%s (server: %s)" % (e, server_said())
        with open(log_path + "." + scenario.client, "w") as f:
            f.write(out)
        n = max(1, result["requests"])
        user, system = ((after - before) / CLK_TCK for before, after in zip(cpu_before, cpu_after))
        # What the rest of the machine used meanwhile, in cores: other work on a shared
        # machine (and interrupt time no process is charged with); the noise of the round.
        others = (busy_after - busy_before) / CLK_TCK - user - system - client_cpu
        result.update(rss_mib=rss, negotiated=negotiated, user_us=1e6 * user / n,
                      sys_us=1e6 * system / n, client_us=1e6 * client_cpu / n,
                      others=max(0.0, others) / wall)
        if set(worker_pids(proc.pid)) != set(workers):
            result["note"] = "workers changed during the run: CPU per request is partial"
        if proc.poll() is not None:
            result["note"] = "server exited during the run: status %s, %s" % (proc.returncode, server_said())
        return result
    finally:
        if proc.poll() is None:
            stop_server(proc)


# --- main ------------------------------------------------------------------------------------

def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--duration", type=int, default=5, help="seconds of each measured wrk run")
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each measurement (0: none)")
    ap.add_argument("--scenarios", type=csv(list(SCENARIOS)), default=list(SCENARIOS),
                    help="comma-separated, from: " + ",".join(SCENARIOS))
    ap.add_argument("--keys", type=csv(list(KEYS)), default=list(KEYS),
                    help="comma-separated, from: " + ",".join(KEYS))
    all_servers = list(server_table("", "", {}))
    ap.add_argument("--servers", type=csv(all_servers), default=all_servers,
                    help="comma-separated, from: " + ",".join(all_servers))
    ap.add_argument("--binary", help="a gunicorn-rs binary to use instead of building one")
    ap.add_argument("--tls-load", help="a benches/tls_load binary to use instead of building one")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    args = ap.parse_args()

    venv = ensure_venv(args.venv)
    logs = tempfile.mkdtemp(prefix="tls-bench-")
    binary = os.path.abspath(args.binary) if args.binary else build(os.path.join(logs, "gunicorn-rs"))
    keys = [k for k in KEYS if k in args.keys]
    certs = {k: make_certificate(logs, k) for k in keys}
    table = server_table(venv, binary, certs)
    names = [n for n in table if n in args.servers]
    # A scenario per (scenario, key): "hello/ec", ...; interleaved() takes them as they are.
    cases = ["%s/%s" % (s, k) for k in keys for s in SCENARIOS if s in args.scenarios]
    for n in names:
        table[n] = table[n]._replace(scenarios=cases)

    args.tls_load = os.path.abspath(args.tls_load) if args.tls_load else build_tls_load(logs)
    one_second = Scenario("", "/", 2, None, True)
    by_wrk = resumption(lambda port: wrk_argv(port, one_second, 1), *certs[keys[0]])
    by_tls_load = resumption(lambda port: tls_load_argv(args.tls_load, port, one_second, 1), *certs[keys[0]])
    resumed = by_tls_load[1]
    checked = ("new connections for 1 s (2 at a time) against a Python ssl server that issues "
               "session tickets: wrk with Connection: close made %d full handshakes and resumed "
               "%d; tls-load made %d full handshakes and resumed %d" % (by_wrk + by_tls_load))
    print(checked, file=sys.stderr, flush=True)

    results = {(c, n): [] for c in cases for n in names}
    refused = set()  # (case, server) that did not start: not retried in later rounds
    for r, c, n in interleaved(names, cases, table, args.rounds):
        if (c, n) in refused:
            continue
        s, k = c.split("/")
        res = run_one(table[n], SCENARIOS[s], k, args, os.path.join(logs, "%s-%s-%s-%d.log" % (s, k, n, r + 1)))
        if isinstance(res, str) and res.startswith("failed to start"):
            refused.add((c, n))
        results[(c, n)].append(res)
        print("round %d  %-14s %-12s %s" % (r + 1, c, n, res if isinstance(res, str) else
              "%8.0f req/s  p99 %6.2f ms  cpu %5.1f+%5.1f us/req (client %5.1f)  others %.2f cores  rss %.1f MiB  %s  %s" % (
                  res["rps"], res["p99"], res["user_us"], res["sys_us"], res["client_us"], res["others"], res["rss_mib"],
                  res["negotiated"], errors_text(res["errors"]))),
              file=sys.stderr, flush=True)
    print("server logs, wrk reports, certificates (and the binary, when built): %s" % logs, file=sys.stderr)
    report(table, cases, names, results, args, checked, resumed)


if __name__ == "__main__":
    main()
