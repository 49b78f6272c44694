#!/bin/sh
# tests/fs/stopsignal.sh: what a stop by SIGTERM does to the mount
# (main.c end_connection).
#  A. Nothing uses the mount: mhafs unmounts it and exits 0.
#  B. A process has its working directory in the mount: mhafs aborts the
#     connection, detaches the mount and exits 0 without waiting for that
#     process, whose next request through the mount fails.
#  C. The mount was detached by hand (umount -l) while a process held it,
#     and another file system is mounted on the mount point since: mhafs
#     exits without touching that file system, says so in its log, and
#     aborts its connection through fusectl (mounted here, in the test's
#     own mount namespace, if the machine has not).
#  D. An older file system moved on top of the busy mount (mount --move;
#     since Linux 6.8 mountinfo lists it before the mount it covers):
#     mhafs leaves it alone as well.
# Each stop must leave a clean journal: the next start checks nothing.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch stopsignal
mkdir "$T/back" "$T/mnt"
LOG=$T/mhafs.log

# stop_by_signal WHAT: SIGTERM to the running mhafs; it must exit 0 within
# 10 s.  Sets STOPPED_PID.
stop_by_signal() {
	STOPPED_PID=$MHAFS_PID
	kill -TERM "$MHAFS_PID"
	_i=0
	while kill -0 "$MHAFS_PID" 2>/dev/null && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
	if kill -0 "$MHAFS_PID" 2>/dev/null; then
		kill -KILL "$MHAFS_PID"
		wait "$MHAFS_PID" 2>/dev/null
		die "$1: mhafs did not exit within 10 s of SIGTERM"
	fi
	wait "$MHAFS_PID"
	_rc=$?
	[ "$_rc" = 0 ] || fail "$1: mhafs exited $_rc after SIGTERM"
}

# hold: a process with its working directory in the mount (HOLDER), once
# it is in there
hold() {
	( cd "$T/mnt" && exec sleep 60 ) &
	HOLDER=$!
	PIDS="$PIDS $HOLDER"
	_i=0
	while [ "$(readlink "/proc/$HOLDER/cwd" 2>/dev/null)" != "$T/mnt" ] && [ $_i -lt 100 ]; do
		sleep 0.1; _i=$((_i + 1))
	done
	[ "$(readlink "/proc/$HOLDER/cwd" 2>/dev/null)" = "$T/mnt" ] || die "the holder did not enter the mount"
}

# clean_start WHAT: mount again; the journal must have been left clean
clean_start() {
	_before=$(grep -c "last stop was not clean" "$LOG")
	start_mhafs "$T/back" "$T/mnt" "$T/state" "$LOG" || die "$1: mhafs did not mount again"
	[ "$(grep -c "last stop was not clean" "$LOG")" = "$_before" ] ||
		fail "$1: the start after it checked the store: the stop left the journal unclean"
	[ "$(cat "$T/mnt/kept" 2>/dev/null)" = kept ] || fail "$1: the file written before is not there"
}

start_mhafs "$T/back" "$T/mnt" "$T/state" "$LOG" || die "mhafs did not mount"
echo kept >"$T/mnt/kept" || die "cannot write through the mount"

note "A: SIGTERM with nothing in the mount"
stop_by_signal A
is_mounted "$T/mnt" && fail "A: the mount is still there"
grep -q "unmounted $T/mnt: nothing was using it" "$LOG" || fail "A: the log does not say it unmounted"
clean_start A

note "B: SIGTERM while a process works in the mount"
hold
stop_by_signal B
is_mounted "$T/mnt" && fail "B: the mount is still on the mount point"
grep -q "$T/mnt was in use: its waiting requests failed and the mount is detached" "$LOG" ||
	fail "B: the log does not say it detached the busy mount"
ls "/proc/$HOLDER/cwd/" >/dev/null 2>&1 && fail "B: the holder still reads the detached mount"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
clean_start B

note "C: SIGTERM after the mount was detached by hand and a tmpfs mounted in its place"
if ! grep -q ' /sys/fs/fuse/connections fusectl ' /proc/self/mountinfo; then
	mount -t fusectl fusectl /sys/fs/fuse/connections || die "cannot mount fusectl"
	MOUNTS="$MOUNTS /sys/fs/fuse/connections"
fi
hold
umount -l "$T/mnt" || die "C: cannot detach the mount"
mount -t tmpfs -o size=1m mhafs-test-beneath "$T/mnt" || die "C: cannot mount a tmpfs"
echo beneath >"$T/mnt/marker"
stop_by_signal C
[ "$(cat "$T/mnt/marker" 2>/dev/null)" = beneath ] ||
	fail "C: the tmpfs mounted in the mount's place is gone or changed"
grep -q "$T/mnt holds another mount now (detached by hand?): left alone; this mount's connection is aborted through fusectl" "$LOG" ||
	fail "C: the log does not say it left the mount point alone and aborted its connection"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
umount "$T/mnt" || fail "C: cannot unmount the tmpfs"
clean_start C

note "D: SIGTERM with an older tmpfs moved on top of the busy mount"
unmount_wait "$T/mnt" "$MHAFS_PID" || fail "D: cannot unmount before the case"
mkdir "$T/older"
mount -t tmpfs -o size=1m mhafs-test-older "$T/older" || die "D: cannot mount a tmpfs"
MOUNTS="$MOUNTS $T/older"
echo older >"$T/older/marker"
start_mhafs "$T/back" "$T/mnt" "$T/state" "$LOG" || die "D: mhafs did not mount again"
hold
mount --move "$T/older" "$T/mnt" || die "D: cannot move the tmpfs onto the mount point"
stop_by_signal D
[ "$(cat "$T/mnt/marker" 2>/dev/null)" = older ] || fail "D: the tmpfs moved on top of the mount is gone or changed"
grep -q "$T/mnt holds another mount now (detached by hand?): left alone" "$LOG" ||
	fail "D: the log does not say it left the mount point alone"
kill "$HOLDER"
wait "$HOLDER" 2>/dev/null
umount "$T/mnt" || fail "D: cannot unmount the tmpfs"
# the aborted mhafs mount beneath it: an admin (or mhafs-unmount --stale) detaches it
is_mounted "$T/mnt" && umount -l "$T/mnt"
clean_start D
unmount_wait "$T/mnt" "$MHAFS_PID" || fail "the last clean unmount failed"

[ "$FAILED" = 0 ] || { sed 's/^/  | /' "$LOG" | tail -20; exit 1; }
echo "PASS: a stop by signal unmounts, detaches a busy mount, and leaves a foreign mount alone"
