#!/bin/sh
# tests/unit/mhactl_digest.sh: mhactl check verifies the catalog's digest
# tree against a recomputation: clean after a catalog build and after
# journaled changes (mkjournal, no FUSE needed), and a tampered node (its
# count, then its digest) is reported as a "digest" line with exit 1.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
MHACTL=$top_builddir/tools/mhactl
MK=$top_builddir/tests/unit/mkjournal
[ -x "$MHACTL" ] && [ -x "$MK" ] || { echo "mhactl_digest.sh: SKIP: not built"; exit 77; }
command -v sqlite3 >/dev/null || { echo "mhactl_digest.sh: SKIP: no sqlite3"; exit 77; }

T=$(mktemp -d /tmp/mhafs-digest.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
B=$T/backing S=$T/state C=$T/mhafs.conf
fails=0
fail() { echo "mhactl_digest.sh: FAIL: $*"; fails=$((fails + 1)); }
check() { # check WANT: run mhactl check, compare the exit status
	"$MHACTL" -c "$C" check >"$T/out" 2>&1
	got=$?
	[ "$got" = "$1" ] || { fail "check exited $got, expected $1"; cat "$T/out"; }
}

mkdir -p "$B/u/Maildir/new" "$B/u/Maildir/cur" "$B/v/Maildir/cur"
for i in 1 2 3 4 5; do printf "m$i" >"$B/u/Maildir/new/m$i"; done
printf x >"$B/v/Maildir/cur/x:2,S"
printf 'node_id = 1\nstate_dir = %s\nbacking_dir = %s\n' "$S" "$B" >"$C"

"$MK" "$S" "$B" recover >/dev/null || fail "mkjournal recover"
check 0
grep -q "^digest" "$T/out" && fail "digest lines after a build"
n=$(sqlite3 "$S/journal.db" "SELECT count(*) FROM mtree") 
[ "$n" -gt 0 ] 2>/dev/null || fail "no digest tree after a build ($n nodes)"

# journaled changes keep it current: a rename (flags), a new file
mv "$B/u/Maildir/new/m1" "$B/u/Maildir/cur/m1:2,S"
"$MK" "$S" "$B" rename "u/Maildir/new/m1" "u/Maildir/cur/m1:2,S" >/dev/null || fail "mkjournal rename"
printf n >"$B/v/Maildir/cur/n:2,"
"$MK" "$S" "$B" write "v/Maildir/cur/n:2," >/dev/null || fail "mkjournal write"
check 0
grep -q "^digest" "$T/out" && { fail "digest lines after journaled changes"; cat "$T/out"; }

# tampering is found: a count, then a digest
sqlite3 "$S/journal.db" "UPDATE mtree SET count = count + 1 WHERE (dkey, node) IN
	(SELECT dkey, node FROM mtree WHERE node = 0 LIMIT 1)" || fail "sqlite3"
check 1
grep -q "^digest .*stored count" "$T/out" || { fail "no digest line for a wrong count"; cat "$T/out"; }
sqlite3 "$S/journal.db" "UPDATE mtree SET count = count - 1 WHERE (dkey, node) IN
	(SELECT dkey, node FROM mtree WHERE node = 0 LIMIT 1)" || fail "sqlite3"
check 0
sqlite3 "$S/journal.db" "UPDATE mtree SET digest = zeroblob(16) WHERE (dkey, node) IN
	(SELECT dkey, node FROM mtree WHERE node != 0 LIMIT 1)" || fail "sqlite3"
check 1
grep -q "^digest .*differ" "$T/out" || { fail "no digest line for a wrong digest"; cat "$T/out"; }

[ "$fails" = 0 ] || exit 1
echo "mhactl_digest.sh: PASS"
