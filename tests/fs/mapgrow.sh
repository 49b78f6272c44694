#!/bin/sh
# tests/fs/mapgrow.sh: mapped files stay valid on the mount (issue 19: an
# imap process died of SIGBUS with Dovecot's index files on mhafs).
# tests/fs/mapgrow maps files the way Dovecot maps its index files: one
# process appends to "log" and "cache" and replaces "index" by rename,
# four others fstat, mmap what fstat said and read every page.  On a plain
# directory nothing faults; on the mount nothing may either.  Before
# op_getattr waited for a write past EOF to settle in the kernel
# (fs_data.c, settle_size), fstat could report a size the kernel did not
# hold yet and every run faulted within seconds.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
MAPGROW=$top_builddir/tests/fs/mapgrow
[ -x "$MAPGROW" ] || skip "no mapgrow binary at $MAPGROW"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch mapgrow

mkdir "$T/plain" "$T/backing" "$T/mnt"
chmod 755 "$T/backing"
if ! "$MAPGROW" "$T/plain" 2 4 >"$T/plain.txt" 2>&1; then
	cat "$T/plain.txt"
	die "the reference run on a plain directory faulted (kernel or test bug)"
fi
note "plain directory: $(awk '{ n += $3 } END { print n }' "$T/plain.txt") mappings read, no fault"
start_mhafs "$T/backing" "$T/mnt" "$T/state" "$T/mhafs.log" || die "mhafs did not mount"
if "$MAPGROW" "$T/mnt" "${MAPGROW_SECONDS:-8}" 4 >"$T/mnt.txt" 2>&1; then
	note "mount: $(awk '{ n += $3 } END { print n }' "$T/mnt.txt") mappings read, no fault"
else
	fail "a mapping on the mount faulted or held wrong data:"
	sed 's/^/  /' "$T/mnt.txt"
fi
unmount_wait "$T/mnt" "$MHAFS_PID" || fail "unmount"
[ "$FAILED" = 0 ] && echo "PASS: mapped files on the mount never fault"
exit "$FAILED"
