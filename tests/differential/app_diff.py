#!/usr/bin/env python3
"""App-level differential run: tests/apps/wsgi_probe.py behind gunicorn-rs and Gunicorn 27
with the same worker kind, the same requests sent to both (raw bytes: HTTP/1.0 and 1.1,
keep-alive, pipelining, chunked uploads with and without trailers, Expect: 100-continue,
HEAD on every route; then the same through `requests`), and every difference in what the
app saw or the client got printed, after what legitimately differs is normalized (Date,
Server, ports, the error page's text).

    app_diff.py --rs target/release/gunicorn-rs --gunicorn /work/main/.venv/bin/gunicorn \
        --kinds sync,gthread,gevent,eventlet,tornado

Gunicorn 27 has no eventlet worker (removed in 26.0): gunicorn-rs's `-k eventlet` is compared
with Gunicorn's `-k gevent`, the other greenlet kind. Differences that are deliberate are
listed in KNOWN (with the reason) and reported apart; the exit status is 1 if any other is left.
"""
import argparse
import difflib
import os
import re
import signal
import sys
import threading
from pathlib import Path

import app_requests
from app_cases import raw_cases
from app_known import rewrite_known
from app_wire import closed_count, exchange, render
from differential import ServerProc

HERE = Path(__file__).resolve().parent
APPS = HERE.parent / "apps"
KIND_ARGS = {"gthread": ["--threads", "4"]}
GUNICORN_KIND = {"eventlet": "gevent"}


def start(opts, kind, env):
    common = ["-b", "127.0.0.1:0", "-w", "1", "--keep-alive", "2", "--chdir", str(APPS)]
    rs = [opts.rs, "-k", kind] + KIND_ARGS.get(kind, []) + common + [opts.app]
    gkind = GUNICORN_KIND.get(kind, kind)
    gu = [opts.gunicorn, "-k", gkind] + KIND_ARGS.get(gkind, []) + common + [opts.app]
    return ServerProc("gunicorn-rs", rs, env), ServerProc("gunicorn", gu, env)


def normalize(text, port):
    # requests' multipart boundary is random (32 hex digits).
    return re.sub(r"[0-9a-f]{32}", "<boundary>", text.replace(str(port), "<port>"))


def compare(name, run, servers):
    """Run `run(port)` on both servers at once: (name, rs text, gunicorn text)."""
    results = [None, None]

    def one(i):
        try:
            results[i] = normalize(run(servers[i].port), servers[i].port)
        except Exception as err:  # the client's own failure is an answer to compare too
            results[i] = f"client error: {type(err).__name__}: {err}"

    threads = [threading.Thread(target=one, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return name, results[0], results[1]


def run_raw(port, steps):
    # The count is asked before too: a close() an earlier case's server made late (after its
    # client gave up) is not this case's.
    closed_count(port)
    return render(exchange(port, steps)) + closed_count(port)


def cases():
    """(name, run(port) -> text): the raw exchanges, then the `requests` ones."""
    for name, steps in raw_cases():
        yield name, lambda port, steps=steps: run_raw(port, steps)
    for name, run in app_requests.cases():
        yield name, run


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rs", required=True, help="the gunicorn-rs binary")
    parser.add_argument("--gunicorn", required=True, help="Gunicorn 27's gunicorn script")
    parser.add_argument("--kinds", default="sync,gthread,gevent,eventlet,tornado")
    parser.add_argument("--app", default="wsgi_probe:app")
    parser.add_argument("--only", default="", help="run only cases whose name contains this")
    parser.add_argument("--all", action="store_true", help="also print the KNOWN differences")
    parser.add_argument("--verbose", action="store_true", help="print every exchange, equal or not")
    opts = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))

    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PORT")}
    venv_bin = str(Path(opts.gunicorn).resolve().parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(Path(venv_bin).parent)
    unexplained, listed, total = 0, {}, 0
    for kind in opts.kinds.split(","):
        servers = start(opts, kind, env)
        try:
            for name, run in cases():
                if opts.only not in name:
                    continue
                total += 1
                _, rs, gu = compare(name, run, servers)
                if opts.verbose and rs == gu:
                    print(f"=== [{kind}] {name} (the same)\n{rs}\n")
                if rs == gu:
                    continue
                # What is known to differ is rewritten first, so only the rest is shown.
                rs, gu, used = rewrite_known(kind, name, rs, gu)
                if rs == gu:
                    for why in used:
                        listed[why] = listed.get(why, 0) + 1
                    if not opts.all:
                        continue
                else:
                    unexplained += 1
                print(f"=== [{kind}] {name}" + "".join(f"\n    (known: {why})" for why in used))
                lines = difflib.unified_diff(gu.splitlines(), rs.splitlines(), "gunicorn", "gunicorn-rs", n=20, lineterm="")
                print("\n".join(list(lines)[2:]) + "\n")
        finally:
            for server in servers:
                server.stop()
    print(f"compared {total} exchanges: {unexplained} unexplained differences")
    for why, n in sorted(listed.items()):
        print(f"  {n:4d}  known: {why}")
    sys.exit(1 if unexplained else 0)


if __name__ == "__main__":
    main()
