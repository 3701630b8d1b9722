"""Formatters a logging configuration names (tests/log_config.rs), as users write them."""
import logging


class AccessFields(logging.Formatter):
    """Reads the access record's args dict, as formatters written for Gunicorn do."""

    def format(self, record):
        a = record.args
        return "fields: %s %s -> %s in %sus ua=%s" % (a["m"], a["U"], a["s"], a["D"], a["{user-agent}i"])
