"""App factories, for Gunicorn's `module:factory()` and `module:factory(args)` forms."""


def create_app(greeting="hi", punctuation="!"):
    body = (greeting + punctuation).encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]

    return app


application = create_app("default")
