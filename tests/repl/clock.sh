#!/bin/bash
# tests/repl/clock.sh: causal order survives a skewed clock.  Node B's
# clock runs 60 s behind (clock_offset_ms, the HLC's injectable offset).
# A message delivered on A, then flagged on B, then re-flagged on A must
# carry increasing HLC timestamps on both nodes: B's change is ordered
# after the A change it saw, although B's wall clock says it came first.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 3000
echo "clock_offset_ms = -60000" >> "$T/b/mhafs.conf"
start_pair

# hlc NODE PATH: the catalog's HLC of PATH on NODE as "ms logical"
hlc() {
	"$MHACTL" -c "$T/$1/mhafs.conf" catalog "$2" | awk -v p="$2" '$NF == p { split($(NF-2), h, "."); print h[1], h[2] }'
}
# hlc_on NODE PATH: as hlc, waiting up to 5 s for the row: the receiver
# gathers unwaited entries for up to 25 ms before its commit, so a change
# nobody fsynced reaches the peer's catalog a moment after its tree
hlc_on() {
	for _ in $(seq 50); do
		_h=$(hlc "$1" "$2")
		[ -n "$_h" ] && { echo "$_h"; return 0; }
		sleep 0.1
	done
}
# later "ms l" "ms l": true if the first is later than the second
later() {
	set -- $1 $2
	[ "$1" -gt "$3" ] || { [ "$1" = "$3" ] && [ "$2" -gt "$4" ]; }
}

deliver a u/Maildir M1
t1a=$(hlc a u/Maildir/new/M1); t1b=$(hlc_on b u/Maildir/new/M1)
[ -n "$t1a" ] && [ "$t1a" = "$t1b" ] || fail "delivery HLC differs between nodes: '$t1a' / '$t1b'"
mv "$T/b/mnt/u/Maildir/new/M1" "$T/b/mnt/u/Maildir/cur/M1:2,S"
converge 10
t2b=$(hlc_on b "u/Maildir/cur/M1:2,S"); t2a=$(hlc_on a "u/Maildir/cur/M1:2,S")
later "$t2b" "$t1a" || fail "B's flag change ($t2b) is not after A's delivery ($t1a)"
[ "$t2a" = "$t2b" ] || fail "A records B's change at $t2a, B at $t2b"
mv "$T/a/mnt/u/Maildir/cur/M1:2,S" "$T/a/mnt/u/Maildir/cur/M1:2,RS"
converge 10
t3a=$(hlc_on a "u/Maildir/cur/M1:2,RS")
later "$t3a" "$t2b" || fail "A's second change ($t3a) is not after B's ($t2b)"
note "delivery on A at HLC $t1a, flag on B (clock -60 s) at $t2b, re-flag on A at $t3a"
echo "PASS: HLC order is causal with one clock 60 s behind"
