#!/bin/bash
# tests/repl/moveexpunge.sh: one message moved out of a folder on one node
# and moved elsewhere or expunged on the other while they were apart.  A
# message is one value keyed by its base name (DESIGN decision 3): an
# expunge wins over a move (as over a flag change), and of two moves the
# later one says where it lives.
#   M: A moves it to Archive, later B expunges it    -> gone on both
#   N: B expunges it, later A moves it to Archive    -> gone on both
#   P: A moves it to Archive, later B to Trash       -> Trash only
#   Q: B moves it to Trash, later A to Archive       -> Archive only
#   R: copied to Archive before the split (a copy of its own); A moves the
#      INBOX one to Trash, B expunges it             -> the old Archive copy only
#   S: A moves it to Archive and B gets the copy but not A's unlink of the
#      source; B moves it too, and finding the base name taken in Archive
#      Dovecot gives B's copy a new one, S2 (B's move is the later one)
#                                                    -> S2 in Archive only
#   U: A moves it to Archive; later B moves it to Archive by copying, as
#      Dovecot does when it cannot hard-link: a new base name, U2
#                                                    -> U2 in Archive only
#   V: B moves it to Trash by copying (V2); later A to Archive -> Archive only
#   W: delivered through A and moved to Archive there at once (a client's
#      filter, within the sibling window of mhafs/arrivals.h: a removal of
#      unknown kind); B moves it to Archive too      -> Archive
#   X: A copies it to Archive, its mhafs restarts (the copy's arrival is
#      forgotten), then it unlinks the source: a removal of unknown kind;
#      B moves it to Archive too                     -> Archive
#   Y: the same on A; B moves it to Trash            -> Archive and Trash
#      (not knowing whether A expunged or moved it, both copies stay)
# Dovecot moves a message by committing a copy (tmp/ to cur/, same base
# name) and unlinking the source; it expunges by setting T and unlinking.
# An unlink with neither a known move nor T never removes a concurrent
# move's copy (W and X lost the message when such an unlink counted as an
# expunge).
# Checked: each message is where the rules say on both nodes, the stores
# converge, and the catalog matches the store (mhactl check).
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
for n in a b; do # the rule needs level 2 or later (where a moved message went)
	lvl=$(status_val $n peer_protocol)
	[ "${lvl:-0}" -ge 2 ] || fail "node $n: peer_protocol=$lvl, not 2 or later"
done
IN=u/Maildir
for m in M N P Q R S U V X Y; do
	deliver a $IN $m
	mv "$T/a/mnt/$IN/new/$m" "$T/a/mnt/$IN/cur/$m:2,S"
done
for n in a b; do mkmaildir $n $IN/.Archive; mkmaildir $n $IN/.Trash; done # tmp/ is node-local
cp "$T/a/mnt/$IN/cur/R:2,S" "$T/a/mnt/$IN/.Archive/tmp/R.copy"
mv "$T/a/mnt/$IN/.Archive/tmp/R.copy" "$T/a/mnt/$IN/.Archive/cur/R:2,S"
converge 15
age_arrivals

# move NODE MSG FOLDER: Dovecot's move, through NODE's mount
move() {
	local m=$T/$1/mnt/$IN
	cp "$m/cur/$2:2,S" "$m/.$3/tmp/copy.$1.$2" || fail "node $1 cannot copy $2"
	mv "$m/.$3/tmp/copy.$1.$2" "$m/.$3/cur/$2:2,S" || fail "node $1 cannot commit $2 in $3"
	rm "$m/cur/$2:2,S" || fail "node $1 cannot unlink $2 from INBOX"
}
# expunge NODE MSG: \Deleted, then EXPUNGE
expunge() {
	local m=$T/$1/mnt/$IN
	mv "$m/cur/$2:2,S" "$m/cur/$2:2,ST" || fail "node $1 cannot flag $2"
	rm "$m/cur/$2:2,ST" || fail "node $1 cannot expunge $2"
}

cp "$T/a/mnt/$IN/cur/S:2,S" "$T/a/mnt/$IN/.Archive/tmp/S.copy"
mv "$T/a/mnt/$IN/.Archive/tmp/S.copy" "$T/a/mnt/$IN/.Archive/cur/S:2,S"
for _ in $(seq 100); do [ -f "$T/b/back/$IN/.Archive/cur/S:2,S" ] && break; sleep 0.1; done
[ -f "$T/b/back/$IN/.Archive/cur/S:2,S" ] || fail "node b did not get A's copy of S"
# W: delivered now; in sync mode node b holds it once the commit returns
deliver a $IN W
mv "$T/a/mnt/$IN/new/W" "$T/a/mnt/$IN/cur/W:2,S"
w0=$(date +%s%N)
for _ in $(seq 100); do [ -f "$T/b/back/$IN/cur/W:2,S" ] && break; sleep 0.1; done
[ -f "$T/b/back/$IN/cur/W:2,S" ] || fail "node b did not get W"
stop_node b
move a W Archive
wgap=$(( ($(date +%s%N) - w0) / 1000000 ))
echo "# W moved on node a $wgap ms after its delivery (the sibling window is 5000)"
rm "$T/a/mnt/$IN/cur/S:2,S"
move a M Archive
move a U Archive
move a P Archive
move a R Trash
for m in X Y; do
	cp "$T/a/mnt/$IN/cur/$m:2,S" "$T/a/mnt/$IN/.Archive/tmp/$m.copy" &&
		mv "$T/a/mnt/$IN/.Archive/tmp/$m.copy" "$T/a/mnt/$IN/.Archive/cur/$m:2,S" ||
		fail "node a cannot copy $m"
done
stop_node a
start_node a
rm "$T/a/mnt/$IN/cur/X:2,S" "$T/a/mnt/$IN/cur/Y:2,S" || fail "node a cannot unlink X and Y"
stop_node a
sleep 0.05
start_node b
expunge b M
expunge b N
move b P Trash
move b Q Trash
expunge b R
move b W Archive
move b X Archive
move b Y Trash
# move_renamed NODE MSG FOLDER NEW: a move whose copy gets a new base name
move_renamed() {
	local m=$T/$1/mnt/$IN
	cp "$m/cur/$2:2,S" "$m/.$3/tmp/$4.copy" && mv "$m/.$3/tmp/$4.copy" "$m/.$3/new/$4" &&
		rm "$m/cur/$2:2,S" || fail "node $1 cannot move $2 as $4"
}
move_renamed b S Archive S2
move_renamed b U Archive U2
move_renamed b V Trash V2
stop_node b
sleep 0.05
start_node a
move a N Archive
move a Q Archive
move a V Archive
start_node b
wait_synced a 20
wait_synced b 20
converge 20

# where NODE MSG: the folders holding MSG in NODE's store
where() {
	local f out=
	for f in INBOX Archive Trash; do
		local d=$T/$1/back/$IN
		[ $f = INBOX ] || d=$d/.$f
		ls "$d/cur" "$d/new" 2>/dev/null | grep -q -E "^$2(:|\$)" && out="$out$f "
	done
	echo "${out% }"
}
expect() { # MSG FOLDERS WHY
	for n in a b; do
		got=$(where $n "$1")
		[ "$got" = "$2" ] || fail "node $n: $1 is in [$got], not [$2]: $3"
	done
}
expect M "" "B's expunge wins over A's move"
expect N "" "B's expunge wins over A's move, even a later one"
expect P "Trash" "B's move came after A's"
expect Q "Archive" "A's move came after B's"
expect R "Archive" "the copy made before the split is its own message; B's expunge wins over A's move"
expect S "" "B's move of S (as S2) came after A's"
expect S2 "Archive" "B's copy of S is the one kept"
expect U "" "B's move of U (as U2) came after A's"
expect U2 "Archive" "B's copy of U is the one kept"
expect V "Archive" "A's move of V came after B's"
expect V2 "" "A's move of V came after B's (as V2)"
expect W "Archive" "A's removal right after the delivery is not known to be an expunge; both moved it to Archive"
expect X "Archive" "A's removal is not known to be an expunge; both moved it to Archive"
expect Y "Archive Trash" "A's removal is not known to be an expunge: both copies stay"
# W's move is one of unknown kind only within the sibling window (a slow
# stop of node b can take longer: then it is a known move, and W's
# outcome above is the rule for two moves into one folder)
wx="X Y"
[ "$wgap" -lt 4500 ] && wx="W X Y"
for m in $wx; do
	grep -q "conflict: .* $IN/cur/$m:2,S .*the removal is not known to be an expunge" "$T/a.log" "$T/b.log" ||
		fail "no node logged keeping $m's moved copy against a removal of unknown kind"
done
# The node whose own move lost removes its own copy (the other node may
# never get that copy: its sender skips content already gone).
for nc in "a .Archive/cur/M" "a .Archive/cur/N" "a .Archive/cur/P" "b .Trash/cur/Q" "a .Trash/cur/R" \
	"a .Archive/cur/S:" "b .Archive/cur/S:" "a .Archive/cur/U:" "b .Trash/new/V2"; do
	set -- $nc
	grep -q "removes this node's copy $IN/$2" "$T/$1.log" ||
		fail "node $1 did not log removing its copy $2 where the two removals met"
done
stop_and_check
grep -h "removes this node's copy" "$T/a.log" "$T/b.log" | sed 's/^.*conflict: /# /'
echo "PASS: a move against an expunge or another move of one message while apart: the expunge, or the later move, decides on both nodes"
