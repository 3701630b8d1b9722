#!/usr/bin/env python3
"""bjoern with pre-forked workers, for benches/keepalive.py.

bjoern itself runs one single-threaded libev loop in one process and has no worker option, so
this launcher gives it the same shape as the other servers of the benchmark: the parent binds
the listening socket once, then forks N workers that each run `bjoern.server_run` on the
inherited socket (the kernel hands each new connection to whichever worker accepts it first).

    python3 benches/bjoern_server.py --bind 127.0.0.1:8000 --workers 2 --chdir benches app:app

SIGTERM or SIGINT to the parent stops the workers; if a worker dies on its own, the parent
stops the others and exits 1, so that a crash is not hidden behind a half-sized server.
"""

import argparse
import importlib
import os
import signal
import sys

import bjoern

STOP_SIGNALS = {signal.SIGTERM, signal.SIGINT}


def load(target):
    module, _, name = target.partition(":")
    return getattr(importlib.import_module(module), name or "application")


def serve(sock, app):
    # The parent's handlers are Python-level: inside bjoern's libev loop they would only run
    # when a request next enters Python, so an idle worker would ignore SIGTERM. The default
    # action (terminate at once) is what a stopped benchmark wants.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    try:
        bjoern.server_run(sock, app)
    finally:
        os._exit(1)  # never fall back into the parent's code in a forked child


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--bind", required=True, help="HOST:PORT")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--chdir", default=".")
    ap.add_argument("target", help="module:callable")
    args = ap.parse_args()

    os.chdir(args.chdir)
    sys.path.insert(0, os.getcwd())
    # Imported once, before forking: a broken app ends the launcher with its traceback as the
    # last line of output (what keepalive.py reports), instead of workers dying one by one.
    app = load(args.target)
    host, _, port = args.bind.rpartition(":")
    sock = bjoern.bind_and_listen(host, int(port))

    workers = set()
    stopping = False

    def stop(signum, _frame):
        nonlocal stopping
        stopping = True
        for pid in workers:
            os.kill(pid, signal.SIGTERM)

    signal.signal(signal.SIGTERM, stop)
    signal.signal(signal.SIGINT, stop)
    # Held back while forking: a stop that lands between fork() and workers.add() would miss
    # that worker. Delivered as soon as the mask is lifted.
    signal.pthread_sigmask(signal.SIG_BLOCK, STOP_SIGNALS)
    for _ in range(args.workers):
        pid = os.fork()
        if pid == 0:
            serve(sock, app)
        workers.add(pid)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, STOP_SIGNALS)
    sock.close()  # the workers hold it; the parent only supervises

    status = 0
    while workers:
        pid, code = os.wait()
        workers.discard(pid)
        if not stopping:
            print("bjoern worker %d exited (wait status %d); stopping" % (pid, code), file=sys.stderr)
            status = 1
            stop(signal.SIGTERM, None)
    sys.exit(status)


if __name__ == "__main__":
    main()
