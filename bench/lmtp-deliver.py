#!/usr/bin/python3
"""bench/lmtp-deliver.py: the load generator of bench/lmtp-delivery.  Sends
N messages of about SIZE bytes over LMTP to a Dovecot unix socket, spread
round-robin over USERS recipients u001@DOMAIN..., from CONCURRENCY
connections at once, and prints one line:

  messages=N seconds=S rate=R

Exit 1 (with the reason) if any message is not accepted with 250.
"""
import argparse
import smtplib
import sys
import threading
import time


def message(i, rcpt, size):
    head = ("From: <bench@client.mhafs.test>\r\nTo: <%s>\r\n"
            "Subject: lmtp bench %d\r\nMessage-ID: <bench-%d@client.mhafs.test>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" % (rcpt, i, i))
    line = ("%08d " % i) + "x" * 69 + "\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def worker(a, ids, errors):
    try:
        c = smtplib.LMTP(a.socket)
        c.ehlo("bench.mhafs.test")
        for i in ids:
            rcpt = "u%03d@%s" % (i % a.users + 1, a.domain)
            refused = c.sendmail("bench@client.mhafs.test", [rcpt], message(i, rcpt, a.size))
            if refused:
                raise RuntimeError("message %d refused: %r" % (i, refused))
        c.quit()
    except Exception as e:  # reported by the main thread
        errors.append("%s: %s" % (type(e).__name__, e))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--domain", default="d1.test")
    a = ap.parse_args()
    if min(a.messages, a.users, a.concurrency) < 1 or a.size < 256:
        ap.error("messages, users and concurrency must be >= 1, size >= 256")
    errors = []
    threads = [threading.Thread(target=worker,
                                args=(a, range(k, a.messages, a.concurrency), errors))
               for k in range(a.concurrency)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.monotonic() - t0
    if errors:
        print("lmtp-deliver: %d connection(s) failed; first: %s" % (len(errors), errors[0]),
              file=sys.stderr)
        return 1
    print("messages=%d seconds=%.3f rate=%.1f" % (a.messages, dt, a.messages / dt))
    return 0


if __name__ == "__main__":
    sys.exit(main())
