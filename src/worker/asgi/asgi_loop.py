"""The event-loop half of gunicorn-rs's asgi worker (src/worker/asgi/).

The Rust side owns the sockets and HTTP: it accepts, reads, parses heads and bodies, frames
and writes responses (a `Wire` per connection). This side owns the waiting: the loop watches
the descriptors (`add_reader`/`add_writer`) and runs the app's coroutines; `receive` and
`send` (ASGI 3.0) turn into calls on the connection's wire. Here the worker (accepting,
lifespan, the stop); each connection is asgi_conn.py's `Conn`.
"""

import asyncio
import time
import traceback

from _gunicorn_rs_asgi_conn import APP, HEAD, IDLE, TASK_NAME, Conn, _settle

# A stopping worker waits this long for the first byte of a connection that has sent nothing,
# and looks for such connections past their time this often while it drains.
SILENT_GRACE = 1.0
EXPIRE_EVERY = 0.25
# The shortest wait between looks for connections past their deadlines: many connections
# with deadlines close together are closed in batches, not a wake-up each.
MIN_WAIT = 0.05


class Worker:
    def __init__(self, rs, app, opts):
        self.rs = rs
        self.app = app
        self.loop = asyncio.get_event_loop()
        # How asgi_conn.py's `Conn` makes a connection's task.
        self.task_options = {"loop": self.loop, "name": TASK_NAME}
        self.lifespan = opts["lifespan"]
        self.header_timeout = opts["header_timeout"]
        self.keepalive = opts["keepalive"]
        self.max_conns = opts["worker_connections"]
        self.disconnect_grace = opts["disconnect_grace"]
        # The tornado kind: `serve(conn, request)` answers each request (tornado_bridge.py)
        # instead of an ASGI app.
        self.serve = opts.get("serve")
        self.state = {}
        self.conns = set()
        self.accepting = False
        self.woken = None
        # While draining: settled when the last connection has closed.
        self.emptied = None
        self.lifespan_task = None

    # -- start, wait, stop: called by the Rust side with run_until_complete -----------------

    async def start(self):
        """Lifespan startup, then accept. Returns an error line, or None."""
        if self.lifespan != "off":
            failed = await self._lifespan_startup()
            if failed:
                return failed
        self._accept_on()
        self.loop.add_reader(self.rs.wake_fd, self._wake)
        return None

    async def wait(self, timeout):
        """Until a signal pokes the wake pipe, `timeout` seconds, or the soonest deadline of an
        idle or silent connection; expires idle connections."""
        # Without the deadlines, an idle connection outlived --keep-alive by up to a tick.
        now = time.monotonic()
        soonest = min((c.deadline for c in self.conns if c.state in (HEAD, IDLE)),
                      default=now + timeout)
        timeout = min(timeout, max(MIN_WAIT, soonest - now))
        self.woken = self.loop.create_future()
        try:
            await asyncio.wait_for(asyncio.shield(self.woken), timeout)
        except asyncio.TimeoutError:
            pass
        self._expire(time.monotonic())

    async def drain(self, graceful_timeout):
        """The graceful stop: no more accepting, idle connections closed, requests in flight
        given `graceful_timeout`, then lifespan shutdown."""
        self._accept_off()
        now = time.monotonic()
        for conn in list(self.conns):
            if conn.state not in (IDLE, HEAD) or conn.wire.has_bytes():
                continue
            if conn.wire.bytes_waiting():
                # A request crossed the stop: it is read on the loop's next turn and
                # answered, with `Connection: close` (the thread kinds' rule too).
                continue
            if conn.state == HEAD:
                # Connected and silent so far: a request just behind its connect gets a
                # moment, not the whole header timeout (dispatch/stop.rs's SILENT_GRACE).
                conn.deadline = min(conn.deadline, now + SILENT_GRACE)
            else:
                conn.close()
        if self.conns:
            # Woken by `closed` when the last connection goes, or at the timeout; the silent
            # ones are closed at their deadlines meanwhile.
            self.emptied = self.loop.create_future()
            self.loop.call_later(EXPIRE_EVERY, self._expire_while_draining)
            try:
                await asyncio.wait_for(self.emptied, graceful_timeout)
            except asyncio.TimeoutError:
                pass
            finally:
                self.emptied = None
        stragglers = sum(1 for conn in self.conns if conn.state == APP)
        for conn in list(self.conns):
            if conn.websocket and conn.state == APP:
                # A session still open at the deadline ends with RFC 6455's closing
                # handshake begun (1001, going away), not a bare close the client reads as
                # an abnormal closure (1006).
                conn.wire.ws_going_away()
            conn._end()
        # A turn of the loop for the tasks of the connections just ended to return.
        await asyncio.sleep(0)
        if self.lifespan_task is not None:
            await self._lifespan_shutdown()
        return stragglers

    def stacks(self, limit=100):
        """The stack of every task serving a request, in faulthandler's layout, each headed
        by the task's identity (the number its scoreboard entry carries) and its request."""
        out = []
        handlers = self._handler_tasks() if self.serve is not None else {}
        for conn in list(self.conns):
            task = conn.requests.task
            if conn.state != APP or task is None or task.done():
                continue
            scope = conn.scope or {}
            out.append("Task 0x%016x (most recent call first):" % id(task))
            # tornado runs each handler in a task of its own: its stack is the request's.
            task = handlers.get(conn, task)
            query = scope.get("query_string", b"").decode("latin-1")
            target = scope.get("path", "") + ("?" + query if query else "")
            if not conn.wire.shown():
                # Beyond the scoreboard's entries: the request is named here.
                out.append("  » %s %s (%.1f s)" % (scope.get("method", "WEBSOCKET"), target,
                                                    conn.wire.elapsed()))
            frames, coro = [], task.get_coro()
            while coro is not None and len(frames) < limit:
                frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
                if frame is not None:
                    frames.append(frame)
                coro = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
            for frame in reversed(frames):
                code = frame.f_code
                out.append('  File "%s", line %s in %s'
                           % (code.co_filename, frame.f_lineno, code.co_name))
            out.append("")
        return "\n".join(out)

    def _handler_tasks(self):
        """The task running each connection's tornado handler (`RequestHandler._execute`),
        found by the handler its coroutine runs; only when a dump asks."""
        found = {}
        for task in asyncio.all_tasks(self.loop):
            frame = getattr(task.get_coro(), "cr_frame", None)
            handler = frame.f_locals.get("self") if frame is not None else None
            request = getattr(handler, "request", None)
            conn = getattr(getattr(request, "connection", None), "conn", None)
            if conn is not None:
                found[conn] = task
        return found

    # -- accepting ---------------------------------------------------------------------------

    def _accept_on(self):
        if not self.accepting:
            self.accepting = True
            for fd in self.rs.listener_fds:
                self.loop.add_reader(fd, self._accept, fd)

    def _accept_off(self):
        if self.accepting:
            self.accepting = False
            for fd in self.rs.listener_fds:
                self.loop.remove_reader(fd)

    def _accept(self, fd):
        while len(self.conns) < self.max_conns:
            if self.rs.accept_later():
                # A sibling holds fewer connections: its loop was woken too and takes this
                # one. The listener stays watched, so if it does not, the next turn looks
                # again (and takes it after a moment: balance.rs).
                return
            wire = self.rs.accept(fd)
            if wire is None:
                return
            conn = Conn(self, wire)
            self.conns.add(conn)
            conn.read()
        # --worker-connections reached: new clients wait in the backlog.
        self._accept_off()

    def closed(self, conn):
        self.conns.discard(conn)
        if not self.conns:
            _settle(self.emptied)
        if not self.rs.stopping and len(self.conns) < self.max_conns:
            self._accept_on()

    def _wake(self):
        self.rs.drain_wake()
        _settle(self.woken)

    def _expire_while_draining(self):
        self._expire(time.monotonic())
        if self.emptied is not None:
            self.loop.call_later(EXPIRE_EVERY, self._expire_while_draining)

    def _expire(self, now):
        for conn in list(self.conns):
            if conn.state in (HEAD, IDLE) and conn.deadline <= now:
                conn.close()

    # -- lifespan (ASGI lifespan protocol) -----------------------------------------------------

    async def _lifespan_startup(self):
        self.lifespan_in = asyncio.Queue()
        self.lifespan_out = asyncio.Queue()
        scope = {"type": "lifespan", "asgi": {"version": "3.0", "spec_version": "2.0"},
                 "state": self.state}
        self.lifespan_task = self.loop.create_task(self._lifespan_run(scope))
        await self.lifespan_in.put({"type": "lifespan.startup"})
        message = await self.lifespan_out.get()
        kind = message.get("type")
        if kind == "lifespan.startup.complete":
            return None
        if kind == "lifespan.unsupported" and self.lifespan == "auto":
            self.lifespan_task = None
            return None
        if kind == "lifespan.unsupported":
            return "ASGI lifespan is required (--asgi-lifespan on) but the app does not support it"
        return "Application startup failed: %s" % (message.get("message") or message.get("error", ""))

    async def _lifespan_run(self, scope):
        try:
            await self.app(scope, self.lifespan_in.get, self._lifespan_send)
        except BaseException:
            text = traceback.format_exc()
            if self.lifespan == "on":
                await self.lifespan_out.put({"type": "lifespan.startup.failed", "error": text})
            else:
                # auto: an app that raises on the lifespan scope runs without it.
                self.rs.log_debug("ASGI lifespan not supported by the app:\n" + text)
                await self.lifespan_out.put({"type": "lifespan.unsupported"})
        else:
            await self.lifespan_out.put({"type": "lifespan.unsupported"})

    async def _lifespan_send(self, message):
        await self.lifespan_out.put(message)

    async def _lifespan_shutdown(self):
        await self.lifespan_in.put({"type": "lifespan.shutdown"})
        message = await self.lifespan_out.get()
        if message.get("type") == "lifespan.shutdown.failed":
            self.rs.log_error("Application shutdown failed: %s" % message.get("message", ""))
