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
  summary              the whole results file on stdin -> the medians table
"""
import re
import statistics
import sys

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
        "p99": float(d["p99_ms"]),
    }
    for node in "AB":
        try:
            f["sql" + node] = (int(d["sql%s1" % node]) - int(d["sql%s0" % node])) / n
            f["cpu" + node] = (int(d["cpu%s1" % node]) - int(d["cpu%s0" % node])) * ms
            f["ops" + node] = (int(d["ops%s1" % node]) - int(d["ops%s0" % node])) / n
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
    s = "  round %s %-10s %7.1f msg/s  cpu %5.2f+%5.2f ms/msg (idle %2.0f%%)  p50 %5.1f p99 %6.1f ms" % (
        d["round"], d["kind"], f["rate"], f["user"], f["sys"], f["idle"], f["p50"], f["p99"])
    if "syncM" in f:
        s += "  syncs/msg mail %s" % fmt(f, "syncM", "%.2f")
    for node in "AB":
        if "sql" + node in f:
            s += "  %s: ops %s sql %s cpu %s syncs %s (f %s d %s s %s)" % (
                node, fmt(f, "ops" + node, "%.2f"), fmt(f, "sql" + node), fmt(f, "cpu" + node, "%.2f"), fmt(f, "sync" + node, "%.2f"),
                fmt(f, "f" + node, "%.2f"), fmt(f, "d" + node, "%.2f"), fmt(f, "s" + node, "%.2f"))
    if "fuse" in f:
        s += "  fuse %s/msg" % fmt(f, "fuse")
    print(s)


def summary(_argv):
    runs = [kv(x) for x in sys.stdin if x.strip()]
    by = {k: [r for r in runs if r["kind"] == k] for k in KINDS}
    native = {r["round"]: figures(r)["rate"] for r in by["native"]}
    cols = [("msg/s", "rate", "%.1f"), ("ratio", "ratio", "%.2f"),
            ("cpu user ms/msg", "user", "%.2f"), ("cpu sys ms/msg", "sys", "%.2f"),
            ("  of which client", "client", "%.2f"), ("idle %", "idle", "%.0f"),
            ("p50 ms", "p50", "%.1f"), ("p99 ms", "p99", "%.1f"),
            ("mail syncs/msg", "syncM", "%.2f"),
            ("A mhafs cpu ms/msg", "cpuA", "%.2f"), ("A syncs/msg", "syncA", "%.2f"),
            ("A fsync/fdatasync/syncfs", "fdsA", None), ("A sql stmts/msg", "sqlA", "%.1f"),
            ("A journal ops/msg", "opsA", "%.2f"),
            ("A fuse requests/msg", "fuse", "%.1f"),
            ("B mhafs cpu ms/msg", "cpuB", "%.2f"), ("B syncs/msg", "syncB", "%.2f"),
            ("B fsync/fdatasync/syncfs", "fdsB", None), ("B sql stmts/msg", "sqlB", "%.1f"),
            ("B applied ops/msg", "opsB", "%.2f")]
    present = [k for k in KINDS if by[k]]
    print("medians over %s rounds (range in brackets):" % max(len(by[k]) for k in present))
    print("  %-26s" % "" + "".join("%-24s" % k for k in present))
    for title, key, spec in cols:
        cells, any_ = [], False
        for k in present:
            fs = [figures(r) for r in by[k]]
            if key == "ratio":
                for r, f in zip(by[k], fs):
                    if r["round"] in native:
                        f["ratio"] = f["rate"] / native[r["round"]]
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


if __name__ == "__main__":
    cmds = {"tally": tally, "line": line, "summary": summary}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit(__doc__)
    cmds[sys.argv[1]](sys.argv[2:])
