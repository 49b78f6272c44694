#!/bin/bash
# tests/repl/smallfile.sh: a small file Dovecot rewrites whole
# (subscriptions, dovecot-keywords) changed on both sides of a partition:
# after the link returns both nodes hold the version with the later HLC,
# whichever order the two versions arrive in.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair

# rewrite NODE FILE CONTENT: as Dovecot does, through a lock file
rewrite() {
	d=$T/$1/mnt/u/Maildir
	mkdir -p "$d"
	printf '%s\n' "$3" > "$d/$2.lock"
	mv "$d/$2.lock" "$d/$2"
}
rewrite a subscriptions "INBOX"
rewrite a dovecot-keywords "0 \$Junk"
converge 10

note "partition; subscriptions: a first, b later; dovecot-keywords: b first, a later"
ip -n "$NS_A" link set "$VETH_A" down
rewrite a subscriptions "INBOX Archive-from-a"
rewrite b dovecot-keywords "0 \$Junk 1 from-b"
sleep 1.2
rewrite b subscriptions "INBOX Archive-from-b"
rewrite a dovecot-keywords "0 \$Junk 1 from-a"
ip -n "$NS_A" link set "$VETH_A" up
wait_synced a 20
wait_synced b 20
converge 20
for n in a b; do
	grep -qx "INBOX Archive-from-b" "$T/$n/back/u/Maildir/subscriptions" ||
		fail "node $n: subscriptions is not the later version (b's): $(cat "$T/$n/back/u/Maildir/subscriptions")"
	grep -qx "0 \$Junk 1 from-a" "$T/$n/back/u/Maildir/dovecot-keywords" ||
		fail "node $n: dovecot-keywords is not the later version (a's): $(cat "$T/$n/back/u/Maildir/dovecot-keywords")"
done
grep -q "kept ours (last writer wins)" "$T/a.log" "$T/b.log" || fail "no node logged the conflict"
m=$(( $(status_val a conflicts_last_writer_ours) + $(status_val b conflicts_last_writer_ours) ))
[ "$m" -ge 2 ] || fail "mhactl status counts $m conflicts kept by last writer, want 2"
echo "PASS: small files changed on both sides converge to the later version"
