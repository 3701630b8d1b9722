"""A hook named by a `module.function` string in hooks_conf.py."""
import json
import os


def on_exit(server):
    with open(os.environ["HOOKS_LOG"], "a") as f:
        f.write(json.dumps({"hook": "on_exit", "pid": os.getpid(), "server_pid": server.pid}) + "\n")
