"""The WSGI half of tests/kind_parity.rs: one route table that parity_asgi.py serves the same
way under `-k asgi`, so one check runs under every kind.

  /          hello
  /echo      reads the whole body (wsgi.input.read()), echoes it
  /noread    answers without reading the body
  /head      always a body: the server drops it for HEAD, 204 and 304 (RFC 9110 §6.4.1)
  /204       204 with a body the app should not have sent
  /big       32 MiB, more than a socket's buffers take at once
  /raise     raises before start_response
  /lengths   two Content-Length fields that differ, 2 and 3
  /cafe      200 with a Latin-1 reason phrase, "Caf\xe9" (PEP 3333: statuses are ISO-8859-1)
"""

BIG = 32 * 1024 * 1024


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/echo":
        body = environ["wsgi.input"].read()
    elif path == "/raise":
        raise RuntimeError("raised by the app")
    elif path == "/lengths":
        start_response("200 OK", [("Content-Length", "2"), ("Content-Length", "3")])
        return [b"ok"]
    elif path == "/cafe":
        start_response("200 Caf\xe9", [("Content-Length", "2")])
        return [b"ok"]
    elif path == "/204":
        start_response("204 No Content", [])
        return [b"not a body"]
    else:
        body = plain_body(path)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]


def plain_body(path):
    """The body of a route that only answers (parity_asgi.py's too)."""
    if path in ("/noread", "/head"):
        return b"ok"
    if path == "/big":
        return b"x" * BIG
    return b"hello"
