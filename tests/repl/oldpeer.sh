#!/bin/bash
# tests/repl/oldpeer.sh: a node replicates to a peer of the first protocol
# level (mid-upgrade).  They agree on level 1, the node says so in its log
# and in mhactl status, and a moved message's UNLINK reaches the old peer
# without the level-2 field naming where the message went (which a level-1
# node refuses as malformed, stalling the stream).  The old peer is played
# by tests/repl/oldpeer, from B's namespace.
. "$(dirname "$0")/lib.sh"
repl_preflight
[ -x "$top_builddir/tests/repl/oldpeer" ] || skip "old peer not built"
repl_setup 1000
echo "reconcile_on_connect = no" >> "$T/a/mhafs.conf" # level 1 had no walk to test here
IN=u/Maildir
nsenter --net=/run/netns/"$NS_B" "$top_builddir/tests/repl/oldpeer" 192.0.2.2 7410 \
	"$T/keys/ca.pem" "$T/keys/beta.pem" "$T/keys/beta.key" beta alpha "$IN/cur/M:2,S" \
	> "$T/oldpeer.out" 2>&1 &
OLD=$!
PIDS="$PIDS $OLD"
start_node a
wait_synced a
[ "$(status_val a peer_protocol)" = 1 ] || fail "status says peer_protocol=$(status_val a peer_protocol), not 1"
grep -q "speaks protocol level 1, this node [0-9]*: moved messages reach it as plain unlinks" "$T/a.log" || fail "no log line for the old peer"

# Dovecot's move: a copy committed in Archive, then the source unlinked
deliver a $IN M
mv "$T/a/mnt/$IN/new/M" "$T/a/mnt/$IN/cur/M:2,S"
mkmaildir a $IN/.Archive
age_arrivals
cp "$T/a/mnt/$IN/cur/M:2,S" "$T/a/mnt/$IN/.Archive/tmp/M.copy"
mv "$T/a/mnt/$IN/.Archive/tmp/M.copy" "$T/a/mnt/$IN/.Archive/cur/M:2,S"
rm "$T/a/mnt/$IN/cur/M:2,S"

wait "$OLD"; rc=$?
cat "$T/oldpeer.out"
[ "$rc" = 0 ] || fail "the level-1 peer did not take the move (exit $rc)"
grep -q "^# commit $IN/.Archive/cur/M:2,S" "$T/oldpeer.out" || fail "the Archive copy did not reach the old peer"
# the node's own journal has the move with its destination (else the old
# peer was never offered the level-2 field and this test proves nothing)
"$MHACTL" -c "$T/a/mhafs.conf" journal | grep -q "unlink $IN/cur/M:2,S -> $IN/.Archive/cur/M:2,S" ||
	fail "node a did not journal the unlink as a move"
echo "PASS: a level-1 peer gets a move as a plain unlink"
