#!/usr/bin/python3
# bench/idle-cost.py: the per-process CPU sampler of bench/idle-cost.
#
#   idle-cost.py sample --seconds S [--interval I] NODE=NETNS...
#       Every I seconds (default 0.2) reads /proc/PID/stat of every process
#       whose network namespace is NETNS (/run/netns/NETNS) and, after S
#       seconds, prints one line per node and program:
#           cpu NODE LABEL TICKS PROCS
#       and one line "window SECONDS HZ".  TICKS is CPU time (user+system,
#       clock ticks) spent in the window.  LABEL is the program: the
#       process's root in the namespace (its topmost ancestor there:
#       dovecot, postfix, haproxy, heartbeatd, mhafs) and, for a child,
#       "ROOT/COMM".  Processes that exit inside the window are counted
#       through their parent's cutime/cstime, which the kernel raises by a
#       reaped child's whole CPU time: what was seen of the child before
#       it went is credited to its own label, and the rest (children too
#       short-lived to be sampled, e.g. a login process per connection)
#       to "PARENT/(exited)".  So each node's sum is exact:
#       sum(utime+stime+cutime+cstime) at the end minus at the start.
#   idle-cost.py report FILE...
#       Each FILE holds sample lines prefixed with the window's state
#       ("on" or "off") and, per node, "conn STATE NODE PORT COUNT" lines;
#       prints CPU ms per second per node and program for each state, the
#       difference, and connections per second.
import os
import sys
import time
from collections import defaultdict


def netns_inode(name):
    return os.stat("/run/netns/" + name).st_ino


def read_stat(pid):
    """(comm, ppid, starttime, own ticks, children ticks) or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    lp, rp = s.index("("), s.rindex(")")
    comm = s[lp + 1:rp]
    f = s[rp + 2:].split()
    # fields after comm: state(0) ppid(1) ... utime(11) stime(12)
    # cutime(13) cstime(14) ... starttime(19)
    return comm, int(f[1]), int(f[19]), int(f[11]) + int(f[12]), int(f[13]) + int(f[14])


def scan(inodes):
    """{(pid, starttime): (node, comm, ppid, own, children)} for our namespaces."""
    out = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        pid = int(d)
        try:
            ino = os.stat("/proc/%d/ns/net" % pid).st_ino
        except OSError:
            continue
        node = inodes.get(ino)
        if node is None:
            continue
        st = read_stat(pid)
        if st is None:
            continue
        comm, ppid, start, own, ch = st
        out[(pid, start)] = (node, comm, ppid, own, ch)
    return out


def sample(args):
    seconds, interval, nodes = None, 0.2, []
    i = 0
    while i < len(args):
        if args[i] == "--seconds":
            seconds = float(args[i + 1]); i += 2
        elif args[i] == "--interval":
            interval = float(args[i + 1]); i += 2
        else:
            nodes.append(args[i].split("=", 1)); i += 1
    if seconds is None or not nodes:
        sys.exit("usage: idle-cost.py sample --seconds S [--interval I] NODE=NETNS...")
    inodes = {netns_inode(ns): node for node, ns in nodes}
    hz = os.sysconf("SC_CLK_TCK")
    first = scan(inodes)
    t0 = time.monotonic()
    # per process: first and last sight (node, comm, ppid, own, children)
    base = dict(first)
    last = dict(first)
    names = {}  # (node, pid) -> comm, for labels
    end = t0 + seconds
    while True:
        now = time.monotonic()
        if now >= end:
            break
        time.sleep(min(interval, end - now))
        cur = scan(inodes)
        for k, v in cur.items():
            if k not in base:
                # born in the window: all its time counts
                base[k] = (v[0], v[1], v[2], 0, 0)
            last[k] = v
    t1 = time.monotonic()
    final = scan(inodes)
    for k, v in final.items():
        if k not in base:
            base[k] = (v[0], v[1], v[2], 0, 0)
        last[k] = v
    # the label of each process: its ancestry inside its namespace
    bypid = {k[0]: v for k, v in last.items()}

    def root_of(pid):
        seen = set()
        while True:
            v = bypid.get(pid)
            if v is None or pid in seen:
                return None
            seen.add(pid)
            if v[2] not in bypid or bypid[v[2]][0] != v[0]:
                return pid
            pid = v[2]

    def group(comm):
        return "postfix" if comm == "master" else comm

    def label(pid):
        v = bypid[pid]
        r = root_of(pid)
        rc = group(bypid[r][1]) if r is not None else "?"
        return rc if r == pid else "%s/%s" % (rc, v[1])

    ticks = defaultdict(int)
    procs = defaultdict(set)
    gone_total = defaultdict(int)  # parent pid -> ticks of its children seen, gone
    for k, v in last.items():
        node, comm, ppid, own, ch = v
        b = base[k]
        lab = label(k[0])
        ticks[(node, lab)] += own - b[3]
        procs[(node, lab)].add(k[0])
        if k not in final:
            gone_total[(node, ppid)] += own + ch
    # children reaped in the window: the parent's cutime+cstime rise, less
    # what was already credited to the children seen before they went
    for k, v in last.items():
        node, comm, ppid, own, ch = v
        rest = (ch - base[k][4]) - gone_total.get((node, k[0]), 0)
        if rest:
            pl = label(k[0])
            ticks[(node, pl.split("/")[0] + "/(exited)")] += rest
    for (node, lab), t in sorted(ticks.items()):
        print("cpu %s %s %d %d" % (node, lab, t, len(procs.get((node, lab), ()))))
    print("window %.3f %d" % (t1 - t0, hz))


def report(files):
    # state -> node -> label -> ticks; state -> seconds
    cpu = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    secs = defaultdict(float)
    conns = defaultdict(lambda: defaultdict(lambda: defaultdict(int)))
    hz = 100
    for fn in files:
        for line in open(fn):
            f = line.split()
            if len(f) < 2:
                continue
            state, kind = f[0], f[1]
            if kind == "cpu":
                cpu[state][f[2]][f[3]] += int(f[4])
            elif kind == "window":
                secs[state] += float(f[2])
                hz = int(f[3])
            elif kind == "conn":
                conns[state][f[2]][f[3]] += int(f[4])
    states = [s for s in ("on", "off") if s in secs]
    nodes = sorted({n for s in states for n in cpu[s]})
    ms = lambda state, node, lab: 1000.0 * cpu[state][node][lab] / hz / secs[state]
    for node in nodes:
        labs = sorted({l for s in states for l in cpu[s][node]},
                      key=lambda l: -ms(states[0], node, l))
        print("node %s: CPU ms per second (%s)" % (node, ", ".join(
            "checks %s: %.0f s sampled" % (s, secs[s]) for s in states)))
        hdr = "  %-28s" % "program" + "".join("%12s" % ("checks " + s) for s in states)
        if len(states) == 2:
            hdr += "%12s" % "difference"
        print(hdr)
        tot = defaultdict(float)
        for lab in labs:
            vals = [ms(s, node, lab) for s in states]
            if all(abs(v) < 0.05 for v in vals):
                continue
            row = "  %-28s" % lab + "".join("%12.1f" % v for v in vals)
            if len(states) == 2:
                row += "%12.1f" % (vals[0] - vals[1])
            print(row)
        for s in states:
            tot[s] = sum(ms(s, node, l) for l in labs)
        row = "  %-28s" % "total" + "".join("%12.1f" % tot[s] for s in states)
        if len(states) == 2:
            row += "%12.1f" % (tot[states[0]] - tot[states[1]])
        print(row)
        row = "  %-28s" % "share of one core" + "".join("%11.2f%%" % (tot[s] / 10) for s in states)
        if len(states) == 2:
            row += "%11.2f%%" % ((tot[states[0]] - tot[states[1]]) / 10)
        print(row)
        for s in states:
            c = conns[s].get(node)
            if not c:
                continue
            total = sum(c.values())
            print("  connections in, checks %s: %.1f/s (%s)" % (s, total / secs[s], ", ".join(
                "%s %.1f" % (p, v / secs[s]) for p, v in sorted(c.items()))))
        print()


def main():
    if len(sys.argv) < 2:
        sys.exit("usage: idle-cost.py sample|report ...")
    if sys.argv[1] == "sample":
        sample(sys.argv[2:])
    elif sys.argv[1] == "report":
        report(sys.argv[2:])
    else:
        sys.exit("idle-cost.py: unknown command %s" % sys.argv[1])


if __name__ == "__main__":
    main()
