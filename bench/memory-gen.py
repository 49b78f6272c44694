#!/usr/bin/env python3
# bench/memory-gen.py: the synthetic mail store of bench/memory.  Writes N
# small messages into DIR as Maildirs, 10 mailboxes a user (INBOX and nine
# .Box folders, each with tmp/, new/ and cur/), 1,000 messages a mailbox
# (fewer users when N is small; the last mailbox takes the remainder).
# Names are Dovecot's: <time>.M<usec>P<pid>.<host>,S=<size>,W=<vsize>:2,S
# with S= the file's real size.  No fsync; prints "files SECONDS".
#
#   bench/memory-gen.py DIR N
import os
import sys
import time

PER_BOX = 1000
BOXES = ["Maildir"] + ["Maildir/.Box%d" % i for i in range(1, 10)]


def main():
    if len(sys.argv) != 3 or not sys.argv[2].isdigit() or int(sys.argv[2]) < 1:
        sys.exit("usage: bench/memory-gen.py DIR N")
    top, n = sys.argv[1], int(sys.argv[2])
    t0 = time.monotonic()
    base = int(time.time()) - 86400 * 365
    pid, done, user = 4000, 0, 0
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL
    while done < n:
        user += 1
        for box in BOXES:
            if done >= n:
                break
            d = os.path.join(top, "u%04d" % user, box)
            for sub in ("tmp", "new", "cur"):
                os.makedirs(os.path.join(d, sub), exist_ok=True)
            cur = os.path.join(d, "cur")
            count = min(PER_BOX, n - done)
            for k in range(count):
                t = base + done * 7
                subject = "Subject: message %d of u%04d\n" % (k, user)
                body = ("line %d of a small message body\n" % done) * (4 + done % 40)
                data = ("From: a%d@example.org\nTo: u%04d@example.org\n%s"
                        "Message-ID: <%d.%d@example.org>\n\n%s" %
                        (done % 97, user, subject, t, done, body)).encode()
                vsize = len(data) + data.count(b"\n")
                name = "%d.M%dP%d.mail1.example.org,S=%d,W=%d:2,S" % (
                    t, (done * 7919) % 1000000, pid + done % 3000, len(data), vsize)
                fd = os.open(os.path.join(cur, name), flags, 0o600)
                os.write(fd, data)
                os.close(fd)
                done += 1
    print(done, "%.1f" % (time.monotonic() - t0))


if __name__ == "__main__":
    main()
