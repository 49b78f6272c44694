#!/bin/sh
# tests/fs/cachefill.sh: a file made and written through the mount by one
# writer is in the kernel's page cache whole once that writer closes it
# (fs_data.c, fill_cache): reading it back, as an IMAP FETCH of new mail
# does, sends no READ request to mhafs.  The file is written in pieces
# that leave pages only partly written, which the kernel alone would have
# to read.  Then what the cache holds must stay right: a second writer's
# change in place, an append, a truncation and a rewrite of the same size
# are each read back through the mount exactly as the backing file holds
# them.  READ requests are counted in mhafs's debug output (-d).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
command -v cmp >/dev/null 2>&1 || skip "no cmp"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch cachefill

mkdir "$T/backing" "$T/mnt"
chmod 755 "$T/backing"
start_mhafs "$T/backing" "$T/mnt" "$T/state" "$T/mhafs.log" -d || die "mhafs did not mount"
M=$T/mnt B=$T/backing
mkdir -p "$M/Maildir/tmp" "$M/Maildir/new" || die "mkdir on the mount"
head -c 30000 /dev/urandom >"$T/body" || die "no random data"

# reads NAME: READ requests in the log since mark NAME was taken (mark NAME).
mark() { wc -l <"$T/mhafs.log" >"$T/mark.$1"; }
reads() { tail -n +"$(($(cat "$T/mark.$1") + 1))" "$T/mhafs.log" | grep -c 'opcode: READ '; }
# same FILE: the mount and the backing file hold the same bytes.
same() { cmp -s "$M/$1" "$B/$1"; }
# released N: wait until mhafs answered N RELEASE requests (a close does
# not wait for its RELEASE; the cache is filled before the answer).
released() {
	_i=0
	while [ $_i -lt 100 ]; do
		[ "$(awk '/opcode: RELEASE / { sub(/,$/, "", $2); rel[$2] = 1 }
			$1 == "unique:" && ($3 == "success," || $3 == "error:") { sub(/,$/, "", $2); if ($2 in rel) n++ }
			END { print n + 0 }' "$T/mhafs.log")" -ge "$1" ] && return 0
		sleep 0.1; _i=$((_i + 1))
	done
	return 1
}

# 1. a message as an LMTP delivery writes it: headers in small writes,
# the body in bigger ones, then renamed out of tmp/
for n in 1 2 3; do
	{
		printf 'Return-Path: <a@example.test>\n'
		printf 'Delivered-To: u%s@example.test\n' "$n"
		printf 'Subject: cache fill %s\n\n' "$n"
		dd if="$T/body" bs=1000 count=$((n * 9)) 2>/dev/null
	} >"$M/Maildir/tmp/m$n" || die "writing message $n through the mount"
	mv "$M/Maildir/tmp/m$n" "$M/Maildir/new/m$n:2," || die "renaming message $n"
done
released 3 || fail "mhafs did not answer the 3 writers' RELEASE requests"
mark fetch
for n in 1 2 3; do
	same "Maildir/new/m$n:2," || fail "message $n reads back differently through the mount"
done
r=$(reads fetch)
[ "$r" = 0 ] || fail "reading back 3 messages just written sent $r READ requests (want 0: the cache holds them)"

# 2. the cache must follow every later change made through the mount
f=Maildir/new/m2:2,
printf 'XYZ' | dd of="$M/$f" bs=1 seek=5000 conv=notrunc 2>/dev/null || die "change in place"
same "$f" || fail "a change in place is not read back"
printf 'appended\n' >>"$M/$f" || die "append"
same "$f" || fail "an append is not read back"
truncate -s 7000 "$M/$f" || die "truncate"
same "$f" || fail "a truncation is not read back"
size=$(stat -c %s "$B/$f")
head -c "$size" /dev/urandom >"$T/other"
cat "$T/other" >"$M/$f" || die "rewrite"
same "$f" || fail "a rewrite of the same size is not read back"
cmp -s "$M/$f" "$T/other" || fail "the rewrite did not land"

unmount_wait "$T/mnt" "$MHAFS_PID" || fail "unmount"
[ "$FAILED" = 0 ] && echo "PASS: a file written whole through the mount is read back from the page cache, and later changes are seen"
exit "$FAILED"
