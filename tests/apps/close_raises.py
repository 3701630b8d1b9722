"""A WSGI app whose response iterable raises in close() once its body is whole
(tests/frameworks.rs): PEP 3333 has the server call close() after the last byte, so the
error comes when the client already has the whole response.

    /        200, "fine"
    /whole   200 with Content-Length 5, "whole"; then close() raises
"""


class RaisesOnClose:
    def __iter__(self):
        yield b"whole"

    def close(self):
        raise RuntimeError("close() failed after the response was whole")


def app(environ, start_response):
    if environ["PATH_INFO"] == "/whole":
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "5")])
        return RaisesOnClose()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "4")])
    return [b"fine"]
