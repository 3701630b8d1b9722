"""Bind a listening socket, then exec the server with `-b fd://N` on it (argv[1:] is the
server command line with the placeholder FD), the way a supervisor hands over a socket."""

import os
import socket
import sys

sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
sock.bind(("127.0.0.1", 0))
sock.listen(16)
fd = sock.fileno()
os.set_inheritable(fd, True)
print("bound port %d" % sock.getsockname()[1], file=sys.stderr, flush=True)
args = [a.replace("FD", str(fd)) for a in sys.argv[1:]]
os.execv(args[0], args)
