#!/bin/bash
# tests/repl/treelag.sh: the digest tree is written off the commit path
# (mtree.h): a node killed with deltas still in memory left its tree marked
# stale, and the next start rebuilds it from the catalog; a clean stop
# writes it.  Node A takes 60 deliveries; their deltas must be written
# within 5 s (built = 1); then one more delivery, and A is killed at once
# (its tree table must say built = 0); at its start it logs the rebuild;
# the pair converges, a reconciliation walk finds no difference, and after a clean
# stop both trees verify against their catalogs (mhactl check) and say
# built = 1.
. "$(dirname "$0")/lib.sh"
command -v sqlite3 >/dev/null || skip "no sqlite3 CLI"
repl_preflight
repl_setup 1000
start_pair
built() { sqlite3 "$T/$1/state/journal.db" "SELECT built FROM mtree_meta WHERE id = 1"; }
for i in $(seq 60); do deliver a u/Maildir "m$i" 512; done
# each node's walk after connecting writes a's deltas too (a's own walk
# reads its tree; a answers b's TREE_REQ from it): let both run first, or
# one may write the tree between the last delivery and the kill
wait_walk a 0
wait_walk b 0
# the writer writes waiting deltas about once a second: wait for that, so
# that the one delivery next starts a fresh wait, and kill a within it
for _ in $(seq 50); do [ "$(built a)" = 1 ] && break; sleep 0.1; done
[ "$(built a)" = 1 ] || fail "node a's tree was not written within 5 s of the deliveries"
deliver a u/Maildir m61 512
crash_node a
[ "$(built a)" = 0 ] || fail "node a was killed with digest deltas in memory, but its tree says built=$(built a)"
start_node a
grep -q "digest tree lagged the catalog.*rebuilt" "$T/a.log" || fail "node a did not rebuild its digest tree at start"
[ "$(built a)" = 1 ] || fail "node a's tree not marked built after the rebuild"
wait_synced a 20
wait_synced b 20
converge 20
quiet_after_restart b a
stop_and_check
for n in a b; do [ "$(built $n)" = 1 ] || fail "node $n's tree not written at its clean stop"; done
echo "PASS: a node killed with digest deltas in memory rebuilds its tree at start; a clean stop writes it"
