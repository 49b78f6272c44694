#!/bin/sh
# tests/fs/semantics.sh: the mhafs mount must behave like the local
# filesystem it passes through to.  Runs tests/fs/fsops on a plain
# directory and on a fresh mhafs mount (default options, then again with
# xattrs=yes and with writeback_cache=yes) and requires identical
# transcripts, but for the documented difference of the default
# `xattrs = no`: there every xattr call that reaches the file system must
# fail with EOPNOTSUPP (fsops judges it, FSOPS_NO_XATTRS), so those lines
# are left out of the comparison; with xattrs=yes nothing is.  Then checks
# what a transcript cannot show: statfs of the mount equals the backing
# fs, every object seen through the mount has the backing object's inode
# number, type, mode, links, size, owner and mtime, inode numbers are the
# same after a remount, and contents read through the mount match.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
[ -x "$FSOPS" ] || skip "no fsops binary at $FSOPS"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch sem

# tree DIR: one line per object below DIR with the fields that must match;
# mhafs's own .mhafs-staging (its space reserve) is in the backing dir and
# hidden from the mount, so it is left out of both.
tree() {
	(cd "$1" && find . -mindepth 1 -path ./.mhafs-staging -prune -o \
		-printf '%P %y ino=%i mode=%m nlink=%n size=%s uid=%U gid=%G mtime=%T@\n' | sort)
}
sums() {
	(cd "$1" && find . -path ./.mhafs-staging -prune -o -type f -print0 | sort -z | xargs -0 -r sha256sum)
}

# 1. the reference: a plain directory on the same filesystem
mkdir "$T/plain" && chmod 755 "$T/plain"
"$FSOPS" "$T/plain" >"$T/plain.txt" 2>"$T/plain.err"
rc=$?
if [ $rc -ne 0 ]; then
	echo "fsops on the plain directory exited $rc:"
	grep UNEXPECTED "$T/plain.txt"
	cat "$T/plain.err"
	die "the reference run itself does not behave as expected (kernel or test bug)"
fi
note "plain directory: $(wc -l <"$T/plain.txt") transcript lines, 0 unexpected"

# no_xattr_lines: the transcript without what xattrs=no changes: the
# xattr section's lines (its heading stays) and the unprivileged setxattr
# that the permission check lets through.
no_xattr_lines() {
	sed -e '/^== xattr$/,/^== /{/^== /!d}' -e '/^setxattr pub\/userfile user.x:/d'
}

# run_variant NAME XATTRS [-o OPTS]: fsops on a fresh mount, diff against
# plain; XATTRS is "on" when the mount passes xattrs through, else "off".
run_variant() {
	_v=$1 _x=$2
	shift 2
	mkdir -p "$T/$_v/backing" "$T/$_v/mnt" "$T/$_v/state"
	chmod 755 "$T/$_v/backing"
	if ! start_mhafs "$T/$_v/backing" "$T/$_v/mnt" "$T/$_v/state" "$T/$_v/mhafs.log" "$@"; then
		fail "$_v: mhafs did not mount"
		return 1
	fi
	_pid=$MHAFS_PID
	if [ "$_x" = on ]; then
		"$FSOPS" "$T/$_v/mnt" >"$T/$_v.txt" 2>"$T/$_v.err"
		_rc=$?
		cp "$T/plain.txt" "$T/$_v.ref"
	else
		FSOPS_NO_XATTRS=1 "$FSOPS" "$T/$_v/mnt" >"$T/$_v.full" 2>"$T/$_v.err"
		_rc=$?
		_n=$(sed -n '/^== xattr$/,/^== /p' "$T/$_v.full" | grep -c ': EOPNOTSUPP$')
		[ "$_n" -ge 16 ] ||
			fail "$_v: only $_n xattr calls failed with EOPNOTSUPP (xattrs=no), expected 16"
		no_xattr_lines <"$T/$_v.full" >"$T/$_v.txt"
		no_xattr_lines <"$T/plain.txt" >"$T/$_v.ref"
	fi
	if diff -u "$T/$_v.ref" "$T/$_v.txt" >"$T/$_v.diff"; then
		note "$_v: transcript identical to the plain directory (xattrs $_x)"
	else
		fail "$_v: transcript differs from the plain directory (- plain, + mhafs):"
		cat "$T/$_v.diff"
	fi
	[ $_rc -eq 0 ] || fail "$_v: fsops exited $_rc $(cat "$T/$_v.err")"
	if ! kill -0 "$_pid" 2>/dev/null || ! is_mounted "$T/$_v/mnt"; then
		fail "$_v: mhafs died during the run; its log:"
		sed 's/^/  | /' "$T/$_v/mhafs.log"
		return 1
	fi
	return 0
}

if run_variant default off; then
	b=$T/default/backing m=$T/default/mnt
	# statfs of the mount is the backing filesystem's
	sm=$(stat -f -c 'bsize=%s frsize=%S blocks=%b files=%c namelen=%l' "$m")
	sb=$(stat -f -c 'bsize=%s frsize=%S blocks=%b files=%c namelen=%l' "$b")
	if [ "$sm" = "$sb" ]; then
		note "statfs equal: $sm"
	else
		fail "statfs of the mount ($sm) differs from the backing fs ($sb)"
	fi
	# every object: same inode number and metadata as the backing object
	tree "$m" >"$T/tree-mnt.txt"
	tree "$b" >"$T/tree-backing.txt"
	if diff -u "$T/tree-backing.txt" "$T/tree-mnt.txt" >"$T/tree.diff"; then
		note "tree: $(wc -l <"$T/tree-mnt.txt") objects, inode numbers and metadata equal the backing dir"
	else
		fail "objects seen through the mount differ from the backing dir (- backing, + mount):"
		head -60 "$T/tree.diff"
	fi
	sums "$m" >"$T/sums-mnt.txt"
	sums "$b" >"$T/sums-backing.txt"
	cmp -s "$T/sums-mnt.txt" "$T/sums-backing.txt" ||
		fail "file contents read through the mount differ from the backing files"
	# inode numbers survive a remount
	unmount_wait "$m" "$MHAFS_PID" || fail "default: mhafs did not exit cleanly on unmount"
	if is_mounted "$m"; then
		fail "could not unmount $m"
	elif start_mhafs "$b" "$m" "$T/default/state" "$T/default/mhafs.log"; then
		tree "$m" >"$T/tree-remount.txt"
		if diff -u "$T/tree-mnt.txt" "$T/tree-remount.txt" >"$T/remount.diff"; then
			note "remount: inode numbers and metadata unchanged"
		else
			fail "after a remount objects differ (- before, + after):"
			head -60 "$T/remount.diff"
		fi
		unmount_wait "$m" "$MHAFS_PID" || fail "remount: mhafs did not exit cleanly on unmount"
	else
		fail "remount failed"
	fi
fi

if run_variant xattrs on -o xattrs=yes; then
	unmount_wait "$T/xattrs/mnt" "$MHAFS_PID" ||
		fail "xattrs: mhafs did not exit cleanly on unmount"
fi

if run_variant writeback off -o writeback_cache=yes; then
	if ! unmount_wait "$T/writeback/mnt" "$MHAFS_PID"; then
		fail "writeback: mhafs did not exit cleanly on unmount; the end of its log:"
		tail -5 "$T/writeback/mhafs.log" | sed 's/^/  | /'
	fi
fi

[ $FAILED -eq 0 ] || exit 1
echo "PASS: fsops transcripts identical on ext4 and mhafs (xattrs=no: EOPNOTSUPP); statfs, inode numbers and metadata match"
exit 0
