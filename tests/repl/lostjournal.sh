#!/bin/bash
# tests/repl/lostjournal.sh: node A loses its whole state directory
# (journal and catalog) while node B remembers how far it got in A's old
# journal.  A rebuilds its catalog from its store and numbers its new
# journal above anything the old one used, so B neither skips A's new
# changes as already seen nor misses what only A's store holds.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_node a
start_node b
wait_synced a
for i in $(seq 1 20); do deliver a u/Maildir "old$i"; done
converge 10
stop_node a
rm -rf "$T/a/state"
# a message that reached A's store while its state was gone
mkdir -p "$T/a/back/u/Maildir/new"
head -c 3000 /dev/urandom > "$T/a/back/u/Maildir/new/orphan"
start_node a
wait_synced a 20
for i in $(seq 1 5); do deliver a u/Maildir "new$i"; done
converge 20
[ -f "$T/b/back/u/Maildir/new/new5" ] || fail "B skipped A's entries from its new journal"
[ -f "$T/b/back/u/Maildir/new/orphan" ] || fail "B did not get the message only A's store held"
note "A's new journal starts at seq $("$MHACTL" -c "$T/a/mhafs.conf" journal --limit 1 | awk '{print $1}')"
echo "PASS: a node that lost its journal is caught up without reusing sequence numbers"
