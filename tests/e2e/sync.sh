#!/bin/bash
# tests/e2e/sync.sh: the synchronous guarantee of issue 3 with real Dovecot
# and Postfix on two replicating mhafs nodes (sync_mode = sync).
#  (a) peer up: every message Dovecot LMTP on node 1 answered 250 for is
#      already in node 2's backing store at that moment (checked once, no
#      wait); the same for every "status=sent (250" Postfix logs for its
#      LMTP deliveries of mail sent to it by SMTP.
#  (b) node 2's mhafs freezes (SIGSTOP: connection open, nothing answers):
#      a delivery on node 1 waits sync_timeout_ms, then succeeds alone.
#  (c) node 2 crashes (kill -9 of its mhafs, Dovecot and Postfix): deliveries
#      on node 1 still succeed (after sync_timeout_ms at most) and are on
#      node 1; node 2 is mounted again as its boot would, the messages reach
#      it, node 2's Dovecot serves them, node 1 reports the peer synced.
# Prints latency figures (tests/e2e/syncproof.py does the client side).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

N=${E2E_SYNC_N:-40}     # messages per phase
E2E_SYNC_TIMEOUT_MS=1000
e2e_init sync
e2e_require_mail
e2e_require_mhafs
[ -x "$E2E_BUILD/tools/mhactl" ] || e2e_skip "no mhactl"
e2e_vmail
e2e_net_client
e2e_cluster_keys 1 2
for n in 1 2; do
	e2e_net_node "$n"
	e2e_users "$n" alice@d1.test carol@d2.test
done
mount_node() {
	E2E_MHAFS_CONF_EXTRA=$(e2e_peer_conf "$1" $((3 - $1)))
	e2e_mhafs_mount "$1" "$E2E_TMP/n$1-backing" "$E2E_TMP/n$1-mnt" "$E2E_TMP/n$1-state"
	E2E_MHAFS_CONF_EXTRA=""
}
for n in 1 2; do mount_node "$n"; done
for n in 1 2; do
	e2e_wait 15 e2e_peer_synced "$n" || e2e_die "node $n did not get in sync with its peer"
done
[ "$(e2e_mhafs_status 1 sync_mode)" = sync ] || e2e_die "node 1 is not in sync mode"
e2e_store_prepare "$E2E_TMP/n1-mnt"
e2e_wait 10 test -d "$E2E_TMP/n2-mnt/d2.test" || e2e_die "store layout not replicated to node 2"
for n in 1 2; do e2e_mail_start "$n" "$E2E_TMP/n$n-mnt"; done

proof() { "$E2E_PY" "$E2E_SRC/tests/e2e/syncproof.py" "$@"; }
lmtp1=$(e2e_node_dir 1)/run/lmtp
box=d1.test/alice/Maildir
peer_box=$E2E_TMP/n2-backing/$box

# The first delivery comes after an idle link (longer than the sender's
# 2 x sync_timeout_ms silence limit): it must still wait for the peer.
sleep $((2 * E2E_SYNC_TIMEOUT_MS / 1000 + 1))
proof lmtp --socket "$lmtp1" --store "$peer_box" --tag warm --count 1 >/dev/null ||
	e2e_die "first delivery after an idle link not on node 2 at its 250"

e2e_log "(a) peer up: $N deliveries by LMTP to node 1, each on node 2 at its 250"
up=$(proof lmtp --socket "$lmtp1" --store "$peer_box" --tag up --count "$N") ||
	e2e_die "(a) an LMTP 250 came before the message was on node 2"
e2e_log "$up"
e2e_log "(a) peer up: $N messages by SMTP to node 1's Postfix, each LMTP 250 it logs already on node 2"
smtp=$(e2e_client "$E2E_PY" "$E2E_SRC/tests/e2e/syncproof.py" smtp --host "$(e2e_ip 1)" \
	--log "$(e2e_node_dir 1)/log/postfix.log" --store "$peer_box" --tag smtp --count "$N") ||
	e2e_die "(a) Postfix logged an LMTP 250 before the message was on node 2"
e2e_log "$smtp"
waits=$(e2e_mhafs_status 1 commit_waits)
[ "${waits:-0}" -ge $((2 * N)) ] ||
	e2e_die "node 1 counted ${waits:-0} commit waits for $((2 * N + 1)) deliveries: the commits did not wait"

# Node 1 may log errors while its peer is frozen or dead (a handshake cut
# by the kill): its log is checked before the fault and after the recovery.
log1=$E2E_TMP/n1-state/mhafs.log
clean_lines() { # FROM TO: no error or sanitizer report in node 1's log lines FROM..TO
	local bad
	bad=$(sed -n "$1,$2p" "$log1" | grep -E 'mhafs\[(error|crit|alert|emerg)\]|Sanitizer|runtime error:')
	[ -z "$bad" ] || e2e_die "node 1's mhafs logged errors:
$bad"
}
clean_lines 1 '$'
fault_at=$(($(wc -l <"$log1") + 1))
N2=$((N / 4 + 1))
e2e_log "(b) node 2's mhafs frozen (SIGSTOP): $N2 deliveries to node 1"
pid2=$(e2e_mhafs_pid "$E2E_TMP/n2-mnt") || e2e_die "no mhafs pid for node 2"
# A stopped daemon must not outlive a failure here: cleanup unmounts it.
frozen_die() { kill -CONT "$pid2"; e2e_die "$@"; }
alone0=$(e2e_mhafs_status 1 dotlocks_alone)
kill -STOP "$pid2" || e2e_die "cannot stop mhafs $pid2"
frozen=$(proof lmtp --socket "$lmtp1" --store "$E2E_TMP/n1-backing/$box" --tag frozen --count "$N2") ||
	frozen_die "(b) deliveries to node 1 failed with node 2 frozen"
e2e_log "$frozen"
# The first delivery waits for the frozen peer either at its commit (a
# commit timeout) or, if Dovecot's uidlist lock comes first, at the lock,
# whose wait outlasts the sender's patience: the sender then drops the
# silent peer and the commit that follows has no one to wait for.  Either
# way node 1 waited and then went on alone.
to=$(e2e_mhafs_status 1 commit_timeouts)
alone=$(( $(e2e_mhafs_status 1 dotlocks_alone) - ${alone0:-0} ))
[ "${to:-0}" -ge 1 ] || [ "$alone" -ge 1 ] ||
	frozen_die "(b) node 1 neither timed out a commit nor took a lock alone with node 2 frozen"
e2e_log "(b) commit timeouts $to, locks taken alone $alone"
first=$(printf '%s\n' "$frozen" | sed -n 's/^  first \([0-9]*\).*/\1/p')
[ "${first:-0}" -ge $((E2E_SYNC_TIMEOUT_MS * 9 / 10)) ] ||
	frozen_die "(b) the first delivery to a frozen peer took ${first:-?} ms, less than sync_timeout_ms"

e2e_log "(c) kill -9 of node 2 (mhafs, Dovecot, Postfix)"
e2e_node_crash 2 "$E2E_TMP/n2-mnt"
t0=$(e2e_ms)
down=$(proof lmtp --socket "$lmtp1" --store "$E2E_TMP/n1-backing/$box" --tag down --count "$N") ||
	e2e_die "(c) deliveries to node 1 failed with node 2 down"
t1=$(e2e_ms)
e2e_log "$down"
e2e_log "(c) $N deliveries with the peer dead took $((t1 - t0)) ms in all"
[ "$(e2e_mhafs_status 1 peer_synced)" = no ] || e2e_die "node 1 reports its dead peer synced"
[ -z "$(proof wait --store "$peer_box" --tag down --count 1 --timeout 0 2>/dev/null)" ] ||
	e2e_die "a message delivered with node 2 dead is in node 2's store"

e2e_log "(c) node 2 boots: mhafs mounted again, catch-up"
t0=$(e2e_ms)
mount_node 2
tm=$(e2e_ms)
proof wait --store "$peer_box" --tag frozen --count "$N2" --timeout 60 >/dev/null ||
	e2e_die "(c) the messages delivered while node 2 was frozen did not reach it"
proof wait --store "$peer_box" --tag down --count "$N" --timeout 60 >/dev/null ||
	e2e_die "(c) the messages delivered while node 2 was down did not reach it"
t2=$(e2e_ms)
e2e_wait 30 e2e_peer_synced 1 || e2e_die "node 1 does not report node 2 synced again"
t1=$(e2e_ms)
e2e_wait 30 e2e_peer_synced 2 || e2e_die "node 2 does not report node 1 synced"
recovered_at=$(($(wc -l <"$log1") + 1))
e2e_log "(c) catch-up: mount took $((tm - t0)) ms; all $((N + N2)) messages on node 2 $((t2 - t0)) ms after its mhafs started; node 1 peer_synced=yes after $((t1 - t0)) ms"
e2e_mail_start 2 "$E2E_TMP/n2-mnt"
total=$((1 + 3 * N + N2))
e2e_client "$E2E_PY" - "$(e2e_ip 2)" "$total" <<'EOF' || e2e_die "node 2's IMAP does not show every message"
import imaplib, sys
m = imaplib.IMAP4(sys.argv[1])
m.login("alice@d1.test", "pw-alice")
typ, data = m.select("INBOX", readonly=True)
if typ != "OK" or int(data[0]) != int(sys.argv[2]):
    sys.exit("node 2 IMAP INBOX holds %r messages, expected %s" % (data, sys.argv[2]))
m.logout()
EOF
e2e_log "node 2 IMAP shows all $total messages; node 1 status:"
"$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir 1)/conf/mhafs.conf" status |
	grep -E '^(peer_connected|peer_synced|acked_seq|last_seq|backlog_ops|commit_waits|commit_timeouts)=' >&2
for n in 1 2; do e2e_mail_stop "$n"; done
clean_lines "$recovered_at" '$'
e2e_log "node 1 log between the fault and the recovery:"
sed -n "$fault_at,$((recovered_at - 1))p" "$log1" >&2
e2e_mhafs_log_clean "$E2E_TMP/n2-state"   # its log starts at the remount
for n in 1 2; do e2e_umount "$E2E_TMP/n$n-mnt"; done
e2e_log "PASS: every acknowledged delivery was on the peer; deliveries survive and reach a crashed peer"
