#!/bin/sh
# tests/fsck/flags.sh: mhafsck merges a message's flags flag by flag with
# the stamps each catalog keeps (table flagreg), as the live apply path
# does (issue 19): one message, \Seen set on store a and \Flagged on store
# b, each stamped in its own catalog, becomes "FS" on both; a keyword pair
# becomes "ab"; a message whose flags were never stamped keeps the later
# whole name (the rule before per-flag stamps).  A second run is clean.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
FSCK=$top_builddir/tools/mhafsck
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: no sqlite3 CLI"; exit 77; }
[ -x "$FSCK" ] || { echo "SKIP: mhafsck not built"; exit 77; }

work=$(mktemp -d /tmp/mhafsck-flags.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
fail() { echo "FAIL: $*"; exit 1; }

M=u/Maildir
# stamp LETTER HLC NODE: one flag's stamp as the catalog keeps it (hex)
stamp() {
	printf '%02x' "'$1"
	python3 -c "import sys; print(int(sys.argv[1]).to_bytes(8, 'little').hex() + int(sys.argv[2]).to_bytes(2, 'little').hex(), end='')" "$2" "$3"
}
# catalog SIDE NODE ROWS...: a catalog with meta, rows and flag stamps
catalog() {
	s=$1 node=$2
	shift 2
	mkdir -p "$work/state-$s"
	{
		echo "CREATE TABLE meta(id INTEGER PRIMARY KEY, schema_version INTEGER NOT NULL,
		 node_id INTEGER NOT NULL, clean INTEGER NOT NULL, last_seq INTEGER NOT NULL,
		 last_hlc INTEGER NOT NULL, catalog_built INTEGER NOT NULL);
		 INSERT INTO meta VALUES (1, 1, $node, 1, 0, 0, 1);
		 CREATE TABLE catalog(path TEXT PRIMARY KEY, kind TEXT NOT NULL, mode INTEGER,
		 uid INTEGER, gid INTEGER, size INTEGER, mtime_ns INTEGER, ino INTEGER, hash BLOB,
		 hlc INTEGER NOT NULL, origin INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
		 CREATE TABLE flagreg(folder TEXT NOT NULL, base TEXT NOT NULL, regs BLOB NOT NULL,
		 PRIMARY KEY (folder, base));"
		for r in "$@"; do echo "$r"; done
	} | sqlite3 "$work/state-$s/journal.db" || fail "cannot make catalog $s"
}
row() { echo "INSERT INTO catalog(path, kind, mode, hlc, origin) VALUES ('$1', 'f', 33188, $2, $3);"; }
reg() { echo "INSERT INTO flagreg VALUES ('$M', '$1', X'$2');"; }

for s in a b; do mkdir -p "$work/$s/$M/cur" "$work/$s/$M/new" "$work/$s/$M/tmp"; done
for m in M1 M2 M3; do
	printf 'message %s\n' $m > "$work/a/$M/cur/$m"
done
mv "$work/a/$M/cur/M1" "$work/a/$M/cur/M1:2,S";   cp "$work/a/$M/cur/M1:2,S" "$work/b/$M/cur/M1:2,F"
mv "$work/a/$M/cur/M2" "$work/a/$M/cur/M2:2,Sa";  cp "$work/a/$M/cur/M2:2,Sa" "$work/b/$M/cur/M2:2,Sb"
mv "$work/a/$M/cur/M3" "$work/a/$M/cur/M3:2,R";   cp "$work/a/$M/cur/M3:2,R" "$work/b/$M/cur/M3:2,T"
# a stamped its changes later than b did, so whole-name LWW would pick a's
catalog a 1 "$(row "$M/cur/M1:2,S" 900 1)" "$(row "$M/cur/M2:2,Sa" 900 1)" "$(row "$M/cur/M3:2,R" 900 1)" \
	"$(reg M1 "$(stamp S 900 1)")" "$(reg M2 "$(stamp a 900 1)")"
catalog b 2 "$(row "$M/cur/M1:2,F" 500 2)" "$(row "$M/cur/M2:2,Sb" 500 2)" "$(row "$M/cur/M3:2,T" 500 2)" \
	"$(reg M1 "$(stamp F 500 2)")" "$(reg M2 "$(stamp b 500 2)")"
ARGS="--state-a $work/state-a --state-b $work/state-b $work/a $work/b"

out=$("$FSCK" --dry-run $ARGS 2>&1)
[ $? = 4 ] || fail "dry run: exit not 4: $out"
echo "$out" | grep -q "M1.*merge-flags" || fail "dry run does not merge M1's flags: $out"
echo "$out" | grep -q "M3.*move-on-b" || fail "dry run: M3 (no stamps) not last writer wins (a's R): $out"
out=$("$FSCK" --repair $ARGS 2>&1)
[ $? = 1 ] || fail "repair: exit not 1: $out"
want="cur/M1:2,FS cur/M2:2,Sab cur/M3:2,R "
for s in a b; do
	got=$(cd "$work/$s/$M" && find cur new -type f | sort | tr '\n' ' ')
	[ "$got" = "$want" ] || fail "store $s holds [$got], not [$want]"
done
"$FSCK" $ARGS >/dev/null 2>&1
[ $? = 0 ] || fail "a second run is not clean"
echo "PASS: mhafsck merges flags flag by flag with the catalogs' stamps (keywords too); unstamped names keep last writer wins"
