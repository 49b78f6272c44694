#!/usr/bin/python3
# client.py: the mail client of the heartbeat tests.  Connects to
# ADDR:PORT over and over until a greeting arrives (from NODE, if given)
# or TIMEOUT seconds pass; prints "NODE MS" (milliseconds from start, or
# from the wall-clock time SINCE_NS given in nanoseconds, to the first good
# connection) and exits 0, or prints why and exits 1.
#   client.py ADDR PORT TIMEOUT [NODE [SINCE_NS]]
import socket
import sys
import time

addr, port, timeout = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
want = sys.argv[4] if len(sys.argv) > 4 and sys.argv[4] else None
since = int(sys.argv[5]) / 1e9 if len(sys.argv) > 5 else None
start = time.monotonic()
offset = (time.time() - since) if since else 0.0   # fault happened this long ago
last = "no attempt"
while time.monotonic() - start < timeout:
    try:
        with socket.create_connection((addr, port), timeout=0.3) as s:
            s.settimeout(0.5)
            data = s.recv(256).decode(errors="replace")
        node = data.split("node=")[-1].strip() if "node=" in data else "?"
        if want is None or node == want:
            print("%s %d" % (node, (time.monotonic() - start + offset) * 1000))
            sys.exit(0)
        last = "answered by %s" % node
    except OSError as e:
        last = str(e)
    time.sleep(0.02)
print("no greeting%s from %s:%d within %.1f s (last: %s)"
      % (" of " + want if want else "", addr, port, timeout, last))
sys.exit(1)
