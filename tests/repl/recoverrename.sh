#!/bin/bash
# tests/repl/recoverrename.sh: a rename that a crash kept out of the
# journal.  A message is delivered on node A; A is killed with -9; both
# nodes' Dovecots would now move it from new/ to cur/ under the same name:
# node B through its mount (journaled), node A in its store behind its
# back (as an unjournaled rename leaves it).  A's start-up check must
# journal a rename, not an expunge of new/M1, or B applies that "expunge"
# to its own copy of the message and loses it.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_node a
start_node b
wait_synced a
deliver a u/Maildir M1
converge 10
crash_node a
mv "$T/b/mnt/u/Maildir/new/M1" "$T/b/mnt/u/Maildir/cur/M1:2,FS"
mv "$T/a/back/u/Maildir/new/M1" "$T/a/back/u/Maildir/cur/M1:2,FS"
start_node a
grep -q "startup check: last stop was not clean" "$T/a.log" || fail "no start-up check after kill -9"
wait_synced a 20
wait_synced b 20
converge 20
[ -f "$T/b/back/u/Maildir/cur/M1:2,FS" ] || fail "B lost the message: $(ls "$T/b/back/u/Maildir/cur")"
echo "PASS: a rename the journal missed is recovered as a rename, and the peer keeps the message"
