"""Socket activation as systemd does it (sd_listen_fds(3)), for tests/lifecycle.rs.

Binds a listening TCP socket on 127.0.0.1:0, puts it on fd 3, sets LISTEN_FDS=1 and
LISTEN_PID=<own pid>, and execs argv[1:] (the server): exec keeps the pid, so LISTEN_PID
names the server.
"""
import os
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
sock.bind(("127.0.0.1", 0))
sock.listen(128)
if sock.fileno() != 3:
    os.dup2(sock.fileno(), 3)
    sock.close()
os.set_inheritable(3, True)
os.environ["LISTEN_FDS"] = "1"
os.environ["LISTEN_PID"] = str(os.getpid())
os.execv(sys.argv[1], sys.argv[1:])
