"""The benchmark app, the same for every server: `/` hello world, `/64k` a 64 KiB body."""

HELLO = b"Hello, World!"
BIG = b"x" * 65536


def app(environ, start_response):
    body = BIG if environ["PATH_INFO"] == "/64k" else HELLO
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
