#!/usr/bin/python3
"""bench/lmtp-delivery.py: the arithmetic of bench/lmtp-delivery.

  tally OUT PID_A PID_B DEV MAILPIDS   (perf script -F pid,time,event,trace on stdin)
      counts, inside the timed phase (t0..t1 of OUT, lmtp-deliver.py's
      line), the fsync/fdatasync/syncfs calls of node A's and B's mhafs
      (PID_A, PID_B, "-" for none) and of the mail servers (MAILPIDS, the
      delivering node's processes other than mhafs), and the FUSE requests
      sent to the mount DEV ("major:minor", "-" for none), per opcode;
      prints them as " key=value ..." on one line
  line                 one run's line of the results file on stdin -> a
                       readable line
  summary              the whole results file on stdin -> the medians tables
                       (delivery, then the IMAP fetch runs: phase=fetch)
  fetch --socket PATH --users U --concurrency C --expect N
                       the fetch phase's load generator: one IMAP session
                       per user u001@d1.test... (LOGIN over Dovecot's
                       imap-login unix socket PATH, SELECT INBOX,
                       FETCH 1:* (BODY.PEEK[]), LOGOUT), C sessions at once;
                       prints one line like lmtp-deliver.py's (messages,
                       rate, p50/p99 of the FETCH command, t0/t1, cpu_*,
                       client_cpu, hz; with --cgroup DIR, own_user and
                       own_sys: that cgroup's CPU in microseconds); exit 1
                       unless exactly N messages came back, each a whole
                       one of lmtp-deliver.py's
  evict DIR...         drop the page cache of every file under DIR
                       (posix_fadvise DONTNEED; the files must be clean)
"""
import importlib.util
import imaplib
import os
import queue
import re
import socket
import statistics
import sys
import threading
import time

KINDS = ("native", "mhafs", "mhafs+peer")
# FUSE opcodes (include/uapi/linux/fuse.h), for perf versions that print
# the tracepoint's opcode as a number only
FUSE_OPS = dict(enumerate((
    None, "LOOKUP", "FORGET", "GETATTR", "SETATTR", "READLINK", "SYMLINK", None, "MKNOD",
    "MKDIR", "UNLINK", "RMDIR", "RENAME", "LINK", "OPEN", "READ", "WRITE", "STATFS", "RELEASE",
    None, "FSYNC", "SETXATTR", "GETXATTR", "LISTXATTR", "REMOVEXATTR", "FLUSH", "INIT",
    "OPENDIR", "READDIR", "RELEASEDIR", "FSYNCDIR", "GETLK", "SETLK", "SETLKW", "ACCESS",
    "CREATE", "INTERRUPT", "BMAP", "DESTROY", "IOCTL", "POLL", "NOTIFY_REPLY", "BATCH_FORGET",
    "FALLOCATE", "READDIRPLUS", "RENAME2", "LSEEK", "COPY_FILE_RANGE", "SETUPMAPPING",
    "REMOVEMAPPING", "SYNCFS", "TMPFILE", "STATX")))
SYSCALLS = {"syscalls:sys_enter_fsync": "f", "syscalls:sys_enter_fdatasync": "d",
            "syscalls:sys_enter_syncfs": "s"}


def kv(text):
    return dict(x.split("=", 1) for x in text.split() if "=" in x)


def tally(argv):
    out, pid_a, pid_b, dev, mailpids = argv
    o = kv(out)
    t0, t1 = float(o["t0"]), float(o["t1"])
    who = {pid_a: "A", pid_b: "B"}
    mail = set(mailpids.split()) - {pid_a, pid_b}
    conn = None
    if dev != "-":
        major, minor = (int(x) for x in dev.split(":"))
        conn = str((major << 20) | minor)   # the kernel's dev_t
    counts = {"%s%s" % (c, n): 0 for c in "fds" for n in "ABM"}
    ops = {}
    fuse = 0
    line_re = re.compile(r"\s*(\d+)\s+([\d.]+):\s+(\S+):\s*(.*)")
    for line in sys.stdin:
        m = line_re.match(line)
        if not m:
            continue
        pid, t, event, rest = m.groups()
        if not t0 <= float(t) <= t1:
            continue
        if event in SYSCALLS:
            node = who.get(pid) or ("M" if pid in mail else None)
            if node:
                counts[SYSCALLS[event] + node] += 1
        elif event == "fuse:fuse_request_send" and conn:
            f = rest.split()
            if len(f) >= 6 and f[0] == "connection" and f[1] == conn:
                op = FUSE_OPS.get(int(f[5]) if f[5].isdigit() else -1) or f[5]
                ops[op] = ops.get(op, 0) + 1
                fuse += 1
    sys.stdout.write(" " + " ".join("%s=%d" % kv_ for kv_ in sorted(counts.items())))
    if conn:
        sys.stdout.write(" fuse=%d fuse_ops=%s" % (
            fuse, ",".join("%s:%d" % (k, v) for k, v in sorted(ops.items(), key=lambda x: -x[1]))))


def figures(d):
    """One run's key=value dict -> its per-message figures."""
    n = int(d["messages"])
    hz = float(d["hz"])
    ms = 1000.0 / hz / n    # ticks -> ms per message
    g = lambda k: int(d.get(k, 0))
    f = {
        "rate": float(d["rate"]),
        "user": (g("cpu_user") + g("cpu_nice")) * ms,
        "sys": (g("cpu_sys") + g("cpu_irq") + g("cpu_softirq")) * ms,
        "client": g("client_cpu") * ms,
        "idle": 100.0 * (g("cpu_idle") + g("cpu_iowait")) /
                max(1, sum(g("cpu_" + k) for k in
                           ("user", "nice", "sys", "idle", "iowait", "irq", "softirq", "steal"))),
        "p50": float(d["p50_ms"]),
        **({"ouser": int(d["own_user"]) / 1000.0 / n, "osys": int(d["own_sys"]) / 1000.0 / n}
           if "own_user" in d else {}),
        "p99": float(d["p99_ms"]),
    }
    for node in "AB":
        try:
            f["sql" + node] = (int(d["sql%s1" % node]) - int(d["sql%s0" % node])) / n
            f["cpu" + node] = (int(d["cpu%s1" % node]) - int(d["cpu%s0" % node])) * ms
            f["ops" + node] = (int(d["ops%s1" % node]) - int(d["ops%s0" % node])) / n
        except (KeyError, ValueError):
            pass
        try:
            f["waits" + node] = (int(d["waits%s1" % node]) - int(d["waits%s0" % node])) / n
        except (KeyError, ValueError):
            pass
    for node in "ABM":
        if "f" + node in d:
            f["sync" + node] = sum(int(d[c + node]) for c in "fds") / n
            for c in "fds":
                f[c + node] = int(d[c + node]) / n
    if "fuse" in d:
        f["fuse"] = int(d["fuse"]) / n
    return f


def fmt(f, key, spec="%.1f"):
    return spec % f[key] if key in f else "-"


def line(_argv):
    d = kv(sys.stdin.readline())
    f = figures(d)
    kind = d["kind"] + (" fetch" if d.get("phase") == "fetch" else "")
    s = "  round %s %-16s %7.1f msg/s  cpu %5.2f+%5.2f ms/msg (idle %2.0f%%)  p50 %5.1f p99 %6.1f ms" % (
        d["round"], kind, f["rate"], f["user"], f["sys"], f["idle"], f["p50"], f["p99"])
    if "ouser" in f:
        s += "  own %.2f+%.2f" % (f["ouser"], f["osys"])
    if "syncM" in f:
        s += "  syncs/msg mail %s" % fmt(f, "syncM", "%.2f")
    for node in "AB":
        if "sql" + node in f:
            s += "  %s: ops %s sql %s cpu %s syncs %s (f %s d %s s %s)" % (
                node, fmt(f, "ops" + node, "%.2f"), fmt(f, "sql" + node), fmt(f, "cpu" + node, "%.2f"), fmt(f, "sync" + node, "%.2f"),
                fmt(f, "f" + node, "%.2f"), fmt(f, "d" + node, "%.2f"), fmt(f, "s" + node, "%.2f"))
            if f.get("waits" + node):
                s += " peer waits %s" % fmt(f, "waits" + node, "%.2f")
    if "fuse" in f:
        s += "  fuse %s/msg" % fmt(f, "fuse")
    print(s)


def summary(_argv):
    runs = [kv(x) for x in sys.stdin if x.strip()]
    table([r for r in runs if r.get("phase") != "fetch"], "delivery")
    fetched = [r for r in runs if r.get("phase") == "fetch"]
    if fetched:
        table(fetched, "IMAP fetch (p50/p99: the FETCH 1:* of one mailbox)")


def table(runs, what):
    by = {k: [r for r in runs if r["kind"] == k] for k in KINDS}
    native = {r["round"]: figures(r) for r in by["native"]}
    cols = [("msg/s", "rate", "%.1f"), ("ratio", "ratio", "%.2f"),
            ("cpu user ms/msg", "user", "%.2f"), ("cpu sys ms/msg", "sys", "%.2f"),
            ("  of which client", "client", "%.2f"), ("idle %", "idle", "%.0f"),
            ("own cpu user ms/msg", "ouser", "%.2f"), ("own cpu sys ms/msg", "osys", "%.2f"),
            ("own cpu ratio", "oratio", "%.2f"),
            ("p50 ms", "p50", "%.1f"), ("p99 ms", "p99", "%.1f"),
            ("mail syncs/msg", "syncM", "%.2f"),
            ("A mhafs cpu ms/msg", "cpuA", "%.2f"), ("A syncs/msg", "syncA", "%.2f"),
            ("A fsync/fdatasync/syncfs", "fdsA", None), ("A sql stmts/msg", "sqlA", "%.1f"),
            ("A journal ops/msg", "opsA", "%.2f"),
            ("A waits on the peer/msg", "waitsA", "%.2f"),
            ("A fuse requests/msg", "fuse", "%.1f"),
            ("B mhafs cpu ms/msg", "cpuB", "%.2f"), ("B syncs/msg", "syncB", "%.2f"),
            ("B fsync/fdatasync/syncfs", "fdsB", None), ("B sql stmts/msg", "sqlB", "%.1f"),
            ("B applied ops/msg", "opsB", "%.2f")]
    present = [k for k in KINDS if by[k]]
    print("%s, medians over %s rounds (range in brackets):" % (what, max(len(by[k]) for k in present)))
    print("  %-26s" % "" + "".join("%-24s" % k for k in present))
    for title, key, spec in cols:
        cells, any_ = [], False
        for k in present:
            fs = [figures(r) for r in by[k]]
            for r, f in zip(by[k], fs):
                nf = native.get(r["round"])
                if key == "ratio" and nf:
                    f["ratio"] = f["rate"] / nf["rate"]
                elif key == "oratio" and nf and "ouser" in f and "ouser" in nf:
                    f["oratio"] = (nf["ouser"] + nf["osys"]) / (f["ouser"] + f["osys"])
            if key.startswith("fds"):
                node = key[3]
                if all("f" + node in f for f in fs) and fs:
                    any_ = True
                    cells.append("/".join("%.2f" % statistics.median(f[c + node] for f in fs)
                                          for c in "fds"))
                else:
                    cells.append("-")
                continue
            v = [f[key] for f in fs if key in f]
            if v:
                any_ = True
                cells.append((spec % statistics.median(v)) +
                             (" [%s..%s]" % (spec % min(v), spec % max(v)) if len(v) > 1 else ""))
            else:
                cells.append("-")
        if any_:
            print("  %-26s" % title + "".join("%-24s" % c for c in cells))
    for k in present:
        ops = {}
        for r in by[k]:
            for x in filter(None, r.get("fuse_ops", "").split(",")):
                op, c = x.split(":")
                ops[op] = ops.get(op, 0) + int(c)
        if ops:
            n = sum(int(r["messages"]) for r in by[k] if "fuse_ops" in r)
            print("  FUSE requests per message, %s: %s" % (k, " ".join(
                "%s %.2f" % (op, c / n) for op, c in sorted(ops.items(), key=lambda x: -x[1]))))


def load_generator():
    """bench/lmtp-deliver.py as a module: its CPU counters, the same here."""
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "lmtp-deliver.py")
    spec = importlib.util.spec_from_file_location("lmtp_deliver", path)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


class UnixIMAP(imaplib.IMAP4):
    """imaplib over a unix socket (Dovecot's imap-login unix_listener)."""

    def __init__(self, path):
        self.path = path
        super().__init__()

    def _create_socket(self, timeout):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(60)
        s.connect(self.path)
        return s


# a message lmtp-deliver.py sent: headers, then numbered 79-byte lines
BODY_RE = re.compile(rb"Message-ID: <bench-(\d+)@client\.mhafs\.test>.*?\r\n\r\n(\d{8}) x{69}\r\n", re.S)


def fetch_user(path, user, lat):
    """One session: the messages of user's INBOX, checked; their count."""
    m = UnixIMAP(path)
    try:
        m.login(user, "pw-" + user.split("@")[0])
        typ, data = m.select("INBOX")
        if typ != "OK":
            raise imaplib.IMAP4.error("SELECT %s %r" % (typ, data))
        if int(data[0]) == 0:
            return 0
        t = time.monotonic()
        typ, data = m.fetch("1:*", "(BODY.PEEK[])")
        lat.append(time.monotonic() - t)
        if typ != "OK":
            raise imaplib.IMAP4.error("FETCH %s" % typ)
        n = 0
        for item in data:
            if not isinstance(item, tuple):
                continue
            body = item[1]
            mm = BODY_RE.search(body)
            if not mm or int(mm.group(1)) != int(mm.group(2)) or not body.endswith(b"x\r\n"):
                raise imaplib.IMAP4.error("%s: a message came back damaged (%d bytes)" % (user, len(body)))
            n += 1
        m.logout()
        return n
    finally:
        try:
            m.shutdown()
        except OSError:
            pass


def fetch(argv):
    import argparse
    ap = argparse.ArgumentParser(prog="lmtp-delivery.py fetch")
    ap.add_argument("--socket", required=True)
    ap.add_argument("--users", type=int, required=True)
    ap.add_argument("--concurrency", type=int, default=8)
    ap.add_argument("--expect", type=int, required=True)
    ap.add_argument("--domain", default="d1.test")
    ap.add_argument("--cgroup", default="")
    a = ap.parse_args(argv)
    gen = load_generator()
    todo = queue.Queue()
    for i in range(a.users):
        todo.put("u%03d@%s" % (i + 1, a.domain))
    got, errors, lat = [], [], []

    def worker():
        while True:
            try:
                user = todo.get_nowait()
            except queue.Empty:
                return
            try:
                got.append(fetch_user(a.socket, user, lat))
            except (OSError, imaplib.IMAP4.error) as e:
                errors.append("%s: %s: %s" % (user, type(e).__name__, e))
                return

    threads = [threading.Thread(target=worker) for _ in range(min(a.concurrency, a.users))]
    g0 = cgroup_us(a.cgroup) if a.cgroup else None
    c0, o0 = gen.cpu_ticks(), gen.own_ticks()
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    t1 = time.monotonic()
    c1, o1 = gen.cpu_ticks(), gen.own_ticks()
    g1 = cgroup_us(a.cgroup) if a.cgroup else None
    if errors:
        sys.exit("lmtp-delivery.py fetch: %d session(s) failed; first: %s" % (len(errors), errors[0]))
    n = sum(got)
    if n != a.expect:
        sys.exit("lmtp-delivery.py fetch: %d messages fetched, %d delivered" % (n, a.expect))
    lat.sort()
    dt = t1 - t0
    print("messages=%d seconds=%.3f rate=%.1f p50_ms=%.2f p99_ms=%.2f t0=%.6f t1=%.6f %s"
          " client_cpu=%d hz=%d"
          % (n, dt, n / dt, gen.percentile(lat, 50) * 1e3, gen.percentile(lat, 99) * 1e3,
             t0, t1, " ".join("cpu_%s=%d" % (k, c1[k] - c0[k]) for k in gen.CPU_FIELDS),
             round(o1 - o0), os.sysconf("SC_CLK_TCK")) +
          (" own_user=%d own_sys=%d" % (g1[0] - g0[0], g1[1] - g0[1]) if g0 else ""))


def cgroup_us(d):
    """(user, system) microseconds used so far by the processes of cgroup
    directory d (v1 cpuacct or v2)."""
    if os.path.exists(os.path.join(d, "cpuacct.usage_user")):
        return tuple(int(open(os.path.join(d, "cpuacct.usage_" + k)).read()) // 1000
                     for k in ("user", "sys"))
    with open(os.path.join(d, "cpu.stat")) as f:
        st = dict(x.split() for x in f)
    return int(st["user_usec"]), int(st["system_usec"])


def evict(argv):
    n = 0
    for top in argv:
        for d, _, files in os.walk(top):
            for f in files:
                try:
                    fd = os.open(os.path.join(d, f), os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
                except OSError:
                    continue   # gone, or a socket/fifo
                try:
                    os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
                    n += 1
                finally:
                    os.close(fd)
    print("evicted %d files" % n)


if __name__ == "__main__":
    cmds = {"tally": tally, "line": line, "summary": summary, "fetch": fetch, "evict": evict}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])
