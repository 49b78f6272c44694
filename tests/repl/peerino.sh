#!/bin/bash
# tests/repl/peerino.sh: files that came from the peer are not "changed"
# at the start-up check after a kill -9.  Their catalog rows were made
# from the peer's entries (the peer's inode numbers; no content hash where
# the entry was a rename, a flag change); journaling them as changed here
# would give each a fresh HLC that beats the peer's later changes to the
# same messages, an expunge or a move included.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
for i in $(seq 1 20); do deliver a u/Maildir "M$i"; done
converge 10
# flag changes: rename entries carry no content hash, so the rows they
# leave on b have the peer's inode number and no hash
for i in $(seq 11 20); do mv "$T/a/mnt/u/Maildir/new/M$i" "$T/a/mnt/u/Maildir/cur/M$i:2,S"; done
converge 10
crash_node b
start_node b
wait_synced b 20
line=$(grep "startup check: last stop was not clean" "$T/b.log") || fail "no start-up check after kill -9"
note "$line"
changed=$(echo "$line" | sed -n 's/.* \([0-9]*\) changed.*/\1/p')
[ "${changed:-x}" = 0 ] || fail "the start-up check found $changed files changed that only came from the peer"
note "a flag change on node a after the restart still wins on node b"
mv "$T/a/mnt/u/Maildir/new/M1" "$T/a/mnt/u/Maildir/cur/M1:2,F"
converge 10
[ -f "$T/b/back/u/Maildir/cur/M1:2,F" ] || fail "node b did not take node a's flag change"
echo "PASS: the start-up check leaves files from the peer alone"
