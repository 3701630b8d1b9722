"""Logger classes as Gunicorn users write them (tests/logger_class.rs): subclasses of Gunicorn's
own `gunicorn.glogging.Logger`, whose `setup()` reads the `cfg` it is given."""
import json

from gunicorn.glogging import Logger


class JsonAccessLogger(Logger):
    """`access()` overridden: one JSON object per request from resp, req, environ and
    request_time, plus Gunicorn's own line from `atoms()`."""

    def access(self, resp, req, environ, request_time):
        atoms = self.atoms(resp, req, environ, request_time)
        self.access_log.info(json.dumps({
            "status": resp.status,
            "method": req.method,
            "path": environ["PATH_INFO"],
            "query": environ["QUERY_STRING"],
            "user_agent": environ.get("HTTP_USER_AGENT"),
            "request_header": dict(req.headers).get("X-TRACE"),
            "micros": atoms["D"],
            "seconds": request_time.total_seconds(),
            "line": self.cfg.access_log_format % self.atoms_wrapper_class(atoms),
        }))


class TaggedLogger(Logger):
    """The level methods overridden: every error-log record tagged."""

    def info(self, msg, *args, **kwargs):
        super().info("[tagged] " + msg, *args, **kwargs)

    def error(self, msg, *args, **kwargs):
        super().error("[tagged] " + msg, *args, **kwargs)
