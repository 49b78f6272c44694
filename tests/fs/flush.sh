#!/bin/sh
# tests/fs/flush.sh: a close through the mount asks mhafs (FUSE FLUSH) only
# where the backing file system's close can report an error.
#  A. Over tmpfs (as over ext4, XFS, btrfs) it cannot: 100 closes of files
#     written through the mount, and reads, cost no FLUSH (`mhactl status`
#     flushes stays 0), and every close succeeds.  Files on a file system
#     mounted inside that store (ramfs) are asked about: 100 closes, 100
#     FLUSH requests.
#  B. Over a file system mhafs does not know (ramfs): 100 FLUSH requests.
#  C. With the writeback cache the kernel writes dirty pages back at close
#     and keeps FLUSH: at least 100.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
command -v python3 >/dev/null 2>&1 || skip "no python3"
[ -x "$MHACTL" ] || skip "no mhactl at $MHACTL"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch flush

# write_files DIR: 50 files written and closed, then appended to and
# closed again (100 closes of written files), each close checked
write_files() {
	python3 - "$1" <<'PY'
import os, sys
d = sys.argv[1]
for i in range(50):
    p = os.path.join(d, "f%d" % i)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"x" * 4096)
    os.close(fd)  # raises on an error
    fd = os.open(p, os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"y")
    os.close(fd)
PY
}
flushes() { "$MHACTL" -c "$1/mhafs.conf" status | sed -n 's/^flushes=//p'; }
# over FSTYPE X [mhafs options]: a fresh FSTYPE file system at $T/fsX, a
# store on it mounted at $T/mntX (state $T/stateX, log $T/mhafsX.log)
over() {
	_fs=$1 _x=$2
	shift 2
	mkdir -p "$T/fs$_x" "$T/mnt$_x"
	mount -t "$_fs" -o mode=755 mhafs-test "$T/fs$_x" || die "$_x: cannot mount $_fs"
	MOUNTS="$MOUNTS $T/fs$_x"
	mkdir "$T/fs$_x/store" && chmod 755 "$T/fs$_x/store"
	start_mhafs "$T/fs$_x/store" "$T/mnt$_x" "$T/state$_x" "$T/mhafs$_x.log" "$@" ||
		die "$_x: mhafs did not mount over $_fs"
}
# check X LOG-TEXT WANT: the log says LOG-TEXT; 100 closes of written
# files (and reads) asked WANT FLUSH requests (">=N": at least N)
check() {
	grep -q "$2" "$T/mhafs$1.log" || fail "$1: the log does not say '$2'"
	write_files "$T/mnt$1" || fail "$1: writing or closing a file through the mount failed"
	cat "$T/mnt$1"/f* >/dev/null || fail "$1: reading through the mount failed"
	[ "$(stat -c %s "$T/fs$1/store/f49")" = 4097 ] ||
		fail "$1: f49 holds $(stat -c %s "$T/fs$1/store/f49") bytes, not 4097"
	_n=$(flushes "$T/state$1")
	case $3 in
	">="*) [ "$_n" -ge "${3#>=}" ] ;;
	*) [ "$_n" = "$3" ] ;;
	esac || fail "$1: 100 closes of written files sent $_n FLUSH requests, not $3"
}

# ---- A: over tmpfs, and a ramfs inside it (reads never ask)
over tmpfs A
check A "backing file system tmpfs: its close reports no error" 0
mkdir "$T/fsA/store/inner"
mount -t ramfs mhafs-test "$T/fsA/store/inner" || die "A: cannot mount the inner ramfs"
MOUNTS="$MOUNTS $T/fsA/store/inner"
write_files "$T/mntA/inner" || fail "A: writing or closing a file inside the inner ramfs failed"
n=$(flushes "$T/stateA")
[ "$n" = 100 ] || fail "A: 100 closes of written files on the ramfs inside the store sent $n FLUSH requests, not 100"
unmount_wait "$T/mntA" "$MHAFS_PID" || fail "A: unmount"
umount "$T/fsA/store/inner" || fail "A: cannot unmount the inner ramfs"

# ---- B: over ramfs
over ramfs B
check B "backing file system of another kind: every close" 100
unmount_wait "$T/mntB" "$MHAFS_PID" || fail "B: unmount"

# ---- C: over tmpfs with the writeback cache
over tmpfs C -o writeback_cache=yes
check C "backing file system tmpfs: every close" ">=100"
unmount_wait "$T/mntC" "$MHAFS_PID" || fail "C: unmount"
[ "$FAILED" = 0 ] && echo "PASS: closes ask mhafs only where the backing file system's close can fail"
exit "$FAILED"
