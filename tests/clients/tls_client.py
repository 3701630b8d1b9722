"""A TLS client for the `--certfile` tests (tests/tls.rs), on Python's `ssl` and
`http.client`: one scenario per run, one JSON summary line on stdout. Every wait is bounded
(10 s); failures are recorded in the summary, not raised.

    tls_client.py session HOST PORT CA N PATH [CERT KEY]
        N requests on one connection: statuses, bodies, whether the socket stayed the same,
        the TLS version, cipher and ALPN protocol; with CERT/KEY, presents a client certificate
    tls_client.py peercert HOST PORT
        the sha256 of the certificate the server presents (DER), unverified
    tls_client.py pipelined HOST PORT CA PATH SIZE
        a POST filling a TLS record of SIZE bytes and a GET in the next record, both in one
        write of the socket: the two responses' statuses and body lengths
    tls_client.py body_split HOST PORT CA PATH SIZE
        a POST whose body is a record of SIZE bytes and one of 10, in one write
    tls_client.py close HOST PORT CA PATH
        one request saying `Connection: close`, read to the end: whether the end was TLS's
        close_notify (clean) or a bare EOF (Python: "EOF occurred in violation of protocol")
    tls_client.py resume HOST PORT CA TRIES VERSION
        against tests/apps/tls_resume.py, TLS VERSION (1.2 or 1.3): one full handshake, then
        up to TRIES rounds in which one connection holds a worker (`/held`, its 103 names it)
        while another asks `/pid`, both offering the first connection's session: each
        connection's worker and whether it resumed, until one resumed on a worker other than
        the one that issued the session
"""
import hashlib
import http.client
import json
import socket
import ssl
import sys

TIMEOUT = 10


def session(host, port, ca, n, path, cert=None, key=None):
    context = ssl.create_default_context(cafile=ca)
    context.set_alpn_protocols(["h2", "http/1.1"])
    if cert:
        context.load_cert_chain(cert, key)
    out = {"statuses": [], "bodies": []}
    conn = http.client.HTTPSConnection(host, int(port), context=context, timeout=TIMEOUT)
    try:
        conn.connect()
        first = conn.sock
        out["version"] = first.version()
        out["cipher"] = first.cipher()[0]
        out["alpn"] = first.selected_alpn_protocol()
        for _ in range(int(n)):
            conn.request("GET", path)
            r = conn.getresponse()
            out["statuses"].append(r.status)
            out["bodies"].append(r.read().decode("utf-8", "replace"))
            # A response saying close leaves no socket: the next request would reconnect.
            out["same_socket"] = conn.sock is first or conn.sock is None
    except (OSError, http.client.HTTPException) as e:
        out["error"] = "%s: %s" % (type(e).__name__, e)
    finally:
        conn.close()
    return out


def peercert(host, port):
    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
        with context.wrap_socket(raw) as tls:
            return {"sha256": hashlib.sha256(tls.getpeercert(binary_form=True)).hexdigest()}


class Flight:
    """TLS over a memory BIO: records are made here and leave in one write of the socket,
    so the server reads them together (in one read, as far as its reads are large)."""

    def __init__(self, raw, context, host):
        self.raw = raw
        self.incoming, self.outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        self.tls = context.wrap_bio(self.incoming, self.outgoing, server_hostname=host)
        self.buffered = b""
        while True:
            try:
                self.tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                self.flush()
                self.pull()
        self.flush()

    def flush(self):
        self.raw.sendall(self.outgoing.read())

    def pull(self):
        data = self.raw.recv(65536)
        if not data:
            raise ConnectionError("EOF")
        self.incoming.write(data)

    def readline(self):
        while b"\r\n" not in self.buffered:
            self.more()
        line, _, self.buffered = self.buffered.partition(b"\r\n")
        return line + b"\r\n"

    def read(self, n):
        while len(self.buffered) < n:
            self.more()
        out, self.buffered = self.buffered[:n], self.buffered[n:]
        return out

    def more(self):
        try:
            self.buffered += self.tls.read(65536)
        except ssl.SSLWantReadError:
            self.flush()
            self.pull()


def read_response(f):
    """One HTTP/1.1 response with a Content-Length from `f` (a Flight)."""
    status = int(f.readline().split()[1])
    length = 0
    while True:
        line = f.readline()
        if line == b"\r\n":
            break
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    return status, len(f.read(length))


def pipelined(host, port, ca, path, size):
    """A POST whose head and body fill a TLS record of exactly SIZE bytes of plaintext, and a
    GET in a record of its own, both in one write of the socket."""
    context = ssl.create_default_context(cafile=ca)
    out = {"statuses": [], "lengths": []}
    size = int(size)
    head = lambda n: b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path.encode(), n)
    body_len = size - len(head(size))
    body_len = size - len(head(body_len))
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
        try:
            flight = Flight(raw, context, host)
            flight.tls.write(head(body_len) + b"x" * body_len)
            flight.tls.write(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % path.encode())
            flight.flush()
            for _ in range(2):
                status, length = read_response(flight)
                out["statuses"].append(status)
                out["lengths"].append(length)
        except (OSError, ValueError, IndexError, ssl.SSLError) as e:
            out["error"] = "%s: %s" % (type(e).__name__, e)
    out["body"] = body_len
    return out


def body_split(host, port, ca, path, size):
    """A POST's head in a record, SIZE bytes of its body in the next and its last 10 bytes in
    a third, all in one write of the socket: the response's status and body length."""
    context = ssl.create_default_context(cafile=ca)
    out = {"statuses": [], "lengths": [], "body": int(size) + 10}
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
        try:
            flight = Flight(raw, context, host)
            flight.tls.write(b"POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
                             % (path.encode(), out["body"]))
            flight.tls.write(b"x" * int(size))
            flight.tls.write(b"y" * 10)
            flight.flush()
            status, length = read_response(flight)
            out["statuses"].append(status)
            out["lengths"].append(length)
        except (OSError, ValueError, IndexError, ssl.SSLError) as e:
            out["error"] = "%s: %s" % (type(e).__name__, e)
    return out


def close(host, port, ca, path):
    context = ssl.create_default_context(cafile=ca)
    out = {"bytes": 0}
    with socket.create_connection((host, int(port)), timeout=TIMEOUT) as raw:
        # Ragged EOFs raised, not taken for an end (Python suppresses them by default).
        with context.wrap_socket(raw, server_hostname=host, suppress_ragged_eofs=False) as tls:
            tls.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
            try:
                while True:
                    chunk = tls.recv(65536)
                    if not chunk:
                        out["clean"] = True
                        break
                    out["bytes"] += len(chunk)
            except ssl.SSLError as e:
                out["clean"] = False
                out["error"] = str(e)
    return out


def _exchange(context, host, port, session, path):
    """A connection offering `session`: (the socket, whether it resumed) with `path`'s request
    sent, or what `wrap_socket` raised."""
    raw = socket.create_connection((host, int(port)), timeout=TIMEOUT)
    tls = context.wrap_socket(raw, server_hostname=host, session=session)
    tls.sendall(("GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % path).encode())
    return tls, tls.session_reused


def _read_to_end(tls):
    data = b""
    while True:
        chunk = tls.recv(65536)
        if not chunk:
            return data
        data += chunk


def _pid_of(tls):
    """The final response's body (the worker's pid); the session the socket holds after it
    (TLS 1.3 tickets come after the handshake, with or before the response)."""
    data = _read_to_end(tls)
    return data.rsplit(b"\r\n\r\n", 1)[-1].decode(), tls.session


def resume(host, port, ca, tries, version):
    context = ssl.create_default_context(cafile=ca)
    context.maximum_version = {"1.2": ssl.TLSVersion.TLSv1_2, "1.3": ssl.TLSVersion.TLSv1_3}[version]
    first, _ = _exchange(context, host, port, None, "/pid")
    with first:
        issuer, session = _pid_of(first)
        out = {"issuer": issuer, "version": first.version(), "rounds": []}
    for _ in range(int(tries)):
        held, held_reused = _exchange(context, host, port, session, "/held?s=0.3")
        with held:
            # The 103 says the worker is in the app; a connection now goes to the other.
            hints = b""
            while b"\r\n\r\n" not in hints:
                hints += held.recv(1)
            held_by = [line.split(b":", 1)[1].strip().decode() for line in hints.split(b"\r\n")
                       if line.lower().startswith(b"x-worker:")]
            other, other_reused = _exchange(context, host, port, session, "/pid")
            with other:
                served_by, _ = _pid_of(other)
            _read_to_end(held)
        out["rounds"].append({"held_by": held_by, "held_resumed": held_reused,
                              "served_by": served_by, "resumed": other_reused})
        if served_by != issuer:
            break
    return out


if __name__ == "__main__":
    scenario, args = sys.argv[1], sys.argv[2:]
    scenarios = {"session": session, "peercert": peercert, "close": close, "pipelined": pipelined,
                 "body_split": body_split, "resume": resume}
    print(json.dumps(scenarios[scenario](*args)))
