#!/bin/bash
# tests/repl/lostfile.sh: a message that vanished from a node's store
# while its mhafs was down (no expunge of it was journaled) is not
# propagated as an expunge by the start-up check: the peer keeps its copy,
# and the reconciliation walk brings it back.  No rule deletes a message
# that a user did not expunge.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
M=u/Maildir
deliver a $M M1
deliver a $M M2
converge 10
crash_node a
rm "$T/a/back/$M/new/M1"
start_node a
grep -q "message $M/new/M1 is missing" "$T/a.log" || fail "the start-up check did not report the missing message"
wait_synced a 20
wait_synced b 20
[ -f "$T/b/back/$M/new/M1" ] || fail "node b lost its copy of M1"
for _ in $(seq 100); do [ -f "$T/a/back/$M/new/M1" ] && break; sleep 0.2; done
[ -f "$T/a/back/$M/new/M1" ] || fail "M1 did not come back to node a"
converge 10
echo "PASS: a message lost without an expunge comes back from the peer"
