"""A PasteDeploy app factory for the `--paste` tests (tests/paste.rs): the app answers with
its section's `greeting` and the global configuration's `db`, as the factory was given them,
and logs a line through Python's `logging` (which the ini's own `[loggers]` configure)."""

import logging


def make_app(global_conf, **local_conf):
    body = ("%s db=%s" % (local_conf.get("greeting"), global_conf.get("db"))).encode()
    log = logging.getLogger("paste_app")

    def app(environ, start_response):
        log.warning("paste app answering %s", environ["PATH_INFO"])
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]

    return app
