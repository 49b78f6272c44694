#!/bin/bash
# tests/repl/cachefill.sh: the kernel keeps a file's pages until its size
# changes or mhafs invalidates them (fs_data.c: no automatic invalidation
# on a new mtime, and a file written whole is filled into the cache).  So
# every change the peer makes must reach what a reader of the mount gets,
# while the old content is in the page cache of the node that reads: a
# change in place of the same size, a rewrite through a lock file (as
# Dovecot writes dovecot-uidlist and subscriptions), a flag rename, and a
# truncation, each read on the other node through its mount.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair

# shows NODE FILE WANT: within 5 s NODE's mount reads FILE as the bytes of
# WANT (a file); the invalidation runs on mhafs's own thread.
shows() {
	for _ in $(seq 50); do
		cmp -s "$T/$1/mnt/$2" "$3" && return 0
		sleep 0.1
	done
	fail "node $1 reads $2 through its mount as $(od -c "$T/$1/mnt/$2" | head -2) (want: $(od -c "$3" | head -2))"
}

D=u/Maildir
mkmaildir a "$D"
mkmaildir b "$D"
printf 'Subject: one\n\nfirst body\n' >"$T/want1"
cp "$T/want1" "$T/a/mnt/$D/tmp/m1" && mv "$T/a/mnt/$D/tmp/m1" "$T/a/mnt/$D/new/m1" ||
	fail "delivery on a"
printf 'INBOX\n' >"$T/want2"
cp "$T/want2" "$T/a/mnt/$D/subscriptions.lock" && mv "$T/a/mnt/$D/subscriptions.lock" "$T/a/mnt/$D/subscriptions" ||
	fail "subscriptions on a"
converge 10
# both nodes now hold both files in their page caches
shows a "$D/new/m1" "$T/want1"
shows b "$D/new/m1" "$T/want1"
shows a "$D/subscriptions" "$T/want2"
shows b "$D/subscriptions" "$T/want2"

note "a change in place of the same size on a, read on b"
printf 'Subject: one\n\nFIRST body\n' >"$T/want1"
printf 'FIRST' | dd of="$T/a/mnt/$D/new/m1" bs=1 seek=14 conv=notrunc 2>/dev/null || fail "change in place on a"
cmp -s "$T/a/mnt/$D/new/m1" "$T/want1" || fail "node a does not read its own change in place"
shows b "$D/new/m1" "$T/want1"

note "a rewrite of the same size through a lock file on b, read on a"
printf 'ARCHV\n' >"$T/want2"
cp "$T/want2" "$T/b/mnt/$D/subscriptions.lock" && mv "$T/b/mnt/$D/subscriptions.lock" "$T/b/mnt/$D/subscriptions" ||
	fail "subscriptions on b"
shows a "$D/subscriptions" "$T/want2"

note "a flag rename on b, then a truncation on a, read on the other"
mv "$T/b/mnt/$D/new/m1" "$T/b/mnt/$D/cur/m1:2,S" || fail "flag rename on b"
shows a "$D/cur/m1:2,S" "$T/want1"
truncate -s 12 "$T/a/mnt/$D/cur/m1:2,S" || fail "truncate on a"
head -c 12 "$T/want1" >"$T/want3"
shows b "$D/cur/m1:2,S" "$T/want3"
converge 10
echo "PASS: the peer's changes reach readers whose page cache held the old content"
