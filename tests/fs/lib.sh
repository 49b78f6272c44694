# tests/fs/lib.sh: shell helpers shared by the tests/fs scripts (sourced).
# Skip rules, a scratch directory, starting an mhafs mount in the
# foreground with its own state dir and log, and a cleanup that unmounts
# every mount and ends every process the test started (by PID), run from
# an EXIT trap.  Scratch data is removed only once nothing is mounted in it.

: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
if [ -z "${top_builddir:-}" ]; then
	# run by hand from the source tree: use its _build/ if there is one
	if [ -d "$top_srcdir/_build" ]; then top_builddir=$top_srcdir/_build; else top_builddir=$top_srcdir; fi
fi
MHAFS=${MHAFS:-$top_builddir/mhafs/mhafs}
FSOPS=$top_builddir/tests/fs/fsops
FILLFS=$top_builddir/tests/fs/fillfs
MHACTL=${MHACTL:-$top_builddir/tools/mhactl}

T=""            # scratch dir of this test
MOUNTS=""       # mount points to unmount on exit (any kind)
PIDS=""         # processes to end on exit
FAILED=0

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; FAILED=1; }
note() { echo "# $*"; }
die() { echo "FAIL: $*"; exit 1; }

need_root_fuse() {
	[ -z "${MHAFS_QUICK:-}" ] || skip "quick run (unit tests only)"
	[ "$(id -u)" = 0 ] || skip "needs root"
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	command -v fusermount3 >/dev/null || skip "no fusermount3 (Debian package fuse3)"
	[ -x "$MHAFS" ] || skip "no mhafs binary at $MHAFS"
}

# is_mounted DIR: whether DIR is a mount point (by /proc/self/mountinfo).
is_mounted() {
	awk -v m="$1" '$5 == m { f = 1 } END { exit !f }' /proc/self/mountinfo
}

# mount_count DIR: how many mounts are stacked on DIR.
mount_count() {
	awk -v m="$1" '$5 == m { n++ } END { print n + 0 }' /proc/self/mountinfo
}

# own_mount_ns "$@": re-run the calling script in a private mount namespace,
# so its mounts never leak into namespaces other programs create meanwhile
# (a copy there keeps the FUSE connection alive after our unmount) and die
# with it whatever happens.
own_mount_ns() {
	if [ -z "${MHAFS_TEST_OWN_NS:-}" ]; then
		command -v unshare >/dev/null || skip "no unshare (Debian package util-linux)"
		MHAFS_TEST_OWN_NS=1 exec unshare --mount --propagation private sh "$0" "$@"
	fi
}

# scratch NAME: the test's directory; /var/tmp (on disk on Debian, where
# user xattrs work: tmpfs lacks them before Linux 6.6) unless TMPDIR is set.
scratch() {
	T=$(mktemp -d "${TMPDIR:-/var/tmp}/mhafs-$1.XXXXXX") || die "mktemp failed"
	chmod 755 "$T"
}

# unmount_wait DIR [PID]: unmount DIR and wait for the daemon PID to exit.
# Returns 1 (after ending it) when it had not exited 10 s later, or when
# DIR stayed mounted.
unmount_wait() {
	_d=$1 _p=${2:-} _hung="" _err=""
	# a just-closed file can keep the mount busy for a moment (FUSE sends
	# RELEASE asynchronously): retry for up to 5 s, as an admin would
	_i=0
	while is_mounted "$_d" && [ $_i -lt 50 ]; do
		_err=$(fusermount3 -u "$_d" 2>&1) && break
		sleep 0.1; _i=$((_i + 1))
	done
	if is_mounted "$_d"; then
		echo "cannot unmount $_d for 5 s: $_err"
	elif [ $_i -gt 0 ]; then
		note "unmount of $_d needed $_i retries (last: $_err)"
	fi
	if [ -n "$_p" ]; then
		_i=0
		while kill -0 "$_p" 2>/dev/null && [ $_i -lt 100 ]; do
			sleep 0.1; _i=$((_i + 1))
		done
		if kill -0 "$_p" 2>/dev/null; then
			_hung=1
			echo "mhafs pid $_p still running 10 s after unmounting $_d; its threads:"
			for _t in /proc/"$_p"/task/*; do
				echo "  $(cat "$_t/comm" 2>/dev/null) wchan=$(cat "$_t/wchan" 2>/dev/null) $(sed -n 's/^State:\t*//p' "$_t/status" 2>/dev/null)"
			done
			for _f in $(grep -l " $_d " /proc/[0-9]*/mountinfo 2>/dev/null); do
				_q=${_f#/proc/}; _q=${_q%/mountinfo}
				echo "  still mounted in the mount namespace of pid $_q: $(tr '\0' ' ' <"/proc/$_q/cmdline" 2>/dev/null | head -c 120)"
			done
			kill -TERM "$_p" 2>/dev/null || true
			sleep 1
			kill -KILL "$_p" 2>/dev/null || true
		fi
		wait "$_p" 2>/dev/null || true
	fi
	if is_mounted "$_d"; then
		umount -l "$_d" 2>/dev/null || true
		return 1
	fi
	[ -z "${_hung:-}" ]
}

cleanup() {
	_rc=$?
	set +e
	_rev=""
	for _m in $MOUNTS; do _rev="$_m $_rev"; done   # innermost first
	for _m in $_rev; do
		while is_mounted "$_m"; do
			fusermount3 -u "$_m" 2>/dev/null || umount "$_m" 2>/dev/null || umount -l "$_m" 2>/dev/null || break
		done
	done
	for _p in $PIDS; do
		if kill -0 "$_p" 2>/dev/null; then
			kill -TERM "$_p" 2>/dev/null
			sleep 0.5
			kill -KILL "$_p" 2>/dev/null
		fi
		wait "$_p" 2>/dev/null
	done
	if [ -n "$T" ] && [ -d "$T" ]; then
		if grep -q " $T" /proc/self/mountinfo; then
			echo "cleanup: something is still mounted under $T; not removing it"
			_rc=1
		else
			rm -rf "$T"
		fi
	fi
	exit "$_rc"
}

# write_conf FILE STATE_DIR [KEY=VALUE...]: a minimal mhafs.conf.
write_conf() {
	_f=$1 _s=$2
	shift 2
	{
		echo "# written by $(basename "$0")"
		echo "node_name = fstest"
		echo "node_id = 1"
		echo "state_dir = $_s"
		echo "control_socket = $_s/mhafs.sock"
		echo "log_target = stderr"
		for _kv in "$@"; do
			echo "${_kv%%=*} = ${_kv#*=}"
		done
	} >"$_f"
}

# start_mhafs BACKING MNT STATE LOG [-o extra]: mount in the foreground
# (background job), wait until the mount appears.  Sets MHAFS_PID.
# Returns non-zero (with the log shown) when it did not mount.
start_mhafs() {
	_b=$1 _m=$2 _s=$3 _l=$4
	shift 4
	mkdir -p "$_s"
	[ -f "$_s/mhafs.conf" ] || write_conf "$_s/mhafs.conf" "$_s"
	"$MHAFS" "$_b" "$_m" -f -o "config=$_s/mhafs.conf" "$@" >>"$_l" 2>&1 &
	MHAFS_PID=$!
	PIDS="$PIDS $MHAFS_PID"
	case " $MOUNTS " in *" $_m "*) ;; *) MOUNTS="$MOUNTS $_m" ;; esac
	_i=0
	while [ $_i -lt 100 ]; do
		if is_mounted "$_m"; then
			return 0
		fi
		if ! kill -0 "$MHAFS_PID" 2>/dev/null; then
			break
		fi
		sleep 0.1; _i=$((_i + 1))
	done
	echo "mhafs did not mount $_m; its log:"
	sed 's/^/  | /' "$_l"
	return 1
}
