#!/usr/bin/python3
"""bench/lmtp-deliver.py: the load generator of bench/lmtp-delivery.  Sends
N messages of about SIZE bytes over LMTP to a Dovecot unix socket, spread
round-robin over USERS recipients u001@DOMAIN..., from CONCURRENCY
connections at once, and prints one line:

  messages=N seconds=S rate=R p50_ms=A p99_ms=B t0=T0 t1=T1
      cpu_user=U cpu_nice=I cpu_sys=Y cpu_irq=Q cpu_softirq=F cpu_iowait=W
      cpu_idle=D cpu_steal=L client_cpu=C hz=H

(one line): p50/p99 of the LMTP transaction time (MAIL FROM to the 250
after DATA, per message); t0/t1 the timed phase in CLOCK_MONOTONIC
seconds; cpu_* the machine's /proc/stat ticks (all CPUs, all processes)
over the timed phase; client_cpu this process's own user+system ticks;
hz the ticks per second.

Exit 1 (with the reason) if any message is not accepted with 250.
"""
import argparse
import os
import smtplib
import sys
import threading
import time


def message(i, rcpt, size):
    head = ("From: <bench@client.mhafs.test>\r\nTo: <%s>\r\n"
            "Subject: lmtp bench %d\r\nMessage-ID: <bench-%d@client.mhafs.test>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" % (rcpt, i, i))
    line = ("%08d " % i) + "x" * 69 + "\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return (head + body).encode()


def worker(a, ids, errors, lat):
    try:
        c = smtplib.LMTP(a.socket)
        c.ehlo("bench.mhafs.test")
        for i in ids:
            rcpt = "u%03d@%s" % (i % a.users + 1, a.domain)
            msg = message(i, rcpt, a.size)
            t = time.monotonic()
            refused = c.sendmail("bench@client.mhafs.test", [rcpt], msg)
            lat.append(time.monotonic() - t)
            if refused:
                raise RuntimeError("message %d refused: %r" % (i, refused))
        c.quit()
    except Exception as e:  # reported by the main thread
        errors.append("%s: %s" % (type(e).__name__, e))


CPU_FIELDS = ("user", "nice", "sys", "idle", "iowait", "irq", "softirq", "steal")


def cpu_ticks():
    """The machine's CPU time so far: /proc/stat's "cpu" line, in ticks."""
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return dict(zip(CPU_FIELDS, v))


def own_ticks():
    t = os.times()
    return (t.user + t.system) * os.sysconf("SC_CLK_TCK")


def percentile(v, p):
    """Nearest-rank percentile of the sorted list v."""
    return v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))]


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--socket", required=True)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--domain", default="d1.test")
    a = ap.parse_args()
    if min(a.messages, a.users, a.concurrency) < 1 or a.size < 256:
        ap.error("messages, users and concurrency must be >= 1, size >= 256")
    errors, lat = [], []
    threads = [threading.Thread(target=worker,
                                args=(a, range(k, a.messages, a.concurrency), errors, lat))
               for k in range(a.concurrency)]
    c0, o0 = cpu_ticks(), own_ticks()
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1 = time.monotonic()
    c1, o1 = cpu_ticks(), own_ticks()
    dt = t1 - t0
    if errors:
        print("lmtp-deliver: %d connection(s) failed; first: %s" % (len(errors), errors[0]),
              file=sys.stderr)
        return 1
    lat.sort()
    print("messages=%d seconds=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f t0=%.6f t1=%.6f %s"
          " client_cpu=%d hz=%d"
          % (a.messages, dt, a.messages / dt, percentile(lat, 50) * 1e3,
             percentile(lat, 99) * 1e3, t0, t1,
             " ".join("cpu_%s=%d" % (k, c1[k] - c0[k]) for k in CPU_FIELDS),
             round(o1 - o0), os.sysconf("SC_CLK_TCK")))
    return 0


if __name__ == "__main__":
    sys.exit(main())
