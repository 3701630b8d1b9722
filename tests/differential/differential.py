#!/usr/bin/env python3
"""Differential test: the same requests sent to gunicorn-rs and to Gunicorn 27 side by side,
each serving echo_app.py with the same settings (`-k gthread`, keep-alive), and the answers
compared: the status of every response, what the app saw (method, path, query, headers, body
digest) and how many requests the bytes made (a second answer where the other server gave one
is a smuggled request). Every disagreement must match a deliberate difference listed in
differences.json, or it is reported as unexplained and the run fails.

    differential.py --rs target/debug/gunicorn-rs --gunicorn .venv/bin/gunicorn --count 2000

Each connection gets the bytes (in the reads mutate.py chose), then a half-close, and is read to
its end; the servers are started on port 0 and stopped by pid whatever happens.
"""
import argparse
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import mutate

HERE = Path(__file__).resolve().parent
ARGS = ["-b", "127.0.0.1:0", "-w", "1", "-k", "gthread", "--threads", "2", "--keep-alive", "5"]
# A connection's whole answer; a server still silent after this is recorded as holding it open.
READ_TIMEOUT = 5.0
# What both servers run: the echo app on port 0.
ECHO = ARGS + ["--chdir", str(HERE), "echo_app:app"]


class ServerProc:
    """A server in its own session on port 0 (`argv` binds `127.0.0.1:0`), stopped by pid
    (its process group); its log is kept for the error that says why it did not start.
    app_diff.py starts its servers with this class too."""

    def __init__(self, name, argv, env):
        self.name = name
        self.log = []
        self.proc = subprocess.Popen(
            argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, start_new_session=True
        )
        self.port = self._wait_listening(time.monotonic() + 60)

    def _wait_listening(self, deadline):
        # The log line is the event: `Listening at: http://127.0.0.1:PORT` (both servers).
        for raw in self.proc.stderr:
            line = raw.decode("utf-8", "replace")
            self.log.append(line)
            match = re.search(r"Listening at: http://127\.0\.0\.1:(\d+)", line)
            if match:
                # Keep draining stderr so the server never blocks on a full pipe.
                threading.Thread(target=self._drain, daemon=True).start()
                return int(match.group(1))
            if time.monotonic() > deadline:
                break
        raise RuntimeError(f"{self.name} did not start listening:\n{''.join(self.log)}")

    def _drain(self):
        for raw in self.proc.stderr:
            self.log.append(raw.decode("utf-8", "replace"))

    def stop(self):
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.proc.wait(timeout=10)


def exchange(port, data, reads):
    """Send `data` cut at `reads` (end offsets), half-close, read to EOF. The raw answer and
    whether the server still held the connection open at the deadline."""
    with socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT) as sock:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        start = 0
        try:
            for end in reads:
                sock.sendall(data[start:end])
                start = end
            sock.shutdown(socket.SHUT_WR)
        except OSError:
            pass  # refused mid-send: what was answered is still read below
        out, deadline = b"", time.monotonic() + READ_TIMEOUT
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except socket.timeout:
                return out, True
            except OSError:
                return out, False
            if not chunk:
                return out, False
            out += chunk
        return out, True


def responses(raw):
    """[(status, echo or None)] from the bytes of a connection's answers."""
    out = []
    while raw.startswith(b"HTTP/"):
        end = raw.find(b"\r\n\r\n")
        if end < 0:
            out.append(("partial", None))
            break
        head, raw = raw[:end].decode("latin-1"), raw[end + 4 :]
        status = head.split(" ", 2)[1]
        length = re.search(r"(?im)^content-length:\s*(\d+)", head)
        body_len = int(length.group(1)) if length and not status.startswith("1") else 0
        body, raw = raw[:body_len], raw[body_len:]
        echo = None
        if "application/json" in head.lower():
            try:
                echo = json.loads(body)
            except ValueError:
                echo = {"unparsable": body.decode("latin-1")}
        out.append((status, echo))
    if raw:
        out.append(("garbage", None))
    return out


def summary(answers, held_open):
    """The statuses in order, `-` for none, `+open` if the server held the connection."""
    text = ",".join(status for status, _ in answers) or "-"
    return text + ("+open" if held_open else "")


def first_echo_difference(a, b):
    for (_, ea), (_, eb) in zip(a, b):
        if ea != eb and ea is not None and eb is not None:
            return next(k for k in sorted(set(ea) | set(eb)) if ea.get(k) != eb.get(k))
    return ""


def head_fields(data):
    """(name, value) of the first head's field lines, as a lenient reader splits them."""
    end = data.find(b"\r\n\r\n")
    lines = data[: end if end >= 0 else len(data)].split(b"\r\n")[1:]
    return [(n.strip().lower(), v.strip()) for n, _, v in (l.partition(b":") for l in lines)]


def truncated_body(data):
    """The first head is complete, says one Content-Length, and fewer bytes follow it."""
    end = data.find(b"\r\n\r\n")
    lengths = [v for n, v in head_fields(data) if n == b"content-length"]
    return end >= 0 and len(lengths) == 1 and lengths[0].isdigit() and len(data) - end - 4 < int(lengths[0])


def coding_after_chunked(data):
    """Transfer-Encoding lists a coding other than Gunicorn's known ones after `chunked`."""
    codings = [c.strip().lower() for n, v in head_fields(data) if n == b"transfer-encoding" for c in v.split(b",")]
    known = (b"chunked", b"identity", b"gzip", b"deflate", b"compress")
    return b"chunked" in codings and any(c not in known for c in codings[codings.index(b"chunked") :])


def connection_options_beyond_the_first(data):
    """More than one Connection field, or a list in one: options Gunicorn does not read."""
    values = [v for n, v in head_fields(data) if n == b"connection"]
    return len(values) > 1 or any(b"," in v for v in values)


def request_line_over_limit(data):
    """A line (to its LF, or the rest) longer than Gunicorn's default request-line limit,
    4094: the first request's, or one after a blank line that a next request could start."""
    return any(len(line) > 4094 + 1 for line in data.split(b"\n"))


def more_fields_than_the_limit(data):
    """More than Gunicorn's default 100 CRLF-ended lines after the request line, before the
    head's end (or in all of it, if it has none)."""
    end = data.find(b"\r\n\r\n")
    return data[: end if end >= 0 else len(data)].count(b"\r\n") - 1 > 100


def http11_without_host(data):
    """An HTTP/1.1 request line whose head (up to its blank line) has no Host field."""
    for line in re.finditer(rb" HTTP/1\.1\r\n", data):
        start = line.end() - 2
        end = data.find(b"\r\n\r\n", start)
        head = data[start : end + 2 if end >= 0 else len(data)]
        if not re.search(rb"\r\nhost:", head, re.IGNORECASE):
            return True
    return False


def head_incomplete(data):
    """The first head never ends (no blank line before the client's half-close)."""
    return b"\r\n\r\n" not in data


# RFC 3986 §3.2.2-3.2.3: an IP-literal, or a reg-name / IPv4 address, and an optional port.
HOST = re.compile(rb"(\[[0-9A-Fa-f:.vV]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]*)(:[0-9]*)?")


def invalid_host(data):
    """A Host value anywhere that is not host[:port], or more than one Host in the first head."""
    hosts = [v for n, v in head_fields(data) if n == b"host"]
    values = [v.strip() for v in re.findall(rb"\r\nhost:([^\r\n]*)", data, re.IGNORECASE)]
    return len(hosts) > 1 or any(not HOST.fullmatch(v) for v in values)


def connect_authority(data):
    """A CONNECT request (its target must be host:port, RFC 9110 section 9.3.6)."""
    return re.search(rb"^CONNECT ", data, re.MULTILINE) is not None


def empty_list_element(data):
    """A Transfer-Encoding or Expect list with an empty element (RFC 9110 section 5.6.1.2)."""
    return any(
        n in (b"transfer-encoding", b"expect") and any(not e.strip() for e in v.split(b","))
        for n, v in head_fields(data)
    )


def absolute_form(data):
    """A request-target with `://` that is not origin-form: absolute-form, whose authority is
    the request's host and whose scheme must be valid."""
    return re.search(rb"^[^ \r\n]+ (?!/)[^ \r\n]*://", data, re.MULTILINE) is not None


def bytes_after_the_body(data):
    """One complete request framed by one Content-Length (or none and no Transfer-Encoding),
    followed by bytes that never make a head: the start of a next request that cannot be."""
    end = data.find(b"\r\n\r\n")
    if end < 0:
        return False
    fields = head_fields(data)
    lengths = [v for n, v in fields if n == b"content-length"]
    if any(n == b"transfer-encoding" for n, _ in fields) or len(lengths) > 1:
        return False
    if lengths and not lengths[0].isdigit():
        return False
    rest = data[end + 4 + (int(lengths[0]) if lengths else 0) :]
    return bool(rest) and b"\r\n\r\n" not in rest


def empty_transfer_encoding(data):
    """A Transfer-Encoding field whose list has no element."""
    return any(n == b"transfer-encoding" and not v.replace(b",", b"").strip() for n, v in head_fields(data))


# The properties a listed difference can require of the request (`when` in differences.json).
FACTS = {
    "http11_without_host": http11_without_host,
    "head_incomplete": head_incomplete,
    "connect_authority": connect_authority,
    "empty_list_element": empty_list_element,
    "not_ending_a_head": lambda data: not data.endswith(b"\r\n\r\n"),
    "bytes_after_the_body": bytes_after_the_body,
    "invalid_host": invalid_host,
    "absolute_form": absolute_form,
    "empty_transfer_encoding": empty_transfer_encoding,
    "truncated_body": truncated_body,
    "oversize_field_line": lambda data: any(len(l) + 2 > 8190 for l in data.split(b"\r\n")[1:]),
    "coding_after_chunked": coding_after_chunked,
    "bare_lf": lambda data: re.search(rb"(?<!\r)\n", data) is not None,
    "connection_options_beyond_the_first": connection_options_beyond_the_first,
    "request_line_over_limit": request_line_over_limit,
    "more_fields_than_the_limit": more_fields_than_the_limit,
}


def explain(rules, request, rs, gu, field):
    """The first listed difference this disagreement matches, or None."""
    for rule in rules:
        if "gunicorn-rs-adds" in rule:
            # gunicorn-rs answered what Gunicorn did, and then one more (a refusal).
            extra = rs[len(gu) + 1 :] if gu != "-" and rs.startswith(gu + ",") else None
            if extra is None or not re.fullmatch(rule["gunicorn-rs-adds"], extra):
                continue
        elif not re.fullmatch(rule["gunicorn-rs"], rs) or not re.fullmatch(rule["gunicorn"], gu):
            continue
        if rule.get("field", "") != field or not FACTS[rule["when"]](request):
            continue
        return rule["id"]
    return None


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rs", required=True, help="the gunicorn-rs binary")
    parser.add_argument("--gunicorn", required=True, help="Gunicorn 27's gunicorn script")
    parser.add_argument("--count", type=int, default=1000, help="inputs to compare")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--time-limit", type=float, default=600, help="seconds, then stop")
    parser.add_argument("--show", type=int, default=10, help="unexplained cases to print")
    opts = parser.parse_args()

    # A SIGTERM (the test's `timeout`) unwinds through the `finally` that stops the servers.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(124))
    rules = json.loads((HERE / "differences.json").read_text())["differences"]
    env = {k: v for k, v in os.environ.items() if k not in ("GUNICORN_CMD_ARGS", "WEB_CONCURRENCY", "PORT")}
    venv_bin = str(Path(opts.gunicorn).resolve().parent)
    env["PATH"] = venv_bin + os.pathsep + env.get("PATH", "")
    env["VIRTUAL_ENV"] = str(Path(venv_bin).parent)
    servers = []
    try:
        servers.append(ServerProc("gunicorn-rs", [opts.rs] + ECHO, env))
        # The pure-Python parser: Gunicorn's reference, which expected.json records. With
        # gunicorn_h1c installed, `auto` picks the C parser (picohttpparser), whose messages and
        # early refusals differ from it.
        servers.append(ServerProc("gunicorn", [opts.gunicorn, "--http-parser", "python"] + ECHO, env))
        compared, agreed, explained, unexplained = 0, 0, {}, []
        deadline = time.monotonic() + opts.time_limit
        for name, data, reads in mutate.inputs(opts.seed):
            if compared >= opts.count or time.monotonic() > deadline:
                break
            rs_raw, rs_open = exchange(servers[0].port, data, reads)
            gu_raw, gu_open = exchange(servers[1].port, data, reads)
            rs_ans, gu_ans = responses(rs_raw), responses(gu_raw)
            compared += 1
            rs, gu = summary(rs_ans, rs_open), summary(gu_ans, gu_open)
            field = first_echo_difference(rs_ans, gu_ans)
            if rs == gu and not field:
                agreed += 1
                continue
            why = explain(rules, data, rs, gu, field)
            if why:
                explained[why] = explained.get(why, 0) + 1
            else:
                unexplained.append((name, data, reads, rs, gu, field, rs_ans, gu_ans))
    finally:
        for server in servers:
            server.stop()

    print(f"compared {compared} inputs: {agreed} agreed, "
          f"{sum(explained.values())} listed differences, {len(unexplained)} unexplained")
    for rule_id, n in sorted(explained.items()):
        print(f"  {n:6d}  {rule_id}")
    for name, data, reads, rs, gu, field, rs_ans, gu_ans in unexplained[: opts.show]:
        shown = data if len(data) <= 300 else data[:150] + b"..." + data[-150:]
        print(f"\nUNEXPLAINED {name} reads={reads}\n  request: {shown!r}\n"
              f"  gunicorn-rs: {rs}  gunicorn: {gu}  differing echo field: {field or '-'}")
        if field:
            print(f"  gunicorn-rs saw: {[e for _, e in rs_ans]}\n  gunicorn saw:    {[e for _, e in gu_ans]}")
    sys.exit(1 if unexplained else 0)


if __name__ == "__main__":
    main()
