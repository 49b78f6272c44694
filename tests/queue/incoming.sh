#!/bin/bash
# tests/queue/incoming.sh: 50 incoming messages for a local user, accepted
# by node 1's Postfix while node 1's Dovecot is stopped (so they wait in
# its queue, LMTP deferred), when node 1 dies (kill -9 of all its
# processes).  Node 2 takes node 1's queue over once heartbeatd has
# declared node 1 dead and delivers all 50 into the user's mailbox through
# its own Dovecot, each exactly once.  Node 1 then returns, gets its queue
# back and delivers none of them again: the mailbox holds each once, on
# both nodes.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"
. "$E2E_SRC/tests/queue/lib.sh"

N=${Q_COUNT:-50}
U=alice@d1.test
e2e_init q-incoming mhq$$
bal_require
q_setup "$U"
t0=$SECONDS

# node 1's Dovecot alone stops: Postfix keeps accepting, LMTP is deferred
e2e_stop_pidfile "$(e2e_node_dir 1)/run/master.pid"
sent=$(e2e_client "$E2E_PY" "$QMAIL" send --host "$(e2e_ip 1)" --count "$N" --tag in --to "$U") ||
	e2e_die "sending through node 1 failed"
[ "$sent" = "$N" ] || e2e_die "node 1 accepted $sent of $N"
queued() { [ "$(q_area_count 2 n1)" = "$N" ]; }
e2e_wait 5 queued || e2e_die "node 2's copy of node 1's queue holds $(q_area_count 2 n1) of $N"
lmtp_deferred() { [ "$(grep -c 'status=deferred' "$(e2e_node_dir 1)/log/postfix.log")" -ge "$N" ]; }
e2e_wait 20 lmtp_deferred || e2e_die "node 1's Postfix did not defer the $N messages"
v=$(q_in_mailbox 2 "$U" in "$N")
e2e_log "node 1 holds $N incoming messages in its queue (Dovecot stopped); mailbox: $v"

e2e_node_crash 1 "$E2E_TMP/n1-mnt"
t_kill=$(e2e_ms)
all() { q_in_mailbox 2 "$U" in "$N" >/dev/null; }
e2e_wait 40 all || {
	cat "$(e2e_node_dir 2)/queue-local/n1/takeover.log" >&2
	e2e_die "node 2 did not deliver node 1's queue: $(q_in_mailbox 2 "$U" in "$N")"
}
e2e_log "node 2 delivered node 1's queue $(( $(e2e_ms) - t_kill )) ms after the kill: $(q_in_mailbox 2 "$U" in "$N")"

bal_node_up 1
[ -z "$(q_status 2 takeover)" ] || e2e_die "node 2 still holds node 1's queue after the hand-back"
[ "$(q_status 1 queue_messages)" = 0 ] || e2e_die "node 1's queue has $(q_status 1 queue_messages) messages after the hand-back"
sleep 6
for n in 2 1; do
	v=$(q_in_mailbox "$n" "$U" in "$N") || e2e_die "node $n's mailbox after node 1's return: $v"
	e2e_log "node $n's mailbox after node 1's return: $v"
done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: node 1's $N queued incoming messages delivered once by node 2, none again ($((SECONDS - t0)) s)"
