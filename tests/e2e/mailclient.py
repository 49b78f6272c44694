#!/usr/bin/python3
"""tests/e2e/mailclient.py: the mail client side of the end-to-end tests and
the demo.  It speaks SMTP, IMAP and POP3 to one mail node and checks what
comes back against what was sent.

  mailclient.py scenario --host IP --store DIR   the maildir.sh scenario
  mailclient.py cluster --host1 IP --host2 IP --store1 DIR --store2 DIR
                                                 the two-node scenario
  mailclient.py roundtrip --host IP [--read-host IP] --user U --password P
                                                 SMTP in, IMAP out

Exit status 0 when every check holds; 1 with a precise message otherwise.
"""
import argparse
import imaplib
import os
import poplib
import re
import smtplib
import sys
import time

TRACE = ("return-path", "delivered-to", "received", "x-original-to")


class Failure(Exception):
    pass


def check(cond, msg):
    if not cond:
        raise Failure(msg)


def make_message(tag, rcpt, lines=40):
    """A deterministic message (same bytes in every run) with CRLF endings."""
    body = []
    for i in range(lines):
        # Printable, varied text; a leading dot tests SMTP dot-stuffing.
        word = "%s-%04d-%s" % (tag, i, "abcdefghij"[(i * 7) % 10] * (i % 50 + 1))
        body.append(("." if i % 13 == 5 else "") + word)
    body.append("END %s" % tag)
    head = [
        "From: E2E Sender <sender@client.mhafs.test>",
        "To: <%s>" % rcpt,
        "Subject: mhafs e2e %s" % tag,
        "Message-ID: <%s@e2e.mhafs.test>" % tag,
        "Date: Mon, 02 Mar 2026 10:00:00 +0000",
        "MIME-Version: 1.0",
        "Content-Type: text/plain; charset=us-ascii",
    ]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode()


def crlf(data):
    return re.sub(rb"\r?\n", b"\r\n", data)


def check_content(got, sent, where):
    """got must be sent with only trace headers (Received: ...) prepended."""
    got = crlf(got)
    check(got.endswith(sent), "%s: content differs from what was sent "
          "(%d bytes read, %d sent)" % (where, len(got), len(sent)))
    prefix = got[:len(got) - len(sent)]
    name = None
    for line in prefix.split(b"\r\n")[:-1]:
        if line[:1] in (b" ", b"\t"):
            check(name is not None, "%s: stray continuation line" % where)
            continue
        name = line.split(b":", 1)[0].decode(errors="replace").lower()
        check(name in TRACE, "%s: unexpected added header %r" % (where, name))


def smtp_send(host, rcpt, msg):
    with smtplib.SMTP(host, 25, timeout=30) as s:
        s.ehlo("client.mhafs.test")
        refused = s.sendmail("sender@client.mhafs.test", [rcpt], msg)
        check(not refused, "SMTP refused %s: %r" % (rcpt, refused))


def imap_login(host, user):
    m = imaplib.IMAP4(host, 143, timeout=30)
    m.login(user, "pw-" + user.split("@")[0])
    return m


def ok(resp, what):
    typ, data = resp
    check(typ == "OK", "IMAP %s failed: %s %r" % (what, typ, data))
    return data


def wait_messages(host, user, count, timeout=30):
    """Poll the INBOX until it holds count messages (delivery is async)."""
    deadline = time.time() + timeout
    n = -1
    while time.time() < deadline:
        m = imap_login(host, user)
        n = int(ok(m.select("INBOX", readonly=True), "SELECT")[0])
        m.logout()
        if n >= count:
            check(n == count, "%s: %d messages in INBOX, expected %d" % (user, n, count))
            return
        time.sleep(0.2)
    raise Failure("%s: %d messages after %d s, expected %d" % (user, n, timeout, count))


def fetch_all(m):
    """{Message-ID tag: (uid, flags set, bytes)} of the selected mailbox."""
    out = {}
    data = ok(m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[])"), "FETCH")
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, raw = item
        uid = int(re.search(rb"UID (\d+)", meta).group(1))
        flags = set(re.search(rb"FLAGS \(([^)]*)\)", meta).group(1).decode().split())
        tag = re.search(rb"Message-ID: <([^@]+)@", raw).group(1).decode()
        out[tag] = (uid, flags, raw)
    return out


def expect_flags(m, mailbox, want, where):
    ok(m.select(mailbox), "SELECT " + mailbox)
    got = {t: f - {"\\Recent"} for t, (u, f, r) in fetch_all(m).items()}
    check(got == want, "%s: %s holds %r, expected %r" % (where, mailbox, got, want))


def find_files(store, tag):
    """Message files on the store whose Message-ID is tag."""
    needle = ("Message-ID: <%s@" % tag).encode()
    hits = []
    for root, dirs, files in os.walk(store):
        if os.path.basename(root) not in ("cur", "new"):
            continue
        for f in files:
            p = os.path.join(root, f)
            with open(p, "rb") as fh:
                if needle in fh.read():
                    hits.append(p)
    return sorted(hits)


def wait_file(store, tag, timeout=30):
    deadline = time.time() + timeout
    while not find_files(store, tag):
        check(time.time() < deadline, "%s not delivered to the store in %d s" % (tag, timeout))
        time.sleep(0.1)


def scenario(a):
    host = a.host
    users = {"alice@d1.test": ["a1", "a2", "a3", "a4"], "bob@d1.test": ["b1", "b2"],
             "carol@d2.test": ["c1", "c2"]}
    sent = {}
    # 1. SMTP in: d1.test goes to Dovecot over LMTP, d2.test to virtual(8).
    # One at a time, so UIDs (assigned in arrival order) are the same in
    # every run.
    for user, tags in users.items():
        for i, t in enumerate(tags):
            sent[t] = make_message(t, user, lines=30 + 17 * len(sent))
            smtp_send(host, user, sent[t])
            # First on the store, so no IMAP login creates the Maildir
            # before virtual(8) does; then through Dovecot.
            wait_file(a.store, t)
            wait_messages(host, user, i + 1)

    # 2. Read back by IMAP (alice) and POP3 (bob, carol): content as sent.
    m = imap_login(host, "alice@d1.test")
    ok(m.select("INBOX"), "SELECT INBOX")
    got = fetch_all(m)
    check(sorted(got) == users["alice@d1.test"], "alice: IMAP sees %r" % sorted(got))
    for t, (uid, flags, raw) in got.items():
        check_content(raw, sent[t], "IMAP alice " + t)
    uid = {t: v[0] for t, v in got.items()}
    for user, dele in (("bob@d1.test", 1), ("carol@d2.test", 0)):
        p = poplib.POP3(host, 110, timeout=30)
        p.user(user)
        p.pass_("pw-" + user.split("@")[0])
        n = len(p.list()[1])
        check(n == len(users[user]), "POP3 %s: %d messages" % (user, n))
        for i in range(1, n + 1):
            lines = p.retr(i)[1]
            raw = b"\r\n".join(lines) + b"\r\n"
            tag = re.search(rb"Message-ID: <([^@]+)@", raw).group(1).decode()
            check_content(raw, sent[tag], "POP3 %s %s" % (user, tag))
        if dele:
            p.dele(dele)
        p.quit()

    # 3. Flags: set, clear, keywords.
    ok(m.uid("STORE", str(uid["a1"]), "+FLAGS", r"(\Seen \Flagged)"), "STORE a1")
    ok(m.uid("STORE", str(uid["a2"]), "+FLAGS", r"(\Answered $Label1)"), "STORE a2")
    ok(m.uid("STORE", str(uid["a1"]), "-FLAGS", r"(\Flagged)"), "STORE -a1")
    ok(m.uid("STORE", str(uid["a3"]), "+FLAGS", r"(\Draft)"), "STORE a3")
    expect_flags(m, "INBOX", {"a1": {"\\Seen"}, "a2": {"\\Answered", "$Label1"},
                              "a3": {"\\Draft"}, "a4": set()}, "after STORE")

    # 4. Folders, COPY (a hard link on the store), MOVE, EXPUNGE, RENAME.
    for f in ("Archive", "Work", "Work/Old"):
        ok(m.create(f), "CREATE " + f)
    ok(m.subscribe("Archive"), "SUBSCRIBE")
    ok(m.select("INBOX"), "SELECT INBOX")
    ok(m.uid("COPY", str(uid["a1"]), "Archive"), "COPY a1")
    files = find_files(a.store, "a1")
    check(len(files) == 2, "COPY: a1 should be in 2 files, found %r" % files)
    st = [os.stat(f) for f in files]
    check(st[0].st_ino == st[1].st_ino and st[0].st_nlink == 2 and st[1].st_nlink == 2,
          "COPY: %s not hard links with nlink 2 (ino %d/%d nlink %d/%d)" %
          (files, st[0].st_ino, st[1].st_ino, st[0].st_nlink, st[1].st_nlink))
    ok(m.uid("MOVE", str(uid["a2"]), "Work"), "MOVE a2")
    ok(m.uid("COPY", str(uid["a4"]), "Work/Old"), "COPY a4")
    ok(m.uid("STORE", str(uid["a3"]), "+FLAGS", r"(\Deleted)"), "STORE \\Deleted")
    ok(m.expunge(), "EXPUNGE")
    check(find_files(a.store, "a3") == [], "EXPUNGE: a3 still on the store")
    ok(m.rename("Work", "Projects"), "RENAME")
    ok(m.create("Trash"), "CREATE Trash")
    ok(m.delete("Trash"), "DELETE Trash")

    # 5. The final state, as seen by a fresh session.
    m.logout()
    m = imap_login(host, "alice@d1.test")
    boxes = sorted(l.decode().rsplit(" ", 1)[-1].strip('"') for l in ok(m.list(), "LIST"))
    check(boxes == ["Archive", "INBOX", "Projects", "Projects/Old"],
          "LIST: %r" % boxes)
    expect_flags(m, "INBOX", {"a1": {"\\Seen"}, "a4": set()}, "final")
    expect_flags(m, "Archive", {"a1": {"\\Seen"}}, "final")
    expect_flags(m, "Projects", {"a2": {"\\Answered", "$Label1"}}, "final")
    expect_flags(m, "Projects/Old", {"a4": set()}, "final")
    for box, tag in (("Projects", "a2"), ("Archive", "a1")):
        ok(m.select(box), "SELECT " + box)
        check_content(fetch_all(m)[tag][2], sent[tag], "IMAP %s %s" % (box, tag))
    m.logout()
    check(len(find_files(a.store, "b1") + find_files(a.store, "b2")) == 1,
          "POP3 DELE: bob should have 1 message file left")


def flags_of(host, user, mailbox):
    """{tag: flags} of one mailbox, as a fresh IMAP session on host sees it."""
    m = imap_login(host, user)
    try:
        ok(m.select(mailbox, readonly=True), "SELECT " + mailbox)
        return {t: f - {"\\Recent"} for t, (u, f, r) in fetch_all(m).items()}
    finally:
        m.logout()


def converge(host, user, mailbox, want, where, timeout=15):
    """Wait until host's Dovecot shows want ({tag: flags}) in mailbox."""
    deadline = time.time() + timeout
    while True:
        try:
            got = flags_of(host, user, mailbox)
        except Failure as e:
            got = str(e)
        if got == want:
            return
        check(time.time() < deadline, "%s: %s on %s shows %r, expected %r"
              % (where, mailbox, host, got, want))
        time.sleep(0.2)


def cluster(a):
    """Two nodes, each with its own Dovecot and Postfix on its own mhafs
    mount, replicating each other: mail and changes made through one node
    are seen through the other."""
    h = {1: a.host1, 2: a.host2}
    st = {1: a.store1, 2: a.store2}
    alice, carol = "alice@d1.test", "carol@d2.test"
    sent = {}

    def deliver(n, user, tag):
        sent[tag] = make_message(tag, user, lines=25 + 11 * len(sent))
        smtp_send(h[n], user, sent[tag])
        wait_file(st[n], tag)
        wait_file(st[3 - n], tag, timeout=15)

    # 1. Deliveries through both nodes, one at a time: LMTP (alice) and
    # virtual(8) (carol).  UIDs must agree on both nodes.
    for n, tag in ((1, "x1"), (2, "x2"), (1, "x3"), (2, "x4")):
        deliver(n, alice, tag)
        wait_messages(h[n], alice, int(tag[1]))
    deliver(1, carol, "y1")
    deliver(2, carol, "y2")
    uids = {}
    for n in (1, 2):
        m = imap_login(h[n], alice)
        ok(m.select("INBOX", readonly=True), "SELECT")
        got = fetch_all(m)
        m.logout()
        check(sorted(got) == ["x1", "x2", "x3", "x4"], "node %d: alice INBOX has %r" % (n, sorted(got)))
        for t, (uid, flags, raw) in got.items():
            check_content(raw, sent[t], "node %d IMAP %s" % (n, t))
        uids[n] = {t: v[0] for t, v in got.items()}
    check(uids[1] == uids[2], "UIDs differ between nodes: %r vs %r" % (uids[1], uids[2]))
    uid = uids[1]

    # 2. Flags changed through node 2 are seen through node 1, and back.
    m = imap_login(h[2], alice)
    ok(m.select("INBOX"), "SELECT")
    ok(m.uid("STORE", str(uid["x1"]), "+FLAGS", r"(\Seen \Flagged)"), "STORE x1")
    ok(m.uid("STORE", str(uid["x2"]), "+FLAGS", r"(\Answered)"), "STORE x2")
    m.logout()
    inbox = {"x1": {"\\Seen", "\\Flagged"}, "x2": {"\\Answered"}, "x3": set(), "x4": set()}
    converge(h[1], alice, "INBOX", inbox, "flags set on node 2")
    m = imap_login(h[1], alice)
    ok(m.select("INBOX"), "SELECT")
    ok(m.uid("STORE", str(uid["x1"]), "-FLAGS", r"(\Flagged)"), "STORE -x1")
    m.logout()
    inbox["x1"] = {"\\Seen"}
    converge(h[2], alice, "INBOX", inbox, "flag cleared on node 1")

    # 3. Folders and COPY (a hard link, on the peer too) through node 1,
    # MOVE, EXPUNGE and RENAME through node 2.
    m = imap_login(h[1], alice)
    for f in ("Archive", "Work"):
        ok(m.create(f), "CREATE " + f)
    ok(m.select("INBOX"), "SELECT")
    ok(m.uid("COPY", str(uid["x1"]), "Archive"), "COPY x1")
    m.logout()
    converge(h[2], alice, "Archive", {"x1": {"\\Seen"}}, "COPY on node 1")
    # A link on the peer is checked last (deferred), so that the rest of the
    # scenario still runs if links arrive there as copies.
    deferred = []
    for n in (1, 2):
        files = find_files(st[n], "x1")
        nl = [os.stat(f).st_nlink for f in files]
        if not (len(files) == 2 and nl == [2, 2]):
            msg = "node %d: COPY of x1 should be 2 hard links, found %d files with nlink %r" % (
                n, len(files), nl)
            check(n == 2, msg)
            deferred.append(msg)
    m = imap_login(h[2], alice)
    ok(m.select("INBOX"), "SELECT")
    ok(m.uid("MOVE", str(uid["x2"]), "Work"), "MOVE x2")
    ok(m.uid("STORE", str(uid["x3"]), "+FLAGS", r"(\Deleted)"), "STORE \\Deleted")
    ok(m.expunge(), "EXPUNGE")
    ok(m.rename("Work", "Projects"), "RENAME")
    m.logout()
    inbox = {"x1": {"\\Seen"}, "x4": set()}
    converge(h[1], alice, "INBOX", inbox, "MOVE/EXPUNGE on node 2")
    converge(h[1], alice, "Projects", {"x2": {"\\Answered"}}, "RENAME on node 2")
    for n in (1, 2):
        check(find_files(st[n], "x3") == [], "node %d: expunged x3 still on the store" % n)

    # 4. POP3 through node 2 reads what virtual(8) delivered on both nodes.
    p = poplib.POP3(h[2], 110, timeout=30)
    p.user(carol)
    p.pass_("pw-carol")
    n = len(p.list()[1])
    check(n == 2, "POP3 carol on node 2: %d messages, expected 2" % n)
    for i in (1, 2):
        raw = b"\r\n".join(p.retr(i)[1]) + b"\r\n"
        tag = re.search(rb"Message-ID: <([^@]+)@", raw).group(1).decode()
        check_content(raw, sent[tag], "POP3 node 2 carol " + tag)
    p.quit()
    check(not deferred, "; ".join(deferred))


def roundtrip(a):
    tag = "demo-%d-%d" % (int(time.time() * 1000), os.getpid())
    msg = make_message(tag, a.user, lines=10)
    smtp_send(a.host, a.user, msg)
    if a.store:
        # No IMAP login (which creates a missing INBOX) before the message
        # is on the reading node's store.
        wait_file(a.store, tag)
    deadline = time.time() + 30
    while True:
        m = imaplib.IMAP4(a.read_host or a.host, 143, timeout=30)
        m.login(a.user, a.password)
        ok(m.select("INBOX", readonly=True), "SELECT")
        hits = ok(m.search(None, "HEADER", "Message-ID", tag), "SEARCH")[0].split()
        if hits:
            raw = ok(m.fetch(hits[-1], "(BODY.PEEK[])"), "FETCH")[0][1]
            m.logout()
            check_content(raw, msg, "IMAP " + tag)
            print("roundtrip: sent %s by SMTP to %s, read it back by IMAP from %s (%d bytes)"
                  % (tag, a.host, a.read_host or a.host, len(raw)))
            return
        m.logout()
        check(time.time() < deadline, "roundtrip: %s not delivered in 30 s" % tag)
        time.sleep(0.2)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("scenario")
    s.add_argument("--host", required=True)
    s.add_argument("--store", required=True)
    c = sub.add_parser("cluster")
    for k in ("host1", "host2", "store1", "store2"):
        c.add_argument("--" + k, required=True)
    r = sub.add_parser("roundtrip")
    r.add_argument("--host", required=True)
    r.add_argument("--read-host", help="read back through this node (default --host)")
    r.add_argument("--store", help="wait for the message on this store before reading")
    r.add_argument("--user", required=True)
    r.add_argument("--password", required=True)
    a = ap.parse_args()
    try:
        {"scenario": scenario, "cluster": cluster, "roundtrip": roundtrip}[a.cmd](a)
    except (Failure, OSError, imaplib.IMAP4.error, poplib.error_proto,
            smtplib.SMTPException) as e:
        print("mailclient %s: FAIL: %s" % (a.cmd, e), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
