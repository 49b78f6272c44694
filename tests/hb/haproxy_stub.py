#!/usr/bin/python3
# haproxy_stub.py: stands in for HAProxy's stats socket in the heartbeat
# tests: accepts UNIX connections on PATH and answers "show stat" with a
# CSV of two backends whose servers are the nodes, NAME=SCUR each (the
# current sessions, counted once per backend).
#   Usage: haproxy_stub.py PATH NAME=SCUR...
import os
import socket
import sys

path = sys.argv[1]
servers = [a.split("=") for a in sys.argv[2:]]
try:
    os.unlink(path)
except FileNotFoundError:
    pass
head = "# pxname,svname,qcur,qmax,scur,smax,slim,stot,status,weight\n"
rows = "fe_imap,FRONTEND,,,9,9,100,9,OPEN,\n"
for be in ("be_imap", "be_lmtp"):
    for name, cur in servers:
        rows += "%s,%s,0,0,%s,5,,10,UP,100\n" % (be, name, cur)
    rows += "%s,BACKEND,0,0,7,7,10,20,UP,200\n" % be
srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
srv.bind(path)
srv.listen(8)
while True:
    c, _ = srv.accept()
    with c:
        c.settimeout(1)
        try:
            if c.recv(256).decode(errors="replace").startswith("show stat"):
                c.sendall((head + rows + "\n").encode())
            else:
                c.sendall(b"Unknown command.\n")
        except OSError:
            pass
