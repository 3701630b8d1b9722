"""hello.py's routes as a tornado.web.Application, so the connection checks written for the
WSGI kinds (tests/keepalive.rs, tests/graceful_keepalive.rs, tests/slowloris.rs) run unchanged
under `-k tornado` (tests/tornado.rs). Same paths, same answers; waits are `await
asyncio.sleep`, streamed bodies go out with `RequestHandler.flush`.

    /  /pid  /peer (client port and pid)  /echo  /sleep?s=  /stream?n=&size= (no length)
    /nolength  /head  /mark?name=  /lane?s=&id=  /overlong  /short-body
    /fault/raise-after-start?chunked=
"""
import asyncio
import os

import tornado.web

from markers import mark

PID = os.getpid()


class Routes(tornado.web.RequestHandler):
    def text(self, body, status=200):
        self.set_status(status)
        self.set_header("Content-Type", "text/plain")
        self.finish(body)

    async def get(self):
        route = getattr(self, "route_" + self.request.path.strip("/").replace("/", "_")
                        .replace("-", "_"), None)
        if self.request.path == "/":
            return self.text("Hello, World!\n")
        if route is None:
            return self.text("not found\n", status=404)
        await route()

    post = put = head = get

    async def route_pid(self):
        self.text(str(PID))

    async def route_peer(self):
        self.text("%s %s" % (self.request.connection.context.address[1], PID))

    async def route_echo(self):
        self.text(self.request.body)

    async def route_sleep(self):
        seconds = float(self.get_argument("s", "1"))
        mark(f"sleeping-{PID}", str(seconds))
        await asyncio.sleep(seconds)
        self.text(f"slept {seconds}")

    async def route_stream(self):
        n, size = int(self.get_argument("n", "10")), int(self.get_argument("size", "1024"))
        self.set_header("Content-Type", "application/octet-stream")
        for _ in range(n):
            self.write(b"x" * size)
            await self.flush()
        self.finish()

    async def route_nolength(self):
        self.set_header("Content-Type", "text/plain")
        for part in (b"part1", b"", b"part2"):
            self.write(part)
            await self.flush()
        self.finish()

    async def route_head(self):
        self.text("a body HEAD must not send\n")

    async def route_mark(self):
        name = self.get_argument("name", "mark")
        mark(f"mark-{name}", str(PID))
        self.text(f"marked {name}")

    async def route_lane(self):
        name = self.get_argument("id", "x")
        mark(f"lane-start-{name}", str(PID))
        ended = "ok"
        try:
            await asyncio.sleep(float(self.get_argument("s", "1")))
        except BaseException as e:  # noqa: BLE001 - the interrupt's type is what the test reads
            ended = type(e).__name__
            raise
        finally:
            mark(f"lane-end-{name}", ended)
        self.text(f"lane {name} done")

    async def fixed_length(self, declared, parts):
        """A response whose body differs from the Content-Length it declared."""
        self.set_header("Content-Type", "text/plain")
        self.set_header("Content-Length", declared)
        for part in parts:
            self.write(part)
            await self.flush()
        self.finish()

    async def route_overlong(self):
        await self.fixed_length("4", [b"abcd", b"HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nSMUGGLED"])

    async def route_short_body(self):
        await self.fixed_length("100", [b"12345678"])

    async def route_fault_raise_after_start(self):
        self.set_header("Content-Type", "text/plain")
        if self.get_argument("chunked", None) != "1":
            self.set_header("Content-Length", "100")
        self.write(b"12345678")
        await self.flush()
        raise RuntimeError("boom after the headers were sent")


app = tornado.web.Application([(r"/.*", Routes)])
