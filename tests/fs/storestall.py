#!/usr/bin/python3
"""tests/fs/storestall.py DIR N SECONDS: N processes each append 37-byte
writes to a file of their own in DIR for SECONDS.  Every write extends its
file, so mhafs stores each write's last byte into the kernel's cache
(fs_data.c, settle_size) while the writer's next write may already hold
that page locked.  Prints "ok WRITES" at the end; "STALL ..." and exits 2
as soon as no process has written for 8 s (mhafs answers nothing)."""
import multiprocessing as mp
import os
import sys
import time


def append(path, seconds, prog, i):
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    end = time.monotonic() + seconds
    k = 0
    while time.monotonic() < end:
        os.write(fd, b"x" * 37)
        k += 1
        if k % 50 == 0:
            prog[i] = k
    prog[i] = k
    os.close(fd)


def main():
    d, n, seconds = sys.argv[1], int(sys.argv[2]), float(sys.argv[3])
    prog = mp.Array("l", n, lock=False)
    procs = [mp.Process(target=append, args=(os.path.join(d, "f%03d" % i), seconds, prog, i))
             for i in range(n)]
    for p in procs:
        p.start()
    t0, last, still = time.monotonic(), -1, 0
    while any(p.is_alive() for p in procs):
        time.sleep(1)
        total = sum(prog)
        still = still + 1 if total == last else 0
        last = total
        if still >= 8:
            print("STALL after %.0f s: no write for 8 s, %d writes in all" % (time.monotonic() - t0, total),
                  flush=True)
            os._exit(2)
    print("ok %d" % sum(prog), flush=True)


if __name__ == "__main__":
    main()
