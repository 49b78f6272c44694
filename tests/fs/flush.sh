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
# backing FSTYPE DIR: a fresh file system of that type at DIR
backing() {
	mkdir -p "$2"
	mount -t "$1" -o mode=755 mhafs-test "$2" || die "cannot mount $1 at $2"
	MOUNTS="$MOUNTS $2"
}

# ---- A: over tmpfs, and a ramfs inside it
backing tmpfs "$T/tmpfs"
mkdir "$T/tmpfs/store" "$T/mntA"
chmod 755 "$T/tmpfs/store"
start_mhafs "$T/tmpfs/store" "$T/mntA" "$T/stateA" "$T/mhafsA.log" || die "A: mhafs did not mount"
pid=$MHAFS_PID
grep -q "backing file system tmpfs: its close reports no error" "$T/mhafsA.log" ||
	fail "A: the log does not say that closes send no FLUSH"
write_files "$T/mntA" || fail "A: writing or closing a file through the mount failed"
cat "$T/mntA"/f* >/dev/null || fail "A: reading through the mount failed"
n=$(flushes "$T/stateA")
[ "$n" = 0 ] || fail "A: 100 closes of written files sent $n FLUSH requests, not 0"
[ "$(stat -c %s "$T/tmpfs/store/f49")" = 4097 ] ||
	fail "A: f49 holds $(stat -c %s "$T/tmpfs/store/f49") bytes, not 4097"
backing ramfs "$T/tmpfs/store/inner"
write_files "$T/mntA/inner" || fail "A: writing or closing a file inside the inner ramfs failed"
n=$(flushes "$T/stateA")
[ "$n" = 100 ] || fail "A: 100 closes of written files on the ramfs inside the store sent $n FLUSH requests, not 100"
unmount_wait "$T/mntA" "$pid" || fail "A: unmount"
umount "$T/tmpfs/store/inner" || fail "A: cannot unmount the inner ramfs"

# ---- B: over ramfs
backing ramfs "$T/ram"
mkdir "$T/ram/store" "$T/mntB"
chmod 755 "$T/ram/store"
start_mhafs "$T/ram/store" "$T/mntB" "$T/stateB" "$T/mhafsB.log" || die "B: mhafs did not mount"
pid=$MHAFS_PID
grep -q "backing file system of another kind: every close" "$T/mhafsB.log" ||
	fail "B: the log does not say that closes send FLUSH"
write_files "$T/mntB" || fail "B: writing or closing a file through the mount failed"
cat "$T/mntB"/f* >/dev/null || fail "B: reading through the mount failed"
n=$(flushes "$T/stateB")
# reads send none: a reader's close never asks
[ "$n" = 100 ] || fail "B: 100 closes of written files sent $n FLUSH requests, not 100"
unmount_wait "$T/mntB" "$pid" || fail "B: unmount"

# ---- C: over tmpfs with the writeback cache
backing tmpfs "$T/tmpfs2"
mkdir "$T/tmpfs2/store" "$T/mntC"
chmod 755 "$T/tmpfs2/store"
start_mhafs "$T/tmpfs2/store" "$T/mntC" "$T/stateC" "$T/mhafsC.log" -o writeback_cache=yes ||
	die "C: mhafs did not mount"
pid=$MHAFS_PID
grep -q "backing file system tmpfs: every close" "$T/mhafsC.log" ||
	fail "C: the log does not say that closes send FLUSH with the writeback cache"
write_files "$T/mntC" || fail "C: writing or closing a file through the mount failed"
n=$(flushes "$T/stateC")
[ "$n" -ge 100 ] || fail "C: 100 closes of written files sent $n FLUSH requests with the writeback cache, not 100 or more"
[ "$(stat -c %s "$T/tmpfs2/store/f49")" = 4097 ] ||
	fail "C: f49 holds $(stat -c %s "$T/tmpfs2/store/f49") bytes, not 4097"
unmount_wait "$T/mntC" "$pid" || fail "C: unmount"
[ "$FAILED" = 0 ] && echo "PASS: closes ask mhafs only where the backing file system's close can fail"
exit "$FAILED"
