#!/bin/bash
# bench/capacity-smoke.sh: the CI smoke of bench/cluster-capacity, so that it
# keeps working: one round of 20 messages to 4 users through the VIP and on
# the native node; passes when it prints both stores' medians for both
# phases, and with -P (where the machine has process accounting and a
# cpuacct or v2 cgroup) the per-program table with mhafs's row on the
# cluster.  No figure is judged.  Skips (77) where the lab cannot run.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
prof=""
if [ -e /proc/sys/kernel/acct ] &&
	{ [ -f /sys/fs/cgroup/cgroup.controllers ] || [ -f /sys/fs/cgroup/cpuacct/cpuacct.usage_user ]; }; then
	prof=-P
fi
out=$(E2E_SKIP_RC=77 "$top_srcdir/bench/cluster-capacity" $prof -n 20 -r 1 -c 4 -u 4 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || exit "$rc"
for p in deliver read; do
	for k in native cluster; do
		printf '%s\n' "$out" | grep -qE "^ +$p +$k +[0-9]" ||
			{ echo "bench/capacity-smoke.sh: no median for $p on $k" >&2; exit 1; }
	done
done
if [ -n "$prof" ]; then
	printf '%s\n' "$out" | grep -q "^deliver: CPU ms per message" &&
		printf '%s\n' "$out" | grep -qE "^  mhafs +0\.00 +[0-9.]+ +[0-9.]+ +[0-9.]+$" ||
		{ echo "bench/capacity-smoke.sh: no per-program profile with mhafs's row (-P)" >&2; exit 1; }
fi
