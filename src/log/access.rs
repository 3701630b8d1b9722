//! Access-log lines from Gunicorn's atoms.
