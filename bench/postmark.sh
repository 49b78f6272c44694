#!/bin/sh
# bench/postmark.sh: Debian's postmark (a mail-server-like small-file
# workload: create, read, append, delete) on native ext4 and on an mhafs
# mount over a directory of the same disk, interleaved round by round
# (alternating which goes first), and prints transactions/s for each and
# the ratio mhafs/native (median and range).  A figure, not a pass/fail
# test; not run by make check.
#
# Environment: ROUNDS (3), NUMBER (500 initial files), TRANSACTIONS (10000),
# BENCH_DIR (/var/tmp: must be on the disk), MHAFS_OPTS (extra -o options,
# e.g. writeback_cache=yes), top_srcdir/top_builddir (derived from $0).
#
# transactions/s is measured on the wall clock around the whole postmark
# run (postmark's own figure has a resolution of one second); with few
# initial files the run is dominated by the transaction phase.  Postmark's
# own figure is printed alongside.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
ROUNDS=${ROUNDS:-3}
NUMBER=${NUMBER:-500}
TRANSACTIONS=${TRANSACTIONS:-10000}
BENCH_DIR=${BENCH_DIR:-/var/tmp}
MHAFS_OPTS=${MHAFS_OPTS:-}

[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse"
[ -x "$MHAFS" ] || skip "no mhafs binary at $MHAFS (build first)"
command -v postmark >/dev/null || skip "no postmark (Debian package postmark)"
for v in "$ROUNDS" "$NUMBER" "$TRANSACTIONS"; do
	case "$v" in '' | *[!0-9]*) die "ROUNDS, NUMBER and TRANSACTIONS must be whole numbers" ;; esac
done
[ "$ROUNDS" -ge 1 ] || die "ROUNDS must be at least 1"
own_mount_ns "$@"

trap cleanup EXIT
trap 'exit 1' INT TERM HUP
T=$(mktemp -d "$BENCH_DIR/mhafs-postmark.XXXXXX") || die "cannot make a directory in $BENCH_DIR"
fstype=$(findmnt -no FSTYPE --target "$T" 2>/dev/null || stat -f -c %T "$T")
mkdir -p "$T/native" "$T/backing" "$T/mnt" "$T/state"
set -- ${MHAFS_OPTS:+-o "$MHAFS_OPTS"}
start_mhafs "$T/backing" "$T/mnt" "$T/state" "$T/mhafs.log" "$@" || die "mhafs did not mount"

# one DIR: run postmark in DIR; prints "WALL_TXS POSTMARK_TXS"
one() {
	_cfg=$T/postmark.cfg
	cat >"$_cfg" <<-EOF
	set location $1
	set number $NUMBER
	set transactions $TRANSACTIONS
	set size 2000 60000
	set subdirectories 20
	set read 4096
	set write 4096
	set buffering false
	set seed 42
	run
	quit
	EOF
	sync
	_t0=$(date +%s.%N)
	postmark "$_cfg" >"$T/pm.out" 2>&1 || { cat "$T/pm.out" >&2; die "postmark failed in $1"; }
	_t1=$(date +%s.%N)
	_own=$(sed -n 's/.*seconds of transactions (\([0-9]*\) per second).*/\1/p' "$T/pm.out")
	echo "$_t0 $_t1 ${_own:-?}" | awk -v n="$TRANSACTIONS" '{ printf "%.0f %s\n", n / ($2 - $1), $3 }'
}

echo "postmark: $ROUNDS rounds, $NUMBER files, $TRANSACTIONS transactions, sizes 2000-60000 B"
echo "native: $T/native ($fstype); mhafs: $T/mnt over $T/backing (same fs)${MHAFS_OPTS:+, -o $MHAFS_OPTS}"
printf '%-6s %16s %16s %8s   %s\n' round "native tx/s" "mhafs tx/s" ratio "(postmark's own tx/s: native, mhafs)"
r=1
: >"$T/results"
while [ $r -le "$ROUNDS" ]; do
	if [ $((r % 2)) -eq 1 ]; then
		n=$(one "$T/native"); m=$(one "$T/mnt")
	else
		m=$(one "$T/mnt"); n=$(one "$T/native")
	fi
	set -- $n $m
	ratio=$(awk -v a="$3" -v b="$1" 'BEGIN { printf "%.3f", a / b }')
	printf '%-6s %16s %16s %8s   (%s, %s)\n' "$r" "$1" "$3" "$ratio" "$2" "$4"
	echo "$1 $3 $ratio" >>"$T/results"
	r=$((r + 1))
done
kill -0 "$MHAFS_PID" 2>/dev/null || die "mhafs died during the benchmark"
unmount_wait "$T/mnt" "$MHAFS_PID"

# median and range of a column
stats() {
	awk -v c="$1" '{ print $c }' "$T/results" | sort -g | awk '
		{ v[NR] = $1 }
		END { m = (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
		      printf "median %s, range %s..%s", m, v[1], v[NR] }'
}
echo "native tx/s: $(stats 1)"
echo "mhafs  tx/s: $(stats 2)"
echo "mhafs/native ratio: $(stats 3)"
