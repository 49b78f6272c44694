#!/bin/bash
# tests/repl/walkrace.sh: the reconciliation walk must not expunge a
# message that reached this node while the walk ran.  Found by the
# fault suite (seed 7, 30 min): node 1's walk read its catalog, then the
# peer's stream applied the peer's flag change (rename cur/X:2,RS ->
# cur/X:2,FRS) and the walk, seeing X:2,FRS "absent here" beside a
# tombstone of an earlier name, sent an unlink of it as an expunge; both
# nodes lost the message.
#
# The state the walk saw is planted with the stream kept out of it: B
# changes a message's flags while A is down and its journal rows are
# removed (the walk, not the stream, must close the difference); A's store
# gets the file under its new name and A's catalog keeps the state from
# before (the old name a tombstone, the new name absent).  Checked: A's
# walk sees the message here and sends nothing, and both stores still
# hold it under its new name.
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
repl_setup 1500
start_pair
M=u/Maildir
for i in 1 2 3; do deliver a $M "m$i"; done
mv "$T/a/mnt/$M/new/m1" "$T/a/mnt/$M/cur/m1:2,S"
converge 15
stop_node a
mv "$T/b/mnt/$M/cur/m1:2,S" "$T/b/mnt/$M/cur/m1:2,FS" || fail "flag change on B"
stop_node b
sqlite3 "$T/b/state/journal.db" "DELETE FROM journal" || fail "cannot empty B's journal"
mv "$T/a/back/$M/cur/m1:2,S" "$T/a/back/$M/cur/m1:2,FS" || fail "plant on A"
sqlite3 "$T/a/state/journal.db" "UPDATE catalog SET deleted = 1 WHERE path = '$M/cur/m1:2,S'" ||
	fail "cannot plant A's catalog row"
[ "$(sqlite3 "$T/a/state/journal.db" "SELECT count(*) FROM catalog WHERE path LIKE '$M/cur/m1:%' AND deleted = 0")" = 0 ] ||
	fail "A's catalog still holds a live row of m1"

start_pair
for _ in $(seq 100); do
	grep -q "reconcile: with peer" "$T/a.log" && grep -q "reconcile: with peer" "$T/b.log" && break
	sleep 0.1
done
for n in a b; do
	line=$(grep "reconcile: with peer" "$T/$n.log" | tail -1)
	[ -n "$line" ] || fail "node $n logged no walk"
	note "node $n: ${line#*reconcile: }"
done
sleep 1
for n in a b; do
	[ -f "$T/$n/back/$M/cur/m1:2,FS" ] || fail "node $n lost the message (its flag change became an expunge)"
	[ -f "$T/$n/back/$M/new/m2" ] && [ -f "$T/$n/back/$M/new/m3" ] || fail "node $n lost an untouched message"
done
grep -q "reconcile: $M/cur/m1:2,FS arrived here during the walk" "$T/a.log" ||
	fail "A's walk did not see the message that is in its store"
! grep "reconcile: $M/cur/m1:2,FS: .*sent" "$T/a.log" || fail "A's walk sent something for the message"
echo "PASS: a message that arrives during the walk is not expunged"
