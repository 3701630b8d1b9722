"""corpus_app.py for `-k tornado`: answers every request of the request corpus, whatever its
method, with what tornado's HTTPServerRequest received — method, request target (`uri`) and
the length of its body. Any path is a 200."""
import json

import tornado.web


class _Any:
    """Every method is supported (tornado's RequestHandler otherwise answers others 405)."""

    def __contains__(self, method):
        return True


class Seen(tornado.web.RequestHandler):
    SUPPORTED_METHODS = _Any()

    def __getattr__(self, name):
        # The handler method for the request's method, whatever it is (`mkcol`, `connect`).
        request = self.__dict__.get("request")
        if request is not None and name == request.method.lower():
            return self.seen
        raise AttributeError(name)

    def seen(self, *args):
        """The answer, for every method (RequestHandler defines its own `get` and the rest
        as 405s, so those are named below; any other comes through `__getattr__`)."""
        r = self.request
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps({"method": r.method, "uri": r.uri, "body_len": len(r.body)},
                               sort_keys=True))

    get = head = post = delete = patch = put = options = seen


app = tornado.web.Application([(r".*", Seen)])
