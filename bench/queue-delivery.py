#!/usr/bin/python3
"""bench/queue-delivery.py: the load generator and the arithmetic of
bench/queue-delivery.

  send --host IP --messages N --users U --size S --concurrency C --tag T
       --per-session K --log DOVECOT_LOG --spool QUEUE_DIR [--timeout SEC]
       [--cgroup CGROUP]
      N messages by SMTP to Postfix at IP:25 from C sessions at once (a
      session sends up to K messages, then QUITs and another connects),
      round-robin to u001@d1.test..., Message-ID <T-i@qbench>.  Then waits
      until Dovecot's log (read from its size at the start) has a "saved
      mail" line for each of the N and Postfix's queue (QUEUE_DIR's
      incoming, active, deferred, hold, maildrop; links followed) is empty.
      Prints one line:
        messages=N seconds=S rate=R smtp_seconds=A p50_ms=.. p90_ms=..
            p99_ms=.. slow=K cpu_user=.. cpu_nice=.. cpu_sys=.. cpu_idle=..
            cpu_iowait=.. cpu_irq=.. cpu_softirq=.. cpu_steal=..
            client_cpu=.. hz=.. [own_user_us=.. own_sys_us=..]
      S: first connection to the last message saved and the queue empty;
      A: to the last 250; p50/p90/p99: the SMTP transaction (MAIL FROM to
      the 250 after the data); K: transactions of 0.5 s or more; cpu_*:
      /proc/stat ticks of the whole machine over S; client_cpu: this
      process's own ticks; own_*: what the processes of cgroup directory
      CGROUP (--cgroup, the benchmark's own) used over S, in microseconds.
      Exit 1 with the reason if a message is refused or not delivered.
  line       one run's line of the results file on stdin -> a readable line
  summary    the results file on stdin -> the medians table and the cost of
             the queue on the store ((c) - (b), per round, then the median)
"""
import argparse
import os
import smtplib
import statistics
import sys
import threading
import time

KINDS = ("native", "mhafs", "mhafs+queue")
CPU_FIELDS = ("user", "nice", "sys", "idle", "iowait", "irq", "softirq", "steal")
QUEUES = ("incoming", "active", "deferred", "hold", "maildrop")


def cpu_ticks():
    with open("/proc/stat") as f:
        v = [int(x) for x in f.readline().split()[1:9]]
    return dict(zip(CPU_FIELDS, v))


def cgroup_us(d):
    """(user, system) microseconds used so far by the processes of cgroup
    directory d (v1 cpuacct or v2), or None."""
    if not d:
        return None
    try:
        if os.path.exists(os.path.join(d, "cpuacct.usage_user")):
            return tuple(int(open(os.path.join(d, "cpuacct.usage_" + k)).read()) // 1000
                         for k in ("user", "sys"))
        st = dict(x.split() for x in open(os.path.join(d, "cpu.stat")))
        return int(st["user_usec"]), int(st["system_usec"])
    except (OSError, KeyError, ValueError):
        return None


def own_ticks():
    t = os.times()
    return (t.user + t.system) * os.sysconf("SC_CLK_TCK")


def percentile(v, p):
    """Nearest-rank percentile of the sorted list v."""
    return v[min(len(v) - 1, max(0, -(-len(v) * p // 100) - 1))]


def message(tag, i, rcpt, size):
    head = ("From: <bench@client.mhafs.test>\r\nTo: <%s>\r\n"
            "Subject: queue bench %s %d\r\nMessage-ID: <%s-%d@qbench>\r\n"
            "Date: Mon, 02 Mar 2026 10:00:00 +0000\r\n\r\n" % (rcpt, tag, i, tag, i))
    line = ("%08d " % i) + "x" * 69 + "\r\n"
    return (head + line * max(1, (size - len(head)) // len(line))).encode()


def queued(spool):
    n = 0
    for q in QUEUES:
        for _, _, files in os.walk(os.path.join(spool, q)):
            n += len(files)
    return n


def send(argv):
    ap = argparse.ArgumentParser(prog="queue-delivery.py send")
    ap.add_argument("--host", required=True)
    ap.add_argument("--messages", type=int, required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--size", type=int, default=8192)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--per-session", type=int, default=20)
    ap.add_argument("--tag", required=True)
    ap.add_argument("--domain", default="d1.test")
    ap.add_argument("--log", required=True)
    ap.add_argument("--spool", required=True)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--cgroup", default="")
    a = ap.parse_args(argv)
    if min(a.messages, a.users, a.concurrency, a.per_session) < 1 or a.size < 256:
        ap.error("messages, users, concurrency and per-session must be >= 1, size >= 256")
    lock = threading.Lock()
    todo = list(range(a.messages - 1, -1, -1))   # popped from the end: 0 first
    errors, lat = [], []
    # QB_LATENCIES=FILE: each transaction's start (epoch seconds), time
    # and message number, to find what a slow one waited for
    trace = open(os.environ["QB_LATENCIES"], "a") if os.environ.get("QB_LATENCIES") else None

    def worker():
        try:
            while True:
                with lock:
                    if not todo:
                        return
                s = smtplib.SMTP(a.host, 25, timeout=120)
                s.ehlo("client.mhafs.test")
                for _ in range(a.per_session):
                    with lock:
                        if not todo:
                            break
                        i = todo.pop()
                    rcpt = "u%03d@%s" % (i % a.users + 1, a.domain)
                    msg = message(a.tag, i, rcpt, a.size)
                    t = time.monotonic()
                    refused = s.sendmail("bench@client.mhafs.test", [rcpt], msg)
                    dt = time.monotonic() - t
                    if refused:
                        raise RuntimeError("message %d refused: %r" % (i, refused))
                    with lock:
                        lat.append(dt)
                        if trace:
                            trace.write("%.6f %.6f %d\n" % (time.time() - dt, dt, i))
                s.quit()
        except Exception as e:  # reported by the main thread
            with lock:
                errors.append("%s: %s" % (type(e).__name__, e))
                todo.clear()

    log = open(a.log, "rb")
    log.seek(0, os.SEEK_END)
    needle = ("@qbench>: saved mail").encode()
    prefix = ("msgid=<%s-" % a.tag).encode()
    threads = [threading.Thread(target=worker) for _ in range(a.concurrency)]
    c0, o0, g0 = cpu_ticks(), own_ticks(), cgroup_us(a.cgroup)
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t_smtp = time.monotonic()
    if errors:
        print("queue-delivery: %d session(s) failed; first: %s" % (len(errors), errors[0]),
              file=sys.stderr)
        return 1
    saved, rest, left = 0, b"", -1
    while True:
        chunk = log.read()
        if chunk:
            lines = (rest + chunk).split(b"\n")
            rest = lines.pop()
            saved += sum(1 for x in lines if needle in x and prefix in x)
        if saved >= a.messages:
            left = queued(a.spool)
            if left == 0:
                break
        if time.monotonic() - t0 > a.timeout:
            print("queue-delivery: after %.0f s, %d of %d messages saved, %s left in %s" % (
                a.timeout, saved, a.messages, left if left >= 0 else "?", a.spool),
                file=sys.stderr)
            return 1
        time.sleep(0.02)
    t1 = time.monotonic()
    c1, o1, g1 = cpu_ticks(), own_ticks(), cgroup_us(a.cgroup)
    lat.sort()
    print("messages=%d seconds=%.3f rate=%.1f smtp_seconds=%.3f p50_ms=%.2f p90_ms=%.2f"
          " p99_ms=%.2f slow=%d %s client_cpu=%d hz=%d%s"
          % (a.messages, t1 - t0, a.messages / (t1 - t0), t_smtp - t0,
             percentile(lat, 50) * 1e3, percentile(lat, 90) * 1e3, percentile(lat, 99) * 1e3,
             sum(1 for x in lat if x >= 0.5),
             " ".join("cpu_%s=%d" % (k, c1[k] - c0[k]) for k in CPU_FIELDS),
             round(o1 - o0), os.sysconf("SC_CLK_TCK"),
             " own_user_us=%d own_sys_us=%d" % (g1[0] - g0[0], g1[1] - g0[1])
             if g0 and g1 else ""))
    return 0


def kv(text):
    return dict(x.split("=", 1) for x in text.split() if "=" in x)


def figures(d):
    """One run's key=value dict -> its per-message figures."""
    n = int(d["messages"])
    ms = 1000.0 / float(d["hz"]) / n    # ticks -> ms per message
    g = lambda k: int(d.get(k, 0))
    f = {
        "rate": float(d["rate"]),
        "smtp_rate": n / float(d["smtp_seconds"]),
        "ms_per_msg": 1000.0 * float(d["seconds"]) / n,
        "user": (g("cpu_user") + g("cpu_nice")) * ms,
        "sys": (g("cpu_sys") + g("cpu_irq") + g("cpu_softirq")) * ms,
        "client": g("client_cpu") * ms,
        "idle": 100.0 * (g("cpu_idle") + g("cpu_iowait")) /
                max(1, sum(g("cpu_" + k) for k in CPU_FIELDS)),
        "p50": float(d["p50_ms"]),
        "p99": float(d["p99_ms"]),
    }
    f["cpu"] = f["user"] + f["sys"]
    if "p90_ms" in d:
        f["p90"] = float(d["p90_ms"])
        f["slow"] = 100.0 * int(d["slow"]) / n
    if "own_user_us" in d:
        f["own_user"] = int(d["own_user_us"]) / 1000.0 / n
        f["own_sys"] = int(d["own_sys_us"]) / 1000.0 / n
        f["own"] = f["own_user"] + f["own_sys"]
    for node in "AB":
        if d.get("cpu%s0" % node, "-") != "-":
            f["cpu" + node] = (int(d["cpu%s1" % node]) - int(d["cpu%s0" % node])) * ms
    if d.get("waits0", "-") != "-":
        f["waits"] = (int(d["waits1"]) - int(d["waits0"])) / n
    return f


def line(_argv):
    d = kv(sys.stdin.readline())
    f = figures(d)
    s = ("  round %s %-11s %7.1f msg/s (250s at %6.1f msg/s)  cpu %5.2f+%5.2f ms/msg"
         " (idle %2.0f%%)  p50 %5.1f p99 %6.1f ms" % (
             d["round"], d["kind"], f["rate"], f["smtp_rate"], f["user"], f["sys"], f["idle"],
             f["p50"], f["p99"]))
    if "own" in f:
        s += "  own %5.2f+%5.2f" % (f["own_user"], f["own_sys"])
    for node in "AB":
        if "cpu" + node in f:
            s += "  %s mhafs %.2f ms/msg" % (node, f["cpu" + node])
    if "waits" in f:
        s += "  A commit waits %.2f/msg" % f["waits"]
    if d.get("fdsA", "-") != "-":
        s += "  A fds %s" % d["fdsA"]
    print(s)


def med(v, spec):
    v = sorted(v)
    if not v:
        return "-"
    s = spec % statistics.median(v)
    return s + (" [%s..%s]" % (spec % v[0], spec % v[-1]) if len(v) > 1 else "")


def summary(_argv):
    runs = [kv(x) for x in sys.stdin if x.strip()]
    by = {k: {r["round"]: figures(r) for r in runs if r["kind"] == k} for k in KINDS}
    for k in KINDS:
        for rnd, f in by[k].items():
            if rnd in by["native"]:
                f["ratio"] = f["rate"] / by["native"][rnd]["rate"]
                f["cpu_x"] = f["cpu"] / by["native"][rnd]["cpu"]
                if "own" in f and "own" in by["native"][rnd]:
                    f["own_x"] = f["own"] / by["native"][rnd]["own"]
    rows = [("msg/s (saved, queue empty)", "rate", "%.1f"), ("ratio to native", "ratio", "%.2f"),
            ("msg/s to the last 250", "smtp_rate", "%.1f"),
            ("cpu user ms/msg", "user", "%.2f"), ("cpu sys ms/msg", "sys", "%.2f"),
            ("cpu user+sys ms/msg", "cpu", "%.2f"), ("  x native", "cpu_x", "%.2f"),
            ("  of which client", "client", "%.2f"), ("idle %", "idle", "%.0f"),
            ("own cpu user ms/msg", "own_user", "%.2f"), ("own cpu sys ms/msg", "own_sys", "%.2f"),
            ("own cpu user+sys ms/msg", "own", "%.2f"), ("  x native", "own_x", "%.2f"),
            ("smtp p50 ms", "p50", "%.1f"), ("smtp p90 ms", "p90", "%.1f"),
            ("smtp p99 ms", "p99", "%.1f"), ("smtp >= 0.5 s, %", "slow", "%.1f"),
            ("A mhafs cpu ms/msg", "cpuA", "%.2f"), ("B mhafs cpu ms/msg", "cpuB", "%.2f"),
            ("A commit waits/msg", "waits", "%.2f")]
    present = [k for k in KINDS if by[k]]
    if not present:
        sys.exit("queue-delivery.py summary: no runs")
    print("medians over %d rounds (range in brackets):" % max(len(by[k]) for k in present))
    print("  %-28s" % "" + "".join("%-24s" % k for k in present))
    for title, key, spec in rows:
        cells = [med([f[key] for f in by[k].values() if key in f], spec) for k in present]
        if any(c != "-" for c in cells):
            print("  %-28s" % title + "".join("%-24s" % c for c in cells))
    b, c = by["mhafs"], by["mhafs+queue"]
    both = sorted(set(b) & set(c))
    if not both:
        return
    print("the queue on the store, per message ((c) mhafs+queue - (b) mhafs, per round, median):")
    diffs = [("elapsed ms/msg", "ms_per_msg", "%+.2f"), ("cpu user+sys ms/msg", "cpu", "%+.2f"),
             ("own cpu user+sys ms/msg", "own", "%+.2f"),
             ("  of which A mhafs", "cpuA", "%+.2f"), ("  of which B mhafs", "cpuB", "%+.2f"),
             ("smtp p50 ms", "p50", "%+.1f"), ("smtp p90 ms", "p90", "%+.1f"),
             ("smtp p99 ms", "p99", "%+.1f"),
             ("A commit waits/msg", "waits", "%+.2f")]
    for title, key, spec in diffs:
        v = [c[r][key] - b[r][key] for r in both if key in c[r] and key in b[r]]
        if v:
            print("  %-28s%s" % (title, med(v, spec)))


if __name__ == "__main__":
    cmds = {"send": send, "line": line, "summary": summary}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    sys.exit(cmds[sys.argv[1]](sys.argv[2:]))
