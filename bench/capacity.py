#!/usr/bin/python3
"""bench/capacity.py: the client side of bench/cluster-capacity, run in the
lab's client namespace.

  capacity.py smtp --host IP --count N --conc C --users U,U,... --tag T --size S
      N messages by SMTP to HOST, C sessions at once, each session sending
      messages in turn to the users in turn (Message-ID <T-i@cap>); prints
      "sent N seconds S" (S from the first connect to the last 250) and
      "node NAME COUNT" per node that accepted (from the SMTP banner).
  capacity.py fetch --host IP --conc C --users U,U,...
      C sessions at once, each taking the next user, logging in and
      FETCHing BODY[] of every message in INBOX; prints "read N seconds S".
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
    users = queue.Queue()
    for u in a.users.split(","):
        if u:
            users.put(u)
    total, errors, lock = [0], [], threading.Lock()

    def worker():
        while True:
            try:
                u = users.get_nowait()
            except queue.Empty:
                return
            try:
                m = imaplib.IMAP4(a.host, 143, timeout=60)
                m.login(u, "pw-" + u.split("@")[0])
                typ, data = m.select("INBOX", readonly=True)
                n = int(data[0])
                if n:
                    typ, data = m.fetch("1:*", "(BODY.PEEK[])")
                    if typ != "OK":
                        raise imaplib.IMAP4.error("FETCH " + typ)
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
    a = p.parse_args()
    return {"smtp": cmd_smtp, "fetch": cmd_fetch}[a.cmd](a)


if __name__ == "__main__":
    sys.exit(main())
