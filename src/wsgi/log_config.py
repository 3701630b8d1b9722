"""The Python half of `--log-config`, `--log-config-json` and `logconfig_dict` (`log_config.rs`).

Also the Python half of `--logger-class` (`logger_class.rs`), at the end.

`setup` configures the `gunicorn.error` and `gunicorn.access` loggers as Gunicorn's
`glogging.Logger.setup` does (Gunicorn 27, `gunicorn/glogging.py`): its own handlers for
`errorlog`/`accesslog` first, then the user's configuration over `CONFIG_DEFAULTS` (dictConfig)
or with those defaults (fileConfig). `error` and `access` then hand each record to those loggers
with what Gunicorn's records carry, so the user's handlers, levels and formatters apply.
"""
import json
import logging
import logging.config
import os
import sys

# Gunicorn's documented defaults for a logging configuration (glogging.CONFIG_DEFAULTS).
CONFIG_DEFAULTS = {
    "version": 1,
    "disable_existing_loggers": False,
    "root": {"level": "INFO", "handlers": ["console"]},
    "loggers": {
        "gunicorn.error": {
            "level": "INFO",
            "handlers": ["error_console"],
            "propagate": True,
            "qualname": "gunicorn.error",
        },
        "gunicorn.access": {
            "level": "INFO",
            "handlers": ["console"],
            "propagate": True,
            "qualname": "gunicorn.access",
        },
    },
    "handlers": {
        "console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "stream": "ext://sys.stdout",
        },
        "error_console": {
            "class": "logging.StreamHandler",
            "formatter": "generic",
            "stream": "ext://sys.stderr",
        },
    },
    "formatters": {
        "generic": {
            "format": "%(asctime)s [%(process)d] [%(levelname)s] %(message)s",
            "datefmt": "[%Y-%m-%d %H:%M:%S %z]",
            "class": "logging.Formatter",
        }
    },
}

ERROR_FMT = r"%(asctime)s [%(process)d] [%(levelname)s] %(message)s"
DATEFMT = r"[%Y-%m-%d %H:%M:%S %z]"
LEVELS = {
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}


class SafeAtoms(dict):
    """The access record's args, as Gunicorn's: `{name}i`-style keys case-insensitive, any
    unknown atom `-` (so `access_log_format % atoms` never raises)."""

    def __getitem__(self, k):
        if k.startswith("{"):
            k = k.lower()
        if k in self:
            return super().__getitem__(k)
        return "-"


def _handler(logger, output, formatter, stream):
    handler = logging.StreamHandler(stream) if output == "-" else logging.FileHandler(output)
    handler.setFormatter(formatter)
    handler._gunicorn = True
    logger.addHandler(handler)


def setup(errorlog, accesslog, loglevel, logconfig, logconfig_json, logconfig_dict):
    """Configure the loggers; a bad configuration raises RuntimeError with one line."""
    error_log = logging.getLogger("gunicorn.error")
    error_log.propagate = False
    access_log = logging.getLogger("gunicorn.access")
    access_log.propagate = False
    error_log.setLevel(LEVELS.get(loglevel, logging.INFO))
    access_log.setLevel(logging.INFO)
    for log in (error_log, access_log):
        for handler in [h for h in log.handlers if getattr(h, "_gunicorn", False)]:
            log.removeHandler(handler)
    _handler(error_log, errorlog, logging.Formatter(ERROR_FMT, DATEFMT), sys.stderr)
    if accesslog is not None:
        _handler(access_log, accesslog, logging.Formatter("%(message)s"), sys.stdout)
    if logconfig_dict:
        what = "logconfig_dict"
    elif logconfig_json:
        what = "log config JSON '%s'" % logconfig_json
    elif logconfig:
        what = "log config '%s'" % logconfig
        if not os.path.exists(logconfig):
            raise RuntimeError("%s not found" % what)
    else:
        return error_log.getEffectiveLevel()
    try:
        if logconfig_dict:
            config = CONFIG_DEFAULTS.copy()
            config.update(logconfig_dict)
            logging.config.dictConfig(config)
        elif logconfig_json:
            with open(logconfig_json) as f:
                config = CONFIG_DEFAULTS.copy()
                config.update(json.load(f))
            logging.config.dictConfig(config)
        else:
            defaults = CONFIG_DEFAULTS.copy()
            defaults["__file__"] = logconfig
            defaults["here"] = os.path.dirname(logconfig)
            logging.config.fileConfig(logconfig, defaults=defaults, disable_existing_loggers=False)
    except Exception as exc:
        # dictConfig's ValueError names the entry; its cause says what is wrong with it.
        causes = [exc]
        while causes[-1].__cause__ is not None:
            causes.append(causes[-1].__cause__)
        chain = ": ".join("%s: %s" % (type(e).__name__, e) for e in causes)
        raise RuntimeError("%s is invalid: %s" % (what, chain)) from exc
    return error_log.getEffectiveLevel()


_error_log = logging.getLogger("gunicorn.error")
_access_log = logging.getLogger("gunicorn.access")


def error(level, message, traceback):
    """One error record; a traceback rides in `exc_text`, where Formatter.format (and
    python-json-logger's `exc_info` field) put an exception's text."""
    if not _error_log.isEnabledFor(level):
        return
    record = _error_log.makeRecord(_error_log.name, level, "(gunicorn-rs)", 0, message, None, None)
    record.exc_text = traceback
    _error_log.handle(record)


def reopen_files():
    """USR1, as Gunicorn's `Logger.reopen_files`: every logger's file handlers reopen their
    file (after logrotate renamed it)."""
    names = list(logging.root.manager.loggerDict)
    for log in [logging.root] + [logging.getLogger(n) for n in names]:
        for handler in getattr(log, "handlers", []):
            if isinstance(handler, logging.FileHandler):
                handler.acquire()
                try:
                    if handler.stream:
                        handler.close()
                        handler.stream = handler._open()
                finally:
                    handler.release()


def access(access_log_format, atoms):
    """One access record: `access_log_format % atoms`, as Gunicorn's `Logger.access` logs it."""
    _access_log.info(access_log_format, SafeAtoms(atoms))


# --logger-class: a user's class (`logger_class.rs`), usually a subclass of Gunicorn's
# `glogging.Logger`, called as Gunicorn's workers call it.

LEVEL_METHODS = {10: "debug", 20: "info", 30: "warning", 40: "error", 50: "critical"}


def load_logger(path, cfg):
    """Import the class and instantiate it with the `cfg` facade, as Gunicorn's Arbiter does
    (`self.cfg.logger_class(self.cfg)`)."""
    import importlib

    module, _, name = path.rpartition(".")
    try:
        cls = getattr(importlib.import_module(module), name)
    except Exception as exc:
        raise RuntimeError("logger_class %r cannot be imported: %s: %s" % (path, type(exc).__name__, exc)) from exc
    try:
        return cls(cfg)
    except Exception as exc:
        raise RuntimeError("logger_class %r failed to start: %s: %s" % (path, type(exc).__name__, exc)) from exc


def class_reopen(logger):
    logger.reopen_files()


def class_error(logger, level, message):
    getattr(logger, LEVEL_METHODS.get(level, "error"))(message)


class Response:
    """What `Logger.atoms` reads of Gunicorn's `http.wsgi.Response`."""

    def __init__(self, status, headers, sent):
        import http

        try:
            reason = http.HTTPStatus(status).phrase
        except ValueError:
            reason = ""
        self.status = ("%d %s" % (status, reason)).strip()
        self.status_code = status
        self.headers = headers
        self.sent = sent
        self.response_length = sent


class Request:
    """What loggers read of Gunicorn's `http.message.Request`."""

    def __init__(self, method, uri, path, query, version, headers):
        self.method = method
        self.uri = uri
        self.path = path
        self.query = query
        self.version = version
        self.headers = headers


def class_access(logger, request, status, resp_headers, sent, remote_addr, environ_extra, micros):
    """`logger.access(resp, req, environ, request_time)` with the WSGI environ keys Gunicorn's
    `atoms` read (and the `{var}e` ones the access format names); `request` is `(method, uri,
    path, query, version, headers)`."""
    import datetime

    method, uri, path, query, version, req_headers = request

    protocol = "HTTP/%d.%d" % version
    environ = {
        "REQUEST_METHOD": method,
        "RAW_URI": uri,
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "SERVER_PROTOCOL": protocol,
        "REMOTE_ADDR": remote_addr,
    }
    for name, value in req_headers:
        key = name.upper().replace("-", "_")
        if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            key = "HTTP_" + key
        environ[key] = value
    environ.update(environ_extra)
    request = Request(method, uri, path, query, version, req_headers)
    response = Response(status, resp_headers, sent)
    logger.access(response, request, environ, datetime.timedelta(microseconds=micros))
