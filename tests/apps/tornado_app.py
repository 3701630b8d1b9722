"""A tornado.web.Application for the `-k tornado` tests (tests/tornado.rs): what a tornado
app uses of its server, each on its own path.

  /request                 JSON of what tornado's HTTPServerRequest holds (method, uri,
                           version, path, query, arguments, host, remote_ip, protocol,
                           headers, the body's length)
  /form        (POST)      the form field `a` and the body's length
  /upload      (PUT)       a @stream_request_body handler: the sha256 of what `data_received` got
  /events?n=&delay=        server-sent events, one `RequestHandler.flush` each
  /raise                   raises before writing: tornado's 500 and its traceback
  /hold?id=                marks `hold-ID`, then waits (yielding) until the file `release` exists
  /block?s=                time.sleep(s) on the loop, in block_the_loop()
  /closed                  waits for `on_connection_close`; marks `closed` when it comes
  /ws                      WebSocketHandler: echoes text as text, bytes as bytes
  /pid                     the worker's pid (which worker a connection landed on)
"""
import asyncio
import hashlib
import os
import time

import tornado.web
import tornado.websocket

from markers import MARKER_DIR, mark

PID = os.getpid()


class Request(tornado.web.RequestHandler):
    def describe(self):
        r = self.request
        self.write({
            "method": r.method, "uri": r.uri, "version": r.version, "path": r.path,
            "query": r.query, "arguments": {k: [v.decode() for v in vs]
                                            for k, vs in r.arguments.items()},
            "host": r.host, "remote_ip": r.remote_ip, "protocol": r.protocol,
            "headers": list(r.headers.get_all()), "body_len": len(r.body), "pid": PID,
        })

    get = post = put = delete = patch = describe


class Pid(tornado.web.RequestHandler):
    def get(self):
        self.write(str(PID))


class Form(tornado.web.RequestHandler):
    def post(self):
        self.write({"a": self.get_body_argument("a", None), "body_len": len(self.request.body)})


@tornado.web.stream_request_body
class Upload(tornado.web.RequestHandler):
    def prepare(self):
        self.digest = hashlib.sha256()
        self.chunks = 0

    def data_received(self, chunk):
        self.digest.update(chunk)
        self.chunks += 1

    def put(self):
        self.write({"sha256": self.digest.hexdigest(), "chunks": self.chunks})


class Events(tornado.web.RequestHandler):
    async def get(self):
        self.set_header("Content-Type", "text/event-stream")
        n, delay = int(self.get_argument("n", "5")), float(self.get_argument("delay", "0.3"))
        for i in range(n):
            self.write("data: %d\n\n" % i)
            await self.flush()
            await asyncio.sleep(delay)


class Raise(tornado.web.RequestHandler):
    def get(self):
        raise RuntimeError("boom in a tornado handler")


class Hold(tornado.web.RequestHandler):
    async def get(self):
        name = self.get_argument("id", "x")
        mark(f"hold-{name}", str(PID))
        await wait_for_release()
        self.write(f"held {name}")


async def wait_for_release():
    release = os.path.join(MARKER_DIR, "release")
    deadline = time.monotonic() + 60
    while not os.path.exists(release) and time.monotonic() < deadline:
        await asyncio.sleep(0.02)


def block_the_loop(seconds):
    # A synchronous wait inside a handler: nothing else on this loop runs meanwhile.
    time.sleep(seconds)


class Block(tornado.web.RequestHandler):
    def get(self):
        mark(f"blocking-{PID}")
        block_the_loop(float(self.get_argument("s", "10")))
        self.write("unblocked")


class Closed(tornado.web.RequestHandler):
    async def get(self):
        self.gone = asyncio.get_running_loop().create_future()
        mark("waiting-for-close", str(PID))
        await asyncio.wait_for(self.gone, 30)

    def on_connection_close(self):
        mark("closed", str(PID))
        if not self.gone.done():
            self.gone.set_result(None)


class Echo(tornado.websocket.WebSocketHandler):
    def on_message(self, message):
        self.write_message(message, binary=isinstance(message, bytes))


app = tornado.web.Application([
    (r"/request", Request), (r"/form", Form), (r"/upload", Upload), (r"/events", Events),
    (r"/raise", Raise), (r"/hold", Hold), (r"/block", Block), (r"/closed", Closed),
    (r"/ws", Echo), (r"/pid", Pid),
])
