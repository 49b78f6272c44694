#!/usr/bin/python3
"""tests/e2e/maildir-compare.py: compare two mail stores made by the same
scenario on different filesystems, after normalizing what legitimately
differs between runs.

  maildir-compare.py [--replicated] TREE_A TREE_B

--replicated compares the two backing trees of a replicating pair: what
mhafs keeps node-local by default (dovecot.index*, dovecot.list.index*,
*.lock, dovecot-uidlist.tmp, tmp/ and its contents) is skipped altogether.
mhafs's own .mhafs-staging at the top of a tree is always skipped.

A message file (in cur/ or new/) is keyed by its folder, its subdirectory,
its flags (after ":2,") and its content with the leading trace headers
(Return-Path, Delivered-To, Received, X-Original-To) reduced to their
names; the unique base name (time, pid, host, inode) is dropped.  Both trees
must hold the same multiset of keys, the same hard-link groups, the same
directories, and the same mode and owner on every entry; S= and W= in a
name must match the file.  dovecot-uidlist is compared as (UID -> message
key, or "expunged") plus its next UID; dovecot-uidvalidity* by name shape (the
value is a timestamp); dovecot.index*
files are ignored; dovecot.list.index* and dovecot.mailbox.log are compared
by presence only; every other file byte for byte.
Exit 0 when equal, 1 with one line per difference.
"""
import hashlib
import os
import re
import stat
import sys
from collections import Counter

TRACE = (b"return-path", b"delivered-to", b"received", b"x-original-to")
IGNORE = re.compile(r"^dovecot\.index")
PRESENCE = re.compile(r"^(dovecot\.list\.index.*|dovecot\.mailbox\.log)$")
UIDVALIDITY = re.compile(r"^dovecot-uidvalidity(\.[0-9a-f]+)?$")


def message_key(data):
    """Digest of a message without its run-specific trace header values."""
    lines = data.split(b"\n")
    names = []
    i = 0
    while i < len(lines):
        line = lines[i]
        if line[:1] in (b" ", b"\t") and names:
            i += 1
            continue
        name = line.split(b":", 1)[0].lower()
        if name not in TRACE:
            break
        names.append(name.decode())
        i += 1
    rest = b"\n".join(lines[i:])
    return "%s|%s" % (",".join(names), hashlib.sha256(rest).hexdigest()[:16])


def split_name(fname):
    base, sep, flags = fname.partition(":2,")
    return base, (flags if sep else None)


def check_sizes(path, fname, data, errors):
    fields = dict(f.split("=", 1) for f in split_name(fname)[0].split(",")[1:]
                  if "=" in f)
    if "S" in fields and int(fields["S"]) != len(data):
        errors.append("%s: S=%s but the file has %d bytes" % (path, fields["S"], len(data)))
    if "W" in fields:
        vsize = len(data) + data.count(b"\n") - data.count(b"\r\n")
        if int(fields["W"]) != vsize:
            errors.append("%s: W=%s but the virtual size is %d" % (path, fields["W"], vsize))


NODE_LOCAL = re.compile(r"^(dovecot\.index.*|dovecot\.list\.index.*|.*\.lock|dovecot-uidlist\.tmp)$")


class Tree:
    def __init__(self, root, replicated=False):
        self.root = root
        self.entries = Counter()   # normalized entry -> count
        self.links = Counter()     # frozenset of message keys sharing an inode
        self.errors = []           # self-consistency errors (S=, W=, uidlist)
        inodes = {}
        uidlists = []
        for d, dirs, files in os.walk(root):
            if d == root:  # mhafs's own (staging files, the space reserve)
                dirs[:] = [x for x in dirs if x != ".mhafs-staging"]
            if replicated:
                dirs[:] = [x for x in dirs if x != "tmp"]
                files = [f for f in files if not NODE_LOCAL.match(f)]
            dirs.sort()
            rel = os.path.relpath(d, root)
            self.add_meta("dir", rel, os.lstat(d))
            sub = os.path.basename(d)
            for f in sorted(files):
                p = os.path.join(d, f)
                st = os.lstat(p)
                if IGNORE.match(f):
                    continue
                if sub in ("cur", "new", "tmp"):
                    with open(p, "rb") as fh:
                        data = fh.read()
                    check_sizes(p, f, data, self.errors)
                    key = "msg %s flags=%s %s" % (rel, split_name(f)[1], message_key(data))
                    self.add_meta(key, "", st)
                    inodes.setdefault((st.st_dev, st.st_ino), []).append(key)
                elif PRESENCE.match(f):
                    self.entries["present %s/%s" % (rel, f)] += 1
                elif UIDVALIDITY.match(f):
                    self.add_meta("file", "%s/%s" % (rel, re.sub(r"\..*", ".*", f)), st)
                elif f == "dovecot-uidlist":
                    uidlists.append((d, rel, st))
                else:
                    with open(p, "rb") as fh:
                        digest = hashlib.sha256(fh.read()).hexdigest()[:16]
                    self.add_meta("file %s" % digest, "%s/%s" % (rel, f), st)
        for keys in inodes.values():
            if len(keys) > 1:
                self.links["{%s}" % " + ".join(sorted(k.split(" ", 2)[1] + " " + k.split(" ", 2)[2]
                                                       for k in keys))] += 1
        for d, rel, st in uidlists:
            self.add_meta(self.uidlist(d, rel), "", st)

    def add_meta(self, kind, rel, st):
        self.entries["%s%s mode=%o uid=%d gid=%d" % (
            kind, " " + rel if rel else "", stat.S_IMODE(st.st_mode), st.st_uid,
            st.st_gid)] += 1

    def uidlist(self, d, rel):
        """dovecot-uidlist as 'next UID' plus UID -> message key."""
        files = {}
        for sub in ("cur", "new"):
            sd = os.path.join(d, sub)
            for f in os.listdir(sd) if os.path.isdir(sd) else []:
                with open(os.path.join(sd, f), "rb") as fh:
                    files[split_name(f)[0]] = message_key(fh.read())
        with open(os.path.join(d, "dovecot-uidlist")) as fh:
            lines = fh.read().splitlines()
        header = dict((w[0], w[1:]) for w in lines[0].split()[1:] if w)
        out = ["uidlist %s v%s next=%s" % (rel, lines[0].split()[0], header.get("N"))]
        for line in lines[1:]:
            uid = line.split(" ", 1)[0]
            fname = line.rsplit(":", 1)[-1] if " :" in line else ""
            # An expunged message may stay listed until the next rewrite.
            out.append("%s=%s" % (uid, files.get(fname, "expunged")))
        return " ".join(out)


def diff(a, b, what, errors):
    for k in sorted(set(a) | set(b)):
        if a[k] != b[k]:
            errors.append("%s: %s: %d in A, %d in B" % (what, k, a[k], b[k]))


def main():
    args = sys.argv[1:]
    replicated = bool(args) and args[0] == "--replicated"
    if replicated:
        args = args[1:]
    if len(args) != 2 or not all(os.path.isdir(p) for p in args):
        print("usage: maildir-compare.py [--replicated] TREE_A TREE_B (two directories)",
              file=sys.stderr)
        return 2
    ta, tb = Tree(args[0], replicated), Tree(args[1], replicated)
    errors = ["A: " + e for e in ta.errors] + ["B: " + e for e in tb.errors]
    diff(ta.entries, tb.entries, "entry", errors)
    diff(ta.links, tb.links, "hard-link group", errors)
    for e in errors:
        print("maildir-compare: " + e)
    if not errors:
        n = sum(c for k, c in ta.entries.items() if k.startswith("msg "))
        print("maildir-compare: equal (%d entries, %d message files, %d hard-link groups)"
              % (sum(ta.entries.values()), n, sum(ta.links.values())))
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
