"""The tornado kind's half of the loop (gunicorn-rs -k tornado).

Gunicorn's tornado worker hands its sockets to tornado's HTTPServer, which parses HTTP in
Python. Here the Rust side parses (the same parser, limits and corpus as every kind) and the
connection layer of the asgi kind (asgi_loop.py) carries each request to tornado through the
interface tornado's own HTTP/1 server uses: an `HTTPMessageDelegate` from the app's
`start_request`, fed `headers_received`, `data_received` and `finish`, answering through an
`HTTPConnection` (`write_headers`, `write`, `finish`, `detach`) that writes with the
connection's wire. A `tornado.web.Application` (or any `HTTPServerConnectionDelegate`) is
served as it is; any other app is a WSGI app and runs in tornado's `WSGIContainer`, as
Gunicorn's worker does, with the environ of every other WSGI kind (`_Container`).
"""

import asyncio
import io
import logging
import socket

import tornado
from tornado import httputil, iostream, web
from tornado.wsgi import WSGIContainer

from _gunicorn_rs_asgi_base import HIGH_WATER
from _gunicorn_rs_tornado_env import cache_dates, log_to

# Added by every RequestHandler (`clear()`); the response already names this server.
DEFAULT_SERVER = "TornadoServer/%s" % tornado.version

TLS_UPGRADE_REFUSED = b"A WebSocket over TLS needs TLS terminated in front of gunicorn-rs.\n"

# tornado's HTTPServer: a body past this is refused (400), as it would be held in memory.
MAX_BODY_SIZE = 100 * 1024 * 1024

log = logging.getLogger("tornado.general")


class _Context:
    """What tornado's `HTTPServerRequest` reads off `connection.context`."""

    __slots__ = ("remote_ip", "protocol", "address", "trusted_downstream")

    def __init__(self, request):
        self.remote_ip = request["remote_ip"]
        self.protocol = request["protocol"]
        self.address = request["address"]
        self.trusted_downstream = set()

    def __str__(self):
        return self.remote_ip


class _Container(WSGIContainer):
    """tornado's `WSGIContainer` with the environ of every other WSGI kind, made by the Rust
    side from the head it parsed (`Wire.environ`). tornado's own lacks `RAW_URI`,
    `REMOTE_PORT`, `SERVER_SOFTWARE`, `wsgi.file_wrapper`, `wsgi.input_terminated` and
    `wsgi.early_hints`, takes `SERVER_NAME`/`SERVER_PORT` from Host, never sets `SCRIPT_NAME`
    and leaves an absolute-form target whole in `PATH_INFO`.

    The call stays tornado's (`handle_request`), as under Gunicorn's tornado worker, and so
    does what is inherent to it: the app runs on the loop's thread (`wsgi.multithread`
    False), and its response is gathered whole before any of it is sent (no streaming; a
    `wsgi.file_wrapper` is iterated, not sendfile'd), with a `Content-Length` and, when the
    app gave none, tornado's `Content-Type: text/html`."""

    def __init__(self, wsgi_application):
        super().__init__(_fields_trimmed(wsgi_application))

    def environ(self, request):
        return request.connection.wsgi_environ(request.body)


def _fields_trimmed(app):
    """`app` with the whitespace around its response field values dropped before tornado
    sees them. RFC 9110 §5.5: a field value has no leading or trailing whitespace (what
    surrounds it is OWS, §5.6.3); tornado's `HTTPHeaders.add` (6.5+) refuses a value that
    has some, and its `WSGIContainer` then fails the request. Django writes every cookie as
    `Set-Cookie: " name=value; …"` (`Morsel.output(header="")`), so under a bare container
    each Django response that sets a cookie (a session, a CSRF token) was a 500. The other
    kinds send the same fields with the whitespace as OWS."""

    def trimmed_app(environ, start_response):
        def trimmed_start_response(status, headers, exc_info=None):
            fields = [(name, value.strip(" \t") if isinstance(value, str) else value)
                      for name, value in headers]
            return start_response(status, fields, exc_info)

        return app(environ, trimmed_start_response)

    return trimmed_app


class _WSGI(httputil.HTTPMessageDelegate):
    """A WSGI app through tornado's `WSGIContainer`, as Gunicorn's tornado worker runs one.
    `handle_request` is awaited here, not spawned as `WSGIContainer.__call__` does, so an
    app that raises gets a 500 and its traceback in the error log instead of a request
    that never ends."""

    def __init__(self, container, connection):
        self.container = container
        self.connection = connection
        self.request = None
        self.chunks = []

    def headers_received(self, start_line, headers):
        self.request = httputil.HTTPServerRequest(
            connection=self.connection, start_line=start_line, headers=headers)

    def data_received(self, chunk):
        self.chunks.append(chunk)

    def finish(self):
        # The body is not parsed into tornado's `body_arguments`/`files` (its server's
        # `_parse_body`): a WSGI app reads `wsgi.input` itself and nothing reads those. The
        # parse refused bodies that are the app's to judge (a form of more than 10,000
        # fields, say `curl --data-binary @file`'s, or one with a Content-Encoding) and
        # raised out of the request: a 500 where every other kind hands the app its body.
        self.request.body = b"".join(self.chunks)
        self.connection.handled(self.container.handle_request(self.request))

    def on_connection_close(self):
        self.chunks = []


class Connection(httputil.HTTPConnection):
    """tornado's `HTTPConnection` for one request, over the asgi kind's `Conn`."""

    def __init__(self, conn, request):
        self.conn = conn
        self.wire = conn.wire
        self.context = _Context(request)
        self.method = request["method"]
        self.done = conn.loop.create_future()
        self.work = None
        self.close_callback = None
        # tornado's HTTPServer default; a @stream_request_body handler may change it.
        self.max_body_size = MAX_BODY_SIZE
        self.stream = None
        self.switching = False
        # The handler failed after its response began (`_note_failures`).
        self.failed = False

    # -- what the bridge waits for ------------------------------------------------------------

    def handled(self, work):
        """A coroutine answering the request (the WSGI container's): awaited with the
        response, so what it raises is the request's error."""
        self.work = work

    def _end(self):
        if not self.done.done():
            self.done.set_result(None)

    # -- a WSGI app's environ ------------------------------------------------------------------

    def wsgi_environ(self, body):
        """The request's environ, as every WSGI kind builds it (`_Container`); the body as
        tornado read it, whole."""
        return self.wire.environ(io.BytesIO(body), self._early_hints)

    def _early_hints(self, headers):
        """`wsgi.early_hints`: the 103 goes out at once, the response after the app."""
        if self.wire.early_hints(headers):
            self.conn._watch_write(True)

    # -- tornado's HTTPConnection --------------------------------------------------------------

    def write_headers(self, start_line, headers, chunk=None):
        status = start_line.code
        if status != 101:
            if self.conn.disconnected:
                return self._failed()
            # The fields go to the wire as tornado holds them: one call, no list of bytes.
            try:
                pending = self.wire.respond(status, start_line.reason, headers.get_all(),
                                            DEFAULT_SERVER, chunk or b"")
            except OSError:
                # The client left under the response (a WSGI app's, sent whole here): as
                # `write`, and as tornado's own connection, a failed future, not an error
                # the request is logged with (every kind takes a client gone as DEBUG).
                self.conn._lost()
                return self._failed()
            return self._written(pending)
        fields = [(name.encode("latin-1"), value.encode("latin-1"))
                  for name, value in headers.get_all()
                  if not (name == "Server" and value == DEFAULT_SERVER)]
        if self.wire.tls:
            # The socket cannot go to tornado with its TLS session (kept in Rust): a 500 in
            # place of the 101, and the reason in the error log.
            self.conn.worker.rs.log_error(
                "tornado cannot take over a TLS connection from gunicorn-rs (WebSocketHandler "
                "under --certfile): terminate TLS in front of it for WebSockets")
            self.wire.start(500, [(b"content-type", b"text/plain"),
                                  (b"content-length", b"%d" % len(TLS_UPGRADE_REFUSED))])
            return self._written(self.wire.write(TLS_UPGRADE_REFUSED, True))
        # The app takes the socket next (`detach`); the request lasts as long as it.
        self.switching = True
        return self._written(self.wire.switch_protocols(fields))

    def write(self, chunk):
        if self.conn.disconnected:
            return self._failed()
        try:
            return self._written(self.wire.write(chunk, True))
        except OSError:
            self.conn._lost()
            return self._failed()

    def finish(self):
        if self.switching:
            # tornado detaches right after finishing a 101; one that does not ends here.
            self.conn.loop.call_soon(self._unless_detached)
            return
        if self.failed:
            # Cut short, never ended as if whole: the client must not take it for complete.
            self.wire.fail(None)
        elif not self.conn.disconnected:
            try:
                self._written(self.wire.write(b"", False))
            except OSError:
                self.conn._lost()
        self._end()

    def _unless_detached(self):
        if self.stream is None:
            self._end()

    def set_close_callback(self, callback):
        self.close_callback = callback
        self.conn.on_lost = None if callback is None else self._lost

    def _lost(self):
        # Only the app is told: a handler may still answer a half-closed client, and one
        # whose writes fail ends with `finish` as well.
        callback, self.close_callback = self.close_callback, None
        if callback is not None:
            callback()

    def set_max_body_size(self, max_body_size):
        self.max_body_size = max_body_size

    def set_body_timeout(self, timeout):
        # The connection layer's own bounds apply (the header timeout, --keep-alive).
        pass

    def detach(self):
        """The socket, for the app's own protocol after a 101 (tornado's WebSocketHandler):
        an IOStream on it, carrying the bytes read ahead and the response bytes not yet
        sent. The request ends when the stream closes."""
        if self.wire.tls:
            raise iostream.StreamClosedError(real_error=OSError("a TLS connection stays here"))
        fd, unread, pending = self.conn.detach()
        stream = _DetachedStream(socket.socket(fileno=fd), self._end)
        if unread:
            stream._read_buffer += unread
            stream._read_buffer_size += len(unread)
        if pending:
            stream.write(pending)
        self.stream = stream
        return stream

    # -- futures tornado awaits ----------------------------------------------------------------

    def _written(self, pending):
        if pending > HIGH_WATER:
            return asyncio.ensure_future(self.conn._drain())
        if pending:
            self.conn._watch_write(True)
        return _written_future(self.conn.loop)

    def _failed(self):
        failed = self.conn.loop.create_future()
        failed.set_exception(iostream.StreamClosedError())
        # Marked as seen, as tornado's HTTP1Connection does: a caller that never awaits the
        # write (the WSGI container) must not leave "exception was never retrieved" behind.
        failed.exception()
        return failed


_WRITTEN = {}


def _written_future(loop):
    """A future already done, for a write the socket took: one per loop, shared (awaiting a
    done future, or adding callbacks to it, leaves it as it is)."""
    written = _WRITTEN.get(loop)
    if written is None:
        written = _WRITTEN[loop] = loop.create_future()
        written.set_result(None)
    return written


class _DetachedStream(iostream.IOStream):
    """The IOStream a detached connection becomes: tells the bridge when it closes."""

    def __init__(self, sock, on_close):
        super().__init__(sock)
        self._on_close = on_close

    def close_fd(self):
        try:
            super().close_fd()
        finally:
            self._on_close()


def _note_failures():
    """A handler that raises after its response began: tornado logs it, then `send_error`
    can only finish the response, and would end a chunked body as if it were whole. Noted
    here so `finish` cuts it instead, as every kind treats an app error after the start."""
    send_error = web.RequestHandler.send_error
    if getattr(send_error, "_gunicorn_rs", False):
        return

    def noting_send_error(self, status_code=500, **kwargs):
        connection = self.request.connection
        if self._headers_written and isinstance(connection, Connection):
            connection.failed = True
        return send_error(self, status_code, **kwargs)

    noting_send_error._gunicorn_rs = True
    web.RequestHandler.send_error = noting_send_error


class Bridge:
    """The app as tornado's HTTP server would hold it (`server_conn` for its delegates)."""

    def __init__(self, app, rs):
        log_to(rs)
        _note_failures()
        cache_dates()
        # Every request runs in a context of its own (requests.rs), so a WSGI app's
        # contextvars start afresh, as WSGIContainer's spawned callback has them.
        if isinstance(app, httputil.HTTPServerConnectionDelegate):
            self.start_request = app.start_request
        else:
            # An app that is a container already is served as it is (its environ its own).
            container = app if isinstance(app, WSGIContainer) else _Container(app)
            self.start_request = lambda server, connection: _WSGI(container, connection)

    async def serve(self, conn, request):
        """Answer one request: its head and body to the app's delegate, then wait until the
        app finished the response (or took the socket and let it go)."""
        connection = Connection(conn, request)
        delegate = self.start_request(self, connection)
        start_line = httputil.RequestStartLine(request["method"], request["uri"],
                                               request["version"])
        headers = httputil.HTTPHeaders()
        for name, value in request["headers"]:
            headers.add(name, value)
        try:
            ready = delegate.headers_received(start_line, headers)
        except httputil.HTTPInputError as exc:
            return self._bad_request(connection, exc)
        if ready is not None:
            await ready
        if not conn.wire.wants_body():
            # Nothing to read (most requests, and any that declares no length past the
            # limit): no message to make and take apart, no coroutine to run.
            delegate.finish()
        else:
            declared = headers.get("Content-Length")
            if (declared is not None and declared.isdigit()
                    and int(declared) > connection.max_body_size):
                # As tornado's server, before reading any of it.
                return self._bad_request(connection, "Content-Length too long")
            if not await self._body(conn, connection, delegate):
                return
        if connection.work is not None:
            await connection.work
        await connection.done

    async def _body(self, conn, connection, delegate):
        """The request body to `data_received`, then `finish`; False if the client left."""
        taken = 0
        while True:
            message = await conn.receive()
            if message["type"] != "http.request":
                delegate.on_connection_close()
                return False
            chunk = message["body"]
            if chunk:
                taken += len(chunk)
                if taken > connection.max_body_size:
                    # As tornado's server: the handler's limit (set_max_body_size) is a 400.
                    return self._bad_request(connection, "Content-Length too long")
                ready = delegate.data_received(chunk)
                if ready is not None:
                    await ready
            if not message["more_body"]:
                delegate.finish()
                return True

    def _bad_request(self, connection, why):
        """As tornado's own server answers a request its parser refuses: a 400 and a close
        (or, the response begun, only the close)."""
        log.info("Malformed HTTP message from %s: %s", connection.context.remote_ip, why)
        pending = connection.wire.refuse(400, "Bad Request")
        if pending:
            connection.conn._watch_write(True)
        return False
