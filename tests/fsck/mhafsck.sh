#!/bin/sh
# mhafsck.sh: mhafsck on two crafted divergent stores (mkstores.sh): the
# report names every planted difference and nothing else, --dry-run changes
# nothing, --json parses, --repair makes the stores converge (trees equal
# but for node-local files) with the merge rules' outcomes, and a second
# run is clean.  Also: without catalogs nothing is deleted (union), and bad
# command lines change nothing.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
FSCK=$top_builddir/tools/mhafsck
PY=/usr/bin/python3
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: no sqlite3 CLI"; exit 77; }
[ -x "$PY" ] || { echo "SKIP: no $PY"; exit 77; }

work=$(mktemp -d /tmp/mhafsck-test.XXXXXX)
trap 'rm -rf "$work"' EXIT INT TERM
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

M=u1/Maildir
M10=1700000000.M10P10.host
M11=1700000000.M11P11.host
M12=1700000000.M12P12.host
M13=1700000000.M13P13.host
NA=1700000001.M1P1.nodea
NB=1700000002.M2P2.nodeb
M14=1700000000.M14P14.host
M15=1700000000.M15P15.host
NA2=1700000003.M3P3.nodea
GUID=3085f01b7f11094c501100008c4a11c1

# A fingerprint of a whole tree: every path, type, mode, size, mtime, content.
fingerprint() {
	(cd "$1" && find . -printf '%p %y %m %s %T@\n' | LC_ALL=C sort &&
		find . -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}
# Contents of a tree without node-local files (dovecot.index*, *.lock, tmp/).
replicated() {
	(cd "$1" && find . -name tmp -prune -o \( -name 'dovecot.index*' -o -name '*.lock' \) \
		-prune -o -printf '%p %y %m\n' | LC_ALL=C sort &&
		find . -name tmp -prune -o \( -name 'dovecot.index*' -o -name '*.lock' \) -prune \
			-o -type f -print0 | LC_ALL=C sort -z | xargs -0r sha256sum)
}

sh "$top_srcdir/tests/fsck/mkstores.sh" "$work" || { echo "FAIL: mkstores"; exit 1; }
ARGS="--state-a $work/state-a --state-b $work/state-b"

# ---- dry run: the report ----
fingerprint "$work/a" >"$work/fa.before"
fingerprint "$work/b" >"$work/fb.before"
# shellcheck disable=SC2086
"$FSCK" --dry-run --stray $ARGS "$work/a" "$work/b" >"$work/report" 2>"$work/err"
rc=$?
cat "$work/report"
[ "$rc" = 4 ] && ok "dry run exits 4" || fail "dry run exit $rc, want 4 ($(cat "$work/err"))"
expect() { # CLASS PATH ACTION
	grep -qF "$1 $2: " "$work/report" && grep -F "$1 $2: " "$work/report" | grep -qF "[$3" &&
		ok "reported $1 $2 [$3]" || fail "not reported: $1 $2 [$3]"
}
expect "missing     " "$M/new/$NA" copy-to-b
expect "missing     " "$M/cur/$NB:2,S" copy-to-a
expect "flags-folder" "$M/cur/$M10:2,RS" move-on-a
expect "flags-folder" "$M/.Sent/cur/$M11:2,S" move-on-b
expect "content     " "$M/cur/$M12:2," keep-both-rename-b
expect "missing     " "$M/cur/$M13:2,S" delete-on-a
expect "uidlist     " "$M/dovecot-uidlist" merge-uidlist
expect "other       " "$M/subscriptions" copy-to-a
expect "stray-local " "$M/dovecot.index" none
expect "missing     " "$M/.Trash/cur/$M14:2,S" delete-on-a
expect "missing     " "$M/.Trash/dovecot-uidlist" delete-on-a
expect "missing     " "$M/.Trash" delete-on-a
expect "missing     " "$M/.Trash/cur" delete-on-a
expect "missing     " "$M/.Trash/new" delete-on-a
expect "missing     " "$M/.Junk/cur/$M15:2," delete-on-a
expect "missing     " "$M/.Junk/new/$NA2" copy-to-b
expect "missing     " "$M/.Junk" copy-to-b
expect "missing     " "$M/.Junk/cur" copy-to-b
expect "missing     " "$M/.Junk/new" copy-to-b
grep -qF "stray-local  $M/tmp/1700000009.M9P9.host: node-local, on a" "$work/report" &&
	grep -qF "stray-local  $M/tmp/1700000009.M9P9.host: node-local, on b" "$work/report" &&
	ok "tmp/ files are reported as node-local" || fail "tmp/ files not reported"
n=$(grep -vc '^mhafsck: ' "$work/report")
[ "$n" = 21 ] && ok "21 findings, nothing else" || fail "$n findings, want 21"
grep -q '^mhafsck: 18 differences (missing 13, ' "$work/report" && ok "summary counts 18" || fail "summary"
grep -q 'colliding' "$work/report" && grep -F "$M/dovecot-uidlist:" "$work/report" |
	grep -q '1 colliding UIDs, 2 reassigned' && ok "uidlist detail" || fail "uidlist detail"
fingerprint "$work/a" >"$work/fa.after"
fingerprint "$work/b" >"$work/fb.after"
cmp -s "$work/fa.before" "$work/fa.after" && cmp -s "$work/fb.before" "$work/fb.after" &&
	ok "dry run changed nothing" || fail "dry run changed the stores"
# Without --stray the node-local file is not mentioned.
# shellcheck disable=SC2086
"$FSCK" $ARGS "$work/a" "$work/b" >"$work/report2"
[ $? = 4 ] && ! grep -q dovecot.index "$work/report2" && ok "default is a dry run, no strays" ||
	fail "default run"

# ---- JSON ----
# shellcheck disable=SC2086
"$FSCK" --json --stray $ARGS "$work/a" "$work/b" >"$work/report.json"
[ $? = 4 ] || fail "json run exit code"
if "$PY" -m json.tool "$work/report.json" >/dev/null; then
	ok "json parses"
else
	fail "json does not parse"
fi
"$PY" - "$work/report.json" <<'EOF' && ok "json content" || fail "json content"
import json, sys
r = json.load(open(sys.argv[1]))
assert r["mode"] == "dry-run" and r["exit"] == 4 and r["differences"] == 18, r
assert len(r["items"]) == 21
c = r["counts"]
assert (c["missing"], c["flags-folder"], c["content"], c["uidlist"], c["other"],
        c["stray-local"]) == (13, 2, 1, 1, 1, 3), c
assert all(not i["repaired"] for i in r["items"])
EOF

# JSON strings are escaped: a file name with a quote, a backslash, a tab,
# a newline, UTF-8 and a byte that is not UTF-8.
mkdir -p "$work/ja" "$work/jb"
odd=$(printf 'q"b\\t\tn\nu\303\251x\377')
printf x >"$work/ja/$odd"
"$FSCK" --json "$work/ja" "$work/jb" >"$work/odd.json"
"$PY" - "$work/odd.json" <<'EOF' && ok "json escapes odd names" || fail "json escaping"
import json, sys
r = json.load(open(sys.argv[1], encoding="utf-8"))
assert [i["path"] for i in r["items"]] == ['q"b\\t\tn\nu\u00e9x\u00ff'], r["items"]
EOF

# --quick trusts a catalog hash only for the version the row describes
# (same size and mtime): two files of one size, different content, rows
# claiming one hash.  A normal run reads them and finds the difference;
# --quick believes the rows; once a file's mtime differs from its row,
# --quick reads it again.
mkdir -p "$work/qa" "$work/qb" "$work/qsa" "$work/qsb"
printf 'AAAA' >"$work/qa/f"
printf 'BBBB' >"$work/qb/f"
touch -d @1700000000 "$work/qa/f" "$work/qb/f"
for s in a b; do
	sqlite3 "$work/qs$s/journal.db" "CREATE TABLE catalog(path TEXT PRIMARY KEY, kind TEXT NOT NULL,
 mode INTEGER, uid INTEGER, gid INTEGER, size INTEGER, mtime_ns INTEGER, ino INTEGER, hash BLOB,
 hlc INTEGER NOT NULL, origin INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0);
 INSERT INTO catalog VALUES('f', 'f', 33188, 0, 0, 4, 1700000000000000000, 1,
 X'0123456789abcdef0123456789abcdef', 1, 1, 0);"
done
Q="--state-a $work/qsa --state-b $work/qsb $work/qa $work/qb"
# shellcheck disable=SC2086
"$FSCK" $Q >/dev/null; r1=$?
# shellcheck disable=SC2086
"$FSCK" --quick $Q >/dev/null; r2=$?
touch -d @1700000001 "$work/qb/f"
# shellcheck disable=SC2086
"$FSCK" --quick $Q >/dev/null; r3=$?
[ "$r1 $r2 $r3" = "4 0 4" ] && ok "--quick uses matching catalog hashes only" ||
	fail "--quick: exits $r1 $r2 $r3, want 4 0 4"
"$FSCK" --quick "$work/qa" "$work/qb" 2>/dev/null
[ $? = 16 ] && ok "--quick without catalogs refused" || fail "--quick without catalogs"

# ---- without catalogs: no tombstone is known, so nothing is deleted ----
cp -a "$work/a" "$work/a2" && cp -a "$work/b" "$work/b2"
"$FSCK" "$work/a2" "$work/b2" >"$work/report3"
grep -F "$M/cur/$M13:2,S: " "$work/report3" | grep -q 'copy-to-b' &&
	ok "no catalog: the expunged message is copied back (union)" || fail "union without catalog"
! grep -q 'delete-on' "$work/report3" && ok "no catalog: no deletes" || fail "a delete without tombstones"

# ---- bad command lines change nothing ----
"$FSCK" --dry-run --repair "$work/a" "$work/b" 2>/dev/null
[ $? = 16 ] && ok "usage error 16" || fail "usage error exit"
"$FSCK" --repair --state-a "$work/state-a" "$work/a" "$work/b" 2>/dev/null
[ $? = 16 ] && ok "one state dir refused" || fail "one state dir"
"$FSCK" --repair "$work/a" "$work/nonexistent" 2>/dev/null
[ $? = 8 ] && ok "missing store is an operational error" || fail "missing store exit"
"$FSCK" --repair --state-a "$work/none" --state-b "$work/state-b" "$work/a" "$work/b" 2>/dev/null
[ $? = 8 ] && ok "missing catalog is an operational error" || fail "missing catalog exit"
fingerprint "$work/a" >"$work/fa.after"
fingerprint "$work/b" >"$work/fb.after"
cmp -s "$work/fa.before" "$work/fa.after" && cmp -s "$work/fb.before" "$work/fb.after" &&
	ok "refused runs changed nothing" || fail "refused runs changed the stores"

# ---- a repair cut short where it removes a's stale Dovecot index ----
# (a directory where an index file was makes the removal fail, as a crash
# there would stop it): the merged uidlist must not be written before the
# index is gone, or the rerun below sees nothing to repair in INBOX's
# uidlist and leaves the index, stale, for good
mkdir -p "$work/a/$M/dovecot.index.cache/x"
# shellcheck disable=SC2086
"$FSCK" --repair $ARGS "$work/a" "$work/b" >"$work/cut" 2>&1
rc=$?
[ "$rc" -ge 4 ] && ok "a repair whose index removal fails says so (exit $rc)" ||
	{ fail "a repair whose index removal failed exited $rc"; cat "$work/cut"; }
rm -rf "$work/a/$M/dovecot.index.cache"
[ -e "$work/a/$M/dovecot.index" ] || echo stale >"$work/a/$M/dovecot.index" # as a crash would leave it

# ---- repair ----
# shellcheck disable=SC2086
"$FSCK" --repair $ARGS "$work/a" "$work/b" >"$work/repair" 2>&1
rc=$?
cat "$work/repair"
[ "$rc" = 1 ] && ok "repair exits 1" || fail "repair exit $rc, want 1"
replicated "$work/a" >"$work/ra"
replicated "$work/b" >"$work/rb"
if cmp -s "$work/ra" "$work/rb"; then
	ok "trees converged (but for node-local files)"
else
	fail "trees differ after repair"
	diff "$work/ra" "$work/rb"
fi
for s in a b; do
	d=$work/$s/$M
	[ -f "$d/new/$NA" ] && [ -f "$d/cur/$NB:2,S" ] || fail "$s: new mail of both sides"
	[ -f "$d/cur/$M10:2,RS" ] && [ ! -e "$d/cur/$M10:2,S" ] || fail "$s: M10 flags"
	[ -f "$d/.Sent/cur/$M11:2,S" ] && [ ! -e "$d/cur/$M11:2,S" ] || fail "$s: M11 folder"
	grep -q "m12 as delivered on a" "$d/cur/$M12:2," || fail "$s: M12 original"
	set -- "$d"/cur/"$M12".mhafsck-*:2,
	[ -f "$1" ] && grep -q "m12 as delivered on b" "$1" || fail "$s: M12 renamed copy"
	[ ! -e "$d/cur/$M13:2,S" ] || fail "$s: M13 should be expunged"
	[ "$(cat "$d/subscriptions")" = "$(printf 'INBOX\nSent\nArchive')" ] || fail "$s: subscriptions"
	printf '3 V1600000000 N8 G%s\n1 :%s\n3 :%s\n6 :%s\n7 :%s\n' "$GUID" "$M10" "$M12" "$NA" "$NB" >"$work/want"
	cmp -s "$work/want" "$d/dovecot-uidlist" || { fail "$s: merged uidlist"; cat "$d/dovecot-uidlist"; }
	ls -a "$d/cur" "$d/new" | grep -q mhafsck-tmp && fail "$s: temp file left"
	[ ! -e "$d/.Trash" ] || fail "$s: the deleted folder is still there"
	[ -f "$d/.Junk/new/$NA2" ] && [ -d "$d/.Junk/cur" ] && [ -d "$d/.Junk/tmp" ] &&
		[ ! -e "$d/.Junk/cur/$M15:2," ] || fail "$s: .Junk should hold only the new mail"
done
# INBOX's UIDs moved on a (nodea: 5 to 6): a's Dovecot index of it goes,
# and a's index drop mark says so (b had no index to remove)
[ ! -e "$work/a/$M/dovecot.index" ] && [ -s "$work/state-a/index-drops" ] &&
	[ ! -e "$work/state-b/index-drops" ] && grep -q "on a: UIDs moved; removed Dovecot's index" "$work/repair" &&
	ok "a's stale Dovecot index removed, drop mark written" ||
	fail "a's Dovecot index: $(ls "$work/a/$M" | grep dovecot.index) mark a $(cat "$work/state-a/index-drops" 2>&1)"
[ "$(cat "$work/a/$M/tmp/1700000009.M9P9.host")" = partial ] || fail "tmp/ touched"
[ "$(stat -c %Y "$work/b/$M/new/$NA")" = "$(stat -c %Y "$work/a/$M/new/$NA")" ] &&
	ok "copied message keeps its mtime (INTERNALDATE)" || fail "mtime not kept"

# ---- a second run is clean ----
# shellcheck disable=SC2086
"$FSCK" --repair $ARGS "$work/a" "$work/b" >"$work/again"
rc=$?
[ "$rc" = 0 ] && grep -q 'clean' "$work/again" && ok "second run clean, exit 0" ||
	{ fail "second run exit $rc"; cat "$work/again"; }
"$FSCK" "$work/a" "$work/b" >/dev/null
[ $? = 0 ] && ok "clean without catalogs too" || fail "not clean without catalogs"

echo "mhafsck.sh: $failures failure(s)"
[ "$failures" = 0 ]
