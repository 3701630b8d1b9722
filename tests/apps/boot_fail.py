"""An app whose import fails: the server must exit (Gunicorn's code 4), not respawn forever."""
raise RuntimeError("boot_fail: this app fails at import on purpose")


def app(environ, start_response):  # never reached
    start_response("200 OK", [])
    return [b""]
