# An example config file: the same names as Gunicorn's, read by gunicorn-rs unchanged.
# Use it with `gunicorn-rs -c assets/gunicorn.conf.py --chdir assets hello:app`.
import multiprocessing

bind = ["127.0.0.1:8000"]
workers = min(4, multiprocessing.cpu_count())
timeout = 30
graceful_timeout = 30
accesslog = "-"
loglevel = "info"
