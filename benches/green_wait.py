"""How a greenlet worker's connection should wait for its socket under gevent (issue 8).

The Rust side of a greenlet worker yields to the hub whenever a socket would block. This
measures the candidate ways to wait, in isolation: two greenlets play ping-pong over a
socketpair, each waiting for its socket before every read; the figure is the cost of one
wait plus one recv and one send.

    gevent.socket.wait_read + timeout   a new io watcher per wait (its constructor checks the
                                        fd with fcntl), a gevent.Timeout per wait
    wait_read, no timeout               the same without the deadline
    cached io + Waiter + loop timer     what src/wsgi/hub.py does: one io watcher per fd,
                                        started and stopped around each wait, and a bare
                                        loop timer for the deadline

Run with the benchmark venv's python (gevent installed):
    benches/.venv/bin/python benches/green_wait.py
"""
import socket
import time

import gevent
import gevent.socket
from gevent.hub import Waiter

ROUND_TRIPS = 50_000
REPEATS = 5
hub = gevent.get_hub()
loop = hub.loop


def ping_pong(make_wait):
    """Microseconds per wait (with its recv and send), best of REPEATS."""

    def once():
        a, b = socket.socketpair()
        a.setblocking(False)
        b.setblocking(False)

        def side(sock, starts):
            wait = make_wait(sock.fileno())
            if starts:
                sock.send(b"x")
            for _ in range(ROUND_TRIPS):
                wait()
                sock.recv(1)
                sock.send(b"x")

        started = time.perf_counter()
        gevent.joinall([gevent.spawn(side, a, True), gevent.spawn(side, b, False)])
        elapsed = time.perf_counter() - started
        a.close()
        b.close()
        return elapsed / (2 * ROUND_TRIPS) * 1e6

    return min(once() for _ in range(REPEATS))


def wait_read_with_timeout(fd):
    return lambda: gevent.socket.wait_read(fd, timeout=30, timeout_exc=TimeoutError)


def wait_read_plain(fd):
    return lambda: gevent.socket.wait_read(fd)


def cached_io_waiter_timer(fd):
    io = loop.io(fd, 1)

    def wait():
        waiter = Waiter(hub)
        io.start(waiter.switch, True)
        timer = loop.timer(30)
        timer.start(waiter.switch, False)
        try:
            if not waiter.get():
                raise TimeoutError
        finally:
            io.stop()
            timer.close()

    return wait


if __name__ == "__main__":
    for name, make in [
        ("gevent.socket.wait_read + timeout", wait_read_with_timeout),
        ("wait_read, no timeout", wait_read_plain),
        ("cached io + Waiter + loop timer", cached_io_waiter_timer),
    ]:
        print(f"{name:36s} {ping_pong(make):6.2f} µs per wait (with a recv and a send)")
