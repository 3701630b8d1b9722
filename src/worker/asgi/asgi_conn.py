"""A client connection of gunicorn-rs's asgi worker, on the event-loop side (asgi_loop.py's
`Worker` makes one per accepted socket): its states from head to linger, the app's task with
ASGI 3.0's `receive` and `send` turned into calls on the connection's Rust `Wire`, the
backpressure of a slow client, the lingering close.
"""

import asyncio
import time
import traceback

from _gunicorn_rs_asgi_base import (  # noqa: F401 (asgi_loop imports some from here)
    APP, CLOSED, FINISH_BODY_LEFT, FINISH_PERSIST, FINISH_UNSENT, HEAD, IDLE, LINGER,
    LINGER_BYTES, LINGER_SECONDS, READ_AHEAD, _settle)

# The name of every connection's task (`Task.get_name`): one string, not one formatted per
# task.
TASK_NAME = "gunicorn-rs connection"


class Conn:
    """One client connection: its wire (Rust), what it waits for, the app task."""

    __slots__ = ("worker", "wire", "loop", "fd", "state", "deadline", "receiving", "draining",
                 "disconnected", "reading", "writing", "lingered", "requests",
                 "eof_seen", "websocket", "scope", "on_lost", "http_receive",
                 "http_send", "on_readable")

    def __init__(self, worker, wire):
        self.worker = worker
        self.wire = wire
        self.loop = worker.loop
        self.fd = wire.fd
        self.state = HEAD
        self.deadline = time.monotonic() + worker.header_timeout
        self.receiving = None
        self.draining = None
        self.disconnected = False
        self.reading = False
        self.writing = False
        self.lingered = 0
        self.eof_seen = False
        self.websocket = False
        self.scope = None
        # Called once if the client goes while its request is served (tornado's
        # `set_close_callback`).
        self.on_lost = None
        # What an `http` app is given: one pair per connection (`_end` lets them go). `send`
        # is the wire's (http_send.rs): the message framed and written in one call, the app
        # awaiting a done awaitable, or `_drain` when the client is slow.
        self.http_receive = self.receive
        self.http_send = wire.http_send(self)
        # The reader callback of a WebSocket session (readable.rs): a message for an app
        # waiting in `receive` is handed over in Rust, anything else comes to `read`. Only
        # sessions use it: for HTTP it would be a layer more in front of `read`.
        self.on_readable = wire.on_readable(self)
        # The coroutine of the connection's task (requests.rs): one task serves the
        # connection's requests in turn, each `_run` in a context of its own.
        self.requests = wire.requests(self._run, worker.task_options)

    def _watch_read(self, on):
        # A closed connection's number may already be another's, a detached one's is the
        # app's (fd -1): never watch it again.
        on = on and self.state not in (LINGER, CLOSED) and self.fd >= 0
        if on != self.reading:
            self.reading = on
            if on:
                self.loop.add_reader(self.fd, self.on_readable if self.websocket else self.read)
            else:
                self.loop.remove_reader(self.fd)

    def _watch_write(self, on):
        # Kept apart from _watch_read (not one function taking the loop's methods): both
        # run for every request, and this way neither builds a bound method it does not use.
        on = on and self.state not in (LINGER, CLOSED) and self.fd >= 0
        if on != self.writing:
            self.writing = on
            if on:
                self.loop.add_writer(self.fd, self._writable)
            else:
                self.loop.remove_writer(self.fd)

    def read(self):
        """The socket is readable (or may be): take what it has, then act on it. Between
        requests that is the next head, which the wire reads itself (one read, no peek
        first); once it is whole, the connection's task serves the request."""
        if self.state == APP:
            self._read_for_app()
            return
        # The head, and the connection's task told to serve it (made at the connection's
        # first request; requests.rs). The request starts at the task's next step, after
        # what follows here.
        task = self.wire.start_request(self.worker.state, self.requests)
        if task is None or task is False:
            self._no_head(task)
            return
        self.state = APP
        # The socket stays watched while the app runs: body bytes are read ahead, and a
        # client that leaves is noticed (http.disconnect) even when the app is not reading.
        if not self.reading:
            self._watch_read(True)

    def _read_for_app(self):
        """Readable while the app serves a request: body bytes read ahead, a WebSocket
        message (while the app waits in `receive` the reader callback hands that over itself,
        readable.rs), or the client's end."""
        got = self.wire.fill()
        if got == 0:
            self._eof()
        elif self.receiving is not None:
            _settle(self.receiving)
        elif self.wire.unread() > READ_AHEAD:
            # The app is not reading: stop taking its bytes (backpressure) until it does.
            self._watch_read(False)

    def _eof(self):
        if self.state != APP:
            self.close(linger=False)
            return
        self._watch_read(False)
        if self.wire.wants_body() or self.receiving is not None or self.websocket:
            # The body cannot complete, or the app is listening for the client's leaving
            # (WebSocket ends with close frames, never a half-close): the client is gone.
            self._lost()
        else:
            # Half-closed (its requests sent, its responses still wanted) or gone: a write
            # will tell. Either way the connection carries nothing after what is buffered.
            self.eof_seen = True
            # tornado's apps learn of it (`on_connection_close`, as tornado's own server
            # takes an EOF), and may still answer.
            self._tell_lost()

    def _lost(self):
        """The client is gone: `http.disconnect` for the app, and after
        --asgi-disconnect-grace-period its task is cancelled."""
        # Whoever waits for the socket now learns the client is gone, also when that was
        # already known: a wait begun after the first EOF (the drain of an unread body) is
        # woken only by this second one, and would otherwise hold the request open.
        _settle(self.receiving)
        if self.disconnected:
            return
        self.disconnected = True
        self._tell_lost()
        task = self.requests.task
        if task is not None:
            self.loop.call_later(self.worker.disconnect_grace, self._give_up, task)

    def _tell_lost(self):
        if self.on_lost is not None:
            on_lost, self.on_lost = self.on_lost, None
            on_lost()

    def _give_up(self, task):
        # Only while a request runs: the connection's task outlives it.
        if task is self.requests.task and self.state == APP and not task.done():
            task.cancel()

    def _no_head(self, scope):
        """`Wire.head` gave no scope: the head is not whole yet
        (None), or the connection is to close (False)."""
        if scope is False:
            self.close()
            return
        if self.state == IDLE and self.wire.has_bytes():
            # The first byte of the next request came: now the head has its own bound.
            self.state = HEAD
            self.deadline = time.monotonic() + self.worker.header_timeout
        self._watch_read(True)

    async def _run(self, scope):
        """Serve one request (`Requests` runs one after another in the connection's task)."""
        self.scope = scope
        websocket = self.websocket = scope["type"] == "websocket"
        if websocket and self.reading:
            # The session's reader callback in place of `read` (the loop replaces it).
            self.loop.add_reader(self.fd, self.on_readable)
        try:
            if self.worker.serve is not None:
                await self.worker.serve(self, scope)
            elif websocket:
                await self.worker.app(scope, *self.wire.ws_calls(self))
            else:
                # Made once per connection, not a pair of bound methods per request.
                await self.worker.app(scope, self.http_receive, self.http_send)
        except BaseException as exc:
            self._failed(exc, scope)
        else:
            if not (websocket or self.wire.response_complete):
                self._returned(scope)
        self.on_lost = None
        if self.state == CLOSED:
            return
        if websocket:
            # The app returned: close the session (a 403 if it never accepted).
            self.wire.ws_close(1000, "")
        ended = self.wire.finish(False)
        if ended == FINISH_PERSIST and not (self.disconnected or self.eof_seen):
            # The usual end: kept alive, nothing pipelined, the socket still watched
            # (`_keep_alive`'s last branch, without its calls).
            self.state = IDLE
            self.deadline = time.monotonic() + self.worker.keepalive
            if not self.reading:
                self._watch_read(True)
            return
        if ended & FINISH_BODY_LEFT:
            if not self.disconnected:
                await self._discard_body()
            ended = self.wire.finish(True)
        if ended & FINISH_UNSENT:
            try:
                await self._drain()
            except OSError:
                # The client left with the response unsent: `_keep_alive` closes.
                pass
            if self.state == CLOSED:
                return
            if self.worker.rs.stopping:
                # The stop began while the client took the response (`finish` said
                # whether to persist before it).
                ended = 0
        self._keep_alive(ended)

    def _failed(self, exc, scope):
        """The app raised `exc`: its error (the response cut, or a 500), unless the client's
        leaving is what it raised."""
        if self.disconnected and isinstance(exc, (OSError, asyncio.CancelledError)):
            # The client left and `send` said so (ASGI): not the app's fault.
            self.worker.rs.log_debug("Client disconnected during %s" % scope["path"])
            self.wire.fail(None)
        else:
            # Named as every kind names it (METHOD URI, Gunicorn 27's words).
            self.wire.fail("Error handling request %s\n%s"
                           % (self.wire.request_line or scope["path"], traceback.format_exc()))
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise exc

    def _returned(self, scope):
        """The app returned with its response not whole: if the client is still there, it
        failed (a 500 when nothing went out, as uvicorn and Gunicorn answer; else the
        response is cut)."""
        if self.disconnected or self.worker.serve is not None or self.state == CLOSED:
            return
        self.wire.fail("ASGI callable returned without completing the response: %s"
                       % scope["path"])

    def _keep_alive(self, ended):
        """After a response (`ended`: `Wire.finish`'s flags): the close, or the wait for the
        next request (read now when it is here already: the task serves it next)."""
        if not ended & FINISH_PERSIST or self.disconnected:
            self.close(linger=self.wire.lingers and not self.disconnected)
            return
        if self.eof_seen and not self.wire.has_bytes():
            self.close(linger=False)
            return
        self.state = IDLE
        self.deadline = time.monotonic() + self.worker.keepalive
        if not self.wire.has_bytes():
            # Nothing pipelined: wait for the socket. Bytes that came while the app ran were
            # read ahead into the wire, so a read now would almost always find nothing (one
            # system call in two of a keep-alive request's, measured).
            self._watch_read(True)
            return
        self.read()

    async def receive(self):
        while True:
            if self.disconnected or (self.wire.response_complete and self.worker.serve is None):
                # ASGI: after the response is sent, `receive` says so (as uvicorn does). Not
                # for tornado's bridge, which reads a body on after a handler that answered
                # early (tornado's own server does), the client still there.
                return {"type": "http.disconnect"}
            message = self.wire.body()
            if message is not None:
                if message["type"] == "http.disconnect":
                    self.disconnected = True
                return message
            # Body bytes are needed (or, the body read, the client's leaving is awaited).
            await self._readable()
            if self.disconnected and self.wire.wants_body():
                # The client's end came before the body's: a framing error (400).
                self.wire.body_eof()
                return {"type": "http.disconnect"}

    async def _discard_body(self):
        """Drain a body the app did not read (to 64 KiB, for 5 s), so the connection can carry
        the next request; `finish` closes it otherwise."""
        until = time.monotonic() + 5.0
        while not self.disconnected:
            done = self.wire.discard()
            if done is None or done:
                break
            left = until - time.monotonic()
            if left <= 0:
                break
            try:
                await asyncio.wait_for(self._readable(), left)
            except asyncio.TimeoutError:
                break

    async def _readable(self):
        """Wait until the socket has bytes (read into the wire) or the client is gone."""
        if self.disconnected:
            # Its end was read already: no further read event says so again.
            return
        await self._woken_by_read()
        if not self.disconnected and self.wire.fill() == 0:
            self.disconnected = True

    async def _woken_by_read(self):
        """Wait until `read` settles `receiving` (bytes came, or the connection ended: then
        the client counts as gone)."""
        self.receiving = self.loop.create_future()
        self._watch_read(True)
        try:
            await self.receiving
        finally:
            self.receiving = None
        if self.state == CLOSED:
            self.disconnected = True

    def _writable(self):
        try:
            left = self.wire.flush()
        except OSError:
            self._lost()
            left = 0
        if left == 0:
            self._watch_write(False)
            _settle(self.draining)

    async def _drain(self):
        """Wait until the socket took every response byte. Every waiter shares one future:
        tornado's `write_headers` and `finish` each start a drain without awaiting the
        first, and two WebSocket senders may wait at once; a second future put in place of
        the first would leave the first waiter asleep for good (`_writable` settles only the
        one it finds). Shielded, so one waiter's cancellation does not wake the others."""
        draining = self.draining
        if draining is None:
            draining = self.draining = self.loop.create_future()
            self._watch_write(True)
        try:
            await asyncio.shield(draining)
        finally:
            if self.draining is draining and draining.done():
                self.draining = None
        if self.disconnected:
            raise OSError("the client has disconnected")

    def detach(self):
        """Give the socket to the app (tornado's `HTTPConnection.detach`): no longer watched
        here; the descriptor, the bytes read ahead and the bytes not yet sent."""
        self._watch_read(False)
        self._watch_write(False)
        self.on_lost = None
        self.websocket = True
        taken = self.wire.detach()
        self.fd = -1
        return taken

    def close(self, linger=True):
        """End the connection: our FIN, then a lingering close (or at once: `linger=False`,
        when the client has already gone)."""
        if self.state in (LINGER, CLOSED):
            return
        self._watch_read(False)
        self._watch_write(False)
        self.state = LINGER
        _settle(self.receiving)
        _settle(self.draining)
        if not (linger and self.wire.shutdown_write()):
            self._end()
            return
        self.lingered = 0
        self.loop.add_reader(self.fd, self._linger)
        self.loop.call_later(LINGER_SECONDS, self._end)

    def _linger(self):
        got = self.wire.discard_input()
        if got > 0:
            self.lingered += got
        if got == 0 or self.lingered > LINGER_BYTES:
            self._end()

    def _end(self):
        if self.state == CLOSED:
            return
        if self.state == LINGER:
            self.loop.remove_reader(self.fd)
        self.state = CLOSED
        self.http_receive = self.http_send = self.on_readable = None
        # The connection's task returns (now, if it waits between requests).
        self.requests.end()
        self.wire.close()
        self.worker.closed(self)
