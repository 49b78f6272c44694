#!/bin/bash
# tests/queue/survivor.sh (~60 s): the survivor
# dies during the takeover.  20 outgoing messages are deferred in node 1's
# queue; node 1 is killed, node 2 takes its queue over; then node 2 is
# killed too (kill -9 of everything, its takeover instance included) and
# restarted alone.  Its heartbeatd declares node 1 dead again and the
# takeover resumes (the marker names node 2); once the remote server
# accepts, all 20 are delivered exactly once.  Node 1 then returns and
# delivers none of them again.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"
. "$E2E_SRC/tests/queue/lib.sh"

N=${Q_COUNT:-20}
e2e_init q-survivor mhq$$
bal_require
q_setup alice@d1.test
t0=$SECONDS
sent=$(e2e_client "$E2E_PY" "$QMAIL" send --host "$(e2e_ip 1)" --count "$N" --tag surv \
	--to "dest@remote.test") || e2e_die "sending through node 1 failed"
[ "$sent" = "$N" ] || e2e_die "node 1 accepted $sent of $N"
deferred() { [ -s "$SINK_DIR/attempts" ] && [ "$(wc -l <"$SINK_DIR/attempts")" -ge "$N" ]; }
e2e_wait 20 deferred || e2e_die "node 1 did not try the remote server for all $N messages"

e2e_node_crash 1 "$E2E_TMP/n1-mnt"
taken() { [ "$(q_status 2 takeover_instance)" = running ]; }
e2e_wait 60 taken || { cat "$(e2e_node_dir 2)/queue-local/n1/takeover.log" >&2; e2e_die "node 2 did not take node 1's queue over"; }
sleep 3   # the instance runs the queue (the sink still defers)
e2e_log "node 2 runs node 1's queue: $(q_tool 2 status | grep '^takeover' | tr '\n' ' ')"
e2e_node_crash 2 "$E2E_TMP/n2-mnt"
e2e_log "node 2 killed during the takeover"
Q_WAIT_PEER=3 bal_node_up 2
e2e_wait 60 taken || { cat "$(e2e_node_dir 2)/queue-local/n1/takeover.log" >&2; e2e_die "node 2 did not resume the takeover after its restart"; }
grep -q 'resumed' "$(e2e_node_dir 2)/queue-local/n1/takeover.log" || e2e_die "node 2's takeover did not say it resumed"
e2e_log "node 2 restarted and resumed: $(grep resumed "$(e2e_node_dir 2)/queue-local/n1/takeover.log" | tail -1)"
q_sink_accept
all() { q_delivered surv "$N" >/dev/null; }
e2e_wait 40 all || e2e_die "node 2 did not deliver node 1's queue: $(q_delivered surv "$N")"
e2e_log "node 2 delivered: $(q_delivered surv "$N")"

bal_node_up 1
[ -z "$(q_status 2 takeover)" ] || e2e_die "node 2 still holds node 1's queue after the hand-back"
sleep 8
v=$(q_delivered surv "$N") || e2e_die "after node 1's return: $v"
e2e_log "PASS: survivor crashed during the takeover, resumed, $v; none again after node 1's return ($((SECONDS - t0)) s)"
