#!/usr/bin/python3
"""tests/split/causal.py: causal order across nodes whose clocks differ
(tests/split/splitbrain.sh clock).  Node 1 sets \\Seen on a message; once
node 2 shows it, node 2 (whose clock is 30 s behind) replaces the flags by
\\Flagged.  Node 2's change happened after node 1's and both nodes must end
with \\Flagged only, although its wall-clock time is older.

  causal.py --host1 IP --host2 IP --user U --tag TAG
Exit 0 when both nodes show node 2's flags within 15 s; 1 otherwise."""
import argparse
import imaplib
import re
import sys
import time


def flags(host, user, tag, store=None):
    m = imaplib.IMAP4(host, 143, timeout=30)
    try:
        m.login(user, "pw-" + user.split("@")[0])
        typ, _ = m.select("INBOX")
        if typ != "OK":
            raise RuntimeError("SELECT INBOX failed on %s" % host)
        typ, data = m.uid("SEARCH", None, "HEADER", "Message-ID", "<%s@split.mhafs.test>" % tag)
        uids = data[0].split() if typ == "OK" and data[0] else []
        if len(uids) != 1:
            raise RuntimeError("%s: %d messages %s for %s" % (host, len(uids), tag, user))
        if store:
            typ, _ = m.uid("STORE", uids[0], "FLAGS", store)
            if typ != "OK":
                raise RuntimeError("STORE on %s failed" % host)
        typ, data = m.uid("FETCH", uids[0], "(FLAGS)")
        got = re.search(rb"FLAGS \(([^)]*)\)", data[0]).group(1).decode().split()
        return sorted(f for f in got if f != "\\Recent")
    finally:
        m.logout()


def wait(host, user, tag, want):
    deadline = time.time() + 15
    got = None
    while time.time() < deadline:
        got = flags(host, user, tag)
        if got == want:
            return
        time.sleep(0.2)
    raise RuntimeError("%s shows %s with flags %s, expected %s" % (host, tag, got, want))


def main():
    p = argparse.ArgumentParser()
    for o in ("--host1", "--host2", "--user", "--tag"):
        p.add_argument(o, required=True)
    a = p.parse_args()
    try:
        flags(a.host1, a.user, a.tag, store="(\\Seen)")
        wait(a.host2, a.user, a.tag, ["\\Seen"])
        flags(a.host2, a.user, a.tag, store="(\\Flagged)")
        wait(a.host2, a.user, a.tag, ["\\Flagged"])
        wait(a.host1, a.user, a.tag, ["\\Flagged"])
    except (RuntimeError, OSError, imaplib.IMAP4.error) as e:
        print("causal.py: FAIL: %s" % e, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
