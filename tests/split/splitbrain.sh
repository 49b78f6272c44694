#!/bin/bash
# tests/split/splitbrain.sh VARIANT: split-brain end to end (issue 4).  Two
# mail nodes with their own Dovecot and Postfix on replicating mhafs mounts
# (as tests/e2e/cluster.sh) take base mail that both nodes' IMAP clients
# open; then the nodes lose each other while both keep taking mail (SMTP
# and LMTP) and IMAP changes (flags, MOVE, EXPUNGE) for the same users; then
# they meet again and must converge by themselves.  tests/split/splitcheck.py
# then checks: no acknowledged message missing, no duplicate, identical
# backing trees except node-local files, identical UID FETCH 1:* (FLAGS) per
# folder, UIDVALIDITY and the UIDs of untouched messages unchanged; and an
# IMAP session held open on each node through it all sees what a new one
# sees, with no message under another's header.
#
# VARIANT (or the name this script is called by: partition.sh, kill9.sh,
# clockskew.sh):
#   partition  nft rules in each node's namespace drop the other node's
#              address (the client namespace still reaches both nodes)
#   kill9      node 2's processes (mhafs, Dovecot, Postfix) get SIGKILL
#              right after its share of the changes; node 1 works alone;
#              node 2 comes back as its boot would (remount, start mail)
#   clock      as partition, with node 2's clock 30 s behind
#              (clock_offset_ms = -30000) and a causal-order check first
#   concurrent no split at all: the base mail goes through both nodes at
#              once (Postfix queues, then both Dovecots deliver) and both
#              sides' changes are made while connected: the active-active
#              baseline (each node's dovecot-uidlist.lock is node-local)
# SPLIT_CONVERGE_S bounds the wait for convergence (default 60).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

variant=${1:-}
if [ -z "$variant" ]; then
	case "${0##*/}" in
	partition.sh) variant=partition ;;
	kill9.sh) variant=kill9 ;;
	clockskew.sh) variant=clock ;;
	concurrent.sh) variant=concurrent ;;
	*) echo "usage: splitbrain.sh partition|kill9|clock|concurrent" >&2; exit 2 ;;
	esac
fi
case "$variant" in
partition|kill9|clock|concurrent) ;;
*) echo "splitbrain.sh: unknown variant '$variant' (partition|kill9|clock|concurrent)" >&2; exit 2 ;;
esac

e2e_init "split-$variant" "mhe2e-sb$$"
e2e_require_mail
e2e_require_mhafs
[ -x "$E2E_BUILD/tools/mhactl" ] || e2e_skip "no mhactl"
case "$variant" in partition|clock)
	command -v nft >/dev/null 2>&1 || e2e_skip "nft not installed (tools/install-deps)" ;;
esac
e2e_vmail
e2e_net_client
e2e_cluster_keys 1 2
USERS="alice@d1.test bob@d1.test carol@d2.test"
for n in 1 2; do
	e2e_net_node "$n"
	# shellcheck disable=SC2086
	e2e_users "$n" $USERS
done
STATE=$E2E_TMP/split-state.json
CHECK=("$E2E_PY" "$E2E_SRC/tests/split/splitcheck.py")
T0=$SECONDS

split_log() { e2e_log "[$((SECONDS - T0)) s] $*"; }

# mount_node N: node N's mhafs as configured for this variant.
mount_node() {
	local n=$1
	E2E_MHAFS_CONF_EXTRA=$(e2e_peer_conf "$n" $((3 - n)))
	if [ "$variant" = clock ] && [ "$n" = 2 ]; then
		E2E_MHAFS_CONF_EXTRA="$E2E_MHAFS_CONF_EXTRA
clock_offset_ms = -30000"
	fi
	e2e_mhafs_mount "$n" "$E2E_TMP/n$n-backing" "$E2E_TMP/n$n-mnt" "$E2E_TMP/n$n-state"
	E2E_MHAFS_CONF_EXTRA=""
}

for n in 1 2; do mount_node "$n"; done
for n in 1 2; do
	e2e_wait 15 e2e_peer_synced "$n" || e2e_die "node $n did not get in sync with its peer"
done
e2e_store_prepare "$E2E_TMP/n1-mnt"
e2e_wait 10 test -d "$E2E_TMP/n2-mnt/d2.test" || e2e_die "store layout not replicated to node 2"
for n in 1 2; do e2e_mail_start "$n" "$E2E_TMP/n$n-mnt"; done

check_args() {
	printf '%s\n' --state "$STATE" --host1 "$(e2e_ip 1)" --host2 "$(e2e_ip 2)" \
		--lmtp1 "$(e2e_node_dir 1)/run/lmtp" --lmtp2 "$(e2e_node_dir 2)/run/lmtp" \
		--store1 "$E2E_TMP/n1-backing" --store2 "$E2E_TMP/n2-backing"
}
mapfile -t ARGS < <(check_args)
CONC=""
[ "$variant" != concurrent ] || CONC=--concurrent
# shellcheck disable=SC2086
e2e_client "${CHECK[@]}" prepare "${ARGS[@]}" $CONC --users $USERS || e2e_die "base phase failed"
split_log "base mail delivered and opened on both nodes"

if [ "$variant" = clock ]; then
	# Causal order across a 30 s clock difference: node 1 flags a message,
	# node 2 (whose clock is behind) sees it and changes the flags after.
	# Node 2's change is the later one and must stand on both nodes.
	e2e_client "$E2E_PY" "$E2E_SRC/tests/split/causal.py" \
		--host1 "$(e2e_ip 1)" --host2 "$(e2e_ip 2)" --user alice@d1.test --tag alice-b9 ||
		e2e_die "causal order across the clock offset not kept"
	split_log "causal order kept across the clock offset"
fi

# Held sessions: bob's INBOX stays open on each node that stays up, a
# client polling with NOOP through the split and the heal; what it sees
# at the end is checked like a new session's view.
HELD=()
HOLD_PIDS=()
HOLD_GO=$E2E_TMP/hold.go
hold_sides="1 2"
[ "$variant" != kill9 ] || hold_sides=1
for n in $hold_sides; do
	out=$E2E_TMP/held-$n.json
	e2e_client "${CHECK[@]}" hold --state "$STATE" --side "$n" --user bob@d1.test \
		--go "$HOLD_GO" --out "$out" &
	HOLD_PIDS+=($!)
	HELD+=("$out")
	e2e_wait 30 test -e "$out.ready" || e2e_die "the held IMAP session on node $n did not start"
done

# Partition: each node's namespace drops packets to and from the other
# node's address; the client bridge and everything else are untouched.
partition() {
	local n peer
	for n in 1 2; do
		peer=$(e2e_ip $((3 - n)))
		e2e_in "$(e2e_ns "$n")" nft -f - <<-EOF || e2e_die "nft on node $n failed"
		table inet mhsplit {
			chain in { type filter hook input priority 0; ip saddr $peer drop; }
			chain out { type filter hook output priority 0; ip daddr $peer drop; }
		}
		EOF
	done
	# The partition is real: no packet from node 1 reaches node 2.
	if e2e_in "$(e2e_ns 1)" ping -c 1 -W 1 "$(e2e_ip 2)" >/dev/null 2>&1; then
		e2e_die "partition not effective: node 1 still reaches node 2"
	fi
	if ! e2e_port_open 1 143 || ! e2e_port_open 2 143; then
		e2e_die "the partition cut the clients off a node"
	fi
}
heal() {
	local n
	for n in 1 2; do
		e2e_in "$(e2e_ns "$n")" nft delete table inet mhsplit ||
			e2e_die "cannot remove node $n's partition rules"
	done
}

# kill_node N: SIGKILL every process in node N's namespace (its mhafs,
# Dovecot and Postfix) and detach the dead mount, as a power cut would
# (lib.sh's e2e_node_crash); keep its log aside, the remount rewrites it.
kill_node() {
	local n=$1
	e2e_node_crash "$n" "$E2E_TMP/n$n-mnt"
	[ -z "$(ip netns pids "$(e2e_ns "$n")")" ] || e2e_die "node $n's processes survived SIGKILL"
	cp "$E2E_TMP/n$n-state/mhafs.log" "$E2E_TMP/n$n-state/mhafs.log.killed" 2>/dev/null
	split_log "node $n killed"
}
boot_node() {
	local n=$1 d
	d=$(e2e_node_dir "$n")
	# A reboot empties /run: the dead masters' pid files go (a killed
	# Dovecot master may still be an unreaped zombie that kill -0 finds).
	rm -f "$d/run/master.pid" "$d/spool/pid/master.pid"
	mount_node "$n"
	e2e_mail_start "$n" "$E2E_TMP/n$n-mnt"
	split_log "node $n remounted and its mail servers started"
}

case "$variant" in
partition|clock)
	partition
	split_log "partitioned"
	for side in 1 2; do
		e2e_client "${CHECK[@]}" during --state "$STATE" --side "$side" ||
			e2e_die "side $side's changes during the split failed"
	done
	split_log "both sides changed during the split"
	heal
	split_log "healed"
	;;
concurrent)
	for side in 1 2; do
		e2e_client "${CHECK[@]}" during --state "$STATE" --side "$side" ||
			e2e_die "side $side's changes failed"
	done
	;;
kill9)
	e2e_client "${CHECK[@]}" during --state "$STATE" --side 2 ||
		e2e_die "node 2's changes failed"
	kill_node 2
	e2e_client "${CHECK[@]}" during --state "$STATE" --side 1 ||
		e2e_die "node 1's changes while node 2 was down failed"
	boot_node 2
	;;
esac

# Convergence: both journals drained to the peer, both in sync, trees equal.
converged() {
	local n
	for n in 1 2; do
		e2e_peer_synced "$n" || return 1
		[ "$(e2e_mhafs_status "$n" backlog_ops)" = 0 ] || return 1
	done
	"${CHECK[@]}" tree --store1 "$E2E_TMP/n1-backing" --store2 "$E2E_TMP/n2-backing" >/dev/null
}
# Bounded by time (one round runs mhactl four times and walks both trees).
converge_wait() {
	local end=$((SECONDS + $1))
	while ! converged 2>/dev/null; do
		[ "$SECONDS" -lt "$end" ] || return 1
		sleep 0.5
	done
}
limit=${SPLIT_CONVERGE_S:-60}
if converge_wait "$limit"; then
	split_log "converged"
	CONVERGED=yes
else
	CONVERGED=no
	split_log "NOT converged within $limit s:"
	for n in 1 2; do
		e2e_log "node $n: $("$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir "$n")/conf/mhafs.conf" status 2>&1 |
			grep -E '^(peer_connected|peer_synced|full_sync|backlog_ops|applied_skipped|conflicts_|uidlist_merges|last_error)' | tr '\n' ' ')"
	done
fi
for n in 1 2; do
	e2e_log "node $n conflicts: $("$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir "$n")/conf/mhafs.conf" status 2>&1 |
		grep -E '^(conflicts_|applied_skipped|uidlist_merges|dotlocks_)' | tr '\n' ' ')"
done

touch "$HOLD_GO"
for pid in "${HOLD_PIDS[@]}"; do
	wait "$pid" || e2e_log "a held IMAP session failed (see above); the check reports it"
done

rc=0
e2e_client "${CHECK[@]}" check --state "$STATE" --held "${HELD[@]}" || rc=1
[ "$CONVERGED" = yes ] || rc=1
if [ "$rc" != 0 ]; then
	e2e_die "split-brain ($variant): checks failed (classes above), converged=$CONVERGED"
fi
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
split_log "PASS: the nodes converged and lost nothing"
