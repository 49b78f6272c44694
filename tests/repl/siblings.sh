#!/bin/bash
# tests/repl/siblings.sh: one delivery's copies in two folders (a Sieve
# fileinto plus keep) are two messages to the move rule.  W is delivered to
# INBOX and hard-linked into Archive under its base name; Z is delivered to
# INBOX and copied into Archive under a new name, Z2.  While the nodes are
# apart, each expunges the INBOX copies.  Were A's expunge (soon after the
# delivery, within the minute) taken for a move into Archive, B's expunge
# would win over that "move" and remove the Archive copies, which nobody
# expunged.  Checked: both nodes end with W and Z2 in Archive and nothing
# in INBOX, and the catalog matches the store (mhactl check).
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
IN=u/Maildir
AR=u/Maildir/.Archive
for n in a b; do mkmaildir $n $AR; done # tmp/ is node-local
deliver a $IN W
ln "$T/a/mnt/$IN/new/W" "$T/a/mnt/$AR/tmp/W.link" || fail "cannot hard-link W"
mv "$T/a/mnt/$AR/tmp/W.link" "$T/a/mnt/$AR/new/W"
deliver a $IN Z
cp "$T/a/mnt/$IN/new/Z" "$T/a/mnt/$AR/tmp/Z2.copy"
mv "$T/a/mnt/$AR/tmp/Z2.copy" "$T/a/mnt/$AR/new/Z2"
converge 15

stop_node b
rm "$T/a/mnt/$IN/new/W" "$T/a/mnt/$IN/new/Z" || fail "node a cannot expunge"
"$MHACTL" -c "$T/a/mhafs.conf" journal | grep "unlink $IN/new/" | sed 's/^/# /'
stop_node a
sleep 0.05
start_node b
rm "$T/b/mnt/$IN/new/W" "$T/b/mnt/$IN/new/Z" || fail "node b cannot expunge"
start_node a
wait_synced a 20
wait_synced b 20
converge 20

for n in a b; do
	got=$(ls "$T/$n/back/$AR/new" "$T/$n/back/$AR/cur" | grep -v '^$' | grep -v ':$' | sort | tr '\n' ' ')
	[ "$got" = "W Z2 " ] || fail "node $n's Archive holds [$got], not [W Z2 ]"
	left=$(find "$T/$n/back/$IN/cur" "$T/$n/back/$IN/new" -type f)
	[ -z "$left" ] || fail "node $n's INBOX still holds: $left"
done
stop_and_check
echo "PASS: a delivery's second copy survives an expunge of the first on both nodes"
