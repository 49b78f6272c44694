#!/bin/bash
# tests/repl/fsckpeer.sh: mhafsck --peer against a running peer.  With the
# walk on connect switched off (reconcile_on_connect = no), the nodes are
# made to diverge without journal entries (as in reconcile.sh): mhafsck
# --peer on A reports each planted difference by class and which side is
# newer and changes nothing; --repair on A sends A's newer state and
# leaves B's newer one (exit 4); --repair on B finishes (exit 1); then both
# report clean (exit 0).  Without a peer connection it is an operational
# error (exit 8).
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
FSCK=$top_builddir/tools/mhafsck
[ -x "$FSCK" ] || skip "mhafsck not built"
repl_setup 1500
for n in a b; do echo "reconcile_on_connect = no" >> "$T/$n/mhafs.conf"; done
start_node a
start_node b
wait_synced a
wait_synced b
M=u/Maildir
for i in 1 2 3 4 5; do deliver a $M "m$i"; done
deliver b $M bm1
converge 15
stop_node b
deliver a $M lostA1
rm "$T/a/mnt/$M/new/m2"
stop_node a
start_node b
deliver b $M lostB1
stop_node b
# the rows are lost, not pruned (a pruned gap with the walk off means a full sync)
for n in a b; do sqlite3 "$T/$n/state/journal.db" "DROP TRIGGER journal_pruned; DELETE FROM journal" || fail "sqlite3"; done
start_node a
start_node b
wait_synced a 20
wait_synced b 20
grep -q "reconcile: with peer" "$T/a.log" "$T/b.log" && fail "a walk ran on connect although switched off"

fsck() { n=$1; shift; "$FSCK" --peer -c "$T/$n/mhafs.conf" "$@"; }
before=$(tree b)
out=$(fsck a); rc=$?
echo "$out" | sed 's/^/# /'
[ "$rc" = 4 ] || fail "mhafsck --peer on A: exit $rc, expected 4"
echo "$out" | grep -A1 "^missing on the peer: 1" | grep -q "new/lostA1  (here newer)" ||
	fail "lostA1 not reported as missing on the peer"
echo "$out" | grep -A1 "^deleted here, live on the peer: 1" | grep -q "new/m2  (here newer)" ||
	fail "the expunge of m2 not reported"
echo "$out" | grep -A1 "^missing here: 1" | grep -q "new/lostB1  (peer newer)" ||
	fail "lostB1 not reported as missing here"
echo "$out" | grep -q "^mhafsck: 3 differences left" || fail "more or fewer than the 3 planted differences"
fsck a --json | python3 -c 'import json,sys; d=json.load(sys.stdin); assert len(d["differences"]) == 3, d' ||
	fail "--json report"
[ "$(tree b)" = "$before" ] || fail "a report-only run changed the peer"

out=$(fsck a --repair); rc=$?
echo "$out" | sed 's/^/# /'
[ "$rc" = 4 ] || fail "mhafsck --peer --repair on A: exit $rc, expected 4 (B's newer mail left)"
[ -f "$T/b/back/$M/new/lostA1" ] || fail "A's repair did not send lostA1"
[ ! -e "$T/b/back/$M/new/m2" ] || fail "A's repair did not send the expunge"
out=$(fsck b --repair); rc=$?
echo "$out" | sed 's/^/# /'
[ "$rc" = 1 ] || fail "mhafsck --peer --repair on B: exit $rc, expected 1"
converge 20
for n in a b; do
	fsck $n >/dev/null; rc=$?
	[ "$rc" = 0 ] || fail "mhafsck --peer on $n after the repairs: exit $rc, expected 0"
done
stop_node b
fsck a >/dev/null 2>&1; rc=$?
[ "$rc" = 8 ] || fail "mhafsck --peer without a peer connection: exit $rc, expected 8"
echo "PASS: mhafsck --peer reports by class, changes nothing unasked, and --repair converges"
