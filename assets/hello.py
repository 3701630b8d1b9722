"""The example app of the README: `cargo run --release -- --chdir assets hello:app`."""

import os


def app(environ, start_response):
    body = b"Hello from gunicorn-rs worker %d\n" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
