#!/usr/bin/env python3
"""App-level differential check of `-k asgi`: the same ASGI app (tests/apps/asgi_probe.py, or
one named with --app) served by gunicorn-rs, uvicorn (h11 and httptools) and Gunicorn 27
`-k asgi`, the same exact bytes sent to each, and the answers printed side by side wherever
they differ (Date and Server dropped, header names compared without case).

    asgi_diff.py --rs target/release/gunicorn-rs --venv /work/main/.venv [--only NAME]

Each server gets a listening socket the script bound (port 0, handed over as an inherited
descriptor: `-b fd://N`, uvicorn's `--fd N`), so nothing waits on a log line, and is killed by
pid at the end. It is a tool for a person: it prints, it does not judge; what each difference
means is decided against the ASGI, HTTP and WebSocket specs (see the report in the commit).
"""
import argparse
import hashlib
import json
import os
import re
import signal
import socket
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
APPS = REPO / "tests" / "apps"
# A connection's answer is what arrived until EOF or this long a silence.
QUIET = 0.7
# --strict: compare framing and wording too (see `loosen`).
STRICT = False


class Server:
    """One server process on an inherited listening socket, in its own session."""

    def __init__(self, name, argv, env, app, log_dir):
        self.name = name
        self.sock = socket.socket()
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        fd = self.sock.fileno()
        os.set_inheritable(fd, True)
        argv = [a.replace("{fd}", str(fd)).replace("{app}", app) for a in argv]
        self.log = open(Path(log_dir) / f"{name}.log", "wb")
        self.proc = subprocess.Popen(argv, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     pass_fds=(fd,), cwd=APPS, start_new_session=True)

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            os.killpg(self.proc.pid, signal.SIGKILL)
        self.sock.close()


def servers_for(opts):
    venv = Path(opts.venv)
    bin_dir = venv / "bin"
    rs = [opts.rs, "-k", "asgi", "-w", "1", "-b", "fd://{fd}", "--no-control-socket",
          "--keep-alive", "5", "{app}"]
    gunicorn = [str(bin_dir / "gunicorn"), "-k", "asgi", "-w", "1", "-b", "fd://{fd}",
                "--no-control-socket", "--keep-alive", "5", "{app}"]
    uvicorn = [str(bin_dir / "uvicorn"), "--fd", "{fd}", "--timeout-keep-alive", "5",
               "--log-level", "warning", "{app}"]
    table = {
        "rs": rs,
        "gunicorn27": gunicorn,
        "uvicorn-h11": uvicorn + ["--http", "h11"],
        "uvicorn-httptools": uvicorn + ["--http", "httptools"],
    }
    if opts.tornado:
        table = {
            "rs": rs[:2] + ["tornado"] + rs[3:],
            "gunicorn27": gunicorn[:2] + ["tornado"] + gunicorn[3:],
        }
    return table


def exchange(port, chunks, quiet=QUIET, half_close=False, leave=False, digest=False):
    """Send `chunks` (bytes, or a float: pause that long) and read until EOF or silence
    (`leave`: close right after the chunks, the answer then being what the server logged;
    `digest`: the body reduced to its size and hash)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    got = b""
    try:
        for chunk in chunks:
            if isinstance(chunk, float):
                time.sleep(chunk)
            else:
                s.sendall(chunk)
        if leave:
            s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\0\0\0\0\0\0\0")
            return b"<left>"
        if half_close:
            s.shutdown(socket.SHUT_WR)
        s.settimeout(quiet)
        while True:
            try:
                data = s.recv(65536)
            except socket.timeout:
                got += b"<silence>"
                break
            except ConnectionResetError:
                got += b"<reset>"
                break
            if not data:
                got += b"<eof>"
                break
            got += data
    finally:
        s.close()
    if digest:
        got = digested(got if STRICT else loosen(got))
    return got


def digested(answer):
    """The answer with its body reduced to its size and hash."""
    head, _, body = answer.partition(b"\r\n\r\n")
    return head + b"\r\n\r\n" + b"<body %d bytes sha1 %s>" % (
        len(body), hashlib.sha1(body).hexdigest()[:12].encode())


def loosen(raw):
    """What differs only in framing or wording, made equal (the default; --strict skips it):
    a chunked body decoded and its chunk sizes dropped, Content-Length and Transfer-Encoding
    dropped, a server's own error page (4xx/5xx with no app body) reduced to its status, and
    the scope fields every server words its own way (extensions, spec_version) removed."""
    out, rest = [], raw
    while rest.startswith(b"HTTP/1."):
        head, sep, rest = rest.partition(b"\r\n\r\n")
        if not sep:
            return b"".join(out) + head
        lines = head.split(b"\r\n")
        status = int(lines[0].split(b" ")[1]) if len(lines[0].split(b" ")) > 1 else 0
        fields = [l for l in lines[1:] if not l.lower().startswith(
            (b"content-length:", b"transfer-encoding:"))]
        chunked = any(l.lower().replace(b" ", b"") == b"transfer-encoding:chunked"
                      for l in lines[1:])
        length = next((int(l.split(b":", 1)[1]) for l in lines[1:]
                       if l.lower().startswith(b"content-length:")
                       and l.split(b":", 1)[1].strip().isdigit()), None)
        if 100 <= status < 200 or status in (204, 304):
            body = b""
        elif chunked:
            body = b""
            while True:
                size, sep, rest = rest.partition(b"\r\n")
                try:
                    n = int(size.split(b";")[0], 16)
                except ValueError:
                    rest = size + sep + rest
                    break
                if n == 0:
                    # The trailer section, then the blank line.
                    trailer, _, rest = rest.partition(b"\r\n\r\n") if not rest.startswith(b"\r\n") else (b"", b"", rest[2:])
                    if trailer:
                        body += b"<trailers " + trailer + b">"
                    break
                body, rest = body + rest[:n], rest[n + 2:]
        elif length is not None:
            body, rest = rest[:length], rest[length:]
        else:
            body, rest = rest, b""
            for mark in (b"<eof>", b"<silence>", b"<reset>"):
                if body.endswith(mark):
                    body, rest = body[: -len(mark)], mark
        if status >= 400 and (b"Internal Server Error" in body or b"Bad Request" in body
                              or b"Invalid HTTP" in body or b"<html>" in body):
            body = b"<error page>"
            fields = [f for f in fields if not f.lower().startswith(b"content-type:")]
        if body.startswith(b"{") and b'"asgi"' in body:
            try:
                scope = json.loads(body)
                scope.pop("extensions", None)
                scope.get("asgi", {}).pop("spec_version", None)
                body = json.dumps(scope, sort_keys=True).encode()
            except ValueError:
                pass
        out.append(b"\r\n".join([lines[0]] + fields) + b"\r\n\r\n" + body)
    # One response a line apart from the next, so `normalize` sees each head.
    return b"\r\n".join(out) + rest


def normalize(raw):
    """Drop what legitimately differs between servers: Date, Server, header-name case and
    order, the reason phrase's wording, the response's HTTP/1.x minor version (RFC 9110 §6.2
    lets a 1.1 server answer 1.1 to a 1.0 client), `Connection: keep-alive` on a 1.1
    response (implied, RFC 9112 §9.3). Chunk boundaries stay: they are what the app sent."""
    text = raw.decode("latin-1")
    out, head = [], None
    for line in text.split("\r\n"):
        m = re.match(r"^(HTTP/1\.[01]) (\d{3})( .*)?$", line)
        if m:
            out.append(f"HTTP/1.x {m.group(2)}")
            head = []
            continue
        if head is not None:
            if line == "":
                out.extend(sorted(head))
                out.append("")
                head = None
                continue
            f = re.match(r"^([A-Za-z0-9!#$%&'*+.^_`|~-]+):\s*(.*?)\s*$", line)
            if f:
                name, value = f.group(1).lower(), f.group(2)
                if name in ("date", "server") or (name, value.lower()) == ("connection", "keep-alive"):
                    continue
                line = f"{name}: {value}"
            head.append(line)
            continue
        out.append(line)
    if head is not None:
        out.extend(sorted(head))
    return "\n".join(out)


def probes():
    """(name, chunks, options) triples: raw bytes exactly as sent."""
    h11 = b"Host: probe\r\n"
    def get(path, version=b"1.1", extra=b"", method=b"GET"):
        return method + b" " + path + b" HTTP/" + version + b"\r\n" + h11 + extra + b"\r\n"
    close = b"Connection: close\r\n"
    routes = ["/nocl", "/nocl_whole", "/cl/short", "/cl/long", "/cl/bad", "/stream",
              "/status/204", "/status/304", "/status/205", "/status/101", "/empty", "/cookies",
              "/upper", "/str_headers", "/connection_close", "/server_header", "/te_chunked",
              "/start_twice", "/body_first", "/body_after_end", "/bad_type", "/noresponse",
              "/raise_before", "/raise_after_start", "/raise_after_body", "/trailers",
              "/early_hints", "/bad_status", "/status_str", "/bad_header_value", "/body_str",
              "/no_body_message", "/after_response"]
    out = []
    for r in routes:
        out.append((f"GET {r} 1.1", [get(r.encode())], {}))
        out.append((f"GET {r} 1.0", [get(r.encode(), b"1.0")], {}))
    for r in ["/nocl", "/stream", "/empty", "/cl/short", "/cl/long", "/status/304", "/trailers"]:
        out.append((f"HEAD {r} 1.1", [get(r.encode(), method=b"HEAD")], {}))
    out.append(("trailers TE", [get(b"/trailers", extra=b"TE: trailers\r\n")], {}))
    out.append(("trailers TE 1.0", [get(b"/trailers", b"1.0", b"TE: trailers\r\n")], {}))
    out.append(("early hints 1.0", [get(b"/early_hints", b"1.0")], {}))
    # The scope.
    out.append(("scope plain", [get(b"/scope/a%20b/%2F/%C3%A9?x=%20y&z", extra=b"X-Dup: 1\r\nX-Case: MiXeD\r\nx-dup: 2\r\n" + close)], {}))
    out.append(("scope 1.0", [get(b"/scope", b"1.0")], {}))
    out.append(("scope no host 1.0", [b"GET /scope HTTP/1.0\r\n\r\n"], {}))
    out.append(("scope absolute-form", [get(b"http://other.example/scope?q=1", extra=close)], {}))
    out.append(("scope bad utf8 path", [get(b"/scope/%ff%fe", extra=close)], {}))
    out.append(("scope raw non-ascii", [get(b"/scope/\xc3\xa9", extra=close)], {}))
    out.append(("scope dot segments", [get(b"/scope/../x/./y", extra=close)], {}))
    out.append(("scope double slash", [get(b"//scope//x", extra=close)], {}))
    out.append(("scope star OPTIONS", [get(b"*", method=b"OPTIONS", extra=close)], {}))
    out.append(("scope lower method", [get(b"/scope", method=b"get", extra=close)], {}))
    out.append(("scope xff", [get(b"/scope", extra=b"X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n" + close)], {}))
    out.append(("scope empty header value", [get(b"/scope", extra=b"X-Empty:\r\n" + close)], {}))
    out.append(("scope ws spaces", [get(b"/scope", extra=b"X-Sp:   a b   \r\n" + close)], {}))
    out.append(("scope obs-fold", [get(b"/scope", extra=b"X-Fold: a\r\n b\r\n" + close)], {}))
    out.append(("scope underscore header", [get(b"/scope", extra=b"X_Under: 1\r\n" + close)], {}))
    # Bodies.
    body = b"a" * 100
    out.append(("body cl", [b"POST /body HTTP/1.1\r\nHost: p\r\nContent-Length: 100\r\n\r\n" + body], {}))
    out.append(("body cl split", [b"POST /body HTTP/1.1\r\nHost: p\r\nContent-Length: 100\r\n\r\n", 0.1, body[:50], 0.1, body[50:]], {}))
    out.append(("body chunked", [b"POST /body HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n", 0.1, b"6\r\n world\r\n0\r\n\r\n"], {}))
    out.append(("body chunked ext+trailer", [b"POST /body HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"], {}))
    out.append(("body none", [b"POST /body HTTP/1.1\r\nHost: p\r\n\r\n"], {}))
    out.append(("body 1.0 no cl", [b"POST /body HTTP/1.0\r\n\r\nabc"], {"half_close": True}))
    out.append(("body expect 100", [b"POST /body HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 0.3, b"hello"], {}))
    out.append(("expect 100 not read", [b"POST /empty HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n"], {}))
    out.append(("expect 100 not read, next request instead of body", [b"POST /empty HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\nExpect: 100-continue\r\n\r\n", 0.3, get(b"/nocl_whole")], {}))
    out.append(("body short then eof", [b"POST /body HTTP/1.1\r\nHost: p\r\nContent-Length: 100\r\n\r\nabc"], {"half_close": True}))
    out.append(("body unread keepalive", [b"POST /empty HTTP/1.1\r\nHost: p\r\nContent-Length: 5\r\n\r\nhello" + get(b"/empty")], {}))
    out.append(("cl and te", [b"POST /body HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"], {}))
    out.append(("te chunked on 1.0", [b"POST /body HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"], {}))
    out.append(("te gzip, chunked", [b"POST /body HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: gzip, chunked\r\n" + close + b"\r\n3\r\nabc\r\n0\r\n\r\n"], {}))
    out.append(("two equal content-lengths", [b"POST /body HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\nContent-Length: 3\r\n" + close + b"\r\nabc"], {}))
    out.append(("content-length list", [b"POST /body HTTP/1.1\r\nHost: p\r\nContent-Length: 3, 3\r\n" + close + b"\r\nabc"], {}))
    out.append(("get with body", [b"GET /body HTTP/1.1\r\nHost: p\r\nContent-Length: 3\r\n" + close + b"\r\nabc"], {}))
    out.append(("chunk size overflow", [b"POST /body HTTP/1.1\r\nHost: p\r\nTransfer-Encoding: chunked\r\n" + close + b"\r\nffffffffffffffffff\r\nabc\r\n0\r\n\r\n"], {}))
    out.append(("bare LF head", [b"GET /empty HTTP/1.1\nHost: p\nConnection: close\n\n"], {}))
    out.append(("space before colon", [b"GET /empty HTTP/1.1\r\nHost : p\r\nConnection: close\r\n\r\n"], {}))
    out.append(("host with port and userinfo", [get(b"/scope", extra=close).replace(b"Host: probe", b"Host: u@probe:8080")], {}))
    out.append(("long url 9k", [get(b"/empty?" + b"q" * 9000, extra=close)], {}))
    # Connections.
    out.append(("pipelined 3", [get(b"/empty") + get(b"/nocl") + get(b"/stream", extra=close)], {}))
    out.append(("keep-alive 1.0", [get(b"/empty", b"1.0", b"Connection: keep-alive\r\n")], {}))
    out.append(("keep-alive 1.0 nocl", [get(b"/nocl", b"1.0", b"Connection: keep-alive\r\n")], {}))
    out.append(("close 1.1", [get(b"/empty", extra=close)], {}))
    out.append(("half close", [get(b"/empty")], {"half_close": True}))
    out.append(("1.1 no host", [b"GET /empty HTTP/1.1\r\n\r\n"], {}))
    out.append(("http/2 preface", [b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"], {}))
    out.append(("http/0.9", [b"GET /empty\r\n"], {}))
    out.append(("bad request line", [b"GARBAGE\r\n\r\n"], {}))
    out.append(("upgrade h2c", [get(b"/scope", extra=b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n")], {}))
    out.append(("upgrade websocket to http-only", [get(b"/empty", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")], {}))
    out.append(("upgrade websocket bad version", [get(b"/ws/echo", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 8\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" + close)], {}))
    out.append(("upgrade websocket no key", [get(b"/ws/echo", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n" + close)], {}))
    out.append(("ws deny raw", [get(b"/ws/deny", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")], {}))
    out.append(("ws deny_response raw", [get(b"/ws/deny_response", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")], {}))
    out.append(("ws raise raw", [get(b"/ws/raise", extra=b"Connection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n")], {}))
    out.append(("ws post", [b"POST /ws/echo HTTP/1.1\r\nHost: p\r\nContent-Length: 0\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"], {}))
    # A client that leaves mid-response (the app goes on sending), and a large response.
    out.append(("leaves mid-stream", [get(b"/slow_stream"), 0.2], {"leave": True}))
    out.append(("big response", [get(b"/big", extra=close)], {"digest": True}))
    out.append(("big response 1.0", [get(b"/big?3000000", b"1.0")], {"digest": True}))
    return out


def ask_all(servers, chunks, kw):
    """Each server's normalized answer to `chunks`, the servers asked at once (threads)."""
    def ask(s):
        try:
            raw = exchange(s.port, chunks, **kw)
            return normalize(raw if STRICT or kw.get("digest") else loosen(raw))
        except OSError as exc:
            return f"<error {exc}>"
    with ThreadPoolExecutor(len(servers)) as pool:
        return dict(zip([s.name for s in servers], pool.map(ask, servers)))


def run_raw(servers, only):
    diffs = 0
    for name, chunks, kw in probes():
        if only and not re.search(only, name):
            continue
        answers = ask_all(servers, chunks, kw)
        if len(set(answers.values())) > 1:
            diffs += 1
            print(f"=== {name}")
            for who, text in answers.items():
                print(f"--- {who}\n{text}")
        elif only:
            print(f"=== {name} (all agree)\n{next(iter(answers.values()))}")
    return diffs


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rs", required=True)
    parser.add_argument("--venv", required=True)
    parser.add_argument("--app", default="asgi_probe:app")
    parser.add_argument("--only", help="a regex over probe names")
    parser.add_argument("--servers", help="comma-separated subset of server names")
    parser.add_argument("--tornado", action="store_true", help="-k tornado vs Gunicorn's")
    parser.add_argument("--ws", action="store_true", help="the WebSocket probes too")
    parser.add_argument("--client", action="store_true", help="the httpx probes too")
    parser.add_argument("--logs", default="/tmp/asgi_diff_logs")
    parser.add_argument("--strict", action="store_true", help="framing and wording too")
    opts = parser.parse_args()
    global STRICT
    STRICT = opts.strict
    os.makedirs(opts.logs, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PORT")}
    env["PATH"] = str(Path(opts.venv) / "bin") + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(Path(opts.venv))
    env["PYTHONPATH"] = str(APPS)
    table = servers_for(opts)
    if opts.servers:
        table = {k: v for k, v in table.items() if k in opts.servers.split(",")}
    servers = [Server(name, argv, env, opts.app, opts.logs) for name, argv in table.items()]
    try:
        for s in servers:
            warm = exchange(s.port, [b"GET /empty HTTP/1.1\r\nHost: p\r\nConnection: close\r\n\r\n"], quiet=60)
            if not warm.startswith(b"HTTP/1.1"):
                print(f"{s.name} did not answer: {warm!r}")
        if opts.tornado:
            from tornado_probes import run_tornado
            diffs = run_tornado(servers, opts.only, exchange, normalize)
        else:
            diffs = run_raw(servers, opts.only)
            if opts.ws:
                from asgi_diff_ws import run_ws
                diffs += run_ws(servers, opts.only)
            if opts.client:
                from asgi_diff_ws import run_client
                diffs += run_client(servers, opts.only)
        print(f"{diffs} probe(s) differ")
    finally:
        for s in servers:
            s.stop()


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    main()
