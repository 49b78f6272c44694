#!/bin/bash
# tests/repl/reconcile.sh: divergence that no journal entry describes is
# found by the reconciliation walk on reconnect and converges.  Both nodes
# make changes while the other is down (new mail, a flag change by rename,
# an expunge, the other side's flag change to the expunged message), then
# stop cleanly and lose those journal rows (deleted with
# sqlite3), so the journal stream has nothing to send; the catalogs still
# hold the state.  On restart each sender walks its digest tree against the
# peer's and re-sends what the peer lacks.  Checked: the trees converge,
# each node logs its walk with the differences it found and the entries it
# sent, mhactl status counts them, and the digest trees verify (mhactl check);
# a walk after convergence finds nothing.
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
repl_setup 1500
# node A collects tombstones as soon as the peer has them
echo "tombstone_hold = 0" >> "$T/a/mhafs.conf"
start_node a
start_node b
wait_synced a
wait_synced b
M=u/Maildir
for i in $(seq 1 10); do deliver a $M "m$i"; done
deliver b $M bm1
converge 15

# B down: A takes mail, changes flags (new/ -> cur/ with flags) and expunges
stop_node b
for i in 1 2 3; do deliver a $M "lostA$i"; done
mv "$T/a/mnt/$M/new/m1" "$T/a/mnt/$M/cur/m1:2,S"
rm "$T/a/mnt/$M/new/m2"
stop_node a
# A down: B takes mail and changes the flags of the message A expunged
start_node b
for i in 1 2; do deliver b $M "lostB$i"; done
mv "$T/b/mnt/$M/new/m2" "$T/b/mnt/$M/cur/m2:2,S"
stop_node b

# no journal entry describes any of it any more
for n in a b; do
	sqlite3 "$T/$n/state/journal.db" "DELETE FROM journal" || fail "cannot empty node $n's journal"
done
[ "$(tree a)" != "$(tree b)" ] || fail "the planted divergence is missing"

start_node a
start_node b
converge 30
[ -f "$T/b/back/$M/new/lostA3" ] || fail "B lacks A's unjournaled new mail"
[ -f "$T/b/back/$M/cur/m1:2,S" ] && [ ! -e "$T/b/back/$M/new/m1" ] || fail "A's flag change did not reach B"
[ ! -e "$T/b/back/$M/new/m2" ] || fail "A's expunge did not reach B"
[ ! -e "$T/b/back/$M/cur/m2:2,S" ] && [ ! -e "$T/a/back/$M/cur/m2:2,S" ] ||
	fail "B's flag change resurrected the message A expunged (expunge wins)"
[ -f "$T/a/back/$M/new/lostB2" ] || fail "A lacks B's unjournaled new mail"
[ -f "$T/a/back/$M/new/m3" ] && [ -f "$T/b/back/$M/new/m3" ] || fail "a message nobody touched is gone"

for n in a b; do
	line=$(grep "reconcile: with peer" "$T/$n.log" | tail -1)
	[ -n "$line" ] || fail "node $n logged no reconciliation walk"
	note "node $n: ${line#*reconcile: }"
	grep -o "reconcile: [^ ]*: .* sent$" "$T/$n.log" | sed "s/^/# $n /"
done
grep "reconcile: with peer" "$T/a.log" | grep -qv " 0 entries sent" || fail "A's walk sent nothing"
grep "reconcile: with peer" "$T/b.log" | grep -qv " 0 entries sent" || fail "B's walk sent nothing"
for n in a b; do
	[ "$(status_val $n reconcile_runs)" -ge 1 ] 2>/dev/null || fail "node $n: status has no reconcile_runs"
	[ "$(status_val $n reconcile_sent)" -ge 1 ] 2>/dev/null || fail "node $n: status counts no entries sent"
done
note "status of a: $(status_of a | grep -E '^reconcile_' | tr '\n' ' ')"
# once converged, a new connection's walk finds nothing
quiet_after_restart b b
# A's tombstones went once B had them, and nothing came back
for _ in $(seq 50); do
	[ "$(status_val a tombstones_collected)" -ge 1 ] 2>/dev/null && break
	sleep 0.2
done
[ "$(status_val a tombstones_collected)" -ge 1 ] 2>/dev/null || fail "A collected no tombstones"
note "A collected $(status_val a tombstones_collected) tombstones; $(sqlite3 "$T/a/state/journal.db" \
	'SELECT count(*) FROM catalog WHERE deleted = 1') left"
quiet_after_restart a a
[ ! -e "$T/a/back/$M/new/m2" ] && [ ! -e "$T/b/back/$M/new/m2" ] || fail "an expunged message came back"
# the stored digest trees equal a recomputation from the catalogs (check
# also compares the catalog with the store; rows of replicated files carry
# no inode number, which it reports, so only its digest lines count here)
for n in a b; do
	"$MHACTL" -c "$T/$n/mhafs.conf" check >"$T/check-$n.out" 2>&1
	grep -q "^mhactl: check:" "$T/check-$n.out" || { cat "$T/check-$n.out"; fail "node $n: mhactl check did not run"; }
	! grep "^digest" "$T/check-$n.out" || fail "node $n: the digest tree does not verify"
done
echo "PASS: divergence without journal entries converges through the reconciliation walk"
