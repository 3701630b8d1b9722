"""The Autobahn|Testsuite's server cases against a WebSocket echo server (tests/autobahn.rs),
run by kosoku (PyPI: Autobahn's own case files under a Rust runner, on Python 3). One JSON
summary line on stdout:

    {"cases": N, "verdicts": {"OK/OK": n, ...}, "failed": [...], "not_ok": {case: verdict}}

`failed` holds the cases that did not pass (Autobahn's pass: OK, NON-STRICT or INFORMATIONAL,
for both the messages and the closing handshake), each with what it expected and what it got;
`not_ok` every passing case whose verdict is not a plain OK.

    autobahn_client.py URL CASE...     e.g. ws://127.0.0.1:8000 '1.*' '2.*'
"""
import asyncio
import json
import os
import sys

try:
    import kosoku
except ImportError:
    sys.exit("kosoku is not installed in %s: pip install -r tests/requirements.txt" % sys.prefix)

# Cases at a time: the server has one worker, and six cases spend a second waiting on purpose
# (5.19, 5.20, 6.4.*), so running a few at once keeps the test short.
CONCURRENCY = 4
# The longest excerpt of a case's expected and received events in a failure's details.
EXCERPT = 400


def verdict(result):
    return "%s/%s" % (result.behavior.value, result.behavior_close.value)


def details(result):
    def excerpt(value):
        text = json.dumps(value, default=repr)
        return text if len(text) <= EXCERPT else text[:EXCERPT] + "..."
    return {
        "case": result.case_id,
        "verdict": verdict(result),
        "description": result.description,
        "expectation": result.expectation,
        "result": result.result,
        "result_close": result.result_close,
        "remote_close": [result.remote_close_code, result.remote_close_reason],
        "expected": excerpt(result.expected),
        "received": excerpt(result.received),
    }


async def main(url, cases):
    try:
        results = await kosoku.run_fuzzingclient(url, cases, concurrency=CONCURRENCY)
    except kosoku.FailureError as failure:
        results = failure.results
    verdicts = {}
    for r in results:
        verdicts[verdict(r)] = verdicts.get(verdict(r), 0) + 1
    print(json.dumps({
        "cases": len(results),
        "verdicts": verdicts,
        "failed": [details(r) for r in results if not r.passed],
        "not_ok": {r.case_id: verdict(r) for r in results if r.passed and verdict(r) != "OK/OK"},
    }))


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2:]))
    # kosoku 0.1.0 sometimes aborts (SIGABRT, nothing on stderr) while the interpreter shuts
    # down, after the run and its summary: leave without the shutdown, the summary written.
    sys.stdout.flush()
    os._exit(0)
