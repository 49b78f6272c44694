#!/usr/bin/python3
"""bench/capacity.py: the client side of bench/cluster-capacity, run in the
lab's client namespace.

  capacity.py smtp --host IP --count N --conc C --users U,U,... --tag T --size S
      N messages by SMTP to HOST, C sessions at once, each session sending
      messages in turn to the users in turn (Message-ID <T-i@cap>); prints
      "sent N seconds S" (S from the first connect to the last 250) and
      "node NAME COUNT" per node that accepted (from the SMTP banner).
  capacity.py fetch --host IP --conc C --users U,U,... [--count N --tag T]
      C sessions at once, each taking the next user, logging in and
      FETCHing BODY[] of every message in INBOX; prints "read N seconds S".
      With --count and --tag: only the messages the smtp command with the
      same users, count and tag gave each user, the last ones in INBOX
      (older mail of a user who is not new stays unread), each checked
      for its Message-ID.
Exit status 0, or 1 with the first error.
"""
import argparse
import imaplib
import queue
import re
import smtplib
import sys
import threading
import time


def body(size, tag, i, rcpt):
    head = ("From: <cap@client.mhafs.test>\r\nTo: <%s>\r\nSubject: capacity %s %d\r\n"
            "Message-ID: <%s-%d@cap>\r\n\r\n" % (rcpt, tag, i, tag, i))
    line = ("capacity benchmark line %s %d " % (tag, i)).ljust(76, "x") + "\r\n"
    n = max(1, (size - len(head)) // len(line))
    return (head + line * n).encode()


def run_all(worker, n, errors):
    """Run worker in n threads and wait for all; False (and the first
    error printed) if any failed."""
    threads = [threading.Thread(target=worker) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        print("error", errors[0], file=sys.stderr)
        return False
    return True


def cmd_smtp(a):
    users = [u for u in a.users.split(",") if u]
    work = queue.Queue()
    for i in range(a.count):
        work.put(i)
    nodes, errors, lock = {}, [], threading.Lock()

    def worker():
        while True:
            try:
                s = smtplib.SMTP(a.host, 25, timeout=60)
                code, banner = s.ehlo("client.mhafs.test")
                m = re.match(rb"(\S+)\.mhafs\.test", banner)
                node = m.group(1).decode() if m else "unknown"
                sent = 0
                while sent < 20:
                    try:
                        i = work.get_nowait()
                    except queue.Empty:
                        break
                    rcpt = users[i % len(users)]
                    s.sendmail("cap@client.mhafs.test", [rcpt], body(a.size, a.tag, i, rcpt))
                    sent += 1
                s.quit()
                with lock:
                    nodes[node] = nodes.get(node, 0) + sent
                if sent < 20:
                    return
            except (OSError, smtplib.SMTPException) as e:
                with lock:
                    errors.append(str(e))
                return

    t0 = time.monotonic()
    if not run_all(worker, a.conc, errors):
        return 1
    print("sent %d seconds %.3f" % (sum(nodes.values()), time.monotonic() - t0))
    for n in sorted(nodes):
        print("node", n, nodes[n])
    return 0


def cmd_fetch(a):
    names = [u for u in a.users.split(",") if u]
    users = queue.Queue()
    for j, u in enumerate(names):
        # what cmd_smtp sent user j: messages i with i % len(names) == j
        users.put((u, None if a.count is None else len(range(j, a.count, len(names)))))
    total, errors, lock = [0], [], threading.Lock()
    mark = None if a.tag is None else ("Message-ID: <%s-" % a.tag).encode()

    def worker():
        while True:
            try:
                u, want = users.get_nowait()
            except queue.Empty:
                return
            try:
                m = imaplib.IMAP4(a.host, 143, timeout=60)
                m.login(u, "pw-" + u.split("@")[0])
                typ, data = m.select("INBOX", readonly=True)
                n = int(data[0])
                first = 1 if want is None else n - want + 1
                if first < 1:
                    raise imaplib.IMAP4.error("%d messages in INBOX, not %d" % (n, want))
                if n >= first:
                    typ, data = m.fetch("%d:%d" % (first, n), "(BODY.PEEK[])")
                    if typ != "OK":
                        raise imaplib.IMAP4.error("FETCH " + typ)
                    if mark is not None:
                        got = sum(1 for x in data if isinstance(x, tuple) and mark in x[1])
                        if got != n - first + 1:
                            raise imaplib.IMAP4.error("%d of the last %d messages are %s's" %
                                                      (got, n - first + 1, a.tag))
                n = n - first + 1
                m.logout()
                with lock:
                    total[0] += n
            except (OSError, imaplib.IMAP4.error) as e:
                with lock:
                    errors.append("%s: %s" % (u, e))
                return

    t0 = time.monotonic()
    if not run_all(worker, a.conc, errors):
        return 1
    print("read %d seconds %.3f" % (total[0], time.monotonic() - t0))
    return 0


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("smtp")
    s.add_argument("--host", required=True)
    s.add_argument("--count", type=int, required=True)
    s.add_argument("--conc", type=int, default=8)
    s.add_argument("--users", required=True)
    s.add_argument("--tag", required=True)
    s.add_argument("--size", type=int, default=4096)
    s = sub.add_parser("fetch")
    s.add_argument("--host", required=True)
    s.add_argument("--conc", type=int, default=8)
    s.add_argument("--users", required=True)
    s.add_argument("--count", type=int)
    s.add_argument("--tag")
    a = p.parse_args()
    return {"smtp": cmd_smtp, "fetch": cmd_fetch}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
