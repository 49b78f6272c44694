#!/usr/bin/python3
"""bench/imap-soak.py: concurrent IMAP sessions on ONE mailbox, the load of
bench/imap-soak (Dovecot's imaptest is not packaged in Debian 12).

  imap-soak.py --host IP --user U --password P [--sessions 10] [--seconds 600]
               [--target 200] [--relogin 0.002]

Each session logs in once, SELECTs INBOX and then loops over random
commands: APPEND, UID FETCH of flags, of headers, envelopes and body
structures (which fill Dovecot's cache file), of whole bodies, UID STORE
of system flags and keywords, SEARCH, NOOP, CHECK, and, when the mailbox
holds more than --target messages, UID STORE +\\Deleted and EXPUNGE of a
random few.  With probability --relogin per command it logs out and in
again (0 = imaptest's logout=0).  Every 30 s all sessions meet and each
checks that FLAGS of the same UIDs agree across sessions (imaptest's
checkpoint).  Prints one line of figures per session and a total:
commands, NO/BAD answers, protocol errors and lost connections; exit 1 if
any session had an error, a lost connection or a checkpoint mismatch.
"""
import argparse
import imaplib
import random
import re
import sys
import threading
import time

FLAGS = ["\\Seen", "\\Flagged", "\\Answered", "\\Draft", "kw1", "kw2", "$Label3"]
FIELDS = ["(FLAGS)", "(FLAGS RFC822.SIZE INTERNALDATE)",
          "(BODY.PEEK[HEADER.FIELDS (FROM TO SUBJECT DATE MESSAGE-ID)])",
          "(ENVELOPE)", "(BODYSTRUCTURE)", "(BODY.PEEK[TEXT]<0.200>)",
          "(BODY.PEEK[])", "(X-GUID)"]


def message(sid, n):
    body = "".join("line %d of message %d from session %d %s\r\n" % (i, n, sid, "x" * (i % 60))
                   for i in range(random.randint(3, 120)))
    return ("From: s%d@soak.test\r\nTo: u@soak.test\r\nSubject: soak %d-%d\r\n"
            "Message-ID: <%d.%d.%f@soak.test>\r\nDate: Mon, 1 Jan 2024 00:00:00 +0000\r\n\r\n%s"
            % (sid, sid, n, sid, n, time.time(), body)).encode()


class Session(threading.Thread):
    def __init__(self, sid, a, barrier, stop):
        super().__init__(daemon=True)
        self.sid, self.a, self.barrier, self.stop = sid, a, barrier, stop
        self.cmds = self.no = self.bad = self.errors = self.lost = self.relogins = 0
        self.mismatch = 0
        self.last_error = ""
        self.m = None
        self.snap = None
        self.snap_round = 0

    def login(self):
        self.m = imaplib.IMAP4(self.a.host, 143, timeout=120)
        self.m.login(self.a.user, self.a.password)
        self.cmd(self.m.select, "INBOX")

    def cmd(self, fn, *args):
        self.cmds += 1
        try:
            typ, data = fn(*args)
        except imaplib.IMAP4.abort:
            raise
        except imaplib.IMAP4.error as e:
            # imaplib raises on BAD (and on NO for some commands)
            s = str(e)
            if "BAD" in s or "bad" in s:
                self.bad += 1
            else:
                self.no += 1
            self.last_error = "%s: %s" % (fn.__name__, s[:200])
            return "NO", []
        if typ == "NO":
            self.no += 1
            self.last_error = "%s NO: %r" % (fn.__name__, data[:1])
        elif typ == "BAD":
            self.bad += 1
            self.last_error = "%s BAD: %r" % (fn.__name__, data[:1])
        return typ, data

    def uids(self):
        typ, data = self.cmd(self.m.uid, "SEARCH", None, "ALL")
        if typ != "OK" or not data or data[0] is None:
            return []
        return [int(x) for x in data[0].split()]

    def uidset(self, uids, k):
        if not uids:
            return None
        return ",".join(str(u) for u in random.sample(uids, min(k, len(uids))))

    def step(self, n):
        m = self.m
        r = random.random()
        if r < 0.15:
            self.cmd(m.append, "INBOX", None, None, message(self.sid, n))
        elif r < 0.55:
            uids = self.uids()
            if not uids:
                return
            what = random.choice(FIELDS)
            if random.random() < 0.3:
                self.cmd(m.uid, "FETCH", "1:*", what if what != "(BODY.PEEK[])" else "(FLAGS)")
            else:
                self.cmd(m.uid, "FETCH", self.uidset(uids, random.randint(1, 20)), what)
        elif r < 0.80:
            uids = self.uids()
            if not uids:
                return
            op = random.choice(["+FLAGS", "-FLAGS", "+FLAGS.SILENT"])
            fl = " ".join(random.sample(FLAGS, random.randint(1, 3)))
            self.cmd(m.uid, "STORE", self.uidset(uids, random.randint(1, 10)), op, "(%s)" % fl)
        elif r < 0.86:
            uids = self.uids()
            if len(uids) > self.a.target:
                self.cmd(m.uid, "STORE", self.uidset(uids, random.randint(1, 8)), "+FLAGS.SILENT",
                         "(\\Deleted)")
                self.cmd(m.expunge)
        elif r < 0.90:
            self.cmd(m.search, None, random.choice(["UNSEEN", "FLAGGED", "KEYWORD kw1", "SUBJECT soak",
                                                    "LARGER 2000"]))
        elif r < 0.97:
            self.cmd(m.noop)
        else:
            self.cmd(m.check)
        if self.a.relogin and random.random() < self.a.relogin:
            self.relogins += 1
            try:
                m.logout()
            except Exception:
                pass
            self.login()

    def checkpoint(self):
        """All sessions NOOP, then each records its flags of every UID."""
        self.cmd(self.m.noop)
        typ, data = self.cmd(self.m.uid, "FETCH", "1:*", "(FLAGS)")
        snap = {}
        for item in data or []:
            if isinstance(item, bytes):
                mo = re.search(rb"UID (\d+) FLAGS \(([^)]*)\)", item) or \
                    re.search(rb"FLAGS \(([^)]*)\) UID (\d+)", item)
                if mo:
                    a, b = mo.groups()
                    uid, fl = (a, b) if a.isdigit() else (b, a)
                    snap[int(uid)] = frozenset(f for f in fl.split() if f != b"\\Recent")
        self.snap = snap
        self.snap_round += 1

    def run(self):
        n = 0
        next_cp = time.time() + 30
        try:
            self.login()
            while not self.stop.is_set():
                n += 1
                try:
                    self.step(n)
                except imaplib.IMAP4.abort as e:
                    self.lost += 1
                    self.last_error = "connection lost: %s" % str(e)[:200]
                    time.sleep(1)
                    self.login()
                if time.time() >= next_cp:
                    next_cp += 30
                    # everyone stops writing, then everyone reads
                    try:
                        self.barrier.wait(timeout=120)
                        self.checkpoint()
                        self.barrier.wait(timeout=120)
                    except threading.BrokenBarrierError:
                        pass
        except Exception as e:  # a session that cannot go on
            self.errors += 1
            self.last_error = "%s: %s" % (type(e).__name__, str(e)[:200])
            self.barrier.abort()
        finally:
            try:
                self.m.logout()
            except Exception:
                pass


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", required=True)
    p.add_argument("--user", required=True)
    p.add_argument("--password", required=True)
    p.add_argument("--sessions", type=int, default=10)
    p.add_argument("--seconds", type=float, default=600)
    p.add_argument("--target", type=int, default=200)
    p.add_argument("--relogin", type=float, default=0.0)
    a = p.parse_args()
    # a mailbox to start with
    m = imaplib.IMAP4(a.host, 143, timeout=60)
    m.login(a.user, a.password)
    m.select("INBOX")
    for i in range(a.target):
        m.append("INBOX", None, None, message(0, i))
    m.logout()
    stop = threading.Event()
    barrier = threading.Barrier(a.sessions)
    ss = [Session(i + 1, a, barrier, stop) for i in range(a.sessions)]
    for s in ss:
        s.start()
    t_end = time.time() + a.seconds
    while time.time() < t_end and any(s.is_alive() for s in ss):
        time.sleep(1)
    stop.set()
    barrier.abort()
    for s in ss:
        s.join(timeout=180)
    # the last checkpoint each took: sessions at one checkpoint must agree
    last = min((s.snap_round for s in ss), default=0)
    snaps = [s.snap for s in ss if s.snap is not None and s.snap_round == last]
    mismatch = 0
    if snaps:
        common = set.intersection(*[set(x) for x in snaps])
        for uid in common:
            if len({x[uid] for x in snaps}) > 1:
                mismatch += 1
    tot = {"cmds": 0, "no": 0, "bad": 0, "errors": 0, "lost": 0, "relogins": 0}
    for s in ss:
        print("session %2d: %6d commands, %d NO, %d BAD, %d errors, %d lost connections, %d relogins%s"
              % (s.sid, s.cmds, s.no, s.bad, s.errors, s.lost, s.relogins,
                 ("; last: " + s.last_error) if s.last_error else ""))
        for k in tot:
            tot[k] += getattr(s, k)
    print("total: %d commands, %d NO, %d BAD, %d session errors, %d lost connections, %d relogins, "
          "%d checkpoint flag mismatches" % (tot["cmds"], tot["no"], tot["bad"], tot["errors"],
                                              tot["lost"], tot["relogins"], mismatch))
    sys.exit(1 if tot["errors"] or tot["lost"] or tot["bad"] else 0)


if __name__ == "__main__":
    main()
