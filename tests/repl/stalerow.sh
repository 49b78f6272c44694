#!/bin/bash
# tests/repl/stalerow.sh: a rename the peer sends that is already done in
# this node's store still brings the catalog in line: the source row is
# recorded gone.  Found by the fault suite (seed 7, 30 min): node 2's
# catalog held new/X live while its store had only cur/X:2,RS (an entry
# that never reached the store); node 1's walk then sent the rename
# new/X -> cur/X:2,RS on every connection, and node 2 skipped it each time
# ("already done here") without correcting the row.
#
# Planted: X delivered on A and B; B renames it to cur/X:2,S while A is
# down; with both stopped, B's catalog row of new/X is made live again
# (and its digest tree rebuilt from the catalog at the next start).
# Checked: A's walk sends the rename, B records new/X as deleted, and the
# next walk finds no difference.
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
repl_setup 1500
start_pair
M=u/Maildir
deliver a $M x
deliver a $M y
converge 15
stop_node a
mv "$T/b/mnt/$M/new/x" "$T/b/mnt/$M/cur/x:2,S" || fail "flag change on B"
stop_node b
DBB=$T/b/state/journal.db
# the row as the delivery left it: live, with the delivery's HLC and origin
# (y's, delivered just after), not the rename's
plant_live_row b "$M/new/x" "$M/new/y"

before=$(walks a)
start_pair
wait_walk a "$before"
converge 15
[ -f "$T/a/back/$M/cur/x:2,S" ] && [ ! -e "$T/a/back/$M/new/x" ] || fail "A did not get B's flag change"
for _ in $(seq 50); do
	[ "$(sqlite3 "$DBB" "SELECT deleted FROM catalog WHERE path = '$M/new/x'")" = 1 ] && break
	sleep 0.1
done
[ "$(sqlite3 "$DBB" "SELECT deleted FROM catalog WHERE path = '$M/new/x'")" = 1 ] ||
	fail "B's catalog still holds new/x live after the rename came (already done in its store)"
[ "$(sqlite3 "$DBB" "SELECT deleted FROM catalog WHERE path = '$M/cur/x:2,S'")" = 0 ] ||
	fail "B's catalog lost its record of cur/x:2,S"
note "A's walk: $(grep "reconcile: with peer" "$T/a.log" | tail -1 | sed 's/.*reconcile: //')"
# a new connection's walk finds nothing left to send
quiet_after_restart b a
[ -f "$T/b/back/$M/cur/x:2,S" ] && [ -f "$T/b/back/$M/new/y" ] || fail "B lost a message"
echo "PASS: a rename already done here corrects the catalog's stale source row"
