#!/bin/bash
# tests/repl/slowwalk.sh: a reconciliation walk longer than sync_timeout_ms
# must not be taken for a dead peer.  The walk runs on the sender's thread:
# while it runs no journal entry goes out, so a commit made meanwhile
# cannot be acknowledged.  Such a commit waits sync_timeout_ms and then
# goes on alone (the peer is no longer waited for), but the stream is not
# cut: cutting it ended the walk's connection, and the next connection
# walked again, the same length (found by reading the code after a
# 13 s outage of the fault suite, seed 73).
#
# Set-up: A holds 60,000 files that B lacks and that no journal entry
# describes (A's rows deleted while both were down, as in reconcile.sh),
# with the walk on connect off; mhafsck --peer on A then walks them
# (report only) while a writer on A delivers messages.  Checked: the walk
# outlasted sync_timeout_ms (else the test proves nothing), A says that
# commits stopped waiting because of the walk, never declares the peer
# down nor reconnects, every delivery succeeds, and after the walk A is
# caught up again (commits wait for B again) and a new file reaches B.
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
FSCK=$top_builddir/tools/mhafsck
[ -x "$FSCK" ] || skip "mhafsck not built"
TIMEOUT_MS=200   # short, so that a walk of half a minute's set-up outlasts it
repl_setup $TIMEOUT_MS
for n in a b; do echo "reconcile_on_connect = no" >> "$T/$n/mhafs.conf"; done
start_pair
stop_node b
# 600 Maildirs of 100 messages, differences spread over many digest
# leaves, made in A's backing directory (through the mount, 60,000 new
# files at once outrun mhafs's descriptor limit, inodes_limit) and
# journaled by A's start-up check after an unclean stop
crash_node a
for d in $(seq 600); do
	mkdir -p "$T/a/back/u$d/Maildir/new" "$T/a/back/u$d/Maildir/cur" "$T/a/back/u$d/Maildir/tmp" &&
		( cd "$T/a/back/u$d/Maildir/new" && for i in $(seq 100); do echo "m $d $i" > "m$i"; done ) ||
		fail "cannot plant files on A"
done
start_node a 120
[ "$(sqlite3 "$T/a/state/journal.db" "SELECT count(*) FROM catalog WHERE path LIKE 'u%/Maildir/new/m%' AND deleted = 0")" = 60000 ] ||
	fail "A's start-up check did not catalog the 60,000 planted files"
stop_node a
sqlite3 "$T/a/state/journal.db" "DROP TRIGGER journal_pruned; DELETE FROM journal" || fail "sqlite3"
start_pair
grep -q "reconcile: with peer" "$T/a.log" && fail "a walk ran on connect although switched off"

mkmaildir a w/Maildir
W=$T/a/mnt/w/Maildir
wait_synced a 20
# the walk mhafsck asks for starts once A's stream is quiet: the writer
# comes after it has begun
"$FSCK" --peer -c "$T/a/mhafs.conf" > "$T/fsck.out" 2>&1 &
FSCK_PID=$!
PIDS="$PIDS $FSCK_PID"
for _ in $(seq 300); do grep -q "reconcile: (report only) walk with peer beta begins" "$T/a.log" && break; sleep 0.1; done
grep -q "reconcile: (report only) walk with peer beta begins" "$T/a.log" || fail "A's walk did not begin"
status_of a | grep -qx "reconcile_walking=yes" || fail "A's status did not show its walk (reconcile_walking)"
: > "$T/writer.stop"
( i=0; rc=0
  while [ -e "$T/writer.stop" ]; do
	i=$((i + 1))
	# a delivery: its rename into new/ is the commit that waits for B
	{ head -c 4096 /dev/zero > "$W/tmp/f$i" && mv "$W/tmp/f$i" "$W/new/f$i"; } ||
		{ rc=1; echo "delivery $i failed"; }
	sleep 0.02   # a steady trickle, not a flood that starves the walk
  done
  echo "$i" > "$T/writer.done"
  exit $rc ) &
WRITER=$!
PIDS="$PIDS $WRITER"
wait "$FSCK_PID"; rc=$?
rm -f "$T/writer.stop"
wait "$WRITER"; wrc=$?
out=$(cat "$T/fsck.out")
echo "$out" | tail -3 | sed 's/^/# /'
note "deliveries: $(cat "$T/writer.done" 2>/dev/null)"
[ "$rc" = 4 ] || fail "mhafsck --peer on A: exit $rc, expected 4 (differences left)"
status_of a | grep -qx "reconcile_walking=no" || fail "A's status still shows a walk after it ended"
ms=$(grep "reconcile: (report only) with peer" "$T/a.log" | tail -1 | sed -n 's/.* \([0-9]*\) ms$/\1/p')
note "the walk took ${ms:-?} ms, sync_timeout_ms is $TIMEOUT_MS"
[ -n "$ms" ] || fail "A logged no walk"
[ "$ms" -gt $((TIMEOUT_MS * 2)) ] ||
	fail "the walk took $ms ms, not long enough to test anything (make the set-up larger)"
[ "$wrc" = 0 ] || fail "a delivery on A failed during the walk"
# during the walk (with this short timeout, a commit outside it may time
# out on a busy machine, as it should)
sed -n '/(report only) walk with peer beta begins/,/reconcile: (report only) with peer/p' "$T/a.log" > "$T/walk.log"
grep -q "declared down" "$T/walk.log" && fail "A declared the peer down during its walk"
grep -q "reconnecting\|disconnected from peer" "$T/walk.log" && fail "A cut its stream during the walk"
grep -q "reconciliation walk with peer beta holds the stream: seq .* not sent" "$T/walk.log" ||
	fail "A did not say that commits stopped waiting during the walk"
wait_synced a 20
sed -n '/peer beta holds the stream: seq/,$p' "$T/a.log" | tail -n +2 | grep -q "is caught up (seq" ||
	fail "A did not say it was caught up again after the walk"
deliver a w/Maildir after
for _ in $(seq 100); do [ -f "$T/b/back/w/Maildir/new/after" ] && break; sleep 0.1; done
[ -f "$T/b/back/w/Maildir/new/after" ] || fail "a delivery after the walk did not reach B"
echo "PASS: a walk longer than sync_timeout_ms stops commits waiting without cutting the stream"
