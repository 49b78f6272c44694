#!/bin/sh
# tests/fs/enospc.sh: full filesystems under mhafs.
#  A. The backing dir on a 4 MiB tmpfs: a writer fills it and must get
#     ENOSPC (not EIO); the size seen through the mount equals the backing
#     file's; after freeing space writes work again, the journal passes
#     PRAGMA integrity_check and `mhactl journal`, and mhafs still serves.
#  B. The state dir (journal) on a full tmpfs: every create/mkdir/write the
#     caller is told succeeded must be in the journal; the others must fail
#     with ENOSPC; a failed create must leave no file behind.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
[ -x "$FILLFS" ] || skip "no fillfs binary at $FILLFS"
command -v sqlite3 >/dev/null || skip "no sqlite3 (Debian package sqlite3)"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch enospc

# field NAME LINE: value of NAME=... in a fillfs result line
field() { echo "$2" | tr ' ' '\n' | sed -n "s/^$1=//p"; }

integrity() { # STATE: the journal database passes integrity_check
	_ic=$(sqlite3 "file:$1/journal.db?mode=ro" "PRAGMA integrity_check" 2>&1)
	if [ "$_ic" = ok ]; then note "journal integrity_check: ok"; else fail "journal integrity_check: $_ic"; fi
}

mhactl_journal() { # STATE: mhactl journal works and prints entries
	if [ ! -x "$MHACTL" ]; then
		fail "no mhactl at $MHACTL: cannot check 'mhactl journal'"
		return
	fi
	if "$MHACTL" -c "$1/mhafs.conf" journal >"$T/mhactl.out" 2>"$T/mhactl.err"; then
		note "mhactl journal: $(wc -l <"$T/mhactl.out") entries"
		[ -s "$T/mhactl.out" ] || fail "mhactl journal printed nothing"
	else
		fail "mhactl journal failed: $(cat "$T/mhactl.err")"
	fi
}

# journaled STATE PATH OP: whether the journal has op number OP for PATH
# (store-relative).  Column names as in mhafs/journal.c.
journaled() {
	_r=$(sqlite3 "file:$1/journal.db?mode=ro" \
		"SELECT count(*) FROM journal WHERE path = '$2' AND op = $3" 2>&1)
	case "$_r" in
	[0-9]*) [ "$_r" -gt 0 ] ;;
	*) fail "cannot query the journal: $_r"; return 1 ;;
	esac
}

serving() { # MNT: the mount answers
	if ! ls "$1" >/dev/null 2>&1; then fail "mhafs no longer serves $1"; return 1; fi
	return 0
}

# ---- A: backing fs full -----------------------------------------------
mkdir -p "$T/small" "$T/mntA" "$T/stateA"
mount -t tmpfs -o size=4m,mode=755 mhafs-test "$T/small" || die "cannot mount tmpfs"
MOUNTS="$MOUNTS $T/small"
mkdir "$T/small/store" && chmod 755 "$T/small/store"
start_mhafs "$T/small/store" "$T/mntA" "$T/stateA" "$T/mhafsA.log" || die "mhafs did not mount (A)"
pidA=$MHAFS_PID
echo before >"$T/mntA/before" || fail "A: cannot write before filling"
r=$("$FILLFS" "$T/mntA/big")
note "A: filling the backing fs: $r"
case "$(field errno "$r")" in
ENOSPC) ;;
ok) fail "A: the writer never got an error on a full 4 MiB backing fs" ;;
*) fail "A: the writer got $(field errno "$r") at $(field stage "$r"), expected ENOSPC" ;;
esac
sm=$(stat -c %s "$T/mntA/big" 2>&1)
sb=$(stat -c %s "$T/small/store/big" 2>&1)
[ "$sm" = "$sb" ] || fail "A: size of big through the mount ($sm) differs from the backing file ($sb)"
r=$("$FILLFS" "$T/mntA/while-full" 100000)
note "A: another write while full: $r"
case "$(field errno "$r")" in
ENOSPC) ;;
*) fail "A: writing while full gave $(field errno "$r") at $(field stage "$r"), expected ENOSPC" ;;
esac
rm -f "$T/mntA/big" "$T/mntA/while-full" || fail "A: cannot remove files while full"
r=$("$FILLFS" "$T/mntA/after" 1000000)
note "A: after freeing space: $r"
[ "$(field stage "$r")" = done ] || fail "A: writing after freeing space: $r"
[ "$(stat -c %s "$T/mntA/after" 2>&1)" = 1000000 ] || fail "A: $T/mntA/after has the wrong size"
[ "$(cat "$T/mntA/before" 2>&1)" = before ] || fail "A: the file written before is damaged"
if serving "$T/mntA" && kill -0 "$pidA" 2>/dev/null; then
	note "A: mhafs still serves"
else
	fail "A: mhafs died; its log:"; sed 's/^/  | /' "$T/mhafsA.log"
fi
sleep 0.5
journaled "$T/stateA" after 10 || fail "A: no WRITE entry for 'after' in the journal"
integrity "$T/stateA"
mhactl_journal "$T/stateA"
unmount_wait "$T/mntA" "$pidA" || fail "A: mhafs did not exit cleanly on unmount"

# ---- B: state dir (journal) fs full -------------------------------------
mkdir -p "$T/statefs" "$T/backB" "$T/mntB"
chmod 755 "$T/backB"
mount -t tmpfs -o size=2m,mode=700 mhafs-test "$T/statefs" || die "cannot mount tmpfs"
MOUNTS="$MOUNTS $T/statefs"
S=$T/statefs/state
start_mhafs "$T/backB" "$T/mntB" "$S" "$T/mhafsB.log" || die "mhafs did not mount (B)"
pidB=$MHAFS_PID
echo warm >"$T/mntB/warm" || fail "B: cannot write before filling"
r=$("$FILLFS" "$T/statefs/filler")
note "B: filled the state fs: $r"
[ "$(field errno "$r")" = ENOSPC ] || fail "B: could not fill the state fs: $r"
ok=0 bad=0 nospc=0 other=""
i=0
while [ $i -lt 40 ]; do
	i=$((i + 1))
	r=$("$FILLFS" "$T/mntB/f$i" 4096)
	e=$(field errno "$r") stage=$(field stage "$r")
	case "$e" in
	ok) ok=$((ok + 1)); echo "f$i" >>"$T/B-succeeded" ;;
	ENOSPC) nospc=$((nospc + 1))
		if [ "$stage" = open ] && [ -e "$T/mntB/f$i" ]; then
			fail "B: create of f$i failed with ENOSPC but f$i exists afterwards"
		fi ;;
	*) bad=$((bad + 1)); other="$other f$i:$stage:$e" ;;
	esac
	if m=$(mkdir "$T/mntB/d$i" 2>&1); then
		ok=$((ok + 1)); echo "d$i" >>"$T/B-dirs"
	else
		case "$m" in
		*"No space left"*) nospc=$((nospc + 1)) ;;
		*) bad=$((bad + 1)); other="$other d$i:mkdir:$m" ;;
		esac
	fi
done
note "B: while the journal fs was full: $ok ops succeeded, $nospc got ENOSPC, $bad other errors"
[ $bad -eq 0 ] || fail "B: errors other than ENOSPC:$other"
[ $nospc -gt 0 ] || fail "B: no operation failed while the journal's filesystem was full"
kill -0 "$pidB" 2>/dev/null || { fail "B: mhafs died; its log:"; sed 's/^/  | /' "$T/mhafsB.log"; }
sleep 1   # let late (asynchronous) releases reach the journal first
rm -f "$T/statefs/filler"
unjournaled=""
if [ -f "$T/B-succeeded" ]; then
	while read -r f; do
		journaled "$S" "$f" 3 && journaled "$S" "$f" 10 || unjournaled="$unjournaled $f"
	done <"$T/B-succeeded"
fi
if [ -f "$T/B-dirs" ]; then
	while read -r d; do
		journaled "$S" "$d" 1 || unjournaled="$unjournaled $d/"
	done <"$T/B-dirs"
fi
if [ -n "$unjournaled" ]; then
	fail "B: the caller was told these succeeded but the journal lacks their create/write/mkdir entry:$unjournaled"
else
	note "B: every acknowledged operation is in the journal"
fi
r=$("$FILLFS" "$T/mntB/recovered" 10000)
[ "$(field stage "$r")" = done ] || fail "B: writing after freeing journal space: $r"
serving "$T/mntB" && kill -0 "$pidB" 2>/dev/null && note "B: mhafs still serves"
sleep 0.5
journaled "$S" recovered 10 || fail "B: no WRITE entry for 'recovered' after freeing space"
integrity "$S"
mhactl_journal "$S"
unmount_wait "$T/mntB" "$pidB" || fail "B: mhafs did not exit cleanly on unmount"

[ $FAILED -eq 0 ] || exit 1
echo "PASS: ENOSPC reported on a full backing fs and a full journal fs; journal intact; no unjournaled success"
exit 0
