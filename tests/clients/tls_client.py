"""A TLS client for the `--certfile` tests (tests/tls.rs), on Python's `ssl` and
`http.client`: one scenario per run, one JSON summary line on stdout. Every wait is bounded
(10 s); failures are recorded in the summary, not raised.

    tls_client.py session HOST PORT CA N PATH [CERT KEY]
        N requests on one connection: statuses, bodies, whether the socket stayed the same,
        the TLS version, cipher and ALPN protocol; with CERT/KEY, presents a client certificate
    tls_client.py peercert HOST PORT
        the sha256 of the certificate the server presents (DER), unverified
    tls_client.py close HOST PORT CA PATH
        one request saying `Connection: close`, read to the end: whether the end was TLS's
        close_notify (clean) or a bare EOF (Python: "EOF occurred in violation of protocol")
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


if __name__ == "__main__":
    scenario, args = sys.argv[1], sys.argv[2:]
    scenarios = {"session": session, "peercert": peercert, "close": close}
    print(json.dumps(scenarios[scenario](*args)))
