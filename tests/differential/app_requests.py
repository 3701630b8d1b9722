"""The `requests` side of app_diff.py: what a common client sends (its own Host with the port,
Accept-Encoding, a chunked upload from a generator, multipart files, a Session reusing its
connection) and what it makes of each answer, rendered like app_wire's text."""
import requests

import app_cases
from app_wire import is_json, show_body

SKIP = {"date", "server"}


def render(r):
    lines = [f"  {r.status_code} {r.reason}"]
    for name, value in sorted(r.headers.items(), key=lambda h: h[0].lower()):
        if name.lower() in SKIP or (r.status_code >= 500 and name.lower() in ("content-length", "content-type")):
            continue
        if name.lower() == "content-length" and is_json(r.content):
            value = "<the JSON's>"
        lines.append(f"    {name.lower()}: {value}")
    body = r.content if r.status_code < 500 else (b"<error page>" if r.content else b"")
    lines.append(f"    body: {show_body(body)}")
    return "\n".join(lines)


def pieces():
    yield b"line1\n"
    yield b""
    yield b"line2\nlast"


def session_run(port):
    out = []
    with requests.Session() as s:
        for route in ("/env/s1", "/resp/gen", "/resp/write", "/resp/file", "/resp/204", "/env/s2"):
            out.append(render(s.get(f"http://127.0.0.1:{port}{route}", timeout=5)))
    return "\n".join(out)


def cases():
    def url(port, path):
        return f"http://127.0.0.1:{port}{path}"

    yield "requests: GET params", lambda port: render(requests.get(
        url(port, "/env/r"), params={"q": "a b", "e": "\u00e9"}, headers={"X-Thing": "v"}, timeout=5))
    yield "requests: POST generator (chunked)", lambda port: render(requests.post(
        url(port, "/env/gen"), data=pieces(), timeout=5))
    yield "requests: POST form", lambda port: render(requests.post(
        url(port, "/env/form"), data={"a": "1", "b": "\u00e9"}, timeout=5))
    yield "requests: POST files", lambda port: render(requests.post(
        url(port, "/env/files"), files={"f": ("a.txt", b"content\n")}, timeout=5))
    yield "requests: read lines of a chunked upload", lambda port: render(requests.post(
        url(port, "/read/lines"), data=pieces(), timeout=5))
    yield "requests: session over routes", session_run
    for route in app_cases.wsgi_probe.ROUTES:
        if route in ("/closed", "/slow", "/err/mid", "/err/mid_cl", "/sr/exc_info_after_output", "/resp/cl_long"):
            continue
        yield f"requests: GET {route}", lambda port, route=route: render(requests.get(url(port, route), timeout=5))
