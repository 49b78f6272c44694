#!/usr/bin/python3
"""deliver.py: Maildir delivery burst for the crash test.

Usage: deliver.py MOUNT WRITERS SECONDS LOGDIR

Forks WRITERS processes; each delivers like an MTA into MOUNT/uN/Maildir
(N = writer % 2): create tmp/UNIQUE (O_EXCL), write 8 KiB, fsync, rename to
new/UNIQUE, and only then append UNIQUE to LOGDIR/writer-K.log (flushed), so
the log lists exactly the deliveries whose rename returned.  A writer stops
after SECONDS or at its first error (the mount dying is expected); it exits
0 either way and reports the error on stderr.
"""
import os
import socket
import sys
import time


def writer(mount, k, seconds, logdir):
    box = os.path.join(mount, "u%d" % (k % 2), "Maildir")
    host = socket.gethostname().replace("/", "_").replace(":", "_")
    end = time.monotonic() + seconds
    n = 0
    with open(os.path.join(logdir, "writer-%d.log" % k), "a", buffering=1) as log:
        while time.monotonic() < end:
            now = time.time()
            name = "%d.M%dP%dQ%d.%s" % (int(now), int(now * 1e6) % 1000000, os.getpid(), n, host)
            tmp = os.path.join(box, "tmp", name)
            try:
                fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                try:
                    body = b"Subject: crash test %d/%d\n\n" % (k, n) + os.urandom(8192 - 40)
                    os.write(fd, body)
                    os.fsync(fd)
                finally:
                    os.close(fd)
                os.rename(tmp, os.path.join(box, "new", name))
            except OSError as e:
                sys.stderr.write("writer %d stopped after %d deliveries: %s\n" % (k, n, e))
                return
            log.write(name + "\n")
            n += 1


def main():
    if len(sys.argv) != 5:
        sys.stderr.write("usage: deliver.py MOUNT WRITERS SECONDS LOGDIR\n")
        return 2
    mount, writers, seconds, logdir = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
    for u in range(min(writers, 2)):
        for sub in ("tmp", "new", "cur"):
            os.makedirs(os.path.join(mount, "u%d" % u, "Maildir", sub), exist_ok=True)
    pids = []
    for k in range(writers):
        pid = os.fork()
        if pid == 0:
            try:
                writer(mount, k, seconds, logdir)
            finally:
                os._exit(0)
        pids.append(pid)
    # the test's cleanup ends stragglers by these PIDs
    with open(os.path.join(logdir, "pids"), "w") as f:
        f.write(" ".join(str(p) for p in pids) + "\n")
    for pid in pids:
        os.waitpid(pid, 0)
    return 0


if __name__ == "__main__":
    sys.exit(main())
