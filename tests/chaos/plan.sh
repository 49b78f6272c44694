#!/bin/bash
# tests/chaos/plan.sh: the nemesis schedule follows the seed.  run.sh --plan
# (no cluster, no root) must print the same schedule twice for one seed, a
# different one for another seed, every fault kind in its first round (and
# in --short, only that round), the full backing filesystem always on node
# 2, and refuse bad arguments.
set -u
src=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
run=$src/tests/chaos/run.sh
fail() { echo "plan: FAIL: $*" >&2; exit 1; }
a=$("$run" --plan --seed 42 --seconds 200) || fail "--plan failed"
b=$("$run" --plan --seed 42 --seconds 200) || fail "--plan failed"
c=$("$run" --plan --seed 43 --seconds 200) || fail "--plan failed"
[ "$a" = "$b" ] || fail "seed 42 gave two schedules:
$a
---
$b"
[ "$a" != "$c" ] || fail "seeds 42 and 43 gave the same schedule"
kinds="kill-mhafs kill-heartbeatd kill-dovecot kill-postfix crash-node partition disk-full clock-offset restart-mhafs restart-heartbeatd restart-dovecot restart-postfix"
first=$(printf '%s\n' "$a" | head -12 | awk '{print $3}' | sort | tr '\n' ' ')
want=$(printf '%s\n' $kinds | sort | tr '\n' ' ')
[ "$first" = "$want" ] || fail "first round is not every kind once: $first"
[ "$(printf '%s\n' "$a" | wc -l)" -gt 12 ] || fail "200 s gave no second round"
! printf '%s\n' "$a" | grep 'disk-full' | grep -qv 'node=2' || fail "disk-full not on node 2"
printf '%s\n' "$a" | grep -q 'clock-offset.*clock_offset_ms=-\{0,1\}[0-9]*000$' || fail "no clock offset drawn"
# --short: the first round alone, every kind exactly once.
d=$("$run" --plan --short --seed 42) || fail "--plan --short failed"
[ "$(printf '%s\n' "$d" | awk '{print $3}' | sort | tr '\n' ' ')" = "$want" ] ||
	fail "--short is not every kind exactly once: $d"
"$run" --plan --seed x >/dev/null 2>&1 && fail "--seed x accepted"
"$run" --bogus >/dev/null 2>&1 && fail "--bogus accepted"
echo "plan: PASS (seed 42: $(printf '%s\n' "$a" | wc -l) faults planned for 200 s)"
