#!/bin/bash
# tests/repl/uidlist.sh: both nodes change a mailbox's dovecot-uidlist
# during a partition, each giving UID 3 to a different new message; after
# the link returns both hold the same merged uidlist: common entries keep
# their UIDs, UIDVALIDITY and the mailbox GUID are kept, the colliding
# entries get new UIDs above both next-UIDs (in the same order on both
# nodes), and next-UID is above them all.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair

G=0123456789abcdef0123456789abcdef
# write_uidlist NODE CONTENT: as Dovecot does, through the lock file
write_uidlist() {
	d=$T/$1/mnt/u/Maildir
	mkdir -p "$d/cur" "$d/new" "$d/tmp"
	printf '%b' "$2" > "$d/dovecot-uidlist.lock"
	mv "$d/dovecot-uidlist.lock" "$d/dovecot-uidlist"
}
write_uidlist a "3 V1234 N3 G$G\n1 :1700000001.M1P1.a\n2 :1700000002.M2P2.a\n"
converge 10

note "partition; each node gives UID 3 to its own new message"
ip -n "$NS_A" link set "$VETH_A" down
write_uidlist a "3 V1234 N4 G$G\n1 :1700000001.M1P1.a\n2 :1700000002.M2P2.a\n3 :1700000003.M3P3.a\n"
write_uidlist b "3 V1234 N4 G$G\n1 :1700000001.M1P1.a\n2 :1700000002.M2P2.a\n3 :1700000004.M4P4.b\n"
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
m=$(( $(status_val a uidlist_merges) + $(status_val b uidlist_merges) ))
[ "$m" -ge 1 ] || fail "no uidlist merge counted in mhactl status"
note "uidlist merges counted: $m"
echo "PASS: a uidlist changed on both sides of a partition is merged the same on both nodes"
