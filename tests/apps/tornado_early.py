"""A tornado app whose `@stream_request_body` handler answers in `prepare`, before its body
is read (a 401 to an upload), and a route that tells whether `on_connection_close` ran: the
client is still there, so it must not (tests/asgi_probe.rs)."""

import tornado.web

CLOSED = []


@tornado.web.stream_request_body
class Early(tornado.web.RequestHandler):
    def prepare(self):
        self.set_status(401)
        self.finish("no")

    def data_received(self, chunk):
        pass

    def on_connection_close(self):
        CLOSED.append(1)


class Count(tornado.web.RequestHandler):
    def get(self):
        self.write("closed=%d" % len(CLOSED))


app = tornado.web.Application([(r"/early", Early), (r"/count", Count)])
