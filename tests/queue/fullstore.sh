#!/bin/bash
# tests/queue/fullstore.sh: a full store refuses new mail with a temporary
# error and loses nothing it accepted.  Node 1's backing directory is a
# small tmpfs (node 2's larger, so replication to it never fails), with
# Postfix's queue on the store.  5 outgoing messages are accepted and
# deferred (the remote server answers 451); then a file written through
# node 1's mount fills its store (ENOSPC).  5 new messages are sent to
# node 1: each must be refused with a 4xx (at least one is), or accepted
# with a 250 when a refused one's queue file freed some room; never a 5xx.
# Then the file goes, the remote server accepts: the 5 accepted before are
# delivered exactly once; of the 5 new ones the refused are sent again,
# and each of the 5 is delivered exactly once (a 250 whose message was
# lost would show as missing).
set -u
# a mount namespace of our own: the tmpfs go with it, whatever happens;
# their mount points, left empty in the test's directory, are removed after
if [ -z "${Q_FULL_NS:-}" ]; then
	[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
	command -v unshare >/dev/null 2>&1 || { echo "SKIP: no unshare"; exit 77; }
	note=$(mktemp) || exit 1
	Q_FULL_NS=$note unshare -m --propagation private "$0" "$@"
	rc=$?
	d=$(cat "$note")
	rm -f "$note"
	[ -z "$d" ] || rmdir "$d/n1-backing" "$d/n2-backing" "$d" 2>/dev/null
	exit "$rc"
fi
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"
. "$E2E_SRC/tests/queue/lib.sh"

N=5
e2e_init q-fullstore mhq$$
printf '%s\n' "$E2E_TMP" >"$Q_FULL_NS"
bal_require
for n in 1 2; do
	mkdir -p "$E2E_TMP/n$n-backing" || e2e_die "cannot create n$n-backing"
done
mount -t tmpfs -o size=${Q_FULL_MB:-40}m tmpfs "$E2E_TMP/n1-backing" &&
	mount -t tmpfs -o size=256m tmpfs "$E2E_TMP/n2-backing" || e2e_die "cannot mount the tmpfs"
q_setup alice@d1.test
t0=$SECONDS
M1=$E2E_TMP/n1-mnt

sent=$(e2e_client "$E2E_PY" "$QMAIL" send --host "$(e2e_ip 1)" --count "$N" --tag before \
	--to "dest@remote.test") || e2e_die "sending through node 1 failed"
[ "$sent" = "$N" ] || e2e_die "node 1 accepted $sent of $N"
deferred() { [ -s "$SINK_DIR/attempts" ] && [ "$(wc -l <"$SINK_DIR/attempts")" -ge "$N" ]; }
e2e_wait 20 deferred || e2e_die "node 1 did not try the remote server for all $N messages"
e2e_log "node 1 accepted $N messages, deferred by the remote server: $(df -h --output=used,avail "$E2E_TMP/n1-backing" | tail -1)"

# fill node 1's store through its mount
dd if=/dev/zero of="$M1/filler" bs=1M status=none 2>"$E2E_TMP/dd.err"
grep -q 'No space left' "$E2E_TMP/dd.err" || e2e_die "filling the store did not end in ENOSPC: $(cat "$E2E_TMP/dd.err")"
# the last MiB (a write that does not fit fails whole): in 4 KiB writes
dd if=/dev/zero of="$M1/filler2" bs=4k status=none 2>/dev/null
e2e_log "node 1's store is full: $(df --output=avail "$M1" | tail -1) KiB free through the mount"

e2e_client "$E2E_PY" "$QMAIL" try --host "$(e2e_ip 1)" --count "$N" --tag full --to "dest@remote.test" \
	>"$E2E_TMP/full.codes" || e2e_die "the SMTP client failed: $(cat "$E2E_TMP/full.codes")"
e2e_log "node 1's answers with the store full: $(tr '\n' ' ' <"$E2E_TMP/full.codes")"
[ "$(wc -l <"$E2E_TMP/full.codes")" = "$N" ] || e2e_die "only $(wc -l <"$E2E_TMP/full.codes") answers"
# 4xx, or 250 when a refused message's queue file freed room for the next
# one (it must then be delivered like any other); never 5xx
refused=""
while read -r i code; do
	case "$code" in
	4??) refused="$refused${refused:+,}$i" ;;
	250) ;;
	*) e2e_die "message $i refused with $code, not a temporary error" ;;
	esac
done <"$E2E_TMP/full.codes"
[ -n "$refused" ] || e2e_die "node 1 accepted every message with the store full"
[ "$(q_area_count 1 n1)" -ge "$N" ] || e2e_die "node 1's queue holds $(q_area_count 1 n1) messages, fewer than the $N accepted"
grep -E 'status=(bounced|expired)' "$(e2e_node_dir 1)/log/postfix.log" | head -3 |
	grep . && e2e_die "node 1 bounced mail with the store full"

rm -f "$M1/filler" "$M1/filler2" || e2e_die "cannot remove the filler"
q_sink_accept
e2e_log "filler removed, the remote server accepts"
all() { q_delivered before "$N" >/dev/null; }
e2e_wait 60 all || e2e_die "the messages accepted before the store was full: $(q_delivered before "$N")"
e2e_log "accepted before: $(q_delivered before "$N")"
# the refused ones again; those accepted when full are not sent twice
sent=$(e2e_client "$E2E_PY" "$QMAIL" send --host "$(e2e_ip 1)" --count "$N" --tag full \
	--to "dest@remote.test" --ids "$refused") || e2e_die "sending the refused messages again failed"
e2e_log "the refused messages ($refused) sent again: $sent accepted"
all() { q_delivered full "$N" >/dev/null; }
e2e_wait 60 all || e2e_die "the messages sent again: $(q_delivered full "$N")"
sleep 3
v1=$(q_delivered before "$N") && v2=$(q_delivered full "$N") || e2e_die "after a few queue runs: $v1 / $v2"
e2e_log "PASS: a full store answered 4xx (to $refused of 0..$((N - 1))), never 5xx, nothing accepted was lost; before: $v1; new: $v2 ($((SECONDS - t0)) s)"
