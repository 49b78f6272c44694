#!/bin/bash
# bench/queue-smoke.sh: the CI smoke of bench/queue-delivery, so that it
# keeps working: one round of 40 messages (4 users, concurrency 2) on
# native, on the mhafs pair with the queue local and with the queue on the
# store; passes when it prints every store's run and medians and the queue's
# per-message cost.  No figure is judged; queue-delivery's own checks hold
# (every message delivered, on the peer too, the queue run's fsyncs waited
# for the peer).  Skips (77) where the benchmark cannot run.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/.." && pwd)}
out=$(E2E_SKIP_RC=77 "$top_srcdir/bench/queue-delivery" -n 40 -r 1 -c 2 -u 4 2>&1)
rc=$?
printf '%s\n' "$out"
[ "$rc" = 0 ] || exit "$rc"
for k in native mhafs mhafs+queue; do
	printf '%s\n' "$out" | grep -qE "^  round 1 ${k//+/\\+} +[0-9.]+ msg/s" ||
		{ echo "bench/queue-smoke.sh: no $k run" >&2; exit 1; }
done
for f in 'msg/s \(saved' 'ratio to native' 'cpu user\+sys ms/msg' 'smtp p99 ms' 'A commit waits/msg'; do
	printf '%s\n' "$out" | grep -qE "^  $f" || { echo "bench/queue-smoke.sh: no '$f' line" >&2; exit 1; }
done
printf '%s\n' "$out" | sed -n '/^the queue on the store, per message/,$p' | grep -qE '^  elapsed ms/msg +[-+][0-9]' ||
	{ echo "bench/queue-smoke.sh: no per-message cost of the queue on the store" >&2; exit 1; }
