"""A tornado hello world for benches/asgi.py's tornado scenario: one RequestHandler, served as
a tornado.web.Application (Gunicorn's tornado worker and gunicorn-rs -k tornado both use an
Application as it is)."""

import tornado.web


class Hello(tornado.web.RequestHandler):
    def get(self):
        self.set_header("Content-Type", "text/plain")
        self.write(b"Hello, World!")


app = tornado.web.Application([(r"/", Hello)])
