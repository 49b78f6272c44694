#!/bin/bash
# tests/queue/outgoing.sh: 50 outgoing messages wait in node 1's Postfix
# queue (the remote server answers 451) when node 1 dies (kill -9 of its
# mhafs, Postfix, Dovecot, heartbeatd, HAProxy).  Node 2 takes node 1's
# queue over once heartbeatd has declared node 1 dead, and when the remote
# server accepts, delivers all 50 exactly once.  Node 1 then returns: it
# waits for node 2 to hand its queue back, and delivers none of the 50
# again.  Also checked: every message node 1 answered 250 for is in node
# 2's copy of node 1's queue at once (the fsync of the queue file waited
# for the peer), mhafs-queue status and mhactl status on both nodes (the
# takeover: from which node, since when, how many, how many left), that
# the queue is set up through mhafs-queue prestart as Postfix's unit runs
# it, with queue_on_store = yes, and that a partition
# healed before the takeover delay takes nothing over.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"
. "$E2E_SRC/tests/queue/lib.sh"

N=${Q_COUNT:-50}
e2e_init q-outgoing mhq$$
bal_require
q_setup alice@d1.test
t0=$SECONDS

w0=$(e2e_mhafs_status 1 commit_waits)
sent=$(e2e_client "$E2E_PY" "$QMAIL" send --host "$(e2e_ip 1)" --count "$N" --tag out \
	--to "dest@remote.test") || e2e_die "sending through node 1 failed"
[ "$sent" = "$N" ] || e2e_die "node 1 accepted $sent of $N"
# a 250 means the queue file is on node 2 too: no waiting here
c2=$(q_area_count 2 n1)
e2e_log "node 1 accepted $N messages; node 2's copy of node 1's queue holds $c2 at once"
[ "$c2" = "$N" ] || e2e_die "node 2 holds $c2 of the $N messages node 1 answered 250 for"
# ... whole: Postfix marks a finished queue file executable before its fsync
torn=$(find "$E2E_TMP/n2-mnt/.mhafs-queue/n1" -type f \( -path '*/active/*' -o -path '*/incoming/*' -o -path '*/deferred/*' \) ! -perm -0100 -printf '%P ')
[ -z "$torn" ] || e2e_die "node 2's copies not complete at the 250: $torn"
# each fsync of a queue file waited for node 2 (mhafs.conf fsync_commit)
w=$(( $(e2e_mhafs_status 1 commit_waits) - w0 ))
e2e_log "node 1's fsyncs waited for node 2 $w times"
[ "$w" -ge "$N" ] || e2e_die "only $w of node 1's commits waited for node 2 while it queued $N messages"
deferred() { [ -s "$SINK_DIR/attempts" ] && [ "$(wc -l <"$SINK_DIR/attempts")" -ge "$N" ]; }
e2e_wait 20 deferred || e2e_die "node 1 did not try the remote server for all $N messages"
[ "$(q_status 1 queue_messages)" = "$N" ] || e2e_die "mhafs-queue status on node 1: $(q_status 1 queue_messages) queued"
[ "$(e2e_mhafs_status 1 queue_messages)" = "$N" ] || e2e_die "mhactl status on node 1: queue_messages=$(e2e_mhafs_status 1 queue_messages)"

# a partition that heals before the takeover delay: nothing is taken over
ip -n "$E2E_ID-c" link set vn1 down || e2e_die "cannot cut node 1 off"
solo() { [ "$(e2e_hb_role 2)" = SOLO ]; }
e2e_wait 5 solo || { ip -n "$E2E_ID-c" link set vn1 up; e2e_die "node 2's heartbeatd did not declare node 1 dead"; }
ip -n "$E2E_ID-c" link set vn1 up || e2e_die "cannot heal the partition"
e2e_log "node 1 cut off until node 2's heartbeatd said SOLO, then healed"
sleep $((Q_DELAY + 2))
[ -z "$(q_status 2 takeover)" ] || e2e_die "node 2 took node 1's queue over after a short partition"
grep -q 'nothing done' "$(e2e_node_dir 2)/queue-local/n1/takeover.log" ||
	e2e_die "node 2's takeover supervisor did not start and give up: $(cat "$(e2e_node_dir 2)/queue-local/n1/takeover.log")"
e2e_log "node 2 took nothing over: $(tail -1 "$(e2e_node_dir 2)/queue-local/n1/takeover.log")"

e2e_node_crash 1 "$E2E_TMP/n1-mnt"
t_kill=$(e2e_ms)
e2e_log "node 1 killed with $N messages deferred in its queue"
taken() { [ "$(q_status 2 takeover_instance)" = running ]; }
e2e_wait 60 taken || { cat "$(e2e_node_dir 2)/queue-local/n1/takeover.log" >&2; e2e_die "node 2 did not take node 1's queue over"; }
e2e_log "node 2 took node 1's queue over $(( $(e2e_ms) - t_kill )) ms after the kill: $(q_tool 2 status | grep '^takeover' | tr '\n' ' ')"
[ "$(q_status 2 takeover_messages)" = "$N" ] || e2e_die "node 2 took over $(q_status 2 takeover_messages) messages, not $N"
# mhactl status says it too (read from the store: queue_on_store = yes)
ms=$("$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir 2)/conf/mhafs.conf" status 2>/dev/null | grep -E '^(queue_|takeover)')
e2e_log "node 2's mhactl status: $(echo $ms)"
for l in queue_messages=0 queue_taken_over=no takeover=n1 takeover_messages=$N takeover_left=$N; do
	printf '%s\n' "$ms" | grep -qx "$l" || e2e_die "node 2's mhactl status lacks $l: $(echo $ms)"
done
printf '%s\n' "$ms" | grep -Eqx 'takeover_since=20[0-9-]+T[0-9:]+Z' || e2e_die "node 2's mhactl status lacks takeover_since: $(echo $ms)"
js=$("$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir 2)/conf/mhafs.conf" status --json 2>/dev/null)
"$E2E_PY" -c 'import json,sys; d=json.loads(sys.argv[1]); assert d["takeover"]=="n1" and d["takeover_left"]==int(sys.argv[2]), d' "$js" "$N" ||
	e2e_die "node 2's mhactl status --json lacks the takeover"
q_sink_accept
all() { q_delivered out "$N" >/dev/null; }
e2e_wait 40 all || e2e_die "node 2 did not deliver node 1's queue: $(q_delivered out "$N")"
e2e_log "node 2 delivered: $(q_delivered out "$N"); left $(q_status 2 takeover_left)"
left0() { [ "$(q_status 2 takeover_left)" = 0 ] && [ "$(e2e_mhafs_status 2 takeover_left)" = 0 ]; }
e2e_wait 10 left0 || e2e_die "node 2's takeover still shows $(q_status 2 takeover_left) messages left (mhactl: $(e2e_mhafs_status 2 takeover_left))"

bal_node_up 1
e2e_log "node 1 is back: $(grep 'mhafs-queue' "$(e2e_node_dir 1)/log/queue-ready.log" | tail -2 | tr '\n' ' ')"
[ -z "$(q_status 2 takeover)" ] || e2e_die "node 2 still holds node 1's queue after the hand-back"
[ "$(q_status 1 queue_taken_over)" = no ] || e2e_die "node 1's queue still marked: $(q_status 1 queue_taken_over)"
[ "$(q_status 1 queue_messages)" = 0 ] || e2e_die "node 1's queue has $(q_status 1 queue_messages) messages after the hand-back"
# several queue runs of node 1's Postfix (queue_run_delay 2 s)
sleep 8
v=$(q_delivered out "$N") || e2e_die "after node 1's return: $v"
e2e_log "after node 1's return and 8 s of its queue runs: $v"
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: node 1's $N queued messages delivered once by node 2, none again by node 1 ($((SECONDS - t0)) s)"
