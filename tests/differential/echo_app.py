"""The differential harness's app: answers 200 with what it received, as JSON. The same file
runs behind gunicorn-rs and Gunicorn 27, so any difference in the answers is the servers'."""
import hashlib
import json


def app(environ, start_response):
    body = environ["wsgi.input"].read()
    # Header fields as WSGI hands them over (PEP 3333): HTTP_*, plus the two without the prefix.
    # Sorted: the environ's order is each server's own.
    headers = sorted(
        [k, v]
        for k, v in environ.items()
        if k.startswith("HTTP_") or k in ("CONTENT_TYPE", "CONTENT_LENGTH")
    )
    seen = {
        "method": environ["REQUEST_METHOD"],
        "script_name": environ.get("SCRIPT_NAME", ""),
        "path": environ.get("PATH_INFO", ""),
        "query": environ.get("QUERY_STRING", ""),
        "raw_uri": environ.get("RAW_URI", ""),
        "protocol": environ.get("SERVER_PROTOCOL", ""),
        "scheme": environ.get("wsgi.url_scheme", ""),
        "headers": headers,
        "body_len": len(body),
        "body_sha256": hashlib.sha256(body).hexdigest(),
    }
    out = json.dumps(seen, sort_keys=True).encode()
    start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(out)))])
    return [out]
