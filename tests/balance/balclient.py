#!/usr/bin/python3
"""tests/balance/balclient.py: the client side of the balancer tests.  It
runs in the lab's client namespace and talks only to the VIP and the
nodes' addresses (192.0.2.0/24).

  balclient.py smtp --vip IP --count N --users U,U,... --tag T
      N SMTP sessions in turn through the VIP, one message each to the
      users in turn; prints one line per node: "NODE COUNT" (the node is
      read from the SMTP banner), and fails if any message was refused.
  balclient.py imap-hold --vip IP --count N --users U,U,... --ready F
                         --release F [--hold S]
      opens N IMAP sessions at once (users in turn, password pw-<local>),
      SELECTs INBOX in each, writes F(ready) and waits until F(release)
      exists (at most S seconds); then every session must still answer
      NOOP and LOGOUT.  Prints "open N" and "alive N".
  balclient.py imap-who --vip IP --users U,U,...
      logs each user in through the VIP and asks IMAP ID which node serves
      the session; prints "USER NODE" per user.
  balclient.py load --vip IP --users U,U,... --seconds S --out FILE
      for S seconds, an SMTP session with one message every 0.1 s and an
      IMAP login (SELECT, LOGOUT) every 0.2 s, all through the VIP; writes
      one line per attempt to FILE: "ms smtp|imap ok|fail TAG-or-reason",
      ms being the wall-clock start of the attempt.
  balclient.py condstore --vip IP --user U [--store UIDS FLAG] [--since N]
      a CONDSTORE client: logs in, ENABLEs CONDSTORE, SELECTs INBOX and
      prints "node N uidvalidity V highestmodseq M"; with --store it adds
      FLAG to the messages UIDS (e.g. 4,5) and prints "stored M" (the
      HIGHESTMODSEQ after); with --since it prints "changed UID FLAGS..."
      for each message FETCH (FLAGS) (CHANGEDSINCE N) returns.
  balclient.py stress --vip IP --user U --sessions N --seconds S [--seed K]
      N sessions of one user at once (imaptest's way: each SELECTs INBOX
      and, at random, stores or clears flags, fetches flags, appends,
      expunges what it marked deleted, NOOPs); prints "ops N" and one
      "error KIND COUNT" line per kind of tagged NO/BAD, BYE or dropped
      connection, KIND being the response text with numbers removed.
  balclient.py greet --host IP [--timeout S] PORT:WANT[:tls]...
      to each port, sends a PROXY v2 header naming the client network
      (192.0.2.1) as HAProxy does for a client, then (with tls) starts
      TLS, and expects a greeting that begins with WANT; prints one line
      per port to stderr.  Exit 0 when every port greeted.
  balclient.py forge --host IP --port P
      sends a PROXY v2 header that claims another client address
      (192.0.2.99) and expects the connection to be refused or closed
      without a greeting.  Exit 0 when refused.
"""
import argparse
import imaplib
import os
import re
import smtplib
import socket
import ssl
import struct
import sys
import time


def users_of(arg):
    return [u for u in arg.split(",") if u]


def message(tag, i, rcpt):
    return ("From: <balance@client.mhafs.test>\r\nTo: <%s>\r\n"
            "Subject: balance %s %d\r\nMessage-ID: <%s-%d@balance.mhafs.test>\r\n"
            "\r\nbalance test message %s %d\r\n" % (rcpt, tag, i, tag, i, tag, i)).encode()


def cmd_smtp(a):
    users = users_of(a.users)
    per_node = {}
    for i in range(a.count):
        rcpt = users[i % len(users)]
        with smtplib.SMTP(a.vip, 25, timeout=30) as s:
            code, banner = s.ehlo("client.mhafs.test")
            m = re.match(rb"(\S+)\.mhafs\.test", banner)
            node = m.group(1).decode() if m else "unknown"
            refused = s.sendmail("balance@client.mhafs.test", [rcpt], message(a.tag, i, rcpt))
            if refused:
                print("refused %s: %r" % (rcpt, refused), file=sys.stderr)
                return 1
        per_node[node] = per_node.get(node, 0) + 1
    for node in sorted(per_node):
        print(node, per_node[node])
    return 0


def cmd_imap_hold(a):
    users = users_of(a.users)
    sessions = []
    for i in range(a.count):
        u = users[i % len(users)]
        try:
            m = imaplib.IMAP4(a.vip, 143, timeout=30)
            m.login(u, "pw-" + u.split("@")[0])
            typ, _ = m.select("INBOX")
            if typ != "OK":
                raise imaplib.IMAP4.error("SELECT: " + typ)
            sessions.append(m)
        except (OSError, imaplib.IMAP4.error) as e:
            print("session %d (%s): %s" % (i, u, e), file=sys.stderr)
    print("open", len(sessions), flush=True)
    with open(a.ready, "w") as f:
        f.write("%d\n" % len(sessions))
    deadline = time.monotonic() + a.hold
    while not os.path.exists(a.release) and time.monotonic() < deadline:
        time.sleep(0.2)
    alive = 0
    for m in sessions:
        try:
            if m.noop()[0] == "OK":
                alive += 1
            m.logout()
        except (OSError, imaplib.IMAP4.error) as e:
            print("a held session failed: %s" % e, file=sys.stderr)
    print("alive", alive, flush=True)
    return 0 if alive == len(sessions) == a.count else 1


def serving_node(m):
    """The x-mhafs-node of the server's IMAP ID answer (None if absent)."""
    typ, _ = m.xatom("ID", "NIL")
    for line in m.untagged_responses.pop("ID", []) or []:
        f = re.search(rb'"x-mhafs-node" "([^"]*)"', line or b"")
        if f:
            return f.group(1).decode()
    return None


def cmd_imap_who(a):
    for u in users_of(a.users):
        m = imaplib.IMAP4(a.vip, 143, timeout=30)
        m.login(u, "pw-" + u.split("@")[0])
        print(u, serving_node(m) or "unknown", flush=True)
        m.logout()
    return 0


def cmd_load(a):
    users = users_of(a.users)
    end = time.monotonic() + a.seconds
    next_smtp = next_imap = time.monotonic()
    i = 0
    with open(a.out, "w") as out:
        while time.monotonic() < end:
            now = time.monotonic()
            if now >= next_smtp:
                next_smtp = now + 0.1
                i += 1
                rcpt = users[i % len(users)]
                tag = "load-%d" % i
                t0 = int(time.time() * 1000)
                try:
                    with smtplib.SMTP(a.vip, 25, timeout=5) as s:
                        s.ehlo("client.mhafs.test")
                        refused = s.sendmail("balance@client.mhafs.test", [rcpt],
                                             message("load", i, rcpt))
                    res = "fail refused" if refused else "ok %s %s" % (tag, rcpt)
                except (OSError, smtplib.SMTPException) as e:
                    res = "fail %s" % str(e).replace("\n", " ")[:80]
                out.write("%d smtp %s\n" % (t0, res))
            if now >= next_imap:
                next_imap = now + 0.2
                u = users[(i * 7) % len(users)]
                t0 = int(time.time() * 1000)
                try:
                    m = imaplib.IMAP4(a.vip, 143, timeout=5)
                    m.login(u, "pw-" + u.split("@")[0])
                    typ, _ = m.select("INBOX")
                    m.logout()
                    res = "ok %s" % u if typ == "OK" else "fail SELECT %s" % typ
                except (OSError, imaplib.IMAP4.error) as e:
                    res = "fail %s" % str(e).replace("\n", " ")[:80]
                out.write("%d imap %s\n" % (t0, res))
            out.flush()
            time.sleep(0.01)
    return 0


def select_modseq(m):
    typ, _ = m.select("INBOX")
    if typ != "OK":
        raise imaplib.IMAP4.error("SELECT failed")
    vals = {}
    for line in m.untagged_responses.get("OK", []):
        f = re.search(rb"\[(UIDVALIDITY|HIGHESTMODSEQ) (\d+)\]", line or b"")
        if f:
            vals[f.group(1).decode()] = int(f.group(2))
    return vals


def cmd_condstore(a):
    m = imaplib.IMAP4(a.vip, 143, timeout=30)
    m.login(a.user, "pw-" + a.user.split("@")[0])
    node = serving_node(m) or "unknown"
    typ, _ = m._simple_command("ENABLE", "CONDSTORE")
    if typ != "OK":
        raise imaplib.IMAP4.error("ENABLE CONDSTORE failed")
    v = select_modseq(m)
    print("node %s uidvalidity %d highestmodseq %d" % (node, v.get("UIDVALIDITY", 0),
                                                       v.get("HIGHESTMODSEQ", 0)), flush=True)
    if a.store:
        typ, _ = m.uid("STORE", a.store[0], "+FLAGS", "(%s)" % a.store[1])
        if typ != "OK":
            raise imaplib.IMAP4.error("STORE failed")
        m.close()
        v = select_modseq(m)
        print("stored %d" % v.get("HIGHESTMODSEQ", 0), flush=True)
    if a.since is not None:
        typ, data = m.uid("FETCH", "1:*", "(FLAGS) (CHANGEDSINCE %d)" % a.since)
        if typ != "OK":
            raise imaplib.IMAP4.error("FETCH CHANGEDSINCE failed")
        for item in data:
            if not isinstance(item, bytes):
                continue
            uid = re.search(rb"UID (\d+)", item)
            flags = re.search(rb"FLAGS \(([^)]*)\)", item)
            if uid:
                print("changed %s %s" % (uid.group(1).decode(),
                                         flags.group(1).decode() if flags else ""), flush=True)
    m.logout()
    return 0


def stress_session(a, k, result, lock):
    import random
    rnd = random.Random(a.seed * 1000 + k)
    ops = 0
    errors = {}

    def err(kind):
        kind = re.sub(r"\d+", "N", kind)[:100]
        errors[kind] = errors.get(kind, 0) + 1

    end = time.monotonic() + a.seconds
    try:
        m = imaplib.IMAP4(a.vip, 143, timeout=30)
        m.login(a.user, "pw-" + a.user.split("@")[0])
        m.select("INBOX")
        while time.monotonic() < end:
            r = rnd.random()
            try:
                if r < 0.35:
                    typ, data = m.uid("STORE", "%d" % rnd.randint(1, 60),
                                      rnd.choice(["+FLAGS", "-FLAGS"]),
                                      "(%s)" % rnd.choice(["\\Seen", "\\Flagged", "\\Answered"]))
                elif r < 0.6:
                    typ, data = m.uid("FETCH", "1:*", "(FLAGS)")
                elif r < 0.75:
                    typ, data = m.append("INBOX", None, None,
                                         message("stress", k * 100000 + ops, a.user))
                elif r < 0.85:
                    typ, data = m.uid("STORE", "%d" % rnd.randint(1, 60), "+FLAGS", "(\\Deleted)")
                    if typ == "OK":
                        typ, data = m.expunge()
                else:
                    typ, data = m.noop()
                if typ != "OK":
                    err("%s %s" % (typ, (data[0] if data and isinstance(data[0], bytes) else b"").decode(errors="replace")))
                ops += 1
            except imaplib.IMAP4.abort as e:
                err("BYE/abort %s" % e)
                m = imaplib.IMAP4(a.vip, 143, timeout=30)
                m.login(a.user, "pw-" + a.user.split("@")[0])
                m.select("INBOX")
            except imaplib.IMAP4.error as e:
                err("NO/BAD %s" % e)
            time.sleep(rnd.random() * 0.02)
        m.logout()
    except (OSError, imaplib.IMAP4.error) as e:
        err("session %s" % e)
    with lock:
        result["ops"] += ops
        for kind, n in errors.items():
            result["errors"][kind] = result["errors"].get(kind, 0) + n


def cmd_stress(a):
    import threading
    result = {"ops": 0, "errors": {}}
    lock = threading.Lock()
    threads = [threading.Thread(target=stress_session, args=(a, k, result, lock))
               for k in range(a.sessions)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print("ops", result["ops"])
    for kind, n in sorted(result["errors"].items()):
        print("error", kind.replace("\n", " "), "COUNT", n)
    return 0


def proxy_v2_header(src, dst, sport, dport):
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    body = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    return sig + bytes([0x21, 0x11]) + struct.pack("!H", len(body)) + body


def cmd_greet(a):
    bad = 0
    for spec in a.specs:
        port, want, tls = (spec.split(":", 2) + [""])[:3]
        port = int(port)
        try:
            s = socket.create_connection((a.host, port), timeout=a.timeout)
            s.sendall(proxy_v2_header("192.0.2.1", a.host, 40000, port))
            if tls:
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s = ctx.wrap_socket(s)
            got = s.recv(200).decode(errors="replace")
            s.close()
        except OSError as e:
            got = "(%s)" % e
        ok = got.startswith(want)
        bad += not ok
        print("port %d: %s%s" % (port, "greets" if ok else "no greeting: ", "" if ok else got.strip()[:80]),
              file=sys.stderr)
    return 1 if bad else 0


def cmd_forge(a):
    try:
        s = socket.create_connection((a.host, a.port), timeout=5)
    except OSError as e:
        print("refused at connect: %s" % e)
        return 0
    try:
        s.sendall(proxy_v2_header("192.0.2.99", a.host, 40000, a.port))
        s.sendall(b"EHLO forged.example\r\n")
        data = s.recv(4096)
    except OSError as e:
        print("refused: %s" % e)
        return 0
    finally:
        s.close()
    if not data:
        print("closed without a greeting")
        return 0
    print("ACCEPTED a forged PROXY header: %r" % data[:200])
    return 1


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("smtp")
    s.add_argument("--vip", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--users", required=True)
    s.add_argument("--tag", default="t")
    s = sub.add_parser("imap-hold")
    s.add_argument("--vip", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--users", required=True)
    s.add_argument("--ready", required=True)
    s.add_argument("--release", required=True)
    s.add_argument("--hold", type=float, default=120)
    s = sub.add_parser("imap-who")
    s.add_argument("--vip", required=True)
    s.add_argument("--users", required=True)
    s = sub.add_parser("load")
    s.add_argument("--vip", required=True)
    s.add_argument("--users", required=True)
    s.add_argument("--seconds", type=float, required=True)
    s.add_argument("--out", required=True)
    s = sub.add_parser("condstore")
    s.add_argument("--vip", required=True)
    s.add_argument("--user", required=True)
    s.add_argument("--store", nargs=2, metavar=("UIDS", "FLAG"))
    s.add_argument("--since", type=int)
    s = sub.add_parser("stress")
    s.add_argument("--vip", required=True)
    s.add_argument("--user", required=True)
    s.add_argument("--sessions", type=int, default=10)
    s.add_argument("--seconds", type=float, default=30)
    s.add_argument("--seed", type=int, default=1)
    s = sub.add_parser("greet")
    s.add_argument("--host", required=True)
    s.add_argument("--timeout", type=float, default=5)
    s.add_argument("specs", nargs="+", metavar="PORT:WANT[:tls]")
    s = sub.add_parser("forge")
    s.add_argument("--host", required=True)
    s.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    return {"smtp": cmd_smtp, "imap-hold": cmd_imap_hold, "imap-who": cmd_imap_who,
            "load": cmd_load, "condstore": cmd_condstore,
            "stress": cmd_stress,
            "greet": cmd_greet, "forge": cmd_forge}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
