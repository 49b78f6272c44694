#!/bin/bash
# tests/repl/two_node.sh: two mhafs nodes replicate each other both ways.
# Deliveries, renames (flag changes), links, folder create/rename/delete
# and removals on either node appear on the other; a delivery that returned
# on one node is already on the other's disk (sync commit); after
# quiescence both backing trees are identical except node-local files.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 3000
start_pair

note "deliveries on A are on B's disk when the rename returns"
for i in $(seq 1 20); do
	deliver a u1/Maildir "m$i.A"
	[ -f "$T/b/back/u1/Maildir/new/m$i.A" ] || fail "m$i.A not on B right after its delivery returned"
	cmp -s "$T/a/back/u1/Maildir/new/m$i.A" "$T/b/back/u1/Maildir/new/m$i.A" || fail "m$i.A differs on B"
done

note "deliveries on B are on A's disk when the rename returns"
for i in $(seq 1 20); do
	deliver b u1/Maildir "m$i.B"
	[ -f "$T/a/back/u1/Maildir/new/m$i.B" ] || fail "m$i.B not on A right after its delivery returned"
done

note "B sees A's messages through its own mount (kernel caches invalidated)"
ls "$T/b/mnt/u1/Maildir/new" > /dev/null
deliver a u1/Maildir late.A
sleep 0.3
ls "$T/b/mnt/u1/Maildir/new" | grep -qx late.A || fail "B's mount does not list late.A"
cmp -s "$T/a/mnt/u1/Maildir/new/late.A" "$T/b/mnt/u1/Maildir/new/late.A" || fail "late.A reads differently on B"

note "flags (rename into cur/), hard links (COPY), folders, expunge"
mv "$T/a/mnt/u1/Maildir/new/m1.A" "$T/a/mnt/u1/Maildir/cur/m1.A:2,S"
mv "$T/b/mnt/u1/Maildir/new/m1.B" "$T/b/mnt/u1/Maildir/cur/m1.B:2,FS"
mkdir -p "$T/a/mnt/u1/Maildir/.Archive/cur" "$T/a/mnt/u1/Maildir/.Archive/new"
ln "$T/a/mnt/u1/Maildir/cur/m1.A:2,S" "$T/a/mnt/u1/Maildir/.Archive/cur/m1.A:2,S"
mv "$T/b/mnt/u1/Maildir/new/m2.B" "$T/b/mnt/u1/Maildir/cur/m2.B:2,"
converge 10
mv "$T/b/mnt/u1/Maildir/.Archive" "$T/b/mnt/u1/Maildir/.Old"
rm "$T/a/mnt/u1/Maildir/new/m3.A" "$T/a/mnt/u1/Maildir/new/m3.B"
printf 'subscriptions\nArchive\n' > "$T/a/mnt/u1/Maildir/subscriptions"
touch -d @1000000000 "$T/b/mnt/u1/Maildir/new/m4.A"
mkdir "$T/b/mnt/u1/Maildir/.Trash"
rmdir "$T/b/mnt/u1/Maildir/.Trash"
converge 10
[ -d "$T/a/back/u1/Maildir/.Old/cur" ] || fail "folder rename on B not on A"
[ "$(stat -c %Y "$T/a/back/u1/Maildir/new/m4.A")" = 1000000000 ] || fail "mtime (INTERNALDATE) set on B not on A"
[ ! -e "$T/b/back/u1/Maildir/new/m3.A" ] || fail "expunge on A not on B"
grep -q Archive "$T/b/back/u1/Maildir/subscriptions" || fail "subscriptions not replicated"

note "node-local files stay local"
echo idx > "$T/a/mnt/u1/Maildir/dovecot.index.log"
echo lock > "$T/a/mnt/u1/Maildir/dovecot-uidlist.lock"
sleep 0.5
[ ! -e "$T/b/back/u1/Maildir/dovecot.index.log" ] || fail "dovecot.index.log was replicated"
[ ! -e "$T/b/back/u1/Maildir/dovecot-uidlist.lock" ] || fail "a .lock file was replicated"
mv "$T/a/mnt/u1/Maildir/dovecot-uidlist.lock" "$T/a/mnt/u1/Maildir/dovecot-uidlist"
converge 10
cmp -s "$T/a/back/u1/Maildir/dovecot-uidlist" "$T/b/back/u1/Maildir/dovecot-uidlist" ||
	fail "dovecot-uidlist (renamed from its lock) not replicated"

note "status and journal"
status_of a | grep -E '^(peer_connected|peer_synced|acked_seq|last_seq|backlog_ops)=' | sed 's/^/#   A /'
[ "$(status_val a backlog_ops)" = 0 ] || fail "A still has a backlog after convergence"
echo "PASS: two nodes replicate both ways"
