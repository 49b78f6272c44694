#!/usr/bin/python3
# mhafs_stub.py: stands in for mhafs's control socket in the heartbeat
# tests: accepts UNIX connections on PATH, appends every line received to
# LOG and answers "OK"; "STATUS" is answered with the lines of LOG.status
# (if that file exists, else "replication=off") and "END", and not logged.
#   Usage: mhafs_stub.py PATH LOG
import os
import socket
import sys

path, log = sys.argv[1], sys.argv[2]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
while True:
    c, _ = srv.accept()
    with c:
        c.settimeout(1)
        try:
            data = c.recv(256).decode(errors="replace")
            if data.startswith("STATUS"):
                try:
                    with open(log + ".status") as f:
                        status = f.read()
                except FileNotFoundError:
                    status = "replication=off\n"
                c.sendall((status + "END\n").encode())
                continue
            with open(log, "a") as f:
                f.write(data)
            c.sendall(b"OK\n")
        except OSError:
            pass
