"""tornado set up to run under gunicorn-rs -k tornado (tornado_bridge.py's `Bridge` calls
these once): its loggers into the worker's error log, and the `Date` text its handlers format
for every response cached for the second it names.
"""

import logging

from tornado import httputil


class _ErrorLog(logging.Handler):
    """tornado's application and general loggers (an uncaught exception with its traceback, a
    malformed message) into the error log, in its format and at their level."""

    def __init__(self, rs):
        super().__init__()
        self.rs = rs

    def emit(self, record):
        try:
            self.rs.log(record.levelno, self.format(record))
        except Exception:
            self.handleError(record)


def log_to(rs):
    """Unless the app set up logging itself (a handler on the root or tornado's loggers)."""
    if logging.getLogger().handlers or logging.getLogger("tornado").handlers:
        return
    handler = _ErrorLog(rs)
    for name in ("tornado.application", "tornado.general"):
        logging.getLogger(name).addHandler(handler)
    # Its access lines for 4xx and 5xx only, as they reach stderr under Gunicorn.
    access = _ErrorLog(rs)
    access.setLevel(logging.WARNING)
    logging.getLogger("tornado.access").addHandler(access)



def cache_dates():
    """tornado's `RequestHandler.clear()` formats a `Date` field for every response
    (`httputil.format_timestamp(time.time())`, through `email.utils.formatdate`), which the
    response layer drops for its own. The text changes once a second: a float timestamp
    within the second cached is answered from the cache, the same string the formatting
    would give. Any other argument, and the last microsecond of a second (which
    `datetime.fromtimestamp` may round up into the next), go to tornado's function."""
    original = httputil.format_timestamp
    if getattr(original, "_gunicorn_rs", False):
        return
    cached = [-1, ""]

    def format_timestamp(ts):
        if type(ts) is float and ts >= 0:
            second = int(ts)
            if second == cached[0] and ts - second < 0.999999:
                return cached[1]
            text = original(ts)
            if ts - second < 0.999999:
                cached[0], cached[1] = second, text
            return text
        return original(ts)

    format_timestamp._gunicorn_rs = True
    format_timestamp.__doc__ = original.__doc__
    httputil.format_timestamp = format_timestamp
