"""The raw side of app_diff.py: send a case's steps on one connection, read each response by
its own framing (RFC 9112 §6.3: HEAD, 1xx, 204 and 304 have no body; then chunked, then
Content-Length, then to the close), see how the connection ends, and render all of it as text
in which only what matters to a client is left (no Date, no Server, no error-page prose)."""
import json
import socket

TIMEOUT = 3.0
# How long an idle kept-alive connection is watched for a close or a stray byte.
IDLE = 0.5


class Wire:
    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.buf = b""
        self.eof = False

    def fill(self, timeout=TIMEOUT):
        """Read more; False at EOF or when nothing came within `timeout`."""
        if self.eof:
            return False
        self.sock.settimeout(timeout)
        try:
            data = self.sock.recv(65536)
        except socket.timeout:
            return False
        except OSError as err:
            self.eof = f"reset ({err.__class__.__name__})"
            return False
        if not data:
            self.eof = "closed"
            return False
        self.buf += data
        return True

    def line(self):
        while b"\r\n" not in self.buf:
            if not self.fill():
                raise EOFError("no line")
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def take(self, n):
        while len(self.buf) < n:
            if not self.fill():
                raise EOFError(f"{len(self.buf)} of {n} bytes")
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def rest(self):
        while self.fill():
            pass
        out, self.buf = self.buf, b""
        return out


def read_head(wire):
    status = wire.line().decode("latin-1")
    headers = []
    while True:
        line = wire.line()
        if not line:
            return status, headers
        name, _, value = line.decode("latin-1").partition(":")
        headers.append((name.strip().lower(), value.strip()))


def read_body(wire, method, code, headers):
    """(framing, body, trailers)."""
    fields = dict(headers)
    if method == "HEAD" or code in (204, 304) or 100 <= code < 200:
        return "none", b"", []
    if "chunked" in fields.get("transfer-encoding", ""):
        body = b""
        while True:
            size = int(wire.line().split(b";")[0], 16)
            if size == 0:
                break
            body += wire.take(size)
            if wire.take(2) != b"\r\n":
                return "chunked, bad chunk end", body, []
        trailers = []
        while (line := wire.line()):
            trailers.append(line.decode("latin-1"))
        return "chunked", body, trailers
    if "content-length" in fields:
        n = int(fields["content-length"])
        try:
            return "length", wire.take(n), []
        except EOFError as err:
            return f"length, short: {err}", wire.rest(), []
    return "to close", wire.rest(), []


def read_response(wire, method):
    """Every response up to the final one: [(status, headers, framing, body, trailers)]."""
    out = []
    while True:
        status, headers = read_head(wire)
        code = int(status.split(" ")[1])
        framing, body, trailers = read_body(wire, method, code, headers)
        out.append((status, headers, framing, body, trailers))
        if not 100 <= code < 200:
            return out


def exchange(port, steps):
    """Run `steps` on one connection. A step is ("send", bytes, [methods answered]) or
    ("expect100", head, body, method): the head, up to 1.5 s for an interim, then the body."""
    wire = Wire(port)
    transcript = []
    try:
        for step in steps:
            if step[0] == "send":
                wire.sock.sendall(step[1])
                for method in step[2]:
                    transcript += read_response(wire, method)
            else:
                _, head, body, method = step
                wire.sock.sendall(head)
                interim = wire.fill(1.5)
                transcript.append(("interim before the body" if interim else "nothing before the body",))
                wire.sock.sendall(body)
                transcript += read_response(wire, method)
    except (EOFError, OSError, ValueError, IndexError) as err:
        transcript.append((f"client stopped: {type(err).__name__}: {err}",))
    transcript.append(ending(wire))
    wire.sock.close()
    return transcript


def ending(wire):
    """How the connection ends after the last response: closed, kept open, or more bytes."""
    if wire.buf:
        return ("stray bytes " + repr(wire.buf[:200]),)
    wire.fill(IDLE)
    if wire.buf:
        return ("stray bytes " + repr(wire.buf[:200]),)
    return (wire.eof or "kept open",)


SKIP = {"date", "server"}


def is_json(body):
    try:
        return body.startswith(b"{") and bool(json.loads(body))
    except ValueError:
        return False


def show_body(body):
    """A JSON body one key a line (so a difference shows as one line), else its repr."""
    if body.startswith(b"{"):
        try:
            seen = json.loads(body)
        except ValueError:
            pass
        else:
            return "".join(f"\n      {k}: {seen[k]!r}" for k in sorted(seen))
    return repr(body) if len(body) <= 240 else repr(body[:120]) + "..." + repr(body[-60:])


def render(transcript):
    lines = []
    for entry in transcript:
        if len(entry) == 1:
            lines.append(f"  [{entry[0]}]")
            continue
        status, headers, framing, body, trailers = entry
        code = int(status.split(" ")[1])
        lines.append("  " + status)
        for name, value in sorted(headers, key=lambda h: h[0]):
            if name in SKIP or (code >= 500 and name in ("content-length", "content-type")):
                continue
            if name == "content-length" and is_json(body):
                value = "<the JSON's>"  # the JSON is compared key by key below
            lines.append(f"    {name}: {value}")
        if code >= 500:
            body = b"<error page>" if body else b""
        length = "-" if code >= 500 or is_json(body) else len(body)
        lines.append(f"    body ({framing}, {length}): {show_body(body)}")
        if trailers:
            lines.append(f"    trailers: {trailers}")
    return "\n".join(lines)


def closed_count(port):
    """The probe's count of close() calls since the last ask, on a fresh connection."""
    wire = Wire(port)
    wire.sock.sendall(b"GET /closed HTTP/1.1\r\nHost: example.com\r\nConnection: close\r\n\r\n")
    try:
        (_, _, _, body, _), = read_response(wire, "GET")
    except (EOFError, OSError, ValueError) as err:
        body = repr(err).encode()
    wire.sock.close()
    return "\n  close() calls: " + body.decode("latin-1")
