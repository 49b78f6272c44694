#!/bin/bash
# tests/queue/partition.sh (issue 17): a partition, not a death, longer
# than peer_dead_ms + the takeover delay.  Node 1 holds deferred outgoing
# messages (the remote server answers 451) when it is cut off from node 2
# and from the witness (the client bridge), but not from the remote
# server.  Node 2 goes SOLO and takes node 1's queue over; node 1 goes
# ISOLATED and its role hook fences it: its Postfix is stopped (log line,
# no process left).  The remote server then accepts: every message
# arrives once although node 1 could still reach it.  The partition heals:
# node 2 hands the queue back, node 1's Postfix starts again on its own
# (after the hand-back) and delivers none of them again.
# Without the fence (mhafs-queue hook isolated doing nothing) node 1's
# Postfix delivers its copy too and the remote server gets duplicates.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"
# above the cut-off node's detection and stop time (mhafs-queue(8),
# FENCING: 2.2 + 2 + 5 + 1 s with heartbeat_interval_ms 150)
Q_DELAY=${Q_DELAY:-12}
. "$E2E_SRC/tests/queue/lib.sh"

N=${Q_COUNT:-20}
e2e_init q-partition mhp$$
bal_require
command -v nft >/dev/null 2>&1 || e2e_skip "nft not installed"
q_setup alice@d1.test
t0=$SECONDS
fails=0
fail() { e2e_log "FAIL: $*"; fails=$((fails + 1)); }
D1=$(e2e_node_dir 1)
NS1=$(e2e_ns 1)

sent=$(e2e_client "$E2E_PY" "$QMAIL" send --host "$(e2e_ip 1)" --count "$N" --tag part \
	--to "dest@remote.test") || e2e_die "sending through node 1 failed"
[ "$sent" = "$N" ] || e2e_die "node 1 accepted $sent of $N"
deferred() { [ -s "$SINK_DIR/attempts" ] && [ "$(wc -l <"$SINK_DIR/attempts")" -ge "$N" ]; }
e2e_wait 20 deferred || e2e_die "node 1 did not try the remote server for all $N messages"
e2e_log "node 1 holds $N deferred messages; roles: node 1 $(e2e_hb_role 1), node 2 $(e2e_hb_role 2)"

# node 1 loses node 2, the witness and the VIP; the remote server stays
# reachable (so that an unfenced Postfix would deliver)
cut="$(e2e_ip 2), $E2E_CLIENT_IP, $VIP"
e2e_in "$NS1" nft -f - <<-EOF || e2e_die "cannot cut node 1 off"
	table inet mhafs_partition {
		chain in { type filter hook input priority 0; ip saddr { $cut } drop; }
		chain out { type filter hook output priority 0; ip daddr { $cut } drop; }
	}
EOF
t_cut=$(e2e_ms)
e2e_log "node 1 cut off from $cut"
e2e_in "$NS1" ping -c 1 -W 1 "$(e2e_ip "$SINK_N")" >/dev/null 2>&1 || fail "node 1 cannot reach the remote server"
taken() { [ "$(q_status 2 takeover_instance)" = running ]; }
e2e_wait 60 taken || {
	cat "$(e2e_node_dir 2)/queue-local/n1/takeover.log" >&2
	e2e_die "node 2 did not take node 1's queue over (role $(e2e_hb_role 2))"
}
e2e_log "node 2 took node 1's queue over $(( $(e2e_ms) - t_cut )) ms after the cut: $(q_status 2 takeover_messages) messages; node 1 is $(e2e_hb_role 1)"
grep -q 'no witness' "$(e2e_node_dir 2)/queue-local/n1/takeover.log" && fail "node 2 warned of no witness although one is set"

# node 1 fenced itself: log line, no master, no Postfix process left
grep -q "fenced: this node's Postfix is stopped" "$D1/queue-local/fence.log" 2>/dev/null ||
	fail "node 1 has not logged its fence: $(cat "$D1/queue-local/fence.log" 2>/dev/null)"
e2e_in "$NS1" postfix -c "$D1/conf" status >/dev/null 2>&1 && fail "node 1's Postfix master still runs while node 2 holds its queue"
spool=$(readlink -f "$D1/spool")
left=""
for p in /proc/[0-9]*; do
	[ "$(readlink "$p/cwd" 2>/dev/null)" = "$spool" ] && left="$left ${p#/proc/}"
done
[ -z "$left" ] || fail "node 1's Postfix processes still run:$left"
e2e_log "node 1: $(grep -c . "$D1/queue-local/fence.log" 2>/dev/null) fence log lines: $(grep 'fenced:' "$D1/queue-local/fence.log" 2>/dev/null | tail -1)"

q_sink_accept
all() { q_delivered part "$N" >/dev/null; }
e2e_wait 60 all || fail "the remote server did not get each message once while node 1 was cut off: $(q_delivered part "$N")"
# several of node 1's queue runs (queue_run_delay 2 s, backoff up to 10 s)
# had it been running
sleep 12
v=$(q_delivered part "$N") || fail "while node 1 was cut off: $v"
e2e_log "delivered while node 1 was cut off: $v"

e2e_in "$NS1" nft delete table inet mhafs_partition || e2e_die "cannot heal the partition"
e2e_log "partition healed after $(( $(e2e_ms) - t_cut )) ms"
unfenced() { grep -q '^mhafs-queue: unfenced: ' "$D1/queue-local/fence.log"; }
e2e_wait 120 unfenced || e2e_die "node 1's Postfix did not start again: $(tail -3 "$D1/queue-local/fence.log")"
e2e_log "node 1: $(grep '^mhafs-queue: unfenced' "$D1/queue-local/fence.log" | tail -1)"
[ -z "$(q_status 2 takeover)" ] || fail "node 2 still holds node 1's queue after node 1's start"
running() { e2e_in "$NS1" postfix -c "$D1/conf" status >/dev/null 2>&1; }
e2e_wait 10 running || fail "node 1's Postfix master does not run after the fence ended"
roles() { case "$(e2e_hb_role 1)" in PRIMARY|SECONDARY) return 0 ;; esac; return 1; }
e2e_wait 20 roles || fail "node 1's heartbeatd is $(e2e_hb_role 1), not back in the pair"
[ "$(q_status 1 queue_messages)" = 0 ] || fail "node 1's queue holds $(q_status 1 queue_messages) messages after the hand-back"
# node 1's queue runs
sleep 8
v=$(q_delivered part "$N") || fail "after node 1's return: $v"
e2e_log "after node 1's return and 8 s of its queue runs: $v"
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
[ "$fails" = 0 ] || e2e_die "$fails check(s) failed"
e2e_log "PASS: node 1 fenced itself while cut off, node 2 delivered its $N queued messages once, node 1 none again ($((SECONDS - t0)) s)"
