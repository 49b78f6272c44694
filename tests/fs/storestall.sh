#!/bin/sh
# tests/fs/storestall.sh: many writers appending at once never hang the
# mount.  mhafs stores a growing file's last byte into the kernel's cache
# after each write past EOF (fs_data.c, settle_size) and a closed new
# file's content (fill_cache); a store waits for a page lock that the
# writer's next WRITE may hold, and that WRITE needs a free worker.  Before
# at most STORE_SLOTS workers could store at once, 64 appenders put all 32
# workers in a store within seconds and the mount answered nothing again
# (the fault suite's node 2 hung the same way).  Also checked: no file is
# empty.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
[ -x /usr/bin/python3 ] || skip "needs /usr/bin/python3"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch storestall

mkdir "$T/backing" "$T/mnt"
chmod 755 "$T/backing"
start_mhafs "$T/backing" "$T/mnt" "$T/state" "$T/mhafs.log" || die "mhafs did not mount"
N=${STORESTALL_WRITERS:-64}
if /usr/bin/python3 "$top_srcdir/tests/fs/storestall.py" "$T/mnt" "$N" "${STORESTALL_SECONDS:-15}" \
	>"$T/out.txt" 2>&1; then
	note "$N appenders: $(sed -n 's/^ok //p' "$T/out.txt") writes"
else
	fail "the mount hung under $N appenders: $(head -3 "$T/out.txt")"
	for t in /proc/"$MHAFS_PID"/task/*; do cat "$t/wchan"; echo; done | sort | uniq -c | sed 's/^/  worker in: /'
	# let the stuck writers go, so that the cleanup can unmount
	mountpoint -q /sys/fs/fuse/connections || mount -t fusectl none /sys/fs/fuse/connections 2>/dev/null
	minor=$(awk -v m="$T/mnt" '$5 == m { split($3, d, ":"); print d[2] }' /proc/self/mountinfo)
	[ -n "$minor" ] && echo 1 >"/sys/fs/fuse/connections/$minor/abort"
	exit 1
fi
bad=$(find "$T/backing" -name 'f*' -size -1c | head -3)
[ -z "$bad" ] || fail "empty files: $bad"
unmount_wait "$T/mnt" "$MHAFS_PID" || fail "unmount"
[ "$FAILED" = 0 ] && echo "PASS: $N appenders at once: the mount kept answering"
exit "$FAILED"
