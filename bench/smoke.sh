#!/bin/bash
# bench/smoke.sh: the CI smoke of bench/lmtp-delivery, so that it keeps
# working: one round of 40 messages (4 users, concurrency 2) on native,
# mhafs and mhafs with a sync peer, each followed by its IMAP fetch; passes
# when it prints its figures for all three and both phases.  No timing is
# judged.  Skips (77) where the benchmark cannot
# run (not root, no mail servers or FUSE).
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
out=$(E2E_SKIP_RC=77 "$top_srcdir/bench/lmtp-delivery" -p -n 40 -r 1 -c 2 -u 4 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || exit "$rc"
for f in 'msg/s ' 'ratio ' 'cpu user ms/msg' 'p99 ms' 'A sql stmts/msg' 'A waits on the peer/msg' 'B sql stmts/msg'; do
	printf '%s\n' "$out" | grep -q "^  $f" || { echo "bench/smoke.sh: no '$f' line" >&2; exit 1; }
done
printf '%s\n' "$out" | grep -q '^  round 1 mhafs+peer ' || { echo "bench/smoke.sh: no mhafs+peer run" >&2; exit 1; }
printf '%s\n' "$out" | grep -q '^  round 1 mhafs+peer fetch ' || { echo "bench/smoke.sh: no mhafs+peer fetch" >&2; exit 1; }
[ "$(printf '%s\n' "$out" | grep -c '^  ratio ')" = 2 ] || { echo "bench/smoke.sh: no fetch table" >&2; exit 1; }
