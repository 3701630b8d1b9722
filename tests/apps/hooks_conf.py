"""A config file defining every server hook (tests/hooks.rs). Each call appends one JSON line
(hook name, pid, the attributes real hooks use) to $HOOKS_LOG. Hooks named in $HOOKS_RAISE
(comma-separated) raise after recording."""
import json
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))

LOG = os.environ["HOOKS_LOG"]
RAISE = set(filter(None, os.environ.get("HOOKS_RAISE", "").split(",")))


def record(hook, **attrs):
    attrs.update(hook=hook, pid=os.getpid())
    with open(LOG, "a") as f:
        f.write(json.dumps(attrs, default=str) + "\n")
    if hook in RAISE:
        raise RuntimeError(f"raised by {hook}")


def server_attrs(server):
    return dict(
        server_pid=server.pid,
        num_workers=server.num_workers,
        workers=sorted(server.WORKERS),
        cfg_workers=server.cfg.workers,
        cfg_bind=server.cfg.bind,
        proc_name=server.cfg.proc_name,
        timeout=server.cfg.timeout,
        app_cfg_workers=server.app.cfg.workers,
    )


def worker_attrs(worker):
    return dict(
        worker_pid=worker.pid,
        ppid=worker.ppid,
        age=worker.age,
        alive=worker.alive,
        booted=worker.booted,
        aborted=worker.aborted,
        nr=worker.nr,
        tmp=worker.tmp,
        cfg_workers=worker.cfg.workers,
    )


def on_starting(server):
    server.stash = "kept"
    server.log.info("on_starting says %s to %s", "hello", server.cfg.proc_name)
    record("on_starting", **server_attrs(server))


def when_ready(server):
    record("when_ready", **server_attrs(server))
    if os.environ.get("HOOKS_WORKERS"):
        server.num_workers = int(os.environ["HOOKS_WORKERS"])


def pre_exec(server):
    record("pre_exec", **server_attrs(server))


def on_reload(server):
    record("on_reload", **server_attrs(server))


def pre_fork(server, worker):
    record("pre_fork", stash=server.stash, **worker_attrs(worker))


def post_fork(server, worker):
    worker.log.warning("post_fork in %(pid)s", {"pid": worker.pid})
    record("post_fork", server_pid=server.pid, stash=server.stash, **worker_attrs(worker))


def post_worker_init(worker):
    record("post_worker_init", wsgi=callable(worker.wsgi), app_wsgi=callable(worker.app.wsgi()), **worker_attrs(worker))


def worker_int(worker):
    record("worker_int", **worker_attrs(worker))


def worker_abort(worker):
    record("worker_abort", **worker_attrs(worker))


def pre_request(worker, req):
    record(
        "pre_request",
        method=req.method,
        uri=req.uri,
        path=req.path,
        query=req.query,
        version=list(req.version),
        headers=[list(h) for h in req.headers],
        scheme=req.scheme,
        nr=worker.nr,
        peer_addr=list(req.peer_addr),
        remote_addr=list(req.remote_addr),
    )


def post_request(worker, req, environ, resp):
    if req.path == "/retire":
        worker.alive = False
    record(
        "post_request",
        path=req.path,
        environ_path=environ.get("PATH_INFO"),
        environ_method=environ.get("REQUEST_METHOD"),
        status=resp.status if resp else None,
        status_code=resp.status_code if resp else None,
        headers=[list(h) for h in resp.headers] if resp else None,
        sent=resp.sent if resp else None,
        response_length=resp.response_length if resp else None,
        nr=worker.nr,
    )


def child_exit(server, worker):
    record("child_exit", **{**server_attrs(server), **worker_attrs(worker)})


def worker_exit(server, worker):
    record("worker_exit", server_pid=server.pid, **worker_attrs(worker))


def nworkers_changed(server, new_value, old_value):
    record("nworkers_changed", new=new_value, old=old_value)


# A hook given as a `module.function` string, as Gunicorn allows.
on_exit = "hooks_helpers.on_exit"
