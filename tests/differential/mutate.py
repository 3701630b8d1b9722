"""Requests for the differential harness: Gunicorn's corpus (tests/requests, default-settings
fixtures) and generated requests, mutated the ways smuggling and parser bugs hide — byte flips,
duplicated fields, Content-Length/Transfer-Encoding combinations, odd whitespace and line ends,
a second request behind the first — and cut into reads."""
import json
import random
import re
from pathlib import Path

REQUESTS = Path(__file__).resolve().parent.parent / "requests"
INTERESTING = b"\r\n \t:;,0159aAfF-+xX\x00\x0b\x7f\x80\xff\"=/_"
METHODS = [b"GET", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH"]
PATHS = [b"/", b"/a/b?c=d", b"/%7Efoo/bar?x=1&y=%20", b"//double", b"/a#frag", b"*", b"http://h/x?q"]
FIELDS = [
    b"Host: example.com",
    b"User-Agent: curl/8.0",
    b"Accept: */*",
    b"X-Forwarded-For: 10.0.0.1",
    b"Connection: keep-alive",
    b"Cookie: a=b; c=d",
    b"X_Under: score",
]
FRAMINGS = [
    b"Content-Length: {n}",
    b"Content-Length: 0{n}",
    b"Content-Length: {n}\r\nContent-Length: {n}",
    b"Content-Length: {n}, {n}",
    b"Content-Length:  {n} ",
    b"Content-Length: +{n}",
    b"Transfer-Encoding: chunked",
    b"Transfer-Encoding: Chunked",
    b"Transfer-Encoding: chunked\r\nContent-Length: {n}",
    b"Content-Length: {n}\r\nTransfer-Encoding: chunked",
    b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, identity",
    b"Transfer-Encoding: identity",
    b"Transfer-Encoding:\tchunked",
    b"Transfer-Encoding : chunked",
    b"Transfer-Encoding: chunked\r\nTransfer-Encoding: chunked",
    b" Transfer-Encoding: chunked",
    b"Transfer-Encoding: \x0bchunked",
]


def wire_bytes(text: bytes) -> bytes:
    """tests/requests/README.md's conversion of a .http file."""
    data = text.replace(b"\n", b"")
    for src, dst in ((b"\\r\\n", b"\r\n"), (b"\\0", b"\0"), (b"\\n", b"\n"), (b"\\t", b"\t")):
        data = data.replace(src, dst)
    return re.sub(rb"\\x([0-9A-Fa-f]{2})", lambda m: bytes([int(m.group(1), 16)]), data)


def corpus() -> list:
    """The fixtures that run with Gunicorn's default settings."""
    expected = json.loads((REQUESTS / "expected.json").read_text())
    out = []
    for kind in ("valid", "invalid"):
        for path in sorted((REQUESTS / kind).glob("*.http")):
            if not expected[kind][path.name].get("config"):
                out.append(wire_bytes(path.read_bytes()))
    return out


def body_for(framing: bytes, payload: bytes, rng: random.Random) -> bytes:
    if b"chunked" in framing.lower():
        size = max(1, rng.choice([len(payload), len(payload) // 2]))
        chunks = b"".join(
            b"%x\r\n%s\r\n" % (len(payload[i : i + size]), payload[i : i + size])
            for i in range(0, len(payload), size)
        )
        return chunks + rng.choice([b"0\r\n\r\n", b"0\r\nX-Trailer: t\r\n\r\n", b"0\r\n"])
    return payload


def generated(rng: random.Random) -> bytes:
    method = rng.choice(METHODS)
    version = rng.choice([b"HTTP/1.1", b"HTTP/1.1", b"HTTP/1.0"])
    lines = [method + b" " + rng.choice(PATHS) + b" " + version]
    lines += rng.sample(FIELDS, rng.randint(0, 4))
    payload = bytes(rng.choice(b"abcxyz0123\r\n") for _ in range(rng.randint(0, 24)))
    body = b""
    if payload or rng.random() < 0.3:
        framing = rng.choice(FRAMINGS).replace(b"{n}", str(len(payload)).encode())
        lines.append(framing)
        body = body_for(framing, payload, rng)
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


def field_lines(req: bytes):
    """Offsets (start, end) of the field lines of the head (after the request line)."""
    head_end = req.find(b"\r\n\r\n")
    first = req.find(b"\r\n")
    if head_end < 0 or first < 0 or first >= head_end:
        return []
    spans, pos = [], first + 2
    while pos < head_end:
        end = req.find(b"\r\n", pos)
        spans.append((pos, end))
        pos = end + 2
    return spans


def mutate(req: bytes, rng: random.Random) -> bytes:
    data = bytearray(req)
    kind = rng.randrange(9)
    lines = field_lines(req)
    if kind == 0 and data:  # byte flip
        data[rng.randrange(len(data))] = rng.choice(INTERESTING)
    elif kind == 1 and data:  # insert a byte
        data.insert(rng.randrange(len(data) + 1), rng.choice(INTERESTING))
    elif kind == 2 and data:  # delete a byte
        del data[rng.randrange(len(data))]
    elif kind == 3 and lines:  # duplicate a field line
        start, end = rng.choice(lines)
        data[end + 2 : end + 2] = req[start:end] + b"\r\n"
    elif kind == 4 and lines:  # a framing field added
        start, _ = rng.choice(lines)
        framing = rng.choice(FRAMINGS).replace(b"{n}", str(rng.choice([0, 1, 5, 10])).encode())
        data[start:start] = framing + b"\r\n"
    elif kind == 5:  # odd whitespace
        spots = [i for i, b in enumerate(data) if b in b" :"]
        if spots:
            i = rng.choice(spots)
            data[i : i + 1] = rng.choice([b"  ", b"\t", b" \t", b" :", b": ", b"\x0b", b"\r"]) if data[i] == 32 else rng.choice([b" :", b":\t", b": \t", b"::"])
    elif kind == 6:  # line ends: a CRLF made LF, CR or doubled
        spots = [m.start() for m in re.finditer(rb"\r\n", bytes(data))]
        if spots:
            i = rng.choice(spots)
            data[i : i + 2] = rng.choice([b"\n", b"\r", b"\r\n\r\n", b"\r\r\n", b"\r\n "])
    elif kind == 7:  # a second request behind the first (smuggling shows as an extra answer)
        data += b"GET /second HTTP/1.1\r\nHost: x\r\n\r\n"
    else:  # truncated
        data = data[: rng.randrange(len(data) + 1)]
    return bytes(data)


def with_host(req: bytes) -> bytes:
    """`req` with a Host field after its request line if it is HTTP/1.1 and has none: RFC 9112
    §3.2 makes such a request a 400 in gunicorn-rs (a listed difference), so the corpus is
    compared on what it was written to test, and a tenth of the inputs are left without."""
    line_end = req.find(b"\r\n")
    head_end = req.find(b"\r\n\r\n")
    if line_end < 0 or not req[:line_end].endswith(b" HTTP/1.1"):
        return req
    head = req[: head_end if head_end >= 0 else len(req)]
    if re.search(rb"\r\nhost:", head, re.IGNORECASE):
        return req
    return req[: line_end + 2] + b"Host: example.com\r\n" + req[line_end + 2 :]


def inputs(seed: int):
    """An endless stream of (name, bytes, reads): the corpus once, then mutated and generated
    requests; `reads` says where the bytes are cut into separate writes."""
    rng = random.Random(seed)
    base = corpus()
    for i, req in enumerate(map(with_host, base)):
        yield f"corpus#{i}", req, [len(req)]
    n = 0
    while True:
        n += 1
        req = rng.choice(base) if rng.random() < 0.4 else generated(rng)
        if rng.random() < 0.9:
            req = with_host(req)
        for _ in range(rng.choice([0, 1, 1, 2, 3])):
            req = mutate(req, rng)
        cuts = sorted(rng.sample(range(1, len(req)), min(len(req) - 1, rng.choice([0, 0, 1, 2])))) if len(req) > 1 else []
        yield f"mutated#{n}", req, cuts + [len(req)]
