#!/bin/bash
# bench/memory-smoke.sh: the CI smoke of bench/memory, so that it keeps
# working: 2,000 files with a peer; passes when it prints every figure
# line (import, walk, forget, full sync, reconciliation walk).  No figure
# is judged.  Skips (77) where the benchmark cannot run (not root, no
# FUSE, not built).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
out=$(MEM_BENCH_SKIP_RC=77 "$top_srcdir/bench/memory" -n 2000 -p 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || exit "$rc"
for f in 'import' 'after import' 'walk' 'after walk' 'per inode' 'after forget' 'full sync' \
	'after full sync    node a' 'after full sync    node b' 'reconcile' \
	'after reconcile    node a' 'after reconcile    node b'; do
	printf '%s\n' "$out" | grep -q "^  $f[ :]" || { echo "bench/memory-smoke.sh: no '$f' line" >&2; exit 1; }
done
printf '%s\n' "$out" | grep -q '^  after import .* VmRSS [0-9.]* MiB  VmHWM [0-9.]* MiB' ||
	{ echo "bench/memory-smoke.sh: no VmRSS/VmHWM figures" >&2; exit 1; }
