#!/bin/bash
# tests/fs/fstab.sh: mounting as /etc/fstab does.  An fstab line
#   /srv/store  /var/mail  fuse.mhafs  config=...,_netdev,noatime  0 0
# makes mount(8) run Debian's mount.fuse3 helper, which runs
# "mhafs SOURCE MOUNTPOINT -o OPTIONS".  The helper is run here the way
# mount(8) runs it (with mhafs found on PATH), then the mount is used and
# taken down with umount(8).
set -u
: "${top_builddir:?}"
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
helper=$(command -v mount.fuse3 || echo /sbin/mount.fuse3)
[ -x "$helper" ] || { echo "SKIP: no mount.fuse3 (Debian package fuse3)"; exit 77; }
[ -x "$top_builddir/mhafs/mhafs" ] || { echo "SKIP: mhafs not built"; exit 77; }
T=$(mktemp -d /tmp/mhafs-fstab.XXXXXX)
cleanup() {
	grep -q " $T/mnt " /proc/mounts && { umount "$T/mnt" 2>/dev/null || umount -l "$T/mnt"; }
	rm -rf "$T"
}
trap cleanup EXIT
fail() { echo "FAIL: $*"; [ -f "$T/log" ] && tail -5 "$T/log"; exit 1; }
mkdir -p "$T/store" "$T/mnt" "$T/state" "$T/bin"
ln -s "$top_builddir/mhafs/mhafs" "$T/bin/mhafs"
cat > "$T/mhafs.conf" <<EOC
node_id = 1
node_name = fstab
state_dir = $T/state
control_socket = $T/ctl.sock
log_target = stderr
EOC
PATH=$T/bin:$PATH "$helper" "$T/store" "$T/mnt" -t mhafs \
	-o "config=$T/mhafs.conf,_netdev,nofail,rw,nodev,nosuid,noatime" > "$T/log" 2>&1 ||
	fail "mount.fuse3 could not mount mhafs"
line=$(grep " $T/mnt " /proc/mounts) || fail "not mounted"
echo "# $line"
case "$line" in *" fuse.mhafs "*) ;; *) fail "type is not fuse.mhafs" ;; esac
case "$line" in *noatime*) ;; *) fail "noatime was not passed to the kernel" ;; esac
echo hello > "$T/mnt/x" && [ "$(cat "$T/store/x")" = hello ] || fail "write through the mount did not reach the store"
umount "$T/mnt" || fail "umount failed"
for _ in $(seq 50); do grep -q " $T/mnt " /proc/mounts || break; sleep 0.1; done
grep -q "unmounted $T/mnt" "$T/log" || { sleep 1; grep -q "unmounted" "$T/log"; } || fail "mhafs did not log its clean stop"
echo "PASS: mounted through mount.fuse3 as from /etc/fstab"
