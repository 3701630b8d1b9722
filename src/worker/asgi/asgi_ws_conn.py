"""The WebSocket half of an asgi connection (RFC 6455 through the ASGI `websocket` scope):
the read callback's part, the client's messages decoded by the connection's Rust `Wire`
(which frames, masks, validates and answers pings) for the app waiting in `receive`. The
session's `receive` and `send` are the wire's own (ws_receive.rs, ws_send.rs). `asgi_conn.Conn`
takes these methods from `WebSocketSide`; its slots and the socket watching are the
connection's.
"""

from _gunicorn_rs_asgi_base import _settle


class WebSocketSide:
    """The methods of `Conn` that serve a WebSocket session."""

    __slots__ = ()

    def _ws_read(self):
        """The socket is readable while the app waits in `receive`: its next message, if
        the bytes complete one."""
        message = self._ws_next()
        if message:
            self.ws_ready = message
            _settle(self.receiving)

    def _ws_next(self):
        """The wire's next WebSocket message (pongs and close echoes queued for writing), or
        None; the client's end is handled here (`_eof`) and is None too."""
        message = self.wire.ws_next()
        if self.wire.pending():
            self._watch_write(True)
        if message is False:
            self._eof()
            return None
        return message
