#!/usr/bin/python3
"""tests/e2e/syncproof.py: the client side of tests/e2e/sync.sh, the proof of
the synchronous guarantee with real Dovecot and Postfix.  It delivers mail
and, the moment a server has answered 250, looks for the message (by its
Message-ID) in a store directory, normally the PEER's backing directory.

  syncproof.py lmtp --socket S --store DIR --tag T --count N [--user U]
      LMTP straight to Dovecot's socket; after each 250 the message must
      already be in DIR (checked once, no wait).  Prints latency figures.
  syncproof.py smtp --host IP --log POSTFIX_LOG --store DIR --tag T --count N
      SMTP to Postfix (its 250 only means queued), then follow Postfix's log:
      at each "status=sent (250" line of its LMTP client the message must
      already be in DIR.
  syncproof.py wait --store DIR --tag T --count N [--timeout S]
      wait until all N messages of tag T are in DIR; print the time taken.

Exit 0 when every check holds, 1 with the reason otherwise.
"""
import argparse
import os
import re
import smtplib
import sys
import time


class Failure(Exception):
    pass


def msgid(tag, i):
    return "%s-%04d@sync.mhafs.test" % (tag, i)


def message(tag, i, rcpt):
    head = ("From: <sender@client.mhafs.test>\r\nTo: <%s>\r\n"
            "Subject: sync proof %s %d\r\nMessage-ID: <%s>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" % (rcpt, tag, i, msgid(tag, i)))
    return (head + ("sync proof line %04d\r\n" % i) * 60).encode()


class Store:
    """Message-IDs of the files in a Maildir tree (new/ and cur/ only).
    A file once read is remembered by name; a rename new/ -> cur/ is a new
    name and is read again."""
    MID = re.compile(rb"^message-id:[ \t]*<([^>\r\n]+)>", re.I | re.M)

    def __init__(self, root):
        self.root = root
        self.seen = {}

    def ids(self):
        found = set()
        for top, dirs, files in os.walk(self.root):
            if os.path.basename(top) not in ("new", "cur"):
                continue
            for f in files:
                p = os.path.join(top, f)
                mid = self.seen.get(p)
                if mid is None:
                    try:
                        with open(p, "rb") as fh:
                            head = fh.read(4096)
                    except FileNotFoundError:
                        continue  # renamed under us
                    m = self.MID.search(head.split(b"\r\n\r\n", 1)[0])
                    mid = m.group(1).decode("ascii", "replace") if m else ""
                    self.seen[p] = mid
                found.add(mid)
        return found


def late(store, mid, limit=5.0):
    """For a failure report: how late did the message turn up, if at all?"""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        if mid in store.ids():
            return "it appeared %.0f ms later" % ((time.monotonic() - t0) * 1000)
        time.sleep(0.005)
    return "still missing %.0f s later" % limit


def pct(v, q):
    v = sorted(v)
    return v[min(len(v) - 1, int(q * len(v)))]


def figures(name, ms):
    return "%s: n=%d p50 %.1f ms  p99 %.1f ms  max %.1f ms" % (
        name, len(ms), pct(ms, .5), pct(ms, .99), max(ms))


def do_lmtp(a):
    store = Store(a.store)
    c = smtplib.LMTP(a.socket)
    c.ehlo("sync.mhafs.test")
    lat = []
    for i in range(a.count):
        t0 = time.monotonic()
        refused = c.sendmail("sender@client.mhafs.test", [a.user], message(a.tag, i, a.user))
        lat.append((time.monotonic() - t0) * 1000)
        if refused:
            raise Failure("LMTP refused message %d: %r" % (i, refused))
        # The 250 is in: the message must be in the store now, not later.
        if msgid(a.tag, i) not in store.ids():
            raise Failure("LMTP said 250 for <%s> (%.1f ms) but it is not in %s (%s)"
                          % (msgid(a.tag, i), lat[-1], a.store, late(store, msgid(a.tag, i))))
    c.quit()
    print(figures("LMTP delivery latency (%s)" % a.tag, lat))
    if a.count > 1:
        print("  first %.1f ms, rest: %s" % (lat[0], figures("", lat[1:])[2:]))


LOG_MID = re.compile(r"postfix/cleanup\[\d+\]: ([0-9A-Za-z]+): message-id=<([^>]+)>")
LOG_SENT = re.compile(r"postfix/lmtp\[\d+\]: ([0-9A-Za-z]+): to=<[^>]*>.*status=sent \(250")


def do_smtp(a):
    store = Store(a.store)
    log = open(a.log, "r", errors="replace")
    log.seek(0, os.SEEK_END)  # only what this run logs
    s = smtplib.SMTP(a.host, 25, timeout=30)
    for i in range(a.count):
        refused = s.sendmail("sender@client.mhafs.test", [a.user], message(a.tag, i, a.user))
        if refused:
            raise Failure("SMTP refused message %d: %r" % (i, refused))
    s.quit()
    want = {msgid(a.tag, i) for i in range(a.count)}
    qid_mid, done, buf = {}, set(), ""
    deadline = time.monotonic() + a.timeout
    while done != want:
        if time.monotonic() > deadline:
            raise Failure("Postfix logged %d of %d LMTP deliveries within %d s"
                          % (len(done), len(want), a.timeout))
        chunk = log.read()
        if not chunk:
            time.sleep(0.005)
            continue
        buf += chunk
        lines = buf.split("\n")
        buf = lines.pop()
        for line in lines:
            m = LOG_MID.search(line)
            if m:
                qid_mid[m.group(1)] = m.group(2)
                continue
            m = LOG_SENT.search(line)
            if not m or qid_mid.get(m.group(1)) not in want:
                continue
            mid = qid_mid[m.group(1)]
            if mid not in store.ids():
                raise Failure("Postfix logged status=sent (250) for <%s> but it is not in %s (%s)"
                              % (mid, a.store, late(store, mid)))
            done.add(mid)
    print("SMTP: %d messages queued by Postfix, each LMTP 250 it logged was already in %s"
          % (a.count, a.store))


def do_wait(a):
    store = Store(a.store)
    want = {msgid(a.tag, i) for i in range(a.count)}
    t0 = time.monotonic()
    while True:
        missing = want - store.ids()
        if not missing:
            break
        if time.monotonic() - t0 > a.timeout:
            raise Failure("%d of %d messages of %s not in %s after %d s (e.g. <%s>)"
                          % (len(missing), len(want), a.tag, a.store, a.timeout, min(missing)))
        time.sleep(0.01)
    print("%.3f" % (time.monotonic() - t0))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    for name in ("lmtp", "smtp", "wait"):
        p = sub.add_parser(name)
        p.add_argument("--store", required=True)
        p.add_argument("--tag", required=True)
        p.add_argument("--count", type=int, required=True)
        p.add_argument("--user", default="alice@d1.test")
        p.add_argument("--timeout", type=int, default=60)
        if name == "lmtp":
            p.add_argument("--socket", required=True)
        if name == "smtp":
            p.add_argument("--host", required=True)
            p.add_argument("--log", required=True)
    a = ap.parse_args()
    if a.count < 1 or not re.fullmatch(r"[A-Za-z0-9-]+", a.tag):
        ap.error("--count must be >= 1 and --tag letters, digits and '-'")
    try:
        {"lmtp": do_lmtp, "smtp": do_smtp, "wait": do_wait}[a.cmd](a)
    except (Failure, OSError, smtplib.SMTPException) as e:
        print("syncproof %s: FAIL: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
