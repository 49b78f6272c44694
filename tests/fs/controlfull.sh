#!/bin/sh
# tests/fs/controlfull.sh: a full backing file system leaves room for
# Dovecot's control files.  The store is on an 8 MiB tmpfs, filled from
# outside (as the fault runs do).  Then: a mail write gets ENOSPC; a
# rewrite of dovecot-uidlist the way Dovecot does it (new content into
# dovecot-uidlist.lock, renamed over the old file) succeeds in the room of
# the reserve mhafs keeps in the store, and says so in its log; mail is
# still refused while the reserve is given away, even with room left; once
# the filler is gone the reserve is made again and mail is accepted.  In a
# fault run a failed uidlist rewrite made Dovecot renumber a whole mailbox
# and answer an EXPUNGE OK that removed nothing.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch controlfull

mkdir -p "$T/small" "$T/mnt" "$T/state"
mount -t tmpfs -o size=8m,mode=755 mhafs-test "$T/small" || die "cannot mount tmpfs"
MOUNTS="$MOUNTS $T/small"
mkdir "$T/small/store" && chmod 755 "$T/small/store"
start_mhafs "$T/small/store" "$T/mnt" "$T/state" "$T/mhafs.log" || die "mhafs did not mount"
pid=$MHAFS_PID
R=$T/small/store/.mhafs-staging/reserve
[ "$(stat -c %s "$R" 2>&1)" = 1048576 ] || fail "no 1 MiB reserve (an eighth of 8 MiB) at $R: $(stat -c %s "$R" 2>&1)"
[ ! -e "$T/mnt/.mhafs-staging" ] && ! ls -A "$T/mnt" | grep -q mhafs-staging ||
	fail "the mount shows mhafs's own .mhafs-staging"
M=$T/mnt/u/Maildir
mkdir -p "$M/cur" "$M/new" "$M/tmp" || die "cannot make a Maildir"
uidlist() { # N: a uidlist of N entries on stdout
	echo "3 V1700000000 N$(($1 + 1)) G0123456789abcdef0123456789abcdef"
	i=1; while [ $i -le "$1" ]; do echo "$i :1700000000.M${i}P1.host,S=4096,W=4200"; i=$((i + 1)); done
}
uidlist 2000 >"$M/dovecot-uidlist" || fail "cannot write the first uidlist"

dd if=/dev/zero of="$T/small/filler" bs=64k 2>/dev/null
note "filled: $(df -k --output=avail "$T/small" | tail -1) KiB left"
if head -c 65536 /dev/urandom >"$M/tmp/mail1" 2>/dev/null; then
	fail "a 64 KiB mail was written on a full file system"
fi
uidlist 3000 >"$T/want"
if cp "$T/want" "$M/dovecot-uidlist.lock" && mv "$M/dovecot-uidlist.lock" "$M/dovecot-uidlist"; then
	cmp -s "$T/want" "$M/dovecot-uidlist" || fail "the rewritten uidlist differs from what was written"
	note "uidlist rewritten on a full file system: $(wc -c <"$M/dovecot-uidlist") bytes"
else
	fail "Dovecot's uidlist rewrite failed on a full file system"
fi
grep -q "released the 1048576-byte reserve for dovecot-uidlist.lock" "$T/mhafs.log" ||
	fail "mhafs did not log the release of the reserve"
[ ! -e "$R" ] || fail "the reserve is still there after its release"
left=$(df -k --output=avail "$T/small" | tail -1)
if head -c 4096 /dev/urandom >"$M/tmp/mail2" 2>/dev/null; then
	fail "mail was written into the reserve's room ($left KiB left)"
else
	note "mail refused with $left KiB left: the room is kept for the control files"
fi
rm -f "$T/small/filler" "$M/tmp/mail1" "$M/tmp/mail2"
i=0
until head -c 65536 /dev/urandom >"$M/tmp/mail3" 2>/dev/null; do
	i=$((i + 1))
	[ $i -lt 50 ] || { fail "mail still refused 5 s after the file system had room"; break; }
	sleep 0.1
done
[ -e "$R" ] || fail "the reserve was not made again"
grep -q "reserve for Dovecot's control files is back" "$T/mhafs.log" || fail "no log line for the reserve's return"
cmp -s "$T/want" "$M/dovecot-uidlist" || fail "the uidlist changed"
kill -0 "$pid" 2>/dev/null || fail "mhafs died"
unmount_wait "$T/mnt" "$pid" || fail "mhafs did not exit cleanly on unmount"
[ $FAILED -eq 0 ] || exit 1
echo "PASS: a full store keeps room for Dovecot's uidlist rewrite and refuses mail until there is room again"
exit 0
