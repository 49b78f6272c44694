#!/usr/bin/python3
"""tests/chaos/outages.py: why the fault run's SMTP probe of the VIP saw an
outage.  For each outage of at least --min-ms (the longest --top of them,
in the order they happened) it writes to --out the fault in flight, and
what each node's heartbeatd logged (state changes, health verdicts, the
agent's answers, the VIP) and what each node's HAProxy thought of the
servers (baltap.py's lines) from 3 s before the outage to its end; and
prints one summary line.

  outages.py --record history.jsonl --faults faults.log --out FILE
             [--log NAME=FILE ...] [--tap FILE] [--min-ms 3000] [--top 10]

The record's probe lines carry since/until (epoch seconds); faults.log
lines and the logs start with "YYYY-MM-DD HH:MM:SS.mmm" (local time).
"""
import argparse
import json
import re
import time
from collections import Counter

STAMP = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d)\.(\d{3}) ")
LOGLINE = re.compile(r"^\S+ \S+ [\w.-]+\[(notice|warning|error|crit|alert|emerg)\]: ")
BEFORE = 3.0


def epoch(line):
    """The epoch seconds of a line's leading stamp, or None."""
    m = STAMP.match(line)
    if not m:
        return None
    return time.mktime(time.strptime(m.group(1), "%Y-%m-%d %H:%M:%S")) + int(m.group(2)) / 1000


def read_faults(path):
    """[(start, end or None, "kind node=N hold=Hs")] from faults.log."""
    faults = []
    try:
        lines = open(path).read().splitlines()
    except OSError:
        return faults
    for line in lines:
        t = epoch(line)
        if t is None:
            continue
        what = line[24:]
        if what.startswith("healed "):
            kind = what.split()[1]
            for i in range(len(faults) - 1, -1, -1):
                if faults[i][2].split()[0] == kind and faults[i][1] is None:
                    faults[i] = (faults[i][0], t, faults[i][2])
                    break
        else:
            faults.append((t, None, what))
    return faults


def read_lines(path, keep=None):
    out = []
    try:
        f = open(path, errors="replace")
    except OSError:
        return out
    with f:
        for line in f:
            line = line.rstrip("\n")
            t = epoch(line)
            if t is not None and (keep is None or keep.match(line)):
                out.append((t, line))
    return out


def in_flight(faults, t0):
    """The fault that was applied or healing at t0, or the last one before."""
    best = None
    for start, end, what in faults:
        if start > t0:
            break
        best = (start, end, what)
    if best is None:
        return "before the first fault"
    start, end, what = best
    if end is None or t0 <= end:
        return "during %s (applied %.1f s before)" % (what, t0 - start)
    return "%.1f s after %s healed (applied %.1f s before)" % (t0 - end, what, t0 - start)


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--record", required=True)
    ap.add_argument("--faults", required=True)
    ap.add_argument("--out", required=True)
    ap.add_argument("--log", action="append", default=[], metavar="NAME=FILE")
    ap.add_argument("--tap")
    ap.add_argument("--min-ms", type=int, default=3000)
    ap.add_argument("--top", type=int, default=10)
    a = ap.parse_args()
    outs = []
    with open(a.record) as f:
        for line in f:
            if '"probe"' not in line:
                continue
            r = json.loads(line)
            if "since" in r and r["down_ms"] >= a.min_ms:
                outs.append(r)
    faults = read_faults(a.faults)
    logs = []
    for spec in a.log:
        name, _, path = spec.partition("=")
        logs += [(t, "%s %s" % (name, l[24:])) for t, l in read_lines(path, LOGLINE)]
    if a.tap:
        logs += [(t, "%s haproxy-view: %s" % (l[24:].split()[0], " ".join(l[24:].split()[1:])))
                 for t, l in read_lines(a.tap)]
    logs.sort()
    kinds = Counter()
    for r in outs:
        w = in_flight(faults, r["since"])
        kinds[w.split()[1] if w.startswith("during") else
              "after-" + w.split()[3] if " after " in w else "none"] += 1
    longest = sorted(outs, key=lambda r: -r["down_ms"])[:a.top]
    with open(a.out, "w") as f:
        f.write("%d probe outages of %d ms or more; the %d longest, in order:\n" % (
            len(outs), a.min_ms, len(longest)))
        for r in sorted(longest, key=lambda r: r["since"]):
            t0, t1 = r["since"], r["until"]
            f.write("\n== %s.%03d: %d ms, %s\n" % (
                time.strftime("%H:%M:%S", time.localtime(t0)), int(t0 % 1 * 1000),
                r["down_ms"], in_flight(faults, t0)))
            for start, end, what in faults:
                if start <= t1 and (end is None or end >= t0 - BEFORE):
                    f.write("   fault %s: %s .. %s\n" % (
                        what, time.strftime("%H:%M:%S", time.localtime(start)),
                        time.strftime("%H:%M:%S", time.localtime(end)) if end else "?"))
            for t, line in logs:
                if t0 - BEFORE <= t <= t1 + 0.5:
                    f.write("   %+7.2f %s\n" % (t - t0, line))
    if outs:
        top = max(outs, key=lambda r: r["down_ms"])
        print("chaos: probe outages of %.0f s or more: %d (%s); the longest %.1f s, %s (each traced"
              " in chaos/outages.txt)" % (
                  a.min_ms / 1000, len(outs),
                  " ".join("%s=%d" % kv for kv in sorted(kinds.items())),
                  top["down_ms"] / 1000, in_flight(faults, top["since"])))
    else:
        print("chaos: probe outages of %.0f s or more: none" % (a.min_ms / 1000))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
