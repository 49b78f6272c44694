#!/usr/bin/python3
# responder.py: stands in for an IMAP or SMTP server in the heartbeat
# tests: accepts TCP connections on PORT and sends GREETING plus the node
# name, so the client can tell which node answered.  Usage:
#   responder.py PORT GREETING NODE
import socket
import sys
import threading

port, greeting, node = int(sys.argv[1]), sys.argv[2], sys.argv[3]
srv = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)   # IPv4 and IPv6
srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
srv.bind(("::", port))
srv.listen(64)


def serve(conn):
    try:
        conn.sendall(("%s node=%s\r\n" % (greeting, node)).encode())
        conn.settimeout(2)
        conn.recv(64)
    except OSError:
        pass
    finally:
        conn.close()


while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
