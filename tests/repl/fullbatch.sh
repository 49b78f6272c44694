#!/bin/bash
# tests/repl/fullbatch.sh: what a node applied from its peer's stream is
# recorded in its catalog even when a later entry of the same batch is
# refused and the stream ends.  Found by the fault suite (seed 7, 30 min):
# while node 2's disk was full, the entries applied before the refused one
# (a new message, its move to cur/) were in the store but never in the
# catalog; resent, the move was "already done here", and the catalog kept
# new/X live.
#
# Node B's store is a small tmpfs.  While the link is down, A takes 40
# messages (each moved to cur/ with a flag) and then a file larger than
# B's disk.  When the link returns, B applies the messages and refuses the
# large file.  B is then stopped cleanly (so no start-up check runs at its
# next start) and its catalog must match its store: every message B moved
# to cur/ has its row, no new/ row is left live.
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v sqlite3 >/dev/null || skip "no sqlite3"
repl_setup 1000
b_on_small_disk 8m
start_pair
M=u/Maildir
deliver a $M m0 1024
converge 10

ip -n "$NS_A" link set "$VETH_A" down
for i in $(seq 1 40); do
	deliver a $M "m$i" 1024
	mv "$T/a/mnt/$M/new/m$i" "$T/a/mnt/$M/cur/m$i:2,S" || fail "flag change on A"
done
head -c 12M /dev/urandom > "$T/a/mnt/u/big" || fail "cannot write the large file on A"
ended=$(grep -c "stream to us ended" "$T/b.log")
ip -n "$NS_A" link set "$VETH_A" up
# B applies what fits and refuses the large file (A may or may not log
# the refusal before the connection drops): wait for two of B's streams
# to end with the messages in B's store
for _ in $(seq 300); do
	[ "$(grep -c "stream to us ended" "$T/b.log")" -ge $((ended + 2)) ] &&
		[ "$(find "$T/b/back/$M/cur" -type f 2>/dev/null | wc -l)" -ge 1 ] && break
	sleep 0.1
done
[ "$(grep -c "stream to us ended" "$T/b.log")" -ge $((ended + 2)) ] || fail "B's streams did not end"
[ "$(stat -c %s "$T/b/back/u/big" 2>/dev/null || echo 0)" -lt 12582912 ] ||
	fail "the large file fit on B's small disk"
sleep 1
stop_node b

n_store=$(find "$T/b/back/$M/cur" -type f | wc -l)
n_rows=$(sqlite3 "$T/b/state/journal.db" \
	"SELECT count(*) FROM catalog WHERE path LIKE '$M/cur/%' AND deleted = 0")
note "B's store holds $n_store of the 40 moved messages, its catalog $n_rows"
[ "$n_store" -gt 0 ] || fail "B applied none of the messages before the large file"
# mhactl check compares B's catalog with its store (the large file's
# empty start, whose content was refused, is not what this test is about)
out=$("$MHACTL" -c "$T/b/mhafs.conf" check 2>&1)
rc=$?
echo "$out" | grep -v "u/big" | grep -E "^ *(changed|missing|extra|hash)" | head -20 | sed 's/^/#   /'
if echo "$out" | grep -v "u/big" | grep -qE "^ *(changed|missing|extra|hash)"; then
	fail "B's catalog does not match its store in the Maildir after a clean stop (mhactl check exit $rc)"
fi
[ "$n_rows" = "$n_store" ] || fail "B's catalog has $n_rows live cur/ rows for $n_store files"
echo "PASS: entries applied before a refused one are in the catalog"
