#!/bin/bash
# tests/repl/siblings.sh: one delivery's copies in two folders (a Sieve
# fileinto plus keep) are two messages to the move rule.  W is delivered to
# INBOX and hard-linked into Archive under its base name; Z is delivered to
# INBOX and copied into Archive under a new name, Z2.  While the nodes are
# apart, each expunges the INBOX copies (\Deleted, then unlink, as IMAP
# does).  Were A's expunge (soon after the delivery) taken for a move into
# Archive, B's expunge would win over that "move" and remove the Archive
# copies, which nobody expunged.  Checked: both nodes end with W and Z2 in
# Archive and nothing in INBOX, and the catalog matches the store (mhactl
# check).
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
IN=u/Maildir
AR=u/Maildir/.Archive
for n in a b; do mkmaildir $n $AR; done # tmp/ is node-local
# deliver_twice NODE MSG COPY link|copy: one process delivers MSG to INBOX
# and puts a second copy, COPY, into Archive
deliver_twice() {
	local m=$T/$1/mnt
	python3 - "$m/$IN" "$m/$AR" "$2" "$3" "$4" <<'PY' || fail "node $1 cannot deliver $2 twice"
import os, sys
inbox, archive, msg, copy, how = sys.argv[1:]
body = os.urandom(4096)
with open(f"{inbox}/tmp/{msg}", "wb") as f:
    f.write(body)
os.rename(f"{inbox}/tmp/{msg}", f"{inbox}/new/{msg}")
if how == "link":
    os.link(f"{inbox}/new/{msg}", f"{archive}/tmp/{copy}.link")
    os.rename(f"{archive}/tmp/{copy}.link", f"{archive}/new/{copy}")
else:
    with open(f"{archive}/tmp/{copy}.copy", "wb") as f:
        f.write(body)
    os.rename(f"{archive}/tmp/{copy}.copy", f"{archive}/new/{copy}")
PY
}
# expunge NODE MSG: \Deleted, then EXPUNGE
expunge() {
	local m=$T/$1/mnt/$IN
	mv "$m/new/$2" "$m/cur/$2:2,T" && rm "$m/cur/$2:2,T" || fail "node $1 cannot expunge $2"
}
mkmaildir a $IN
deliver_twice a W W link
deliver_twice a Z Z2 copy
converge 15

stop_node b
expunge a W
expunge a Z
"$MHACTL" -c "$T/a/mhafs.conf" journal | grep "unlink $IN/cur/" | sed 's/^/# /'
stop_node a
sleep 0.05
start_node b
expunge b W
expunge b Z
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
