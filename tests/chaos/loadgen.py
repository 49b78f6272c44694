#!/usr/bin/python3
"""tests/chaos/loadgen.py: the mail load of the fault-injection suite.  It
speaks SMTP and IMAP to one address (the VIP) like a real client that
reconnects through failovers, and writes a JSON-lines history for
tests/chaos/checker.py:

  loadgen.py --host VIP --record FILE --user USER=PASSWORD ... \
             [--seconds N] [--max-messages M] [--seed S] [--stop-file F]

SMTP thread: one message at a time, each with a unique Message-ID, round
robin over the users, a new connection every --per-connection messages
(0: one connection until it fails; through a balancer each new connection
may go to another node); recorded with ack true (the final 250 of DATA),
false (a definite refusal before DATA ended) or null (cut off after DATA
was sent: indeterminate).  IMAP thread per user: select INBOX, fetch, flag, move to
Archive, flag and expunge; each command recorded with ok true when its
tagged OK came back, false on NO/BAD, null when the connection died before.
Moves and expunges are also recorded before they are sent (phase "sent"),
so the checker knows they may have happened.  A move or expunge that did
not end in OK is indeterminate (a MOVE is a copy, then an expunge, and may
stop between the two): its messages are recorded (phase "cut" when the
connection died) and never touched again by this client, as a careful
real client would do, so that a half-done move cannot turn into a second
copy.  So is one answered OK with fewer untagged EXPUNGEs than it had
messages: Dovecot answers OK after a sync that failed (a mount that went
away under it) and may then have removed nothing; it is recorded with ok
null.  With --outgoing-every K and --outgoing-to ADDR, every K-th message
goes to that remote address instead (through the VIP like the rest; the
node's Postfix relays it to the remote SMTP sink), recorded with "out":
true; its ack has the same meaning (a 250 means it must reach the sink).
Bounded by --seconds, --max-messages and the stop file.  Prints a
summary.
"""
import argparse
import imaplib
import json
import random
import re
import smtplib
import socket
import sys
import threading
import time

LOCK = threading.Lock()


class Recorder:
    def __init__(self, path):
        self.f = open(path, "a", buffering=1)
        self.t0 = time.time()

    def write(self, **kw):
        now = time.time()
        kw["t"] = round(now - self.t0, 3)
        # Wall clock too, to line a record up with the daemons' logs.
        kw["wall"] = time.strftime("%H:%M:%S", time.gmtime(now)) + ".%03d" % (now % 1 * 1000)
        with LOCK:
            self.f.write(json.dumps(kw, sort_keys=True) + "\n")


class Stop:
    def __init__(self, seconds, stop_file):
        self.deadline = time.time() + seconds
        self.stop_file = stop_file
        self.event = threading.Event()

    def __call__(self):
        if self.event.is_set() or time.time() >= self.deadline:
            return True
        if self.stop_file:
            try:
                open(self.stop_file).close()
                return True
            except OSError:
                pass
        return False


def smtp_loop(a, rec, stop, stats):
    users = [u.partition("=")[0] for u in a.user]
    n = 0
    conn = None
    local = 0
    while not stop() and n < a.max_messages:
        out = bool(a.outgoing_every and a.outgoing_to and n % a.outgoing_every == a.outgoing_every - 1)
        if out:
            user = a.outgoing_to
        else:
            user = users[local % len(users)]
            local += 1
        mid = "<chaos-%d-%d-%06d@loadgen.test>" % (a.seed, a.run_id, n)
        n += 1
        extra = {"out": True} if out else {}
        body = ("From: loadgen@client.test\r\nTo: %s\r\nSubject: chaos %d\r\n"
                "Message-ID: %s\r\n\r\nmessage %s\r\n" % (user, n, mid, mid))
        data_sent = False
        try:
            if conn is None:
                conn = smtplib.SMTP(a.host, 25, timeout=a.timeout)
                conn.ehlo("client.test")
            code, resp = conn.mail("loadgen@client.test")
            if code != 250:
                raise smtplib.SMTPResponseException(code, resp)
            code, resp = conn.rcpt(user)
            if code not in (250, 251):
                raise smtplib.SMTPResponseException(code, resp)
            data_sent = True
            code, resp = conn.data(body.encode())
            ack = True if code == 250 else False
            if not ack and code < 400:
                ack = None
            rec.write(op="smtp", mid=mid, user=user, ack=ack, code=code, **extra)
            stats["smtp_" + ("ack" if ack else "nack")] += 1
            if out and ack:
                stats["smtp_outgoing_ack"] += 1
            if not ack:
                conn.rset()
            elif a.per_connection and n % a.per_connection == 0:
                try:
                    conn.quit()      # the message is recorded: a failed QUIT is no matter
                except (OSError, smtplib.SMTPException):
                    pass
                conn = None
        except smtplib.SMTPResponseException as e:
            # A refusal (4xx/5xx) before or at DATA's end: not delivered.
            rec.write(op="smtp", mid=mid, user=user, ack=False, code=e.smtp_code, **extra)
            stats["smtp_nack"] += 1
            try:
                conn.rset()
            except Exception:
                conn = None
            time.sleep(0.2)
        except (OSError, smtplib.SMTPException) as e:
            rec.write(op="smtp", mid=mid, user=user, ack=None if data_sent else False,
                      error=str(e)[:80], **extra)
            stats["smtp_indeterminate" if data_sent else "smtp_nack"] += 1
            stats["smtp_reconnects"] += 1
            try:
                if conn is not None:
                    conn.close()
            except Exception:
                pass
            conn = None
            time.sleep(0.3)
        if a.interval:
            time.sleep(a.interval)
    if conn is not None:
        try:
            conn.quit()
        except Exception:
            pass


# Commands that remove a message from the selected folder.  Each is
# recorded before it is sent (phase "sent"), so the checker knows it may
# have happened even if no answer ever comes.
REMOVING = ("expunge", "move")


def imap_cmd(rec, stats, user, folder, cmd, mids, fn, unsure=None, m=None):
    """Run fn(); record cmd with ok true on OK, false on NO/BAD, null on a
    dropped connection (then re-raise).  A removing command (REMOVING) that
    did not end in OK may have been done in part (a MOVE is a copy, then an
    expunge): its messages go into the set unsure, and the client leaves
    them alone from then on, so that no second copy is ever made of them.
    Given the connection m, a removing command's OK counts only with an
    untagged EXPUNGE in its answer for each of its messages; an OK with
    fewer is recorded with ok null, its messages unsure, like a cut one."""
    if cmd in REMOVING:
        rec.write(op="imap", cmd=cmd, user=user, folder=folder, mids=mids, ok=None, phase="sent")
    if m is not None:
        m.untagged_responses.pop("EXPUNGE", None)
    try:
        typ, data = fn()
    except (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error, EOFError) as e:
        if isinstance(e, imaplib.IMAP4.error) and not isinstance(e, imaplib.IMAP4.abort):
            typ, data = "NO", [str(e)[:80].encode()]
        else:
            if cmd in REMOVING and unsure is not None:
                unsure.update(mids)
                rec.write(op="imap", cmd=cmd, user=user, folder=folder, mids=mids, ok=None,
                          phase="cut", error=str(e)[:80])
                stats["imap_%s_indeterminate" % cmd] += 1
            raise
    ok = typ == "OK"
    if ok and m is not None and len(m.untagged_responses.pop("EXPUNGE", None) or []) < len(mids):
        if unsure is not None:
            unsure.update(mids)
        stats["imap_%s_unconfirmed" % cmd] += 1
        rec.write(op="imap", cmd=cmd, user=user, folder=folder, mids=mids, ok=None,
                  error="OK without an untagged EXPUNGE: nothing removed")
        return None
    if not ok and cmd in REMOVING and unsure is not None:
        unsure.update(mids)
        stats["imap_%s_indeterminate" % cmd] += 1
    rec.write(op="imap", cmd=cmd, user=user, folder=folder, mids=mids, ok=ok or False,
              **({} if ok else {"error": repr(data)[:80]}))
    stats["imap_ok" if ok else "imap_no"] += 1
    return data if ok else None


def fetch_mids(m, uids):
    typ, data = m.uid("FETCH", ",".join(uids), "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    out = {}
    if typ != "OK":
        return typ, out
    for item in data:
        if isinstance(item, tuple):
            u = re.search(rb"UID (\d+)", item[0])
            mm = re.search(rb"<[^>]*>", item[1] or b"")
            if u and mm:
                out[u.group(1).decode()] = mm.group(0).decode()
    return typ, out


def imap_session(a, rec, stop, stats, user, pw, rnd, unsure):
    m = imaplib.IMAP4(a.host, 143, timeout=a.timeout)
    try:
        imap_cmd(rec, stats, user, "", "login", [], lambda: m.login(user, pw))
        typ, _ = m.create("Archive")          # exists already: NO, fine
        while not stop():
            folder = "INBOX" if rnd.random() < 0.75 else "Archive"
            if imap_cmd(rec, stats, user, folder, "select", [],
                        lambda: m.select(folder)) is None:
                time.sleep(0.5)
                continue
            data = imap_cmd(rec, stats, user, folder, "search", [],
                            lambda: m.uid("SEARCH", "ALL"))
            uids = data[0].split() if data and data[0] else []
            uids = [u.decode() for u in uids]
            if uids:
                pick = rnd.sample(uids, min(len(uids), 3))
                got = {}

                def fetch():
                    typ, out = fetch_mids(m, pick)
                    got.update(out)
                    return typ, [b""]
                imap_cmd(rec, stats, user, folder, "fetch", [], fetch)
                # Two UIDs of one folder naming one Message-ID: the server's
                # UID map is wrong (or a message is there twice).  Recorded
                # as seen; the commands below still act on what the server
                # said, as a real client would.
                seen = {}
                for u in pick:
                    if u in got and got[u] in seen:
                        rec.write(op="imap", cmd="anomaly", user=user, folder=folder,
                                  mids=[got[u]], uids=[seen[got[u]], u], ok=None,
                                  what="two UIDs with one Message-ID")
                        stats["imap_uid_anomalies"] += 1
                    seen.setdefault(got.get(u), u)
                # A message an unanswered MOVE or EXPUNGE touched is left
                # alone: the client cannot know where it is now.
                pick = [u for u in pick if u in got and got[u] not in unsure]
                mids = [got[u] for u in pick]
                if mids:
                    r = rnd.random()
                    us = ",".join(pick)
                    if r < 0.4:
                        flag = rnd.choice(["\\Seen", "\\Flagged", "\\Answered"])
                        imap_cmd(rec, stats, user, folder, "store", mids,
                                 lambda: m.uid("STORE", us, "+FLAGS", "(%s)" % flag))
                    elif r < 0.7 and folder == "INBOX":
                        imap_cmd(rec, stats, user, folder, "move", mids,
                                 lambda: m.uid("MOVE", us, "Archive"), unsure, m)
                    elif r < 0.85:
                        one_u = us.split(",")[0]
                        one = [got[one_u]]
                        if imap_cmd(rec, stats, user, folder, "store", one,
                                    lambda: m.uid("STORE", one_u, "+FLAGS", "(\\Deleted)")):
                            imap_cmd(rec, stats, user, folder, "expunge", one,
                                     lambda: m.uid("EXPUNGE", one_u), unsure, m)
            imap_cmd(rec, stats, user, folder, "close", [], lambda: m.unselect()
                     if hasattr(m, "unselect") else m.close())
            time.sleep(a.imap_interval)
    finally:
        try:
            m.logout()
        except Exception:
            pass


def imap_loop(a, rec, stop, stats, user, pw, rnd):
    unsure = set()          # Message-IDs whose fate this client cannot know
    while not stop():
        try:
            imap_session(a, rec, stop, stats, user, pw, rnd, unsure)
        except (OSError, imaplib.IMAP4.abort, imaplib.IMAP4.error, EOFError) as e:
            stats["imap_reconnects"] += 1
            rec.write(op="imap", cmd="disconnect", user=user, ok=False, error=str(e)[:80])
            time.sleep(0.5)


def probe_loop(a, rec, stop, stats):
    """Every 0.2 s: does an SMTP server greet on the VIP within 1 s?  Each
    outage (first failure to next success) is recorded with its length,
    and its start and end (epoch seconds) to line it up with the logs."""
    down_since = None
    while not stop.event.is_set():
        t = time.time()
        up = False
        try:
            with socket.create_connection((a.host, 25), timeout=1) as s:
                s.settimeout(1)
                up = s.recv(4).startswith(b"220")
        except OSError:
            pass
        if not up and down_since is None:
            down_since = t
        elif up and down_since is not None:
            rec.write(op="probe", down_ms=int((t - down_since) * 1000),
                      since=round(down_since, 3), until=round(t, 3))
            stats["outages"] += 1
            down_since = None
        time.sleep(max(0, 0.2 - (time.time() - t)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--host", required=True)
    ap.add_argument("--record", required=True)
    ap.add_argument("--user", action="append", required=True, metavar="USER=PASSWORD")
    ap.add_argument("--seconds", type=float, default=60)
    ap.add_argument("--max-messages", type=int, default=100000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--run-id", type=int, default=0, help="part of every Message-ID")
    ap.add_argument("--interval", type=float, default=0.1, help="pause between messages")
    ap.add_argument("--per-connection", type=int, default=0,
                    help="messages per SMTP connection (0: until it fails)")
    ap.add_argument("--outgoing-every", type=int, default=0, metavar="K",
                    help="every K-th message goes to --outgoing-to (0: none)")
    ap.add_argument("--outgoing-to", metavar="ADDR",
                    help="a remote address the nodes relay to the SMTP sink")
    ap.add_argument("--imap-interval", type=float, default=0.2)
    ap.add_argument("--timeout", type=float, default=15)
    ap.add_argument("--stop-file")
    a = ap.parse_args()
    for u in a.user:
        if "=" not in u or "@" not in u:
            print("loadgen: --user %r: want USER@DOMAIN=PASSWORD" % u, file=sys.stderr)
            return 2
    socket.setdefaulttimeout(a.timeout)
    rec = Recorder(a.record)
    stop = Stop(a.seconds, a.stop_file)
    from collections import Counter
    stats = Counter()
    threads = [threading.Thread(target=smtp_loop, args=(a, rec, stop, stats), daemon=True)]
    threads.append(threading.Thread(target=probe_loop, args=(a, rec, stop, stats), daemon=True))
    for i, u in enumerate(a.user):
        user, _, pw = u.partition("=")
        threads.append(threading.Thread(
            target=imap_loop, daemon=True,
            args=(a, rec, stop, stats, user, pw, random.Random(a.seed * 1000 + i))))
    for t in threads:
        t.start()
    threads[0].join()
    stop.event.set()
    for t in threads[1:]:
        t.join(a.timeout * 3)
    if any(t.is_alive() for t in threads):
        print("loadgen: a client thread did not stop", file=sys.stderr)
    print("loadgen: " + " ".join("%s=%d" % kv for kv in sorted(stats.items())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
