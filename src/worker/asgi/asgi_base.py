"""What the asgi worker's connection modules share (asgi_conn.py, asgi_loop.py): the
connection's states, `Wire.finish`'s flags, the bounds of read-ahead, backpressure and the
lingering close, and waking a waiter.
"""

# A response body is written as the app sends it; past this many bytes the socket has not
# taken yet, `send` waits for the client (backpressure, ASGI: send blocks on a slow client).
HIGH_WATER = 64 * 1024

HEAD, APP, IDLE, LINGER, CLOSED = range(5)

# What `Wire.finish` says (flags, as wire.rs has them): the connection may carry another
# request; response bytes still wait for the socket; the body is not read whole (and the
# request not finished: drain it, then `finish(True)`); bytes of the next request are here.
FINISH_PERSIST = 1
FINISH_UNSENT = 2
FINISH_BODY_LEFT = 4
FINISH_PIPELINED = 8

# A closing connection is drained this long, this much (RFC 9112 §9.6; as the other kinds),
# so a request that crossed our close meets an orderly EOF rather than a reset.
LINGER_SECONDS = 2.0
LINGER_BYTES = 64 * 1024

# Bytes read ahead of an app that is not reading (its body, a pipelined request) before the
# socket is left alone until it reads.
READ_AHEAD = 64 * 1024


def _settle(waiter):
    """Wake whoever awaits `waiter` (a future, or None when no one waits)."""
    if waiter is not None and not waiter.done():
        waiter.set_result(None)
