#!/bin/sh
# tests/fs/nofile.sh: mhafs keeps a descriptor for every file the kernel
# knows (inode.c), so it raises its soft limit of open files to the hard
# one at start and warns when the hard one is low.  Started with a soft
# limit of 256 (hard 4096), it must serve 2,000 files held open by the
# kernel's cache (each stat makes an inode the kernel keeps); without the
# raise the 250th or so gets EMFILE.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
command -v prlimit >/dev/null 2>&1 || skip "no prlimit (util-linux)"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch nofile

mkdir "$T/backing" "$T/mnt"
chmod 755 "$T/backing"
prlimit --pid $$ --nofile=256:4096 || skip "cannot lower this shell's open files limit"
start_mhafs "$T/backing" "$T/mnt" "$T/state" "$T/mhafs.log" || die "mhafs did not mount"
lim=$(awk '/^Max open files/ { print $4 " " $5 }' "/proc/$MHAFS_PID/limits")
[ "$lim" = "4096 4096" ] || fail "mhafs runs with open files limits '$lim', not '4096 4096'"
grep -q "open files limited to 4096" "$T/mhafs.log" || fail "no warning about the low limit in the log"
mkdir "$T/mnt/d" || die "mkdir on the mount"
i=0
while [ $i -lt 2000 ]; do
	touch "$T/mnt/d/f$i" 2>"$T/touch.err" || { fail "creating file $i through the mount: $(cat "$T/touch.err")"; break; }
	i=$((i + 1))
done
n=$(find "$T/mnt/d" -type f | wc -l)
[ "$n" = 2000 ] || fail "the mount lists $n of 2000 files"
bad=$(cd "$T/mnt/d" && for f in f*; do stat -c %s "$f" >/dev/null 2>&1 || echo "$f"; done | wc -l)
[ "$bad" = 0 ] || fail "$bad of 2000 files could not be stat'ed through the mount"
grep -q "Too many open files" "$T/mhafs.log" && fail "mhafs logged EMFILE"
note "mhafs holds $(ls /proc/$MHAFS_PID/fd | wc -l) descriptors"
unmount_wait "$T/mnt" "$MHAFS_PID" || fail "unmount"
[ "$FAILED" = 0 ] && echo "PASS: mhafs raises its open files limit and serves 2000 cached files"
exit "$FAILED"
