#!/bin/sh
# tests/unit/mhactl.sh: mhactl against a journal made by mkjournal (no FUSE
# needed): journal listing (text, --since/--limit/--origin, --json with
# escaped names), catalog with a prefix (siblings excluded), check (clean,
# differences, --hash), and usage/operational errors with exit codes 2/3.
set -u
top_srcdir=${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}
top_builddir=${top_builddir:-$top_srcdir}
MHACTL=$top_builddir/tools/mhactl
MK=$top_builddir/tests/unit/mkjournal
[ -x "$MHACTL" ] && [ -x "$MK" ] || { echo "mhactl.sh: SKIP: not built"; exit 77; }

T=$(mktemp -d /tmp/mhafs-mhactl.XXXXXX) || exit 1
trap 'rm -rf "$T"' EXIT
B=$T/backing S=$T/state C=$T/mhafs.conf
fails=0
fail() { echo "mhactl.sh: FAIL: $*"; fails=$((fails + 1)); }
# expect CODE CMD...: run, keep output in $T/out, compare the exit status
expect() {
	want=$1; shift
	"$@" >"$T/out" 2>&1
	got=$?
	[ "$got" = "$want" ] || { fail "'$*' exited $got, expected $want"; cat "$T/out"; }
}
has() { grep -q -- "$1" "$T/out" || { fail "output lacks '$1'"; cat "$T/out"; }; }
lacks() { if grep -q -- "$1" "$T/out"; then fail "output has '$1'"; cat "$T/out"; fi; }

mkdir -p "$B/u/Maildir/new" "$B/u/Maildir/cur" "$B/u/Maildir2" "$B/u/Maildir/tmp"
printf A >"$B/u/Maildir/new/a"
printf 'node_id = 1\nstate_dir = %s\nbacking_dir = %s\n' "$S" "$B" >"$C"

# Usage errors: exit 2, nothing read.
expect 2 "$MHACTL" -c "$C"
expect 2 "$MHACTL" -c "$C" frobnicate
has "unknown command"
expect 2 "$MHACTL" -c "$C" journal --since abc
has "not a sequence number"
expect 2 "$MHACTL" -c "$C" journal --limit -1
expect 2 "$MHACTL" -c "$C" journal --origin 0
expect 2 "$MHACTL" -c "$C" journal extra
expect 2 "$MHACTL" -c "$C" catalog /abs
has "not a store-relative path"
expect 2 "$MHACTL" -c "$C" catalog a/../b
expect 2 "$MHACTL" -c "$C" check a b
expect 2 "$MHACTL" -c "$C" check --bogus
expect 0 "$MHACTL" --help
has "usage: mhactl"
# Operational errors: exit 3 with the reason.
expect 3 "$MHACTL" -c "$T/none.conf" journal
has "none.conf"
expect 3 "$MHACTL" -c "$C" journal
has "journal.db"
printf 'node_id = 1\nbogus = 2\n' >"$T/bad.conf"
expect 3 "$MHACTL" -c "$T/bad.conf" journal
has "bad.conf:2: unknown key"

# Build the catalog: check agrees, journal is empty.
"$MK" "$S" "$B" recover >"$T/out" || fail "mkjournal recover"
expect 0 "$MHACTL" -c "$C" check
expect 0 "$MHACTL" -c "$C" check --hash
has "matches"
expect 0 "$MHACTL" -c "$C" journal
[ -s "$T/out" ] && fail "journal not empty after a catalog build"
expect 0 "$MHACTL" -c "$C" catalog u/Maildir
has " u/Maildir/new/a$"
has " u/Maildir$"
lacks "Maildir2"
lacks "Maildir/tmp"
expect 0 "$MHACTL" -c "$C" catalog u/Maildir/
has " u/Maildir/new/a$"
# the hash column is xxh3-128 of "A"
if command -v xxhsum >/dev/null; then
	h=$(printf A | xxhsum -H2 2>/dev/null | cut -d' ' -f1)
	has "$h"
fi

# Differences: an extra file, a changed one (size), a missing one.
printf B >"$B/u/Maildir/new/b"
mkdir "$B/u/Maildir/new/sub"
expect 1 "$MHACTL" -c "$C" check
has "extra u/Maildir/new/b:"
has "extra u/Maildir/new/sub:"
printf AA >"$B/u/Maildir/new/a"
rm -r "$B/u/Maildir2"
expect 1 "$MHACTL" -c "$C" check "$B"
has "changed u/Maildir/new/a:"
has "missing u/Maildir2:"
# the backing dir argument overrides the configuration
expect 3 "$MHACTL" -c "$C" check "$T/nowhere"

# Journal entries, including a name with a space, a tab and a quote.
printf X >"$B/odd name	\"q\""
"$MK" "$S" "$B" write "u/Maildir/new/b" >/dev/null || fail "mkjournal write"
"$MK" "$S" "$B" mkdir "u/Maildir/new/sub" >/dev/null || fail "mkjournal mkdir"
"$MK" "$S" "$B" write "odd name	\"q\"" >/dev/null || fail "mkjournal odd"
mv "$B/u/Maildir/new/b" "$B/u/Maildir/cur/b:2,S"
"$MK" "$S" "$B" rename "u/Maildir/new/b" "u/Maildir/cur/b:2,S" >/dev/null || fail "mkjournal rename"
"$MK" "$S" "$B" rename "../x" "y" >/dev/null 2>&1 && fail "mkjournal accepted an unsafe path"
expect 0 "$MHACTL" -c "$C" journal
[ "$(wc -l <"$T/out")" = 4 ] || { fail "expected 4 journal lines"; cat "$T/out"; }
has "^1 1 [0-9]*\.[0-9]* write u/Maildir/new/b size=1 hash="
has "^4 1 [0-9.]* rename u/Maildir/new/b -> u/Maildir/cur/b:2,S "
has 'write odd name\\x09"q" '
expect 0 "$MHACTL" -c "$C" journal --since 2 --limit 1
[ "$(wc -l <"$T/out")" = 1 ] && has "^2 1 .* mkdir u/Maildir/new/sub" || fail "--since 2 --limit 1"
expect 0 "$MHACTL" -c "$C" journal --origin 2
[ -s "$T/out" ] && fail "--origin 2 listed entries"
expect 0 "$MHACTL" -c "$C" journal --json
/usr/bin/python3 - "$T/out" <<'PY' || fail "journal --json is not the expected JSON"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert [r["seq"] for r in rows] == [1, 2, 3, 4], rows
assert rows[2]["path"] == 'odd name\t"q"', rows[2]
assert rows[3]["op"] == "rename" and rows[3]["path2"] == "u/Maildir/cur/b:2,S"
assert len(rows[0]["hash"]) == 32 and rows[0]["size"] == 1
PY
expect 0 "$MHACTL" -c "$C" catalog --json u/Maildir/new/b
/usr/bin/python3 - "$T/out" <<'PY' || fail "catalog --json is not the expected JSON"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert len(rows) == 1 and rows[0]["deleted"] is True and rows[0]["kind"] == "f", rows
PY

[ "$fails" = 0 ] || { echo "mhactl.sh: $fails failure(s)"; exit 1; }
echo "mhactl.sh: PASS"
