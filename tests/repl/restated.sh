#!/bin/bash
# tests/repl/restated.sh: an unlink the reconciliation walk sends to
# re-state a tombstone is not a user's expunge to the move rule.  Found by
# the fault suite (seed 23, 30 min): node 1 held a stale live catalog row
# of a message's delivery name new/X (it had renamed it to cur/ and then
# moved it to Archive); node 2's walk, with new/X deleted in its catalog,
# sent an unlink of it; node 1 took that for an expunge concurrent with its
# move, and "an expunge wins over a move" removed the Archive copy on both
# nodes: a message nobody expunged was lost.
#
# Planted: X delivered on B, flagged and moved to Archive on A; with both
# stopped, A's catalog row of new/X is made live again.  Checked: B's walk
# sends the unlink (the case is exercised), X stays in Archive on both,
# and no copy is removed by the move rule.
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
repl_setup 1500
start_pair
M=u/Maildir
deliver b $M x
deliver b $M y
for n in a b; do mkmaildir $n $M/.Archive; done
converge 15
mv "$T/a/mnt/$M/new/x" "$T/a/mnt/$M/cur/x:2,S" || fail "flag change on A"
cp "$T/a/mnt/$M/cur/x:2,S" "$T/a/mnt/$M/.Archive/tmp/x.copy" &&
	mv "$T/a/mnt/$M/.Archive/tmp/x.copy" "$T/a/mnt/$M/.Archive/cur/x:2,S" &&
	rm "$T/a/mnt/$M/cur/x:2,S" || fail "move on A"
converge 15
"$MHACTL" -c "$T/a/mhafs.conf" journal | grep -q "unlink $M/cur/x:2,S -> $M/.Archive/cur/x:2,S" ||
	fail "A did not journal its unlink as a move"
stop_node a
stop_node b
plant_live_row a "$M/new/x" "$M/new/y"

before=$(walks b)
start_pair
wait_walk b "$before"
converge 15
grep -q "reconcile: $M/new/x: deleted here, live on peer" "$T/b.log" ||
	fail "B's walk did not re-state new/x (the case was not exercised)"
for n in a b; do
	[ -f "$T/$n/back/$M/.Archive/cur/x:2,S" ] || fail "node $n lost x from Archive"
done
! grep -q "removes this node's copy" "$T/a.log" "$T/b.log" || fail "the move rule removed a copy"
stop_and_check
echo "PASS: a tombstone the walk re-states does not count as an expunge against a move"
