#!/bin/bash
# bench/request-smoke.sh: the CI smoke of bench/request-cost, so that it
# keeps working: 2,000 calls, one round; passes when it prints both kinds'
# figures for both stores and what a round trip adds.  No figure is
# judged.  Skips (77) where the benchmark cannot run (not root, no FUSE,
# not built).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
out=$(E2E_SKIP_RC=77 "$top_srcdir/bench/request-cost" -n 2000 -r 1 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || exit "$rc"
for k in getattr write; do
	for s in native mhafs; do
		printf '%s\n' "$out" | grep -Eq "^  $k +$s +[0-9.]+ +[0-9.]+ +[0-9.]+ +[0-9.]+ \[" ||
			{ echo "bench/request-smoke.sh: no $k line for $s" >&2; exit 1; }
	done
	printf '%s\n' "$out" | grep -Eq "^  $k +round trip adds -?[0-9.]+ us" ||
		{ echo "bench/request-smoke.sh: no round-trip figure for $k" >&2; exit 1; }
done
