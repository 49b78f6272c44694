#!/bin/sh
# tests/crash/crash.sh: kill -9 of mhafs in the middle of a Maildir delivery
# burst, then a remount.  Requires: the start-up check ran (its log line),
# `mhactl check --hash` finds catalog and backing tree in agreement, every
# delivery whose rename returned is in new/ on the backing store and live in
# the catalog with the hash xxhsum computes, and nothing node-local (tmp/)
# is cataloged.  Skips (77) without root, /dev/fuse, fusermount3 or python3.
set -u

skip() { echo "crash.sh: SKIP: $*"; exit 77; }
fail() { echo "crash.sh: FAIL: $*"; exit 1; }

[ -n "${MHAFS_QUICK:-}" ] && skip "quick run (unit tests only)"
[ "$(id -u)" = 0 ] || skip "needs root"
[ -c /dev/fuse ] || skip "no /dev/fuse"
command -v fusermount3 >/dev/null || skip "no fusermount3 (Debian package fuse3)"
[ -x /usr/bin/python3 ] || skip "no /usr/bin/python3"
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
MHAFS=$top_builddir/mhafs/mhafs
MHACTL=$top_builddir/tools/mhactl
DELIVER=$top_srcdir/tests/crash/deliver.py
[ -x "$MHAFS" ] && [ -x "$MHACTL" ] || skip "mhafs or mhactl not built"
ASAN_OPTIONS=detect_leaks=0 "$MHAFS" --help 2>&1 | grep -q MOUNTPOINT || skip "$MHAFS is not the FUSE daemon yet"

T=$(mktemp -d /tmp/mhafs-crash.XXXXXX) || fail "mktemp"
B=$T/backing M=$T/mnt S=$T/state CONF=$T/mhafs.conf
mkdir -p "$B" "$M" "$S" "$T/logs"
MHAFS_PID= DELIVER_PID=

cleanup() {
	[ -n "$DELIVER_PID" ] && kill -9 "$DELIVER_PID" 2>/dev/null
	[ -n "$MHAFS_PID" ] && kill -9 "$MHAFS_PID" 2>/dev/null
	# writers are children of the helper: end them by their own PIDs
	for f in "$T"/logs/pids; do
		[ -f "$f" ] && for p in $(cat "$f"); do kill -9 "$p" 2>/dev/null; done
	done
	if grep -q " $M " /proc/mounts 2>/dev/null; then
		fusermount3 -uz "$M" 2>/dev/null || umount -l "$M" 2>/dev/null
	fi
	grep -q " $M " /proc/mounts 2>/dev/null || rm -rf --one-file-system "$T"
}
trap cleanup EXIT
trap 'exit 1' INT TERM HUP

cat > "$CONF" <<CONF
node_id = 1
node_name = crash-a
backing_dir = $B
state_dir = $S
log_target = stderr
log_level = info
CONF

# mount LOG: start mhafs in the foreground (background job), wait for it.
mount_fs() {
	"$MHAFS" "$B" "$M" -f -o "config=$CONF" 2>"$1" &
	MHAFS_PID=$!
	i=0
	while ! grep -q " $M " /proc/mounts; do
		kill -0 "$MHAFS_PID" 2>/dev/null || { cat "$1"; fail "mhafs exited before mounting"; }
		i=$((i + 1))
		[ $i -gt 100 ] && { cat "$1"; fail "mount did not appear in 10 s"; }
		sleep 0.1
	done
}

mount_fs "$T/mhafs-1.log"

# A delivery burst: 4 writers for up to 20 s; kill -9 mhafs once at least
# 60 messages are in (the writers are still going at full speed then).
/usr/bin/python3 "$DELIVER" "$M" 4 20 "$T/logs" 2>"$T/deliver.err" &
DELIVER_PID=$!
i=0
while :; do
	n=$(cat "$T"/logs/writer-*.log 2>/dev/null | wc -l)
	[ "$n" -ge 60 ] && break
	kill -0 "$DELIVER_PID" 2>/dev/null || { cat "$T/deliver.err"; fail "delivery ended early ($n delivered)"; }
	i=$((i + 1))
	[ $i -gt 300 ] && fail "only $n deliveries in 30 s"
	sleep 0.1
done
kill -9 "$MHAFS_PID"
wait "$MHAFS_PID" 2>/dev/null
MHAFS_PID=
wait "$DELIVER_PID"
DELIVER_PID=
delivered=$(cat "$T"/logs/writer-*.log | wc -l)
echo "crash.sh: killed mhafs after $n deliveries; $delivered completed in all"
grep -q "stopped after" "$T/deliver.err" || fail "no writer saw the mount die: the kill was not mid-burst"

# The dead mount: detach it.  Then, as if a delivery's rename had reached
# the disk but not the journal, put one message straight into the backing
# new/ and remove one cataloged message: the start-up check must find both.
fusermount3 -uz "$M" 2>/dev/null || umount -l "$M" || fail "cannot detach the dead mount"
head -c 8192 /dev/urandom >"$B/u0/Maildir/new/1.M1P1.planted"
victim=$(head -n 1 "$T/logs/writer-1.log")
rm -f "$B/u1/Maildir/new/$victim"
sed -i 1d "$T/logs/writer-1.log"
mount_fs "$T/mhafs-2.log"
grep -q "startup check: last stop was not clean" "$T/mhafs-2.log" ||
	{ cat "$T/mhafs-2.log"; fail "no start-up check after the crash"; }
line=$(grep "startup check:" "$T/mhafs-2.log")
echo "crash.sh: $line"
added=$(echo "$line" | sed -n 's/.* \([0-9]*\) added.*/\1/p')
removed=$(echo "$line" | sed -n 's/.* \([0-9]*\) removed.*/\1/p')
[ "${added:-0}" -ge 1 ] || fail "the start-up check did not add the planted message"
[ "${removed:-0}" -ge 1 ] || fail "the start-up check did not remove the deleted message"
# A message gone without a journaled expunge is not known to be a user's
# expunge: its row goes (no tombstone, which the peer would take as one)
# and no unlink is journaled, so a peer's copy comes back.
! "$MHACTL" -c "$CONF" catalog "u1/Maildir/new/$victim" | grep -q " f " ||
	fail "the vanished message is still in the catalog"
! "$MHACTL" -c "$CONF" journal | grep -q " unlink u1/Maildir/new/$victim " ||
	fail "the vanished message was journaled as an expunge"
grep -q "message u1/Maildir/new/$victim is missing" "$T/mhafs-2.log" ||
	fail "the start-up check did not log the vanished message"

# Catalog and backing tree agree, contents hashed.
"$MHACTL" -c "$CONF" check --hash >"$T/check.out" 2>&1 || { cat "$T/check.out"; fail "mhactl check found differences"; }

# Every completed delivery is in new/ and live in the catalog, and its
# hash is the one xxhsum computes (an independent reading of the file).
"$MHACTL" -c "$CONF" catalog >"$T/catalog.txt" || fail "mhactl catalog failed"
awk '$1 == "L" && $2 == "f" { print $12, $9 }' "$T/catalog.txt" | sort >"$T/cat-hashes"
missing=0
for u in 0 1; do
	for k in 0 1 2 3; do
		[ $((k % 2)) = $u ] || continue
		[ -f "$T/logs/writer-$k.log" ] || continue
		while read -r name; do
			[ -f "$B/u$u/Maildir/new/$name" ] || { echo "lost: u$u/Maildir/new/$name"; missing=$((missing + 1)); }
		done <"$T/logs/writer-$k.log"
	done
done
[ "$missing" = 0 ] || fail "$missing completed deliveries are missing from new/"
files=0 bad=0
have_xxhsum=$(command -v xxhsum || true)
for f in "$B"/u*/Maildir/new/*; do
	[ -f "$f" ] || continue
	rel=${f#"$B"/}
	files=$((files + 1))
	want=$(awk -v p="$rel" '$1 == p { print $2 }' "$T/cat-hashes")
	[ -n "$want" ] || { echo "not in catalog: $rel"; bad=$((bad + 1)); continue; }
	if [ -n "$have_xxhsum" ]; then
		got=$(xxhsum -H2 "$f" 2>/dev/null | cut -d' ' -f1)
		[ "$got" = "$want" ] || { echo "hash mismatch: $rel catalog $want file $got"; bad=$((bad + 1)); }
	fi
done
[ "$bad" = 0 ] || fail "$bad of $files delivered files are not cataloged correctly"
expect=$(( $(cat "$T"/logs/writer-*.log | wc -l) + 1 ))
[ "$files" -ge "$expect" ] || fail "$files files in new/, expected at least $expect"
[ -n "$have_xxhsum" ] || echo "crash.sh: note: xxhsum (Debian package xxhash) missing; hashes checked by mhactl check --hash only"
if awk '$1 == "L" { print $12 }' "$T/catalog.txt" | grep -q '/tmp/\|/tmp$'; then
	fail "node-local tmp/ paths are in the catalog"
fi

# A clean stop now: the next start must find the journal clean.
fusermount3 -u "$M" || fail "cannot unmount"
wait "$MHAFS_PID"
MHAFS_PID=
mount_fs "$T/mhafs-3.log"
grep -q "startup check: last stop was clean" "$T/mhafs-3.log" ||
	{ cat "$T/mhafs-3.log"; fail "a clean stop was not recorded as clean"; }
fusermount3 -u "$M" && wait "$MHAFS_PID"
MHAFS_PID=
echo "crash.sh: PASS: $files messages in new/, all cataloged with the right hash; check clean"
exit 0
