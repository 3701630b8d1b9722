"""The WebSocket half of an asgi connection (RFC 6455 through the ASGI `websocket` scope):
`receive` for a session, turned into calls on the connection's Rust `Wire`, which frames,
masks, validates and answers pings (`send` is the wire's own, ws_send.rs). `asgi_conn.Conn`
takes these methods from `WebSocketSide`; its slots and the socket watching are the
connection's.
"""

from _gunicorn_rs_asgi_base import _settle


class WebSocketSide:
    """The methods of `Conn` that serve a WebSocket session."""

    __slots__ = ()

    async def ws_receive(self):
        if not self.ws_greeted:
            self.ws_greeted = True
            return {"type": "websocket.connect"}
        while True:
            message, self.ws_ready = self.ws_ready, None
            if message is None and self.wire.has_bytes():
                # Only what is buffered: a message that came while the app ran was read
                # ahead, so reading the socket here would almost always find nothing (one
                # system call in two of an echo's, measured); `read` decodes what comes next.
                message = self._ws_next()
            if message:
                return message
            if self.disconnected:
                # Gone without a close frame (RFC 6455 §7.1.5: 1006).
                return {"type": "websocket.disconnect", "code": 1006}
            # `read` decodes what arrives and wakes this only for a whole message (or the
            # client's end): a message that trickles in costs no turn of the task per piece.
            await self._woken_by_read()

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
