#!/usr/bin/python3
# bench/capprof.py: the per-program CPU profile of bench/cluster-capacity -P
# (where each node's CPU per message goes).
#
#   capprof.py acct on FILE | acct off
#       Start (stop) the kernel's BSD process accounting into FILE: one
#       record per exiting process (comm, pid, ppid, user and system time),
#       so that processes too short-lived to be seen in /proc (a floor
#       script's mhactl and doveadm, a Postfix process that ends) are still
#       counted and named.  Machine-wide; the caller turns it off.
#   capprof.py snap LABEL=CGROUPDIR... >FILE
#       One snapshot: /proc/stat's CPU line, each cgroup's CPU (v1 cpuacct
#       or v2), every process of each cgroup (pid, ppid, start, comm, user
#       and system ticks, its threads' run time from schedstat), every
#       kernel thread (label "kernel", machine-wide) and the accounting
#       file's size (given by CAPPROF_ACCT).
#   capprof.py diff START END ACCTFILE
#       What each program of each label used between two snapshots:
#           cpu LABEL PROGRAM USER_TICKS SYS_TICKS PROCESSES
#           cg LABEL USER_US SYS_US        (the cgroup's exact total)
#           stat USER_TICKS SYS_TICKS      (the whole machine, /proc/stat)
#       A process alive at the end counts its ticks since the start (all of
#       them if it started later); one that exited in between, its
#       accounting record (minus the start's ticks).  A process that was
#       never seen in a cgroup is given the label of its nearest known
#       ancestor (accounting records carry the parent), or none.  PROGRAM
#       is ROOT/COMM, ROOT the process's topmost ancestor with the same
#       label (dovecot, master for Postfix, haproxy, heartbeatd, mhafs), or
#       COMM for a root.  Ticks are 1/100 s and truncated per process, so
#       a live process counts its threads' exact run time (schedstat) when
#       that is more, split between user and system as its ticks are; an
#       exited one has only the accounting record's ticks, so the sum can
#       fall short of the cgroup's total; the report prints both.  What a
#       parent alive throughout gained in cutime+cstime beyond its exited
#       children's records (exact against truncated) is shared among them.
#   capprof.py report N FILE [PHASE=N...]
#       FILE holds diff lines prefixed "PHASE STORE ROUND"; N messages per
#       run (PHASE=N: that phase's own count).  Prints, per phase (in the
#       order of FILE's first lines), CPU ms per message per program: the native
#       node, and the cluster's node 1, node 2 and both; then the share of
#       each cgroup the programs account for and of /proc/stat the cgroups
#       account for; and the "mh" (mhactl status deltas) and "px" (proxied
#       deliveries) lines of FILE per message on node 1 and node 2.
import ctypes
import json
import os
import re
import struct
import sys
import time
from collections import defaultdict

HZ = 100.0


def acct(argv):
    libc = ctypes.CDLL(None, use_errno=True)
    if argv[0] == "on":
        open(argv[1], "ab").close()
        rc = libc.acct(os.fsencode(argv[1]))
    else:
        rc = libc.acct(None)
    if rc != 0:
        sys.exit("capprof: acct %s: %s" % (argv[0], os.strerror(ctypes.get_errno())))


def cg_us(d):
    if os.path.exists(os.path.join(d, "cpuacct.usage_user")):
        return [int(open(os.path.join(d, "cpuacct.usage_" + k)).read()) // 1000 for k in ("user", "sys")]
    with open(os.path.join(d, "cpu.stat")) as f:
        st = dict(x.split() for x in f)
    return [int(st["user_usec"]), int(st["system_usec"])]


def read_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    lp, rp = s.index("("), s.rindex(")")
    f = s[rp + 2:].split()
    # after comm: state(0) ppid(1) ... utime(11) stime(12) ... starttime(19)
    ns = 0
    try:
        for t in os.listdir("/proc/%d/task" % pid):
            with open("/proc/%d/task/%s/schedstat" % (pid, t)) as g:
                ns += int(g.read().split()[0])
    except (OSError, ValueError):
        pass
    return [pid, int(f[1]), int(f[19]), s[lp + 1:rp], int(f[11]), int(f[12]), ns,
            int(f[13]), int(f[14])]


def snap(argv):
    out = {"t": time.time(), "procs": [], "cg": {}}
    with open("/proc/stat") as f:
        c = [int(x) for x in f.readline().split()[1:]]
    out["stat"] = [c[0] + c[1], c[2] + c[5] + c[6]]
    for a in argv:
        label, d = a.split("=", 1)
        out["cg"][label] = cg_us(d)
        with open(os.path.join(d, "cgroup.procs")) as f:
            for p in f.read().split():
                r = read_stat(int(p))
                if r:
                    out["procs"].append(r + [label])
    # the kernel's threads (children of kthreadd): writeback, the journal
    # of ext4, workqueues; machine-wide, shared with whatever else runs
    for d in os.listdir("/proc"):
        if d.isdigit():
            r = read_stat(int(d))
            if r and (r[1] == 2 or r[0] == 2):
                out["procs"].append(r + ["kernel"])
    with open("/proc/stat") as f:
        out["btime"] = int([x for x in f if x.startswith("btime ")][0].split()[1])
    a = os.environ.get("CAPPROF_ACCT", "")
    out["acct_size"] = os.path.getsize(a) if a and os.path.exists(a) else 0
    json.dump(out, sys.stdout)


def comp_t(c):
    return (c & 0x1fff) << (3 * (c >> 13))


def acct_records(path, start, end):
    """[pid, ppid, btime, comm, utime, stime] of the v3 records in [start, end)."""
    out = []
    with open(path, "rb") as f:
        f.seek(start)
        data = f.read(max(0, end - start))
    for off in range(0, len(data) - 63, 64):
        r = struct.unpack_from("<BBHIIIIIIfHHHHHHHH16s", data, off)
        if r[1] != 3:
            sys.exit("capprof: accounting record version %d, not 3" % r[1])
        out.append([r[6], r[7], r[8], r[18].split(b"\0")[0].decode("ascii", "replace"),
                    comp_t(r[10]), comp_t(r[11])])
    return out


def diff(argv):
    a, b = (json.load(open(x)) for x in argv[:2])
    recs = acct_records(argv[2], a["acct_size"], b["acct_size"])
    start = {(p[0], p[2]): p for p in a["procs"]}
    start_pid = {p[0]: p for p in a["procs"]}
    info = {}   # pid -> [ppid, comm, label or None]
    for p in a["procs"] + b["procs"]:
        info[p[0]] = [p[1], p[3], p[9]]
    for r in recs:
        info.setdefault(r[0], [r[1], r[3], None])

    def label(pid, depth=0):
        i = info.get(pid)
        if not i or depth > 64:
            return None
        if i[2] is None and i[0] != pid:
            i[2] = label(i[0], depth + 1) or ""
        return i[2] or None

    def program(pid):
        lab, comm, p = label(pid), info[pid][1], pid
        if lab == "kernel":
            return re.sub(r"[0-9]+", "N", comm)
        root = comm
        for _ in range(64):
            pp = info[p][0]
            if pp not in info or label(pp) != lab or pp == p:
                break
            p, root = pp, info[pp][1]
        return comm if root == comm and p == pid else root + "/" + comm

    used = defaultdict(lambda: [0, 0, 0])

    def add(pid, u, s):
        lab = label(pid)
        if lab is None:
            return
        k = (lab, program(pid))
        used[k][0] += max(0, u)
        used[k][1] += max(0, s)
        used[k][2] += 1
    seen = set()
    for p in b["procs"]:
        if p[0] in seen:
            continue
        seen.add(p[0])
        s0 = start.get((p[0], p[2]))
        u, s = p[4] - (s0[4] if s0 else 0), p[5] - (s0[5] if s0 else 0)
        # the exact run time of its threads (schedstat, ns), split as the
        # ticks are; ticks are truncated each, the threads' sum misses
        # threads that ended: take the larger
        exact = (p[6] - (s0[6] if s0 else 0)) * HZ / 1e9
        if exact > u + s:
            uu, ss = (u, s) if u + s > 0 else (p[4], p[5])
            share = uu / (uu + ss) if uu + ss > 0 else 1.0
            u, s = exact * share, exact * (1 - share)
        add(p[0], u, s)
    boot = a["btime"]
    # a parent alive throughout gains each reaped child's exact CPU in its
    # cutime+cstime: what that exceeds the children's (truncated) records
    # by is shared among those children by their number, program by program
    both = {p[0]: p for p in b["procs"] if (p[0], p[2]) in start}
    gone = {r[0] for r in recs}
    under = defaultdict(lambda: [0, 0, defaultdict(int)])  # parent: [u, s, {pid: 1}]
    for r in recs:
        s0 = start_pid.get(r[0])
        # the same process if it had started by the record's btime (s)
        if s0 and abs(boot + s0[2] / HZ - r[2]) > 1.5:
            s0 = None
        add(r[0], r[4] - (s0[4] if s0 else 0), r[5] - (s0[5] if s0 else 0))
        x = r[1]
        for _ in range(64):
            if x in both or x not in gone:
                break
            x = info[x][0]
        if x in both:
            under[x][0] += r[4]
            under[x][1] += r[5]
            under[x][2][r[0]] += 1
    for pp, (u, s, kids) in under.items():
        p1, p0 = both[pp], start[(pp, both[pp][2])]
        du, ds = p1[7] - p0[7] - u, p1[8] - p0[8] - s
        k = sum(kids.values())
        for pid in kids:
            info_used = used[(label(pid), program(pid))] if label(pid) else None
            if info_used is not None:
                info_used[0] += max(0, du) / k
                info_used[1] += max(0, ds) / k
    for (lab, prog), (u, s, n) in sorted(used.items()):
        print("cpu %s %s %.2f %.2f %d" % (lab, prog, u, s, n))
    for lab in b["cg"]:
        print("cg %s %d %d" % (lab, b["cg"][lab][0] - a["cg"][lab][0], b["cg"][lab][1] - a["cg"][lab][1]))
    print("stat %d %d" % (b["stat"][0] - a["stat"][0], b["stat"][1] - a["stat"][1]))


def report(argv):
    n0, path = int(argv[0]), argv[1]
    per_phase = dict((a.split("=")[0], int(a.split("=")[1])) for a in argv[2:])
    phases = []
    # per (phase, store): {program: {label: [u_ticks, s_ticks]}} summed over rounds
    cpu = defaultdict(lambda: defaultdict(lambda: defaultdict(lambda: [0, 0])))
    cg = defaultdict(lambda: defaultdict(lambda: [0, 0]))
    stat = defaultdict(lambda: [0, 0])
    rounds = defaultdict(set)
    counts = defaultdict(int)   # (phase, key, node): summed over rounds
    for line in open(path):
        f = line.split()
        phase, store, rnd, kind = f[0], f[1], f[2], f[3]
        if phase not in phases:
            phases.append(phase)
        rounds[(phase, store)].add(rnd)
        if kind == "cpu":
            v = cpu[(phase, store)][f[5]][f[4]]
            v[0] += float(f[6])
            v[1] += float(f[7])
        elif kind == "cg":
            cg[(phase, store)][f[4]][0] += int(f[5])
            cg[(phase, store)][f[4]][1] += int(f[6])
        elif kind == "mh":
            counts[(phase, f[5], f[4])] += int(f[6])
        elif kind == "px":
            counts[(phase, "deliveries proxied by LMTP", f[4])] += int(f[5])
        elif kind == "stat":
            stat[(phase, store)][0] += int(f[4])
            stat[(phase, store)][1] += int(f[5])

    def ms(ticks, phase, store):
        return 1000.0 * ticks / HZ / (per_phase.get(phase, n0) * max(1, len(rounds[(phase, store)])))

    for phase in phases:
        n = per_phase.get(phase, n0)
        print("%s: CPU ms per message (user+system), by program" % phase)
        print("  %-28s %13s %13s %13s %13s" % ("program", "native", "cluster n1", "cluster n2",
                                               "n1+n2"))
        progs = set(cpu[(phase, "native")]) | set(cpu[(phase, "cluster")])

        def tot(prog, store, labs):
            return sum(sum(cpu[(phase, store)][prog].get(lab, [0, 0])) for lab in labs)
        rows = []
        for prog in progs:
            nat = ms(tot(prog, "native", ["n3"]), phase, "native")
            c1 = ms(tot(prog, "cluster", ["n1"]), phase, "cluster")
            c2 = ms(tot(prog, "cluster", ["n2"]), phase, "cluster")
            rows.append((c1 + c2, nat, c1, c2, prog))
        rows.sort(key=lambda r: (-max(r[0], r[1]), r[4]))
        small = [0.0] * 4
        for both, nat, c1, c2, prog in rows:
            if max(both, nat) < 0.05:
                small = [small[0] + nat, small[1] + c1, small[2] + c2, small[3] + both]
                continue
            print("  %-28s %13.2f %13.2f %13.2f %13.2f" % (prog[:28], nat, c1, c2, both))
        print("  %-28s %13.2f %13.2f %13.2f %13.2f" % ("(others, < 0.05 each)", *small))
        sums = []
        for store, labs in (("native", ["n3"]), ("cluster", ["n1", "n2"])):
            for lab in labs:
                u = sum(v.get(lab, [0, 0])[0] for v in cpu[(phase, store)].values())
                s = sum(v.get(lab, [0, 0])[1] for v in cpu[(phase, store)].values())
                g = cg[(phase, store)].get(lab, [0, 0])
                sums.append((store, lab, ms(u, phase, store), ms(s, phase, store),
                             g[0] / 1e3 / (n * max(1, len(rounds[(phase, store)]))),
                             g[1] / 1e3 / (n * max(1, len(rounds[(phase, store)])))))
        print("  %-28s %13s %13s %13s" % ("programs user + sys", *(
            "%.2f+%.2f" % (x[2], x[3]) for x in sums)))
        print("  %-28s %13s %13s %13s" % ("node cgroup user + sys", *(
            "%.2f+%.2f" % (x[4], x[5]) for x in sums)))
        for store in ("native", "cluster"):
            k = (phase, store)
            if not rounds.get(k):
                continue
            allcg = sum(sum(v) for v in cg[k].values()) / 1e6 * HZ
            nodes = sum(sum(v) for lab, v in cg[k].items() if lab != "bench") / 1e6 * HZ
            st = sum(stat[k])
            print("  %s: the cgroups hold %.0f %% of /proc/stat's busy time (nodes %.0f %%, "
                  "the bench and its clients %.0f %%; the rest is kernel threads and other load)"
                  % (store, 100 * allcg / max(1, st), 100 * nodes / max(1, st),
                     100 * (allcg - nodes) / max(1, st)))
        kern = []
        for prog, v in cpu[(phase, "native")].items():
            if "kernel" in v:
                kern.append(prog)
        kern = set(kern) | {p for p, v in cpu[(phase, "cluster")].items() if "kernel" in v}
        krows = sorted(((ms(tot(p, "native", ["kernel"]), phase, "native"),
                         ms(tot(p, "cluster", ["kernel"]), phase, "cluster"), p) for p in kern),
                       key=lambda r: -max(r[0], r[1]))
        print("  kernel threads (machine-wide: other load's too): native %.2f, cluster %.2f ms/msg%s" % (
            sum(r[0] for r in krows), sum(r[1] for r in krows),
            "".join("; %s %.2f / %.2f" % (r[2], r[0], r[1]) for r in krows[:5]
                    if max(r[0], r[1]) >= 0.05)))
        keys = sorted({k[1] for k in counts if k[0] == phase})
        if keys:
            nr = n * max(1, len(rounds[(phase, "cluster")]))
            print("  per message on the cluster's nodes: " + "; ".join(
                "%s %.2f + %.2f" % (k, counts[(phase, k, "n1")] / nr, counts[(phase, k, "n2")] / nr)
                for k in keys))
        print()


def main():
    cmds = {"acct": acct, "snap": snap, "diff": diff, "report": report}
    if len(sys.argv) < 2 or sys.argv[1] not in cmds:
        sys.exit("usage: capprof.py acct on FILE|off | snap LABEL=DIR... | diff A B ACCT | report N FILE [PHASE=N...]")
    cmds[sys.argv[1]](sys.argv[2:])


if __name__ == "__main__":
    main()
