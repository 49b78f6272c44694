#!/bin/bash
# tests/repl/uncached.sh: with replication configured, the kernel never
# serves a cached name for dovecot-uidlist, however the name was made.
# The replicator replaces the file underneath the kernel (a staged file
# renamed over it, then an invalidation that is queued, not waited for),
# so every path walk to the name must ask mhafs.  A name renamed into
# place keeps the entry timeout its old name got: Dovecot recreates
# dovecot-uidlist by renaming dovecot-uidlist.tmp over it, so that name
# must be uncached too.  Node a runs alone (its peer configured, absent);
# the replacement is made in its backing directory, as the applier makes
# it, and stat and read through the mount must see the new file at once.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 300
start_node a
m=$T/a/mnt/u1/Maildir
b=$T/a/back/u1/Maildir
mkdir -p "$m/new" "$m/cur" "$m/tmp" || fail "cannot make a Maildir through the mount"

# replace_behind: a new dovecot-uidlist renamed over the old one in the
# backing directory, then the mount must show its inode and content
replace_behind() {
	printf '3 V1 N%s\n' "$1" > "$b/.staged" && mv "$b/.staged" "$b/dovecot-uidlist" ||
		fail "cannot replace the backing dovecot-uidlist"
	want=$(stat -c %i "$b/dovecot-uidlist")
	got=$(stat -c %i "$m/dovecot-uidlist")
	[ "$got" = "$want" ] || fail "$2: the mount shows inode $got for dovecot-uidlist, the backing file is $want"
	[ "$(cat "$m/dovecot-uidlist")" = "3 V1 N$1" ] ||
		fail "$2: the mount reads '$(cat "$m/dovecot-uidlist")', not '3 V1 N$1'"
}

printf '3 V1 N1\n' > "$m/dovecot-uidlist" || fail "cannot write dovecot-uidlist"
stat "$m/dovecot-uidlist" >/dev/null
replace_behind 2 "made directly"

printf '3 V1 N3\n' > "$m/dovecot-uidlist.tmp" && mv "$m/dovecot-uidlist.tmp" "$m/dovecot-uidlist" ||
	fail "cannot rename dovecot-uidlist.tmp over dovecot-uidlist"
stat "$m/dovecot-uidlist" >/dev/null
replace_behind 4 "renamed from dovecot-uidlist.tmp"
stop_node a
echo "PASS: dovecot-uidlist is never served from a cached name, however it was made"
