"""One face over gevent's and eventlet's hubs for gunicorn-rs's greenlet workers.

Loaded by src/wsgi/hub.rs in a worker, after fork and before the app is imported: creating a
Hub monkey-patches the standard library, as Gunicorn's workers do. The Rust side calls
``wait`` when a socket would block, ``spawn`` for each connection, and ``kill`` to end a
greenlet that waits (a graceful stop closing idle connections).
"""


class TimedOut(Exception):
    """A wait ran out of time (raised by the hub inside ``wait``, caught there)."""


class Stop(Exception):
    """Raised in a greenlet that waits for an idle connection when the worker stops."""


class Hub:
    def __init__(self, kind):
        self.kind = kind
        if kind == "gevent":
            self._gevent()
        else:
            self._eventlet()

    def _gevent(self):
        from gevent import monkey

        monkey.patch_all()
        import gevent
        from gevent.hub import Waiter

        hub = gevent.get_hub()
        loop = hub.loop
        # One io watcher per (fd, direction) while the connection lives: gevent.socket
        # .wait_read makes one per wait, and its constructor checks the fd with a fcntl(2).
        # libev keys its state by fd number and re-registers a number with epoll only when a
        # watcher's fd is (re)set or its event mask changes at a loop iteration; so a watcher
        # must not outlive its connection (`forget`): a new socket given the same number in the
        # same iteration would keep a mask the kernel dropped at close(2), and never wake.
        # The deadline is a bare loop timer rather than a gevent.Timeout.
        # benches/green_wait.py measures both ways.
        watchers = ({}, {})

        def wait(fd, write, timeout):
            cache = watchers[write]
            io = cache.get(fd)
            if io is None:
                io = cache[fd] = loop.io(fd, 2 if write else 1)
            waiter = Waiter(hub)
            io.start(waiter.switch, True)
            timer = None
            if timeout is not None:
                timer = loop.timer(timeout)
                timer.start(waiter.switch, False)
            try:
                return waiter.get()
            finally:
                io.stop()
                if timer is not None:
                    timer.close()

        def forget(fd):
            for cache in watchers:
                io = cache.pop(fd, None)
                if io is not None:
                    io.close()

        self.wait = wait
        self.forget = forget
        self.spawn = gevent.spawn
        self.sleep = gevent.sleep
        self.getcurrent = gevent.getcurrent
        self._kill = lambda g, exc: g.kill(exc, block=False)

    def _eventlet(self):
        import eventlet

        eventlet.monkey_patch()
        from eventlet import greenthread, hubs

        # A hub made before fork (kqueue, epoll) does not survive it; take a fresh one.
        hubs.use_hub()
        trampoline = hubs.trampoline
        self._wait_read = lambda fd, timeout, timeout_exc: trampoline(
            fd, read=True, timeout=timeout, timeout_exc=timeout_exc
        )
        self._wait_write = lambda fd, timeout, timeout_exc: trampoline(
            fd, write=True, timeout=timeout, timeout_exc=timeout_exc
        )
        self.spawn = eventlet.spawn
        self.sleep = eventlet.sleep
        self.getcurrent = greenthread.getcurrent
        self._kill = lambda g, exc: greenthread.kill(g, exc)

    def wait(self, fd, write, timeout):
        """Let other greenlets run until `fd` is ready; False if `timeout` (seconds, or None)
        ran out first. (gevent's is set in `_gevent`.)"""
        wait = self._wait_write if write else self._wait_read
        try:
            wait(fd, timeout=timeout, timeout_exc=TimedOut)
        except TimedOut:
            return False
        return True

    def forget(self, fd):
        """`fd` is about to be closed. (eventlet's trampoline removes its listener after each
        wait, so there is nothing to drop; gevent's is set in `_gevent`.)"""

    def kill(self, greenlet, exc):
        """Raise `exc` in `greenlet` where it waits, without waiting for it to end."""
        self._kill(greenlet, exc)

    def stacks(self, serving, limit=100):
        """The stacks of the greenlets in `serving` ((greenlet, note or None) pairs), in
        faulthandler's layout, each headed by the greenlet's identity (the number the worker
        publishes in the request's scoreboard entry, so the master names its request)."""
        out = []
        for greenlet, note in serving:
            out.append("Greenlet 0x%016x (most recent call first):" % id(greenlet))
            if note:
                out.append("  » " + note)
            frame, depth = greenlet.gr_frame, 0
            while frame is not None and depth < limit:
                code = frame.f_code
                out.append(
                    '  File "%s", line %s in %s'
                    % (code.co_filename, frame.f_lineno, code.co_name)
                )
                frame, depth = frame.f_back, depth + 1
            if frame is not None:
                out.append("  ...")
            out.append("")
        return "\n".join(out)
