#!/usr/bin/python3
"""tests/chaos/baltap.py: what each node's HAProxy thinks of the servers,
over time, for tracing the fault run's outages.  Every 0.25 s it asks each
HAProxy's stats socket for `show stat` and writes one line to OUT whenever
a server of the smtp or imap backend changes status or weight, or a
HAProxy stops or starts answering:

  baltap.py OUT NAME=SOCKET ...

  2026-12-06 06:01:02.345 n1 smtp/n2 DOWN w=0 (check L4CON, agent L7OK)
  2026-12-06 06:01:02.345 n2 haproxy: not answering (ConnectionRefusedError)

NAME is the node whose HAProxy it is.  Runs until killed.
"""
import csv
import socket
import sys
import time

BACKENDS = ("smtp", "imap")


def show_stat(path):
    s = socket.socket(socket.AF_UNIX)
    s.settimeout(1)
    try:
        s.connect(path)
        s.sendall(b"show stat\n")
        out = b""
        while True:
            b = s.recv(65536)
            if not b:
                break
            out += b
    finally:
        s.close()
    lines = out.decode(errors="replace").splitlines()
    if not lines or not lines[0].startswith("# "):
        raise RuntimeError("no stat header")
    head = lines[0][2:].split(",")
    rows = {}
    for r in csv.reader(lines[1:]):
        d = dict(zip(head, r))
        if d.get("pxname") in BACKENDS and d.get("svname") not in ("FRONTEND", "BACKEND", None):
            rows["%s/%s" % (d["pxname"], d["svname"])] = d
    return rows


def stamp():
    now = time.time()
    return time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + ".%03d" % (now % 1 * 1000)


def main():
    if len(sys.argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    out = open(sys.argv[1], "a", buffering=1)
    socks = [a.partition("=")[::2] for a in sys.argv[2:]]
    last = {}
    while True:
        for name, path in socks:
            try:
                rows = show_stat(path)
            except (OSError, RuntimeError) as e:
                key = (name, "haproxy")
                if last.get(key) != "down":
                    last[key] = "down"
                    out.write("%s %s haproxy: not answering (%s)\n" % (stamp(), name, type(e).__name__))
                continue
            if last.get((name, "haproxy")) != "up":
                last[(name, "haproxy")] = "up"
                out.write("%s %s haproxy: answering\n" % (stamp(), name))
            for sv, d in sorted(rows.items()):
                state = (d.get("status", "?"), d.get("weight", "?"))
                if last.get((name, sv)) != state:
                    last[(name, sv)] = state
                    out.write("%s %s %s %s w=%s (check %s, agent %s)\n" % (
                        stamp(), name, sv, state[0], state[1],
                        d.get("check_status", "").lstrip("* ") or "-",
                        d.get("agent_status", "").lstrip("* ") or "-"))
        time.sleep(0.25)


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        sys.exit(0)
