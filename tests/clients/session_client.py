"""A `requests.Session` client for the keep-alive tests: one pooled connection, as real
clients use a server. Prints one JSON summary line on stdout.

    session_client.py many URL N         N GETs of URL on one session
    session_client.py loop URL STOPFILE  GETs of URL until STOPFILE exists; prints "flowing"
                                         once 5 requests succeeded, and
                                         "new body B" for each body not seen before

Failures are recorded, not raised. One kind is retried instead: the connection closed cleanly
before any byte of the response (http.client.RemoteDisconnected), which RFC 9112 §9.3.1 lets a
client retry for an idempotent request — a server closing an idle kept-alive connection can
always cross a request in flight. A reset, a cut response or a bad status is a failure.
"""
import http.client
import json
import os
import sys

import requests


def root_cause(exc):
    while True:
        nxt = exc.__cause__ or exc.__context__
        if nxt is None or nxt is exc:
            return exc
        exc = nxt


def one(session, url, tally):
    for attempt in range(2):
        try:
            r = session.get(url, timeout=15)
        except requests.ConnectionError as e:
            cause = root_cause(e)
            if attempt == 0 and isinstance(cause, http.client.RemoteDisconnected):
                tally["retried"].append(repr(cause))
                continue
            tally["failures"].append(f"{type(cause).__name__}: {cause}")
            return
        except requests.RequestException as e:
            tally["failures"].append(f"{type(e).__name__}: {e}")
            return
        if r.status_code != 200:
            tally["failures"].append(f"status {r.status_code}")
            return
        tally["ok"] += 1
        if r.text not in tally["bodies"] and tally.get("announce"):
            print(f"new body {r.text}", flush=True)
        tally["bodies"].add(r.text)
        tally["connection"].add(r.headers.get("Connection", ""))
        return


def main():
    mode, url = sys.argv[1], sys.argv[2]
    tally = {"ok": 0, "failures": [], "retried": [], "bodies": set(), "connection": set()}
    with requests.Session() as session:
        if mode == "many":
            for _ in range(int(sys.argv[3])):
                one(session, url, tally)
        elif mode == "loop":
            stop, said = sys.argv[3], False
            tally["announce"] = True
            while not os.path.exists(stop):
                one(session, url, tally)
                if not said and tally["ok"] >= 5:
                    print("flowing", flush=True)
                    said = True
        else:
            sys.exit(f"unknown mode {mode}")
    tally.pop("announce", None)
    tally["bodies"] = sorted(tally["bodies"])
    tally["connection"] = sorted(tally["connection"])
    print(json.dumps(tally), flush=True)


if __name__ == "__main__":
    main()
