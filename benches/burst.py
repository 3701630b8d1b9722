#!/usr/bin/env python3
"""How long a burst of new connections waits to be accepted: N clients connect at once, each
sends one request on its new connection, and the time from the first connect to each client's
first response is recorded. Servers, 2 workers each, as benches/asgi.py starts them (its
server table, imported), on benches/asgi_app.py `/` (hello world, so the wait is the
server's, not the app's) or `/sleep` (--path: the app awaits 50 ms, as in benches/asgi.py's
sleep scenario, whose 500 connections open the same way):

    rs-asgi      gunicorn-rs -k asgi
    uvicorn      uvicorn --workers 2 (httptools, uvloop)
    granian      Granian --interface asgi --workers 2

This is the measurement behind src/worker/balance.rs: a worker that leaves a client to a
less-loaded sibling must not stop accepting for a while, or a burst (a deploy's reconnecting
clients, a pool or a front opening its connections) waits behind those pauses.

Each round starts every server afresh (ready once `/` answers), opens the burst from one
thread (connect, send; the responses read back with one selector), and the rounds are
interleaved; the table gives medians over the rounds of each round's p50, p99 and last
first response.

    python3 benches/burst.py [--connections 500] [--rounds 3] [--path /]
        [--servers rs-asgi,uvicorn,granian] [--binary PATH] [--pin] [--venv PATH]
"""

import argparse
import os
import selectors
import socket
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from compare import BENCH, free_port, stop_server  # noqa: E402
from harness import PINNED, csv, interleaved, launch  # noqa: E402
from asgi import prepare, server_table  # noqa: E402

SERVERS = ("rs-asgi", "uvicorn", "granian")


def burst(port, count, path, timeout=30.0):
    """Open `count` connections at once with a request on each: the seconds from the first
    connect to each first response (sorted), or a string saying what failed."""
    request = b"GET %s HTTP/1.1\r\nHost: bench\r\n\r\n" % path.encode()
    sel = selectors.DefaultSelector()
    began = time.monotonic()
    socks = []
    try:
        for i in range(count):
            s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
            s.sendall(request)
            s.setblocking(False)
            sel.register(s, selectors.EVENT_READ, i)
            socks.append(s)
        waits = []
        deadline = began + timeout
        while len(waits) < count:
            ready = sel.select(max(0.0, deadline - time.monotonic()))
            if not ready:
                return "%d of %d connections unanswered after %ds" % (count - len(waits), count, timeout)
            for key, _ in ready:
                head = key.fileobj.recv(64)
                if not head.startswith(b"HTTP/1.1 200"):
                    return "connection %d: %r" % (key.data, head[:20])
                waits.append(time.monotonic() - began)
                sel.unregister(key.fileobj)
        return sorted(waits)
    except OSError as e:
        return "after %d connections: %s" % (len(socks), e)
    finally:
        for s in socks:
            s.close()


def run_one(server, count, path, log_path):
    port = free_port()
    proc, said = launch(server.argv(port, "asgi_app:app"), port, log_path)
    if said is None:
        return proc
    try:
        return burst(port, count, path)
    finally:
        stop_server(proc)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--connections", type=int, default=500)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--path", default="/", help="/ (hello world) or /sleep (the app awaits 50 ms)")
    ap.add_argument("--servers", type=csv(list(SERVERS)), default=list(SERVERS),
                    help="comma-separated, from: " + ",".join(SERVERS))
    ap.add_argument("--binary", help="a gunicorn-rs binary to use instead of building one")
    ap.add_argument("--pin", action="store_true", help="this client on CPU 0, the servers on the others")
    ap.add_argument("--venv", default=os.path.join(BENCH, ".venv"))
    args = ap.parse_args()
    venv, logs, binary = prepare(args, "burst-bench-")
    if args.pin:
        # This process is the load client: on the client's CPU, as harness.pin() placed it.
        os.sched_setaffinity(0, {int(cpu) for cpu in PINNED["client"].split(",")})
    table = server_table(venv, binary, "", None)
    names = [n for n in SERVERS if n in args.servers]
    results = {n: [] for n in names}
    # Every server runs the one scenario (the table's own scenario names are asgi.py's).
    every = {k: table[k]._replace(scenarios=("burst",)) for k in names}
    for r, _, n in interleaved(names, ["burst"], every, args.rounds):
        res = run_one(table[n], args.connections, args.path, os.path.join(logs, "%s-%d.log" % (n, r + 1)))
        results[n].append(res)
        text = res if isinstance(res, str) else "p50 %.0f ms  p99 %.0f ms  last %.0f ms" % (
            1000 * res[len(res) // 2], 1000 * res[int(len(res) * 0.99)], 1000 * res[-1])
        print("round %d  %-8s %s" % (r + 1, n, text), file=sys.stderr, flush=True)
    print("server logs: %s" % logs, file=sys.stderr)
    print("%d connections opened at once, a GET %s on each; time from the first connect to each "
          "first response; medians of %d interleaved round(s), 2 workers each%s" % (
              args.connections, args.path, args.rounds, "; pinned: this client on CPU 0" if args.pin else ""))
    print()
    print("| server | p50 ms | p99 ms | last ms | rounds failed |")
    print("|---|---:|---:|---:|---|")
    for n in names:
        ok = [x for x in results[n] if not isinstance(x, str)]
        bad = [x for x in results[n] if isinstance(x, str)]
        if not ok:
            print("| %s | - | - | - | %s |" % (table[n].label, bad[0] if bad else "-"))
            continue

        def med(f):
            return 1000 * statistics.median(f(x) for x in ok)
        print("| %s | %.0f | %.0f | %.0f | %s |" % (
            table[n].label, med(lambda x: x[len(x) // 2]), med(lambda x: x[int(len(x) * 0.99)]),
            med(lambda x: x[-1]), len(bad) or "-"))


if __name__ == "__main__":
    main()
