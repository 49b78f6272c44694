#!/bin/bash
# tests/repl/movetwice.sh: one message moved into the same folder on both
# nodes while they were apart, under different flags.  Dovecot moves a
# message by writing a copy into the target's tmp/, renaming it into cur/
# under the message's base name with its flags, and unlinking the source.
# Node A moves M into Archive as M:2,FS while B is down; then A is down and
# B moves it as M:2,FRS (B's move is the later one).  When the two streams
# meet, each node receives the other's copy of M under another flag name.
# A Maildir must hold one file per base name: two make Dovecot "fix a
# duplicate" by giving one a new base name, and the merge then keeps both
# as two messages.  Checked: both nodes end with the one later name,
# M:2,FRS, in Archive and nothing in INBOX, and the catalog matches the
# store (mhactl check).
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
IN=u/Maildir
AR=u/Maildir/.Archive
deliver a $IN M
mv "$T/a/mnt/$IN/new/M" "$T/a/mnt/$IN/cur/M:2,S"
for n in a b; do mkmaildir $n $AR; done  # tmp/ is node-local
converge 15
age_arrivals

# move_to_archive NODE FLAGS: Dovecot's move, through NODE's mount
move_to_archive() {
	local m=$T/$1/mnt
	cp "$m/$IN/cur/M:2,S" "$m/$AR/tmp/copy.$1" || fail "node $1 cannot copy M"
	mv "$m/$AR/tmp/copy.$1" "$m/$AR/cur/M:2,$2" || fail "node $1 cannot commit M:2,$2"
	rm "$m/$IN/cur/M:2,S" || fail "node $1 cannot unlink M from INBOX"
}

stop_node b
move_to_archive a FS
stop_node a
sleep 0.01
start_node b
move_to_archive b FRS
start_node a
wait_synced a 20
wait_synced b 20
converge 20

for n in a b; do
	got=$(ls "$T/$n/back/$AR/cur" "$T/$n/back/$AR/new" | grep '^M' | tr '\n' ' ')
	[ "$got" = "M:2,FRS " ] || fail "node $n's Archive holds [$got], not the one later name M:2,FRS"
	left=$(find "$T/$n/back/$IN/cur" "$T/$n/back/$IN/new" -type f)
	[ -z "$left" ] || fail "node $n's INBOX still holds: $left"
done
stop_and_check
grep -h "conflict: content of $AR/cur/M" "$T/a.log" "$T/b.log" | sed 's/^/# /'
echo "PASS: a message moved on both nodes under different flags ends as one file, the later name"
