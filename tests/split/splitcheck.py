#!/usr/bin/python3
"""tests/split/splitcheck.py: the mail client and the checker of the
split-brain tests (tests/split/splitbrain.sh).  It shares no code with mhafs
nor with tests/e2e: it speaks SMTP, LMTP and IMAP itself and reads the two
nodes' backing Maildirs directly.

  splitcheck.py prepare --state F --host1 IP --host2 IP --lmtp1 S --lmtp2 S
          --store1 DIR --store2 DIR --users U...
      base mail for every user through both nodes, an Archive folder, both
      nodes' IMAP views opened; UIDVALIDITY and UID -> Message-ID recorded.
  splitcheck.py during --state F --side N ...
      side N's share of the split: new mail (SMTP and LMTP) and IMAP flag
      changes, moves and expunges on node N (table SPLIT_OPS).
  splitcheck.py hold --state F --side N --user U --go FILE --out FILE
      an IMAP client that stays connected to node N through the split and
      the heal: INBOX selected, a NOOP every second (as a polling client
      does) until FILE --go exists; then its view (UID, Message-ID and
      flags, and each body's own tag) goes to --out as JSON.  When
      Dovecot ends the session ("state is inconsistent, please relogin")
      it logs in again, as a mail client does, and counts it.
  splitcheck.py tree --store1 DIR --store2 DIR
      are the two backing trees equal except node-local files?  (exit 0/1)
  splitcheck.py check --state F [--held FILE...]
      every check, each failure printed under its class; exit 1 if any.
      A held session's view (hold --out) must show no message under
      another's header and must equal a new session's view of its node.

The state file (JSON) carries what was sent, acknowledged and done from
one phase to the next.
"""
import argparse
import hashlib
import imaplib
import json
import os
import re
import smtplib
import sys
import time

DOMAIN_TAG = "split.mhafs.test"
BASE = 14          # base messages per user, b0..b13
FOLDER = "Archive"

# What each side does to each user's base messages during the split:
# (side, op, base index, argument).  b1 is flagged differently on both
# sides (both flags stay), b8 and b12 (\Seen before the split) lose \Seen
# on one side and get \Flagged on the other (\Flagged only), b13 gets a
# keyword on each side (both stay), b4 moved on one side and flagged on
# the other, b6 expunged on one side and flagged on the other, b10 and b11
# moved on one side and expunged on the other (the expunge wins: gone on
# both); b0 is untouched (it carries both keywords from before the split,
# so both nodes' dovecot-keywords files name them alike); b9 is the clock
# variant's causal check (causal.py), before the split.
BEFORE_FLAGS = [(0, "$Work $Home"), (8, "\\Seen"), (12, "\\Seen")]
SPLIT_OPS = [
    (1, "unflag", 8, "\\Seen"),
    (2, "flag", 8, "\\Flagged"),
    (2, "unflag", 12, "\\Seen"),
    (1, "flag", 12, "\\Flagged"),
    (1, "flag", 13, "$Work"),
    (2, "flag", 13, "$Home"),
    (1, "flag", 1, "\\Seen"),
    (1, "flag", 2, "\\Answered"),
    (1, "move", 4, FOLDER),
    (1, "expunge", 6, None),
    (2, "flag", 1, "\\Flagged"),
    (2, "flag", 3, "\\Seen"),
    (2, "flag", 4, "\\Seen"),
    (2, "move", 5, FOLDER),
    (2, "flag", 6, "\\Flagged"),
    (2, "expunge", 7, None),
    (1, "move", 10, FOLDER),
    (2, "expunge", 10, None),
    (1, "expunge", 11, None),
    (2, "move", 11, FOLDER),
]
# New mail per side and user during the split: transports in order.
SPLIT_MAIL = ["smtp", "lmtp", "smtp"]

# Node-local by mhafs's default node_local patterns: never compared.
LOCAL_RE = [re.compile(p) for p in (r"^dovecot\.index", r"^dovecot\.list\.index",
                                    r"\.lock$", r"^dovecot-uidlist\.tmp$", r"^\.mhafs-staging$")]


class Failure(Exception):
    pass


def log(msg):
    print("splitcheck: " + msg, file=sys.stderr, flush=True)


# ---------------------------------------------------------------- messages

def msgid(tag):
    return "<%s@%s>" % (tag, DOMAIN_TAG)


def make_message(tag, rcpt):
    body = ["split-brain test message %s line %d %s" % (tag, i, "xyz" * (i % 7))
            for i in range(12 + len(tag) % 9)]
    head = ["From: <sender@client.mhafs.test>", "To: <%s>" % rcpt,
            "Subject: split %s" % tag, "Message-ID: %s" % msgid(tag),
            "Date: Tue, 03 Mar 2026 09:00:00 +0000"]
    return ("\r\n".join(head) + "\r\n\r\n" + "\r\n".join(body) + "\r\n").encode()


def send(st, node, transport, user, tag):
    """Deliver one message; record it as acknowledged only after the final
    250 (smtplib raises on anything else)."""
    msg = make_message(tag, user)
    try:
        if transport == "lmtp":
            c = smtplib.LMTP(st["lmtp"][str(node)], timeout=60)
            c.ehlo_or_helo_if_needed()
        else:
            c = smtplib.SMTP(st["host"][str(node)], 25, timeout=60)
            c.ehlo("client.mhafs.test")
        with c:
            refused = c.sendmail("sender@client.mhafs.test", [user], msg)
        if refused:
            raise smtplib.SMTPException("refused %r" % refused)
    except (smtplib.SMTPException, OSError) as e:
        log("node %d %s %s for %s: not acknowledged: %s" % (node, transport, tag, user, e))
        st["unacked"].append([user, tag])
        return
    st["acked"].append([user, tag, node, transport])


# ---------------------------------------------------------------- Maildir

def message_id_of(path):
    with open(path, "rb") as f:
        head = f.read(16384).split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    m = re.search(rb"(?im)^message-id:\s*<([^@>]+)@", head)
    return m.group(1).decode() if m else None


def maildir_folders(store, user):
    """{folder name: Maildir path} of a user (INBOX and .Name folders)."""
    local, dom = user.split("@")
    root = os.path.join(store, dom, local, "Maildir")
    out = {}
    if os.path.isdir(root):
        out["INBOX"] = root
        for e in sorted(os.listdir(root)):
            if e.startswith(".") and os.path.isdir(os.path.join(root, e, "cur")):
                out[e[1:]] = os.path.join(root, e)
    return out


def maildir_messages(store, user):
    """{folder: [(tag, flags, file name)]} from the message files."""
    out = {}
    for folder, path in maildir_folders(store, user).items():
        msgs = out.setdefault(folder, [])
        for sub in ("new", "cur"):
            d = os.path.join(path, sub)
            for name in sorted(os.listdir(d)) if os.path.isdir(d) else []:
                tag = message_id_of(os.path.join(d, name))
                flags = name.split(":2,", 1)[1] if ":2," in name else ""
                msgs.append((tag, flags, sub + "/" + name))
    return out


def wait_in_store(store, user, tag, timeout):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for msgs in maildir_messages(store, user).values():
            if any(t == tag for t, _, _ in msgs):
                return True
        time.sleep(0.2)
    return False


def wait_uidlists_equal(st, user, timeout):
    """Until both nodes hold the same INBOX dovecot-uidlist (or timeout)."""
    local, dom = user.split("@")
    paths = [os.path.join(st["store"][n], dom, local, "Maildir", "dovecot-uidlist") for n in ("1", "2")]
    deadline = time.time() + timeout
    while time.time() < deadline:
        if not any(os.path.exists(p) for p in paths):
            return     # virtual(8) delivery: no uidlist until IMAP opens it
        try:
            with open(paths[0], "rb") as f1, open(paths[1], "rb") as f2:
                if f1.read() == f2.read():
                    return
        except OSError:
            pass
        time.sleep(0.1)


def is_local(rel):
    parts = rel.split("/")
    if "tmp" in parts[:-1] or parts[-1] == "tmp":
        return True
    return any(r.search(p) for r in LOCAL_RE for p in parts)


def tree(root):
    """{relative path: kind and content digest} of the replicated files."""
    out = {}
    for d, dirs, files in os.walk(root):
        reld = os.path.relpath(d, root)
        reld = "" if reld == "." else reld + "/"
        dirs[:] = [x for x in dirs if not is_local(reld + x)]
        for x in dirs:
            out[reld + x] = "dir"
        for x in files:
            rel = reld + x
            if is_local(rel):
                continue
            p = os.path.join(d, x)
            if os.path.islink(p):
                out[rel] = "symlink:" + os.readlink(p)
                continue
            h = hashlib.sha256()
            with open(p, "rb") as f:
                h.update(f.read())
            out[rel] = "file:%s" % h.hexdigest()[:16]
    return out


def tree_diff(s1, s2):
    t1, t2 = tree(s1), tree(s2)
    diffs = []
    for rel in sorted(set(t1) | set(t2)):
        a, b = t1.get(rel), t2.get(rel)
        if a == b:
            continue
        if a is None:
            diffs.append("only on node 2: %s" % rel)
        elif b is None:
            diffs.append("only on node 1: %s" % rel)
        else:
            diffs.append("content differs: %s (%s vs %s)" % (rel, a, b))
    return diffs


# ---------------------------------------------------------------- IMAP

def imap(st, node, user):
    m = imaplib.IMAP4(st["host"][str(node)], 143, timeout=60)
    m.login(user, "pw-" + user.split("@")[0])
    return m


def ok(resp, what):
    typ, data = resp
    if typ != "OK":
        raise Failure("IMAP %s: %s %r" % (what, typ, data))
    return data


def select(m, folder, readonly):
    ok(m.select(folder, readonly=readonly), "SELECT " + folder)
    v = m.untagged_responses.get("UIDVALIDITY", [None])[-1]
    return int(v) if v is not None else None


def fetch_view(m):
    """[(uid, tag, sorted flags)] of the selected mailbox, \\Recent dropped."""
    out = []
    typ, data = m.uid("FETCH", "1:*", "(UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    if typ != "OK":
        raise Failure("UID FETCH: %s %r" % (typ, data))
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, raw = item
        u = re.search(rb"UID (\d+)", meta)
        f = re.search(rb"FLAGS \(([^)]*)\)", meta)
        t = re.search(rb"<([^@>]+)@", raw)
        out.append((int(u.group(1)) if u else -1, t.group(1).decode() if t else None,
                    sorted(x for x in (f.group(1).decode().split() if f else []) if x != "\\Recent")))
    return sorted(out)


def fetch_body_tags(m):
    """{uid: tag} read from the start of each message's body text, which
    Dovecot reads from the file itself (headers may come from its
    node-local cache)."""
    out = {}
    typ, data = m.uid("FETCH", "1:*", "(UID BODY.PEEK[TEXT]<0.80>)")
    if typ != "OK":
        raise Failure("UID FETCH BODY[TEXT]: %s %r" % (typ, data))
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta, raw = item
        u = re.search(rb"UID (\d+)", meta)
        t = re.search(rb"test message (\S+) line", raw)
        if u:
            out[int(u.group(1))] = t.group(1).decode() if t else None
    return out


def imap_view(st, node, user):
    """{folder: {"uidvalidity": n, "msgs": [(uid, tag, flags)]}} on node."""
    m = imap(st, node, user)
    try:
        out = {}
        for line in ok(m.list(), "LIST"):
            name = line.decode().rsplit(" ", 1)[-1].strip('"')
            if "\\Noselect" in line.decode():
                continue
            uv = select(m, name, readonly=True)
            msgs = fetch_view(m)
            body = fetch_body_tags(m)
            out[name] = {"uidvalidity": uv, "msgs": msgs,
                         "wrong": [[u, t, body.get(u)] for u, t, _ in msgs if body.get(u) != t]}
        return out
    finally:
        m.logout()


def uid_of(m, tag):
    typ, data = m.uid("SEARCH", None, "HEADER", "Message-ID", msgid(tag))
    ids = data[0].split() if typ == "OK" and data and data[0] else []
    return ids[0].decode() if len(ids) == 1 else None


# ---------------------------------------------------------------- phases

def load(path):
    with open(path) as f:
        return json.load(f)


def save(path, st):
    with open(path + ".new", "w") as f:
        json.dump(st, f, indent=1, sort_keys=True)
    os.replace(path + ".new", path)


def prepare(a):
    st = {"host": {"1": a.host1, "2": a.host2}, "lmtp": {"1": a.lmtp1, "2": a.lmtp2},
          "store": {"1": a.store1, "2": a.store2}, "users": a.users,
          "acked": [], "unacked": [], "expunged": [], "touched": [], "ops": []}
    # One delivery at a time, each replicated (message and uidlist) before
    # the next: dovecot-uidlist.lock is node-local, so two nodes' Dovecots
    # appending to one uidlist at once is itself a split brain (the
    # --concurrent base of splitbrain.sh's "concurrent" variant).
    for i in range(BASE):
        node = 1 + i % 2
        for user in a.users:
            tag = "%s-b%d" % (user.split("@")[0], i)
            send(st, node, "smtp", user, tag)
            if a.concurrent:
                continue
            for n in (node, 3 - node):
                if not wait_in_store(st["store"][str(n)], user, tag, 30):
                    raise Failure("base message %s for %s not on node %d after 30 s" % (tag, user, n))
            wait_uidlists_equal(st, user, 10)
    for user, tag, node, _ in st["acked"]:
        for n in (node, 3 - node):
            if not wait_in_store(st["store"][str(n)], user, tag, 30):
                raise Failure("base message %s for %s not on node %d after 30 s" % (tag, user, n))
    if st["unacked"]:
        raise Failure("base mail not acknowledged: %r" % st["unacked"])
    for user in a.users:
        m = imap(st, 1, user)
        ok(m.create(FOLDER), "CREATE " + FOLDER)
        ok(m.subscribe(FOLDER), "SUBSCRIBE")
        m.logout()
        path = os.path.join(a.store2, *user.split("@")[::-1], "Maildir", "." + FOLDER, "cur")
        deadline = time.time() + 15
        while not os.path.isdir(path):
            if time.time() > deadline:
                raise Failure("%s's %s folder not replicated to node 2" % (user, FOLDER))
            time.sleep(0.2)
    # Flags some split operations start from, set on node 1 and waited
    # for on node 2 (b0 names both keywords, in both dovecot-keywords).
    for user in a.users:
        short = user.split("@")[0]
        m = imap(st, 1, user)
        select(m, "INBOX", readonly=False)
        for idx, flags in BEFORE_FLAGS:
            uid = uid_of(m, "%s-b%d" % (short, idx))
            if uid is None:
                raise Failure("%s-b%d not in %s's INBOX on node 1" % (short, idx, user))
            ok(m.uid("STORE", uid, "+FLAGS", "(%s)" % flags), "STORE")
        m.logout()
        want = {"%s-b%d" % (short, i) for i, _ in BEFORE_FLAGS}
        deadline = time.time() + 15
        while True:
            have = {t for msgs in maildir_messages(st["store"]["2"], user).values()
                    for t, f, _ in msgs if t in want and f}
            if have == want:
                break
            if time.time() > deadline:
                raise Failure("flags of %s not replicated to node 2" % sorted(want - have))
            time.sleep(0.2)
    if a.concurrent:
        # Let replication settle first: a difference left is not in flight.
        for user in a.users:
            wait_uidlists_equal(st, user, 15)
    # Both nodes' Dovecot opens every mailbox: each builds its index and
    # reads the replicated uidlist.  The views must agree already.
    st["before"] = {}
    for n in (1, 2):
        st["before"][str(n)] = {u: imap_view(st, n, u) for u in a.users}
    st["before_differs"] = []
    for u in a.users:
        if st["before"]["1"][u] != st["before"]["2"][u] and a.concurrent:
            # Reported by check under "before"; the run goes on.
            st["before_differs"].append("%s:\n      n1 %r\n      n2 %r"
                                        % (u, st["before"]["1"][u], st["before"]["2"][u]))
        elif st["before"]["1"][u] != st["before"]["2"][u]:
            raise Failure("before the split the nodes' IMAP views of %s differ:\n  n1 %r\n  n2 %r"
                          % (u, st["before"]["1"][u], st["before"]["2"][u]))
    log("prepared: %d base messages for %d users, IMAP views %s on both nodes"
        % (len(st["acked"]), len(a.users), "DIFFER" if st["before_differs"] else "equal"))
    save(a.state, st)


def during(a):
    st = load(a.state)
    side = a.side
    for user in st["users"]:
        short = user.split("@")[0]
        for i, tr in enumerate(SPLIT_MAIL):
            tag = "%s-n%d-%s%d" % (short, side, a.round, i)
            send(st, side, tr, user, tag)
    # Postfix's 250 means queued: wait until its delivery reaches the store.
    for user, tag, node, tr in st["acked"]:
        if node == side and tr == "smtp" and "-n%d-" % side in tag:
            if not wait_in_store(st["store"][str(side)], user, tag, 30):
                log("node %d: %s for %s acknowledged by Postfix but not delivered in 30 s"
                    % (side, tag, user))
    for user in st["users"]:
        short = user.split("@")[0]
        m = imap(st, side, user)
        try:
            select(m, "INBOX", readonly=False)
            for s, op, idx, arg in SPLIT_OPS:
                if s != side:
                    continue
                tag = "%s-b%d" % (short, idx)
                uid = uid_of(m, tag)
                if uid is None:
                    # Already gone here (e.g. moved or expunged by the other
                    # side before a crash): record it, do nothing.
                    st["ops"].append([side, user, op, tag, "not in INBOX"])
                    continue
                if op in ("flag", "unflag"):
                    ok(m.uid("STORE", uid, "+FLAGS" if op == "flag" else "-FLAGS", "(%s)" % arg),
                       "STORE")
                elif op == "move":
                    ok(m.uid("MOVE", uid, arg), "MOVE")
                elif op == "expunge":
                    ok(m.uid("STORE", uid, "+FLAGS", "(\\Deleted)"), "STORE")
                    ok(m.expunge(), "EXPUNGE")
                    st["expunged"].append([user, tag])
                st["touched"].append([user, tag])
                st["ops"].append([side, user, op, tag, arg])
            # Open every folder again so this side's uidlists hold the new
            # mail and the changes.
            fetch_view(m)
            select(m, FOLDER, readonly=True)
            fetch_view(m)
        finally:
            m.logout()
    log("side %d: %d acknowledged, %d not, ops %r" % (
        side, len(st["acked"]), len(st["unacked"]),
        [o for o in st["ops"] if o[0] == side]))
    save(a.state, st)


def hold(a):
    """A client that keeps bob's INBOX open through the split and the heal.
    Dovecot may end the session when its index of the mailbox was reset
    underneath it (the merge that moves UIDs removes the index): "IMAP
    session state is inconsistent, please relogin".  A client then logs in
    again, as this one does; what it must never get is a wrong view."""
    st = load(a.state)
    relogins = []

    def session():
        m = imap(st, a.side, a.user)
        select(m, "INBOX", readonly=False)
        return m

    m = session()
    try:
        before = fetch_view(m)
        open(a.out + ".ready", "w").close()
        while True:
            final = os.path.exists(a.go)
            try:
                ok(m.noop(), "NOOP")
                if final:
                    msgs = fetch_view(m)
                    body = fetch_body_tags(m)
                    break
            except (imaplib.IMAP4.abort, imaplib.IMAP4.error, Failure) as e:
                if "inconsistent" not in str(e) or len(relogins) >= 5:
                    raise
                relogins.append(time.strftime("%H:%M:%S"))
                log("held session on node %d: Dovecot ended it (%s); logging in again"
                    % (a.side, str(e).strip()))
                m = session()
                continue
            time.sleep(1)
    finally:
        try:
            m.logout()
        except (imaplib.IMAP4.error, OSError):
            pass
    out = {"side": a.side, "user": a.user, "folder": "INBOX", "before": len(before),
           "relogins": relogins, "msgs": msgs,
           "wrong": [[u, t, body.get(u)] for u, t, _ in msgs if body.get(u) != t]}
    with open(a.out, "w") as f:
        json.dump(out, f)
    log("held session on node %d (%s): %d messages when it opened, %d at the end, "
        "%d relogins" % (a.side, a.user, len(before), len(msgs), len(relogins)))


def check(a):
    st = load(a.state)
    users = st["users"]
    problems = {}

    def bad(cls, msg):
        problems.setdefault(cls, []).append(msg)

    expunged = {(u, t) for u, t in st["expunged"]}
    # A message a user expunged on one side and flagged on the other:
    # the expunge wins (decision 3); it must not come back.
    files = {n: {u: maildir_messages(st["store"][n], u) for u in users} for n in ("1", "2")}
    # The trees first: opening the mailboxes below makes each Dovecot
    # write its uidlist, which would race with the comparison.
    for d in tree_diff(st["store"]["1"], st["store"]["2"]):
        bad("tree", d)
    views = {}
    for n in ("1", "2"):
        try:
            views[n] = {u: imap_view(st, int(n), u) for u in users}
        except (Failure, OSError, imaplib.IMAP4.error) as e:
            bad("imap", "node %s: cannot read the IMAP view: %s" % (n, e))
            views[n] = {u: {} for u in users}

    for user, tag, node, tr in st["acked"]:
        if (user, tag) in expunged:
            continue
        for n in ("1", "2"):
            if not any(t == tag for msgs in files[n][user].values() for t, _, _ in msgs):
                bad("missing", "node %s store: %s for %s (acknowledged by node %s over %s) is missing"
                    % (n, tag, user, node, tr))
            if not any(x[1] == tag for f in views[n][user].values() for x in f["msgs"]):
                bad("missing", "node %s IMAP: %s for %s (acknowledged by node %s over %s) not visible"
                    % (n, tag, user, node, tr))
    for user, tag in sorted(expunged):
        for n in ("1", "2"):
            where = [f for f, msgs in files[n][user].items() for t, _, _ in msgs if t == tag]
            if where:
                bad("resurrected", "node %s: %s for %s was expunged by a user but is in %s"
                    % (n, tag, user, where))

    for n in ("1", "2"):
        for user in users:
            for folder, msgs in files[n][user].items():
                seen = {}
                for t, _, name in msgs:
                    seen.setdefault(t, []).append(name)
                for t, names in sorted(seen.items(), key=lambda x: str(x[0])):
                    if len(names) > 1:
                        bad("duplicate", "node %s store: %s/%s holds %s %d times: %s"
                            % (n, user, folder, t, len(names), names))
            for folder, v in views[n][user].items():
                tags = [x[1] for x in v["msgs"]]
                for t in sorted(set(tags), key=str):
                    if tags.count(t) > 1:
                        bad("duplicate", "node %s IMAP: %s/%s shows %s %d times (UIDs %s)"
                            % (n, user, folder, t, tags.count(t),
                               [x[0] for x in v["msgs"] if x[1] == t]))

    for n in ("1", "2"):
        for user in users:
            for folder, v in views[n][user].items():
                for u, head, body in v.get("wrong", []):
                    bad("wrong-message", "node %s IMAP: %s/%s UID %d: header says %s, body is %s's"
                        % (n, user, folder, u, head, body))

    for path in a.held or []:
        try:
            h = load(path)
        except (OSError, ValueError) as e:
            bad("held", "held session %s: no view (%s)" % (path, e))
            continue
        n, user, folder = str(h["side"]), h["user"], h["folder"]
        where = "node %s held session %s/%s" % (n, user, folder)
        for u, head, body in h["wrong"]:
            bad("held", "%s UID %d: header says %s, body is %s's" % (where, u, head, body))
        fresh = [tuple(x) for x in views[n][user].get(folder, {}).get("msgs", [])]
        held = [tuple(x) for x in h["msgs"]]
        if held != fresh:
            bad("held", "%s differs from a new session's view:\n      held  %s\n      fresh %s"
                % (where, held, fresh))

    for user in users:
        v1, v2 = views["1"][user], views["2"][user]
        for folder in sorted(set(v1) | set(v2)):
            if folder not in v1 or folder not in v2:
                bad("fetch", "%s: folder %s only on node %s" % (user, folder, 1 if folder in v1 else 2))
                continue
            f1 = [(u, f) for u, _, f in v1[folder]["msgs"]]
            f2 = [(u, f) for u, _, f in v2[folder]["msgs"]]
            if f1 != f2:
                bad("fetch", "%s/%s: UID FETCH 1:* (FLAGS) differs:\n      n1 %s\n      n2 %s"
                    % (user, folder, f1, f2))
            m1 = {u: t for u, t, _ in v1[folder]["msgs"]}
            m2 = {u: t for u, t, _ in v2[folder]["msgs"]}
            for u in sorted(set(m1) & set(m2)):
                if m1[u] != m2[u]:
                    bad("uid-map", "%s/%s: UID %d is %s on node 1 but %s on node 2"
                        % (user, folder, u, m1[u], m2[u]))

    for user in users:
        before = st["before"]["1"][user]
        touched = {t for u, t in st["touched"] if u == user}
        for n in ("1", "2"):
            now = views[n][user]
            for folder, v in before.items():
                if folder not in now:
                    bad("uidvalidity", "node %s: %s/%s is gone" % (n, user, folder))
                    continue
                if now[folder]["uidvalidity"] != v["uidvalidity"]:
                    bad("uidvalidity", "node %s: %s/%s UIDVALIDITY %s, was %s before the split"
                        % (n, user, folder, now[folder]["uidvalidity"], v["uidvalidity"]))
                nowmap = {}
                for u, t, _ in now[folder]["msgs"]:
                    nowmap.setdefault(t, []).append(u)
                for u, t, _ in v["msgs"]:
                    if t in touched:
                        continue
                    if nowmap.get(t) != [u]:
                        bad("uid-changed", "node %s: %s/%s untouched %s had UID %d, now %s"
                            % (n, user, folder, t, u, nowmap.get(t, "absent")))

    # Flags changed on both sides (and nothing else done to the message):
    # every flag either side added, minus every flag either side removed,
    # relative to the flags before the split (no flag is both added and
    # removed in SPLIT_OPS).
    for user in users:
        short = user.split("@")[0]
        done = {}
        for side, u, op, tag, arg in st["ops"]:
            if u == user and arg != "not in INBOX":
                done.setdefault(tag, []).append((op, arg))
        before = {t: f for _, t, f in st["before"]["1"][user].get("INBOX", {}).get("msgs", [])}
        for tag, ops in sorted(done.items()):
            if any(op not in ("flag", "unflag") for op, _ in ops) or tag not in before:
                continue
            want = set(before[tag])
            want |= {x for op, arg in ops if op == "flag" for x in arg.split()}
            want -= {x for op, arg in ops if op == "unflag" for x in arg.split()}
            for n in ("1", "2"):
                got = [f for _, t, f in views[n][user].get("INBOX", {}).get("msgs", []) if t == tag]
                if got != [sorted(want)]:
                    bad("flags", "node %s: %s/INBOX %s has flags %s, not the merge %s of %s"
                        % (n, user, tag, got, sorted(want), ops))

    for x in st.get("before_differs", []):
        bad("before", "the nodes' IMAP views differed before any split: " + x)
    order = ["before", "missing", "resurrected", "duplicate", "wrong-message", "held", "tree", "fetch",
             "flags", "uid-map", "uidvalidity", "uid-changed", "imap"]
    for cls in order:
        msgs = problems.get(cls, [])
        print("%-12s %s" % (cls + ":", "ok" if not msgs else "%d FAILED" % len(msgs)))
        for x in msgs[:a.max_lines]:
            print("    " + x)
        if len(msgs) > a.max_lines:
            print("    ... and %d more" % (len(msgs) - a.max_lines))
    print("acknowledged %d, not acknowledged %d, expunged by users %d, touched %d"
          % (len(st["acked"]), len(st["unacked"]), len(expunged), len(st["touched"])))
    return 1 if problems else 0


def main():
    p = argparse.ArgumentParser()
    p.add_argument("phase", choices=["prepare", "during", "hold", "tree", "check"])
    p.add_argument("--state")
    p.add_argument("--host1")
    p.add_argument("--host2")
    p.add_argument("--lmtp1")
    p.add_argument("--lmtp2")
    p.add_argument("--store1")
    p.add_argument("--store2")
    p.add_argument("--users", nargs="+")
    p.add_argument("--side", type=int, choices=[1, 2])
    p.add_argument("--round", default="s")
    p.add_argument("--concurrent", action="store_true",
                   help="prepare: deliver the base mail through both nodes at once")
    p.add_argument("--user", help="hold: the user whose INBOX stays open")
    p.add_argument("--go", help="hold: the file whose existence ends the session")
    p.add_argument("--out", help="hold: where the session's last view goes (JSON)")
    p.add_argument("--held", nargs="*", help="check: held sessions' views (hold --out)")
    p.add_argument("--max-lines", type=int, default=40)
    a = p.parse_args()
    try:
        if a.phase == "tree":
            d = tree_diff(a.store1, a.store2)
            for x in d[:a.max_lines]:
                print(x)
            return 1 if d else 0
        if not a.state:
            raise Failure("--state is required")
        if a.phase == "prepare":
            prepare(a)
        elif a.phase == "during":
            during(a)
        elif a.phase == "hold":
            if not (a.side and a.user and a.go and a.out):
                raise Failure("hold needs --side, --user, --go and --out")
            hold(a)
        else:
            return check(a)
        return 0
    except (Failure, OSError, imaplib.IMAP4.error, smtplib.SMTPException, ValueError) as e:
        log("FAIL: %s" % e)
        return 1


if __name__ == "__main__":
    sys.exit(main())
