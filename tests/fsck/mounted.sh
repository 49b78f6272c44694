#!/bin/sh
# mounted.sh: mhafsck --repair refuses a store that a running mhafs serves
# (named by its backing directory or by its mount point) and changes
# nothing; a dry run still reports; --force overrides.  Then a catalog
# made by mhafs itself: an expunge through the mount is a tombstone that
# deletes the message on a copy that missed it.  Runs in its own
# mount namespace with a real mhafs mount (tests/fs/lib.sh helpers).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/fs/lib.sh"
own_mount_ns "$@"
need_root_fuse
command -v sqlite3 >/dev/null 2>&1 || skip "no sqlite3 CLI"
FSCK=$top_builddir/tools/mhafsck
trap cleanup EXIT INT TERM
scratch fsck
sh "$top_srcdir/tests/fsck/mkstores.sh" "$T" || die "mkstores"
mkdir -p "$T/mnt"
start_mhafs "$T/a" "$T/mnt" "$T/mstate" "$T/mhafs.log" || die "mhafs did not mount"

fp() { (cd "$1" && find . -printf '%p %y %m %s %T@\n' | LC_ALL=C sort); }
fp "$T/a" >"$T/fa.before"
fp "$T/b" >"$T/fb.before"

"$FSCK" --repair "$T/a" "$T/b" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 8 ] && grep -q "in use by a mounted mhafs" "$T/err" &&
	echo "ok: repair of a served backing dir refused" || fail "backing dir: exit $rc: $(cat "$T/err")"
"$FSCK" --repair "$T/b" "$T/mnt" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 8 ] && grep -q "in use by a mounted mhafs" "$T/err" &&
	echo "ok: repair through the mount point refused" || fail "mount point: exit $rc: $(cat "$T/err")"
"$FSCK" --repair "$T/a/u1" "$T/b/u1" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 8 ] && grep -q "in use by a mounted mhafs" "$T/err" &&
	echo "ok: repair of a directory inside a served store refused" || fail "subdir: exit $rc: $(cat "$T/err")"
fp "$T/a" >"$T/fa.after"
fp "$T/b" >"$T/fb.after"
cmp -s "$T/fa.before" "$T/fa.after" && cmp -s "$T/fb.before" "$T/fb.after" &&
	echo "ok: refused repairs changed nothing" || fail "a refused repair changed a store"

"$FSCK" --dry-run "$T/a" "$T/b" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 4 ] && echo "ok: a dry run works on a served store" || fail "dry run: exit $rc: $(cat "$T/err")"
"$FSCK" --repair --force "$T/a" "$T/b" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && echo "ok: --force repairs" || fail "--force: exit $rc: $(cat "$T/err")"

unmount_wait "$T/mnt" "$MHAFS_PID" || fail "unmount"

# A real catalog: deliver and expunge a message through mhafs, with a copy
# of the store taken in between (the peer that never saw the expunge).
mkdir -p "$T/c/u1/Maildir/cur" "$T/c/u1/Maildir/new" "$T/c/u1/Maildir/tmp" "$T/cmnt"
start_mhafs "$T/c" "$T/cmnt" "$T/cstate" "$T/mhafs-c.log" || die "mhafs did not mount c"
X=1700000100.M1P1.real
printf 'Subject: x\n\nx\n' >"$T/cmnt/u1/Maildir/cur/$X:2,S"
printf 'Subject: y\n\ny\n' >"$T/cmnt/u1/Maildir/new/1700000101.M2P2.real"
cp -a "$T/c" "$T/d"
sleep 0.1
rm "$T/cmnt/u1/Maildir/cur/$X:2,S"
unmount_wait "$T/cmnt" "$MHAFS_PID" || fail "unmount c"
mkdir -p "$T/dstate"
sqlite3 "$T/dstate/journal.db" "CREATE TABLE catalog(path TEXT PRIMARY KEY, kind TEXT NOT NULL,
 mode INTEGER, uid INTEGER, gid INTEGER, size INTEGER, mtime_ns INTEGER, ino INTEGER,
 hash BLOB, hlc INTEGER NOT NULL, origin INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)"
"$FSCK" --state-a "$T/cstate" --state-b "$T/dstate" "$T/c" "$T/d" >"$T/out" 2>"$T/err"
rc=$?
cat "$T/out"
[ "$rc" = 4 ] && grep -qF "missing      u1/Maildir/cur/$X:2,S: only on b; expunged on a later: delete on b [delete-on-b" "$T/out" &&
	[ "$(grep -vc '^mhafsck: ' "$T/out")" = 1 ] &&
	echo "ok: mhafs's own catalog tombstone expunges on the peer" || fail "real catalog: exit $rc: $(cat "$T/err")"
"$FSCK" --repair --state-a "$T/cstate" --state-b "$T/dstate" "$T/c" "$T/d" >"$T/out" 2>"$T/err"
rc=$?
[ "$rc" = 1 ] && [ ! -e "$T/d/u1/Maildir/cur/$X:2,S" ] && [ -f "$T/d/u1/Maildir/new/1700000101.M2P2.real" ] &&
	echo "ok: repaired with mhafs's catalog" || fail "repair with a real catalog: exit $rc: $(cat "$T/err")"
[ "$FAILED" = 0 ] && echo "mounted.sh: all passed"
exit "$FAILED"
