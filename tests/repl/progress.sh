#!/bin/bash
# tests/repl/progress.sh: a peer that lost its record of how far it got
# (resume point 0) but kept its store is brought up to date from the
# journal and the reconciliation walk, by differences: no full copy of the
# store (a full sync only adds, so an expunge made meanwhile would not
# reach it and a flag rename would leave the message under two names).
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
repl_setup 1000
start_pair
M=u/Maildir
for i in $(seq 1 5); do deliver a $M "M$i"; done
converge 10
stop_node b
rm "$T/a/mnt/$M/new/M1"
mv "$T/a/mnt/$M/new/M2" "$T/a/mnt/$M/cur/M2:2,S"
deliver a $M M6
sqlite3 "$T/b/state/journal.db" "DELETE FROM peer_progress" || fail "sqlite3"
start_node b
wait_synced a 20
wait_synced b 20
converge 20
grep -q "we hold its entries up to seq 0" "$T/b.log" || fail "node b still knew how far it had got"
! grep -q "full sync" "$T/a.log" || fail "node a sent a full copy of the store"
[ ! -e "$T/b/back/$M/new/M1" ] || fail "the expunge of M1 did not reach node b"
[ -f "$T/b/back/$M/cur/M2:2,S" ] && [ ! -e "$T/b/back/$M/new/M2" ] || fail "M2 is not under its one new name on node b"
[ -f "$T/b/back/$M/new/M6" ] || fail "M6 did not reach node b"
echo "PASS: a peer without its progress record is caught up by differences"
