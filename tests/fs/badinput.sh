#!/bin/sh
# tests/fs/badinput.sh: every bad invocation of mhafs must end with a
# non-zero exit and a clear message on stderr that names what is wrong,
# and must leave nothing behind: no mount, no daemon, no state dir, an
# unchanged backing dir.  mhafs is run as an admin would run it (it
# daemonizes), so errors must be found before it detaches.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch bad

B=$T/backing
M=$T/mnt
mkdir -p "$B" "$M"
echo hello >"$B/hello"
echo "a regular file" >"$T/afile"
n=0

# bad NAME REGEX... -- ARGS...: run mhafs ARGS; every extended REGEX must
# match its stderr (case-insensitive).  Uses the state dir $S (which the
# config files name) and checks it was not created.
bad() {
	_name=$1
	shift
	_pats=""
	while [ "$1" != "--" ]; do
		_pats="$_pats
$1"
		shift
	done
	shift
	n=$((n + 1))
	(cd "$B" && find . -printf '%P %y %s %T@\n' | sort) >"$T/before.$n"
	timeout 15 "$MHAFS" "$@" >"$T/out.$n" 2>"$T/err.$n"
	_rc=$?
	_ok=1
	if [ $_rc -eq 0 ]; then
		fail "$_name: exit status 0"; _ok=0
	elif [ $_rc -eq 124 ]; then
		fail "$_name: still running after 15 s"; _ok=0
	elif [ $_rc -ge 128 ]; then
		fail "$_name: killed by signal $((_rc - 128))"; _ok=0
	fi
	if [ ! -s "$T/err.$n" ]; then
		fail "$_name: nothing on stderr"; _ok=0
	fi
	_lines=$(grep -c . "$T/err.$n")
	if [ "$_lines" -gt 2 ]; then
		fail "$_name: $_lines lines on stderr, expected one clear error"; _ok=0
	fi
	_old_ifs=$IFS
	IFS='
'
	for _p in $_pats; do
		if ! grep -qiE -- "$_p" "$T/err.$n"; then
			fail "$_name: stderr does not match /$_p/"; _ok=0
		fi
	done
	IFS=$_old_ifs
	if is_mounted "$M" && [ "$(mount_count "$M")" -gt "${EXPECT_MOUNTS:-0}" ]; then
		fail "$_name: left a mount on $M"; _ok=0
		while [ "$(mount_count "$M")" -gt "${EXPECT_MOUNTS:-0}" ]; do
			umount -l "$M" || break
		done
	fi
	if [ -n "${S:-}" ] && [ -e "$S" ]; then
		fail "$_name: created the state dir $S"; _ok=0
		rm -rf "$S"   # so the next case is judged on its own
	fi
	(cd "$B" && find . -printf '%P %y %s %T@\n' | sort) >"$T/after.$n"
	if ! cmp -s "$T/before.$n" "$T/after.$n"; then
		fail "$_name: changed the backing dir"; _ok=0
	fi
	[ $_ok -eq 1 ] && note "ok: $_name: exit $_rc: $(head -c 300 "$T/err.$n" | tr '\n' '|')"
	[ $_ok -eq 1 ] || { echo "  stderr was:"; sed 's/^/  | /' "$T/err.$n"; }
}

# a good config whose state dir must never be created by a failed start
S=$T/state-unused
C=$T/good.conf
write_conf "$C" "$S"

bad "missing backing path" "$T/no-such-backing" "no such|not exist|not found|missing" -- \
	"$T/no-such-backing" "$M" -o "config=$C"
bad "backing path is a regular file" "$T/afile" "not a directory" -- \
	"$T/afile" "$M" -o "config=$C"
bad "missing mount point" "$T/no-such-mnt" "no such|not exist|not found|missing" -- \
	"$B" "$T/no-such-mnt" -o "config=$C"
bad "unknown -o key=value option" "no_such_option" -- \
	"$B" "$M" -o "config=$C,no_such_option=1"
bad "unknown -o flag" "no_such_flag" -- \
	"$B" "$M" -o "config=$C,no_such_flag"
bad "bad -o value" "node_id" -- \
	"$B" "$M" -o "config=$C,node_id=0"

printf '# line 1\nnode_id = 1\nthis line has no equals sign\n' >"$T/malformed.conf"
bad "malformed config (no '=')" "$T/malformed.conf:3" -- \
	"$B" "$M" -o "config=$T/malformed.conf"
printf 'node_id = 1\nno_such_key = 5\n' >"$T/unknown-key.conf"
bad "config with an unknown key" "$T/unknown-key.conf:2" "no_such_key" -- \
	"$B" "$M" -o "config=$T/unknown-key.conf"
printf 'node_id = one\n' >"$T/bad-value.conf"
bad "config with a bad value" "$T/bad-value.conf:1" "node_id" -- \
	"$B" "$M" -o "config=$T/bad-value.conf"
bad "config file missing" "$T/no-such.conf" -- \
	"$B" "$M" -o "config=$T/no-such.conf"
printf 'node_name = x\nstate_dir = %s\nlog_target = stderr\n' "$S" >"$T/no-id.conf"
bad "missing node_id" "node_id" -- \
	"$B" "$M" -o "config=$T/no-id.conf"

# mounting twice: the second start must refuse and leave the first alone
S=""
mkdir -p "$T/state"
if start_mhafs "$B" "$M" "$T/state" "$T/first.log"; then
	first=$MHAFS_PID
	EXPECT_MOUNTS=1
	bad "mount point already mounted" "already mounted|is a mount|mounted" -- \
		"$B" "$M" -o "config=$T/state/mhafs.conf"
	EXPECT_MOUNTS=0
	c=$(mount_count "$M")
	[ "$c" -eq 1 ] || fail "already mounted: $c mounts stacked on $M"
	if ! kill -0 "$first" 2>/dev/null; then
		fail "already mounted: the first mhafs died"
	elif [ "$(cat "$M/hello" 2>&1)" != hello ]; then
		fail "already mounted: the first mount no longer serves $M/hello"
	else
		echo again >"$M/after" || fail "already mounted: cannot write through the first mount"
	fi
	unmount_wait "$M" "$first" || fail "already mounted: the first mhafs did not exit cleanly on unmount"
	if [ -f "$T/state/journal.db" ] && command -v sqlite3 >/dev/null; then
		ic=$(sqlite3 "$T/state/journal.db" "PRAGMA integrity_check" 2>&1)
		[ "$ic" = ok ] || fail "already mounted: journal integrity_check says: $ic"
	fi
else
	fail "could not mount once (for the already-mounted case)"
fi
is_mounted "$M" && fail "$M still mounted at the end"

[ $FAILED -eq 0 ] || exit 1
echo "PASS: $n bad invocations each refused with a clear error, nothing left mounted"
exit 0
