#!/bin/bash
# tests/repl/recovermoved.sh: a peer's message that a crash left in the
# store but not in the catalog must not come back to the peer as new mail.
# Node B applies A's delivery of N to its store and is killed before it
# records the entry (planted here: B is down while A delivers N, and N is
# put into B's store by hand).  Meanwhile A's user moves N to Archive.  B's
# start-up check finds new/N with no catalog row.  Journaled as a new
# write, it would carry a fresh HLC and A would install it in INBOX again
# (the message resurrected beside its moved copy).  B's stream is let
# through before A's.  Checked: A's INBOX does not get N back, and after
# the nodes converge N is in Archive on both and in INBOX on neither.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
IN=u/Maildir
AR=u/Maildir/.Archive
mkmaildir a $AR
deliver a $IN M0
converge 15

crash_node b
deliver a $IN N
cp -p "$T/a/back/$IN/new/N" "$T/b/back/$IN/new/N"  # applied, never recorded
cp "$T/a/mnt/$IN/new/N" "$T/a/mnt/$AR/tmp/N.copy"
mv "$T/a/mnt/$AR/tmp/N.copy" "$T/a/mnt/$AR/cur/N:2,S"
rm "$T/a/mnt/$IN/new/N"
sleep 0.05
# B's stream reaches A before A's stream reaches B (A's connections to B
# are dropped), as when A's resend comes late
command -v nft >/dev/null || skip "no nft"
ip netns exec "$NS_B" nft -f - <<'NFT' || fail "cannot block node a's stream to node b"
table inet mhtest {
	chain in {
		type filter hook input priority 0;
		tcp dport 7410 drop
	}
}
NFT
start_node b
grep -q "startup check: last stop was not clean" "$T/b.log" || fail "no start-up check on node b after kill -9"
wait_synced b 20
sleep 1
left=$(find "$T/a/back/$IN/new" "$T/a/back/$IN/cur" -name 'N*')
[ -z "$left" ] || fail "node b's start-up check sent N back to node a's INBOX: $left"
ip netns exec "$NS_B" nft delete table inet mhtest || fail "cannot unblock node a's stream"
wait_synced a 20
converge 20
for n in a b; do
	[ -f "$T/$n/back/$AR/cur/N:2,S" ] || fail "node $n lost N from Archive"
	left=$(find "$T/$n/back/$IN/new" "$T/$n/back/$IN/cur" -name 'N*')
	[ -z "$left" ] || fail "N came back to node $n's INBOX: $left"
done
grep -h "startup check: message $IN/new/N" "$T/b.log" | sed 's/^/# /'
echo "PASS: a message the crash left unrecorded does not come back to the peer that moved it"
