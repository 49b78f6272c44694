#!/bin/sh
# tests/fs/flush.sh: a close through the mount asks mhafs (FUSE FLUSH) only
# where the backing file system's close can report an error.  Over ext4
# (this test's scratch dir) or tmpfs it cannot, so files written and closed
# through the mount, and read, cost no FLUSH (`mhactl status` flushes stays
# 0) and every close still succeeds; over a file system mhafs does not know
# (ramfs here) every close of a written file is asked about.
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

# write_files DIR N: N files written and closed, each close checked
write_files() {
	python3 - "$1" "$2" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    fd = os.open(os.path.join(d, "f%d" % i), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.write(fd, b"x" * 4096)
    os.close(fd)  # raises on an error
    fd = os.open(os.path.join(d, "f%d" % i), os.O_WRONLY | os.O_APPEND)
    os.write(fd, b"y")
    os.close(fd)
PY
}
status() { "$MHACTL" -c "$1/mhafs.conf" status | sed -n "s/^$2=//p"; }

kind=$(stat -f -c %T "$T")
case $kind in
ext2/ext3) ;;
*) skip "the scratch dir is on $kind, not ext4" ;;
esac
mkdir "$T/backing" "$T/mnt"
chmod 755 "$T/backing"
start_mhafs "$T/backing" "$T/mnt" "$T/state" "$T/mhafs.log" || die "mhafs did not mount over ext4"
pid=$MHAFS_PID
grep -q "backing file system ext4: its close reports no error" "$T/mhafs.log" ||
	fail "ext4: the log does not say that closes send no FLUSH"
write_files "$T/mnt" 50 || fail "ext4: writing or closing a file through the mount failed"
cat "$T/mnt"/f* >/dev/null || fail "ext4: reading through the mount failed"
n=$(status "$T/state" flushes)
[ "$n" = 0 ] || fail "ext4: 100 closes of written files sent $n FLUSH requests, not 0"
[ "$(stat -c %s "$T/backing/f49")" = 4097 ] || fail "ext4: f49 holds $(stat -c %s "$T/backing/f49") bytes, not 4097"
unmount_wait "$T/mnt" "$pid" || fail "ext4: unmount"

mkdir "$T/ram" "$T/mnt2"
mount -t ramfs mhafs-test "$T/ram" || die "cannot mount ramfs"
MOUNTS="$MOUNTS $T/ram"
mkdir "$T/ram/store" && chmod 755 "$T/ram/store"
start_mhafs "$T/ram/store" "$T/mnt2" "$T/state2" "$T/mhafs2.log" || die "mhafs did not mount over ramfs"
pid=$MHAFS_PID
grep -q "backing file system of another kind: every close" "$T/mhafs2.log" ||
	fail "ramfs: the log does not say that closes send FLUSH"
write_files "$T/mnt2" 50 || fail "ramfs: writing or closing a file through the mount failed"
cat "$T/mnt2"/f* >/dev/null || fail "ramfs: reading through the mount failed"
n=$(status "$T/state2" flushes)
# 100 closes of written files; reads send none (a reader's close never does)
[ "$n" -ge 100 ] && [ "$n" -le 102 ] || fail "ramfs: 100 closes of written files sent $n FLUSH requests, not 100"
unmount_wait "$T/mnt2" "$pid" || fail "ramfs: unmount"
[ "$FAILED" = 0 ] && echo "PASS: closes ask mhafs only where the backing file system's close can fail"
exit "$FAILED"
