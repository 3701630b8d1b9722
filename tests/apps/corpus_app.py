"""Answers every request of the request corpus (tests/requests/) with what the server handed
the app: method, raw request-target and the length of the body it read in full. Any path is a
200, so a valid fixture that does not get one was refused by the server, not by the app."""
import json


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    seen = {
        "method": environ["REQUEST_METHOD"],
        "uri": environ.get("RAW_URI", ""),
        "body_len": len(body),
    }
    out = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
