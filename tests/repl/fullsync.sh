#!/bin/bash
# tests/repl/fullsync.sh: a new, empty peer joins a node whose store
# already holds 3000 messages (written before mhafs ever ran, so no journal
# covers them) and receives a complete copy while both nodes keep taking
# deliveries; progress shows in mhactl status and the log.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 3000
python3 - "$T/a/back" <<'PY'
import os, sys
root = sys.argv[1]
for u in range(30):
    for sub in ("cur", "new", "tmp"):
        os.makedirs(os.path.join(root, "d%02d" % u, "Maildir", sub), exist_ok=True)
    for i in range(100):
        name = "1700000000.M%dP%d.old,S=%d:2,S" % (i, u, 3000 + i)
        with open(os.path.join(root, "d%02d" % u, "Maildir", "cur", name), "wb") as f:
            f.write(os.urandom(2000 + 10 * i))
PY
start_node a
start_node b
note "full sync running; deliveries on both nodes meanwhile"
for i in $(seq 1 10); do deliver a d00/Maildir "during.A$i"; deliver b d01/Maildir "during.B$i"; done
status_of a | grep -E '^(full_sync|backlog_ops|backlog_bytes)=' | sed 's/^/#   A /'
wait_synced a 120
converge 60
n=$(find "$T/b/back" -path '*/cur/*' -type f | wc -l)
[ "$n" = 3000 ] || fail "B has $n of the 3000 stored messages"
grep -q "full sync to peer beta complete" "$T/a.log" || fail "A did not log the end of the full sync"
grep -E "full sync" "$T/a.log" | sed 's/^/#   A: /'
echo "PASS: an empty peer received a full copy of 3000 messages while both served"
