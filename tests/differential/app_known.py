"""Differences app_diff.py found and judged deliberate, each with its reason. A rule rewrites
both answers (Gunicorn's into what gunicorn-rs answers instead, or both into one form) for the
kinds and cases it covers; a difference is known when the rules that apply leave the two
texts equal."""
import re

GREEN = ("gevent", "eventlet")


def sub(pattern, repl):
    """A rewrite of both texts by one regular expression."""
    return lambda rs, gu: (re.sub(pattern, repl, rs, flags=re.M), re.sub(pattern, repl, gu, flags=re.M))


def gunicorn_said(old, new):
    """A rewrite of Gunicorn's text only: `old` (plain text) becomes what gunicorn-rs says."""
    return lambda rs, gu: (rs, gu.replace(old, new))


def gunicorn_failed(rs, gu):
    """gunicorn-rs's 500 stands for whatever Gunicorn made of the app's error."""
    return (rs, rs) if "500 Internal Server Error" in rs and "500 Internal" not in gu else (rs, gu)


# The environ keys where tornado's WSGIContainer and the environ of every gunicorn-rs kind
# (which the tornado kind gives a WSGI app) part: present or not, from the listener or Host,
# `workers > 1` or always True, the fragment kept in the query.
TORNADO_ENVIRON = ("RAW_URI", "SERVER_NAME", "SERVER_PORT", "wsgi.input_terminated",
                   "wsgi.multiprocess", "QUERY_STRING")


def every_kinds_environ(rs, gu):
    """Gunicorn's tornado environ, each TORNADO_ENVIRON line as gunicorn-rs's answer has it
    (the n-th for the n-th: a pipelined exchange has several environs)."""
    for key in TORNADO_ENVIRON:
        line = re.compile(r"^ +%s: .*$" % re.escape(key), re.M)
        mine = line.findall(rs)
        theirs = line.findall(gu)
        if mine and len(mine) == len(theirs):
            answers = iter(mine)
            gu = line.sub(lambda _: next(answers), gu)
    return rs, gu


def closed_as_said(text):
    """The one response ended the connection (the rules before this one may have reworded its
    head, so only the ending is looked at)."""
    return text.count("  HTTP/1.") == 1 and "  [closed]" in text


def http10(text):
    """An HTTP/1.0 answer as tornado's server words it: HTTP/1.1, `Connection: Keep-Alive`
    when it persists, nothing when it closes."""
    text = re.sub(r"^  HTTP/1\.0 (.*)\n    connection: close\n", r"  HTTP/1.1 \1\n", text, flags=re.M)
    text = re.sub(r"^  HTTP/1\.0 (.*)\n", r"  HTTP/1.1 \1\n    connection: Keep-Alive\n", text, flags=re.M)
    return text


def tornado_continue(rs, gu):
    interim = "  [interim before the body]\n  HTTP/1.1 100 (Continue)\n    body (none, 0): b''\n"
    if "[nothing before the body]" in rs:
        return rs, gu.replace(interim, "  [nothing before the body]\n")
    return rs, gu.replace(interim, interim.replace("100 (Continue)", "100 Continue"))


HEAD_PAGE = (
    "  [stray bytes b'<html>\\n  <head>\\n    <title>Internal Server Error</title>\\n  </head>\\n"
    "  <body>\\n    <h1><p>Internal Server Error</p></h1>\\n    \\n  </body>\\n</html>\\n']"
)

# (reason, kinds (None: all), case-name pattern, rewrite(rs, gu) -> (rs, gu))
RULES = [
    (
        "gunicorn-rs says Connection: keep-alive on a persistent HTTP/1.1 response, as its "
        "other kinds and Gunicorn's do; tornado's server leaves it out (RFC 9112 §9.3: the "
        "default either way)",
        ("tornado",), r".", sub(r"^    connection: keep-alive\n", ""),
    ),
    (
        "wsgi.multithread is False under the greenlet kinds (README: greenlets are not threads; "
        "Gunicorn says True)",
        GREEN, r".", sub(r"wsgi\.multithread: True", "wsgi.multithread: False"),
    ),
    (
        "an absolute-form target's authority replaces Host (RFC 9112 §3.2.2; README, Stricter "
        "than Gunicorn)",
        None, r"absolute-form", gunicorn_said("['HTTP_HOST', 'example.com']", "['HTTP_HOST', 'other.example:8080']"),
    ),
    (
        "readlines(hint) stops once hint bytes are read, as io.IOBase.readlines (PEP 3333 lets "
        "a server honour or ignore the hint; Gunicorn ignores it)",
        None, r"lines_hint", gunicorn_said(
            '''46): b"[[b'line1\\\\n', b'line2\\\\n', b'\\\\n', b'last'], []]"''',
            '''44): b"[[b'line1\\\\n'], [b'line2\\\\n', b'\\\\n', b'last']]"'''),
    ),
    (
        "start_response(..., exc_info) before any output replaces the headers (PEP 3333); "
        "Gunicorn adds the new ones to the old",
        None, r"/sr/exc_info\b(?!_)", gunicorn_said("    x-first: 1\n", ""),
    ),
    (
        "a str in the response iterable is the app's error: a 500 before anything is sent "
        "(PEP 3333: bytes only); Gunicorn sends its 200 head and then cuts the connection",
        None, r"/err/str_body", gunicorn_failed,
    ),
    (
        "no error page body in the answer to HEAD (RFC 9110 §9.3.2); Gunicorn sends it, and "
        "the client reads it as the start of the next response",
        None, r"^HEAD ", gunicorn_said(HEAD_PAGE, "  [closed]"),
    ),
    (
        "a closing connection lingers, so the client's next request meets an orderly EOF (RFC "
        "9112 §9.6); Gunicorn's gevent worker closes at once, its sync worker after an unread body",
        None, r".", lambda rs, gu: (rs, gu.replace("[reset (ConnectionResetError)]", "[closed]").replace(
            "BrokenPipeError: [Errno 32] Broken pipe", "EOFError: no line")),
    ),
    (
        "a body left unread past 64 KiB ends the connection under every kind (as Gunicorn's "
        "gthread); Gunicorn's gevent worker reads all of it for the next request",
        GREEN, r"100 kB unread", lambda rs, gu: (rs, rs) if "[closed]" in rs else (rs, gu),
    ),
    # tornado's WSGIContainer under Gunicorn's tornado worker (tornado's own HTTP server).
    (
        "Gunicorn's tornado worker never answers, or closes without an answer (a HEAD, an "
        "app error, a 304 with a body, a Content-Length the body does not match); gunicorn-rs "
        "answers as its other kinds",
        ("tornado",), r".", lambda rs, gu: (rs, rs) if gu.startswith("  [client stopped") or
        gu.startswith("client error: ") else (rs, gu),
    ),
    (
        "an HTTP/1.0 request gets an HTTP/1.0 response that says Connection: close, as under "
        "every kind; tornado's server answers HTTP/1.1 (RFC 9110 §6.2: either is allowed)",
        ("tornado",), r"1\.0", lambda rs, gu: (http10(rs), http10(gu)),
    ),
    (
        "no 100 Continue to HTTP/1.0 (RFC 9110 §10.1.1: MUST ignore the expectation), and the "
        "registered reason phrase; tornado's server sends `100 (Continue)` to both",
        ("tornado",), r"^expect", lambda rs, gu: tornado_continue(rs, gu),
    ),
    (
        "no Content-Length on a 204 (RFC 9110 §8.6: MUST NOT); tornado's WSGIContainer adds "
        "`Content-Length: 0`",
        ("tornado",), r"/resp/204_cl|/resp/204 |/resp/204$|pipeline", lambda rs, gu: (rs, re.sub(
            r"(204 No Content\n(?:    connection: .*\n)?)    content-length: \d+\n", r"\1", gu)),
    ),
    (
        "a chunked body's extensions and trailer section are read and dropped (RFC 9112 §7.1.1, "
        "§7.1.2), as under every kind; tornado's parser refuses them with a 400",
        ("tornado",), r"trailers|extensions", lambda rs, gu: (rs, rs) if "400 Bad Request" in gu else (rs, gu),
    ),
    (
        "a 204 whose app yields a body goes without it and without a Content-Length (RFC 9110 "
        "§6.4.1, §8.6); tornado's server sends `Content-Length: 11` and the bytes, which the "
        "client reads as the start of the next response",
        ("tornado",), r"/resp/204_body", lambda rs, gu: (rs, rs) if "stray bytes" in gu or
        "client stopped" in gu or "content-length: 11" in gu else (rs, gu),
    ),
    (
        "X-Forwarded-Proto from a trusted peer sets wsgi.url_scheme (Gunicorn's "
        "secure_scheme_headers, one HTTP layer for every kind); tornado's server ignores it",
        ("tornado",), r"forwarded proto", lambda rs, gu: (rs, gu.replace("SERVER_PORT: '80'", "SERVER_PORT: '443'")
        .replace("wsgi.url_scheme: 'http'", "wsgi.url_scheme: 'https'")),
    ),
    (
        "a WSGI app sees the environ every kind gives (RAW_URI, wsgi.input_terminated, "
        "wsgi.multiprocess as workers > 1, SERVER_NAME/PORT of the listener, no fragment in "
        "QUERY_STRING); tornado's WSGIContainer builds a thinner one of its own",
        ("tornado",), r".", every_kinds_environ,
    ),
    (
        "a trusted forwarder's SCRIPT_NAME is taken from PATH_INFO, and an absolute-form "
        "target's PATH_INFO is its path, as under every kind; tornado's WSGIContainer leaves "
        "both whole (the probe's routes then answer 404)",
        ("tornado",), r"SCRIPT_NAME header|absolute-form",
        lambda rs, gu: (rs, rs) if gu.startswith("  HTTP/1.1 404 Not Found") else (rs, gu),
    ),
    (
        "a field name with `_` is dropped (Gunicorn's header_map, one HTTP parser for every "
        "kind); tornado's parser keeps it",
        ("tornado",), r".", gunicorn_said(", ['HTTP_X_UNDER', 'dropped']", ""),
    ),
    (
        "under -k tornado the app's `Connection: close` is tornado's rule: sent, and the "
        "connection ends after the response (RFC 9112 §9.6); Gunicorn's tornado worker sends it "
        "and keeps the connection open anyway (the other WSGI kinds drop the field and persist, "
        "as Gunicorn's do)",
        ("tornado",), r"/resp/conn_close", lambda rs, gu: (rs, rs) if closed_as_said(rs) else (rs, gu),
    ),
]


def rewrite_known(kind, name, rs, gu):
    """Both texts with the rules for `kind` and case `name` applied, and the rules that
    changed either."""
    used = []
    for why, kinds, case, rewrite in RULES:
        if (kinds is None or kind in kinds) and re.search(case, name):
            new_rs, new_gu = rewrite(rs, gu)
            if (new_rs, new_gu) != (rs, gu):
                used.append(why)
                rs, gu = new_rs, new_gu
    return rs, gu, used
