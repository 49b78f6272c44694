#!/bin/bash
# tests/repl/uidlist.sh: both nodes change a mailbox's dovecot-uidlist
# during a partition, each giving UID 3 to a different new message; after
# the link returns both hold the same merged uidlist: common entries keep
# their UIDs, UIDVALIDITY and the mailbox GUID are kept, the colliding
# entries get new UIDs above both next-UIDs (in the same order on both
# nodes), and next-UID is above them all.  B's Dovecot index of the
# mailbox, which knew its message under the UID that moved, is gone from
# the store and from the kernel's view of the mount alike: a Dovecot that
# opened it through a cached dentry would serve the old UID's cached
# headers over another message's body (partition.sh saw exactly that).
# In a second mailbox B's colliding entry names a message B has already
# expunged (its uidlist not yet rewritten): there B's index stays, since
# Dovecot drops that UID anyway, and clients are not logged out for it.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair

G=0123456789abcdef0123456789abcdef
# write_uidlist NODE CONTENT [FOLDER]: as Dovecot does, through the lock file
write_uidlist() {
	d=$T/$1/mnt/u/Maildir${3:+/$3}
	mkdir -p "$d/cur" "$d/new" "$d/tmp"
	printf '%b' "$2" > "$d/dovecot-uidlist.lock"
	mv "$d/dovecot-uidlist.lock" "$d/dovecot-uidlist"
}
# message NODE BASE [FOLDER]: a message file in cur/
message() { echo "Subject: $2" > "$T/$1/mnt/u/Maildir${3:+/$3}/cur/$2:2,"; }
write_uidlist a "3 V1234 N3 G$G\n1 :1700000001.M1P1.a\n2 :1700000002.M2P2.a\n"
write_uidlist a "3 V77 N2 G$G\n1 :1700000011.M1P1.a\n" .Other
message a 1700000011.M1P1.a .Other
converge 10

note "partition; each node gives UID 3 to its own new message"
ip -n "$NS_A" link set "$VETH_A" down
write_uidlist a "3 V1234 N4 G$G\n1 :1700000001.M1P1.a\n2 :1700000002.M2P2.a\n3 :1700000003.M3P3.a\n"
write_uidlist b "3 V1234 N4 G$G\n1 :1700000001.M1P1.a\n2 :1700000002.M2P2.a\n3 :1700000004.M4P4.b\n"
message a 1700000003.M3P3.a
message b 1700000004.M4P4.b
write_uidlist a "3 V77 N3 G$G\n1 :1700000011.M1P1.a\n2 :1700000012.M2P2.a\n" .Other
message a 1700000012.M2P2.a .Other
write_uidlist b "3 V77 N3 G$G\n1 :1700000011.M1P1.a\n2 :1700000013.M3P3.b\n" .Other
echo "B's index of .Other" > "$T/b/mnt/u/Maildir/.Other/dovecot.index"
# B's Dovecot indexes its UID 3; reading it back leaves the kernel holding
# the dentries (entry_timeout is 10 s, far longer than the merge takes)
for f in dovecot.index dovecot.index.log dovecot.index.cache; do
	echo "B's index: UID 3 is 1700000004.M4P4.b" > "$T/b/mnt/u/Maildir/$f"
	cat "$T/b/mnt/u/Maildir/$f" >/dev/null || fail "cannot read back B's $f"
done
ip -n "$NS_A" link set "$VETH_A" up
wait_synced a 20
wait_synced b 20
converge 20
u=$T/a/back/u/Maildir/dovecot-uidlist
cat "$u" | sed 's/^/#   /'
head -1 "$u" | grep -q "^3 V1234 N6 G$G" || fail "header: want UIDVALIDITY 1234, next UID 6, same GUID"
grep -qx "1 :1700000001.M1P1.a" "$u" && grep -qx "2 :1700000002.M2P2.a" "$u" || fail "common entries lost their UIDs"
grep -qx "4 :1700000003.M3P3.a" "$u" && grep -qx "5 :1700000004.M4P4.b" "$u" ||
	fail "colliding entries not given UIDs 4 and 5 in base-name order"
[ "$(grep -c . "$u")" = 5 ] || fail "the merged uidlist has extra lines"
for f in dovecot.index dovecot.index.log dovecot.index.cache; do
	[ ! -e "$T/b/back/u/Maildir/$f" ] || fail "B's $f survived the merge that moved its UID 3"
	# the invalidation runs on mhafs's own thread: give it a moment
	for _ in $(seq 20); do [ -e "$T/b/mnt/u/Maildir/$f" ] || break; sleep 0.1; done
	if cat "$T/b/mnt/u/Maildir/$f" >/dev/null 2>&1; then
		fail "B's mount still opens the removed $f (a stale kernel dentry)"
	fi
done
grep -q "removed Dovecot's index" "$T/b.log" || fail "B did not log the removal of its index"
o=$T/b/back/u/Maildir/.Other
grep -q "^3 :1700000012.M2P2.a" "$o/dovecot-uidlist" && grep -q "^4 :1700000013.M3P3.b" "$o/dovecot-uidlist" ||
	fail ".Other's collision not merged: $(cat "$o/dovecot-uidlist")"
[ -e "$o/dovecot.index" ] || fail "B dropped its index of .Other, where only an expunged message was renumbered"
! grep -q "Other/dovecot-uidlist: UIDs of this node's messages changed" "$T/b.log" ||
	fail "B logged an index removal for .Other"
m=$(( $(status_val a uidlist_merges) + $(status_val b uidlist_merges) ))
[ "$m" -ge 1 ] || fail "no uidlist merge counted in mhactl status"
note "uidlist merges counted: $m"

# Dovecot appends a record without rewriting the header's next UID.  A's
# merge of B's appended file means exactly that file: A installs it as it
# came instead of journaling a reformatted copy (N2) of its own, which B
# would apply after any folder rename it made since, bringing the old
# folder back on B only (tests/e2e/cluster.sh saw .Work return that way).
note "an appended record is installed as it came, not echoed"
write_uidlist a "3 V88 N1 G$G\n" .Appended
converge 10
j0=$(status_val a ops_journaled)
message b 1700000021.M1P1.b .Appended
printf '1 :1700000021.M1P1.b\n' >> "$T/b/mnt/u/Maildir/.Appended/dovecot-uidlist"
want=$(printf '3 V88 N1 G%s\n1 :1700000021.M1P1.b' "$G")
converge 10
sleep 1 # an echo from A would come back within the sync round trip
for n in a b; do
	[ "$(cat "$T/$n/back/u/Maildir/.Appended/dovecot-uidlist")" = "$want" ] ||
		fail "node $n's uidlist is not B's appended file: $(cat "$T/$n/back/u/Maildir/.Appended/dovecot-uidlist")"
done
[ "$(status_val a ops_journaled)" = "$j0" ] || fail "A journaled $(( $(status_val a ops_journaled) - j0 )) operations of its own for B's append"
echo "PASS: a uidlist changed on both sides of a partition is merged the same on both nodes; an append is installed as it came"
