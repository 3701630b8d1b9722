"""A slow upstream for the greenlet workers' tests: a threaded HTTP server on 127.0.0.1 (port
0) that answers every GET after DELAY seconds. Prints "listening PORT" once it accepts.
`GET /stats` answers at once with the most requests it ever had in flight together and how
many it served, so a test can tell concurrency from speed.

    slow_upstream.py DELAY
"""
import json
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

DELAY = float(sys.argv[1])
lock = threading.Lock()
state = {"in_flight": 0, "most": 0, "served": 0}


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_GET(self):
        if self.path == "/stats":
            with lock:
                body = json.dumps(state).encode()
        else:
            with lock:
                state["in_flight"] += 1
                state["most"] = max(state["most"], state["in_flight"])
            try:
                time.sleep(DELAY)
            finally:
                with lock:
                    state["in_flight"] -= 1
                    state["served"] += 1
            body = b"upstream"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class Server(ThreadingHTTPServer):
    daemon_threads = True
    # socketserver's default backlog is 5: 200 clients at once would see dropped SYNs.
    request_queue_size = 1024


server = Server(("127.0.0.1", 0), Handler)
print(f"listening {server.server_address[1]}", flush=True)
server.serve_forever()
