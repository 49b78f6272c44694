#!/bin/sh
# mkstores.sh DIR: build two crafted, diverged mhafs stores for the mhafsck
# test: DIR/a and DIR/b (backing trees) and DIR/state-a, DIR/state-b (each
# with a catalog in journal.db, made with the sqlite3 CLI).  One user,
# u1/Maildir (Maildir++ with a .Sent folder).  Before the "split" both held
# M10..M13 with UIDs 1..4; the planted differences are:
#   1 only on a:        new/1700000001.M1P1.nodea
#   2 only on b:        cur/1700000002.M2P2.nodeb:2,S
#   3 flags differ:     M10 is :2,S on a (older), :2,RS on b (newer)
#   4 folder differs:   M11 in INBOX on b (older), moved to .Sent on a (newer)
#   5 same name, different content: M12 (a's arrived first)
#   6 expunge:          M13 still on a; b expunged it later (tombstone)
#   7 uidlist conflict: a gave UID 5 to nodea, b gave UID 5 to nodeb
#   8 subscriptions differ (b's is newer)
#   9 node-local files (reported with --stray only, never touched):
#     dovecot.index on a only, a file in tmp/ on each side
#  10 a folder b deleted (.Trash, with M14 and its uidlist): deleted on a
#  11 a folder b deleted while a got new mail in it (.Junk: M15 from before
#     the delete goes, nodea2 after it stays, so the folder comes back)
# Times: catalog HLCs are (ms << 16) around 1700000000000 ms.
set -eu
dir=$1
A=$dir/a
B=$dir/b
M=u1/Maildir
GUID=3085f01b7f11094c501100008c4a11c1
M10=1700000000.M10P10.host
M11=1700000000.M11P11.host
M12=1700000000.M12P12.host
M13=1700000000.M13P13.host
NA=1700000001.M1P1.nodea
NB=1700000002.M2P2.nodeb

hlc() { echo $(( (1700000000000 + $1) * 65536 )); }

msg() { # msg FILE SUBJECT
	printf 'From: x@example.org\nSubject: %s\n\nbody of %s\n' "$2" "$2" >"$1"
}

for s in a b; do
	for f in "" /.Sent; do
		mkdir -p "$dir/$s/$M$f/cur" "$dir/$s/$M$f/new" "$dir/$s/$M$f/tmp"
	done
	mkdir -p "$dir/state-$s"
	printf 'priority 1\n' >"$dir/$s/$M/dovecot-keywords"
done

# Common, unchanged on both sides.
# 3: flags.
msg "$A/$M/cur/$M10:2,S" m10
msg "$B/$M/cur/$M10:2,RS" m10
# 4: folder.
msg "$A/$M/.Sent/cur/$M11:2,S" m11
msg "$B/$M/cur/$M11:2,S" m11
# 5: same name, different content.
msg "$A/$M/cur/$M12:2," "m12 as delivered on a"
msg "$B/$M/cur/$M12:2," "m12 as delivered on b"
# 6: expunged on b.
msg "$A/$M/cur/$M13:2,S" m13
# 1, 2: new mail on one side.
msg "$A/$M/new/$NA" nodea
msg "$B/$M/cur/$NB:2,S" nodeb
# 7: uidlists.  a moved M11 out of INBOX (its line is gone); b expunged M13.
printf '3 V1600000000 N6 G%s\n1 :%s\n3 :%s\n4 :%s\n5 :%s\n' \
	"$GUID" "$M10" "$M12" "$M13" "$NA" >"$A/$M/dovecot-uidlist"
printf '3 V1600000000 N6 G%s\n1 :%s\n2 :%s\n3 :%s\n5 :%s\n' \
	"$GUID" "$M10" "$M11" "$M12" "$NB" >"$B/$M/dovecot-uidlist"
printf '3 V1600000001 N1 G%s\n' "$GUID" >"$A/$M/.Sent/dovecot-uidlist"
cp "$A/$M/.Sent/dovecot-uidlist" "$B/$M/.Sent/dovecot-uidlist"
# 8: subscriptions.
printf 'INBOX\nSent\n' >"$A/$M/subscriptions"
printf 'INBOX\nSent\nArchive\n' >"$B/$M/subscriptions"
# 9: node-local files: an index on a only, a lock and a tmp/ file on both.
printf 'index' >"$A/$M/dovecot.index"
printf 'partial' >"$A/$M/tmp/1700000009.M9P9.host"
printf 'other partial' >"$B/$M/tmp/1700000009.M9P9.host"

# 10, 11: folders deleted on b.
M14=1700000000.M14P14.host
M15=1700000000.M15P15.host
NA2=1700000003.M3P3.nodea
mkdir -p "$A/$M/.Trash/cur" "$A/$M/.Trash/new" "$A/$M/.Trash/tmp" \
	"$A/$M/.Junk/cur" "$A/$M/.Junk/new" "$A/$M/.Junk/tmp"
msg "$A/$M/.Trash/cur/$M14:2,S" m14
printf '3 V1600000002 N2 G%s\n1 :%s\n' "$GUID" "$M14" >"$A/$M/.Trash/dovecot-uidlist"
msg "$A/$M/.Junk/cur/$M15:2," m15
msg "$A/$M/.Junk/new/$NA2" nodea2

# The catalogs (the columns mhafs's catalog table has).
schema="CREATE TABLE meta(id INTEGER PRIMARY KEY CHECK (id = 1),
 schema_version INTEGER NOT NULL, node_id INTEGER NOT NULL, clean INTEGER NOT NULL,
 last_seq INTEGER NOT NULL, last_hlc INTEGER NOT NULL, catalog_built INTEGER NOT NULL);
CREATE TABLE catalog(path TEXT PRIMARY KEY, kind TEXT NOT NULL, mode INTEGER,
 uid INTEGER, gid INTEGER, size INTEGER, mtime_ns INTEGER, ino INTEGER, hash BLOB,
 hlc INTEGER NOT NULL, origin INTEGER NOT NULL, deleted INTEGER NOT NULL DEFAULT 0)
 WITHOUT ROWID;"
row() { # row PATH HLC ORIGIN DELETED
	printf "INSERT INTO catalog(path, kind, mode, hlc, origin, deleted) VALUES('%s', 'f', 33188, %s, %s, %s);\n" \
		"$1" "$(hlc "$2")" "$3" "$4"
}
{
	echo "$schema"
	echo "INSERT INTO meta VALUES(1, 1, 1, 1, 0, 0, 1);"
	row "$M/cur/$M10:2,S" 100 1 0
	row "$M/cur/$M11:2,S" 100 1 1          # moved to .Sent: old path dead
	row "$M/.Sent/cur/$M11:2,S" 300 1 0
	row "$M/cur/$M12:2," 100 1 0
	row "$M/cur/$M13:2,S" 100 1 0
	row "$M/new/$NA" 400 1 0
	row "$M/dovecot-uidlist" 400 1 0
	row "$M/.Sent/dovecot-uidlist" 50 1 0
	row "$M/subscriptions" 100 1 0
	row "$M/dovecot-keywords" 50 1 0
	for p in .Trash .Trash/cur .Trash/new .Trash/cur/$M14:2,S .Trash/dovecot-uidlist \
		.Junk .Junk/cur .Junk/new .Junk/cur/$M15:2,; do
		row "$M/$p" 100 1 0
	done
	row "$M/.Junk/new/$NA2" 700 1 0
} | sqlite3 "$dir/state-a/journal.db"
{
	echo "$schema"
	echo "INSERT INTO meta VALUES(1, 1, 2, 1, 0, 0, 1);"
	row "$M/cur/$M10:2,S" 200 2 1          # flag change: old name dead
	row "$M/cur/$M10:2,RS" 200 2 0
	row "$M/cur/$M11:2,S" 150 2 0
	row "$M/cur/$M12:2," 200 2 0
	row "$M/cur/$M13:2,S" 500 2 1          # the expunge
	row "$M/cur/$NB:2,S" 450 2 0
	row "$M/dovecot-uidlist" 500 2 0
	row "$M/.Sent/dovecot-uidlist" 50 2 0
	row "$M/subscriptions" 200 2 0
	row "$M/dovecot-keywords" 50 2 0
	for p in .Trash .Trash/cur .Trash/new .Trash/tmp .Trash/cur/$M14:2,S \
		.Trash/dovecot-uidlist .Junk .Junk/cur .Junk/new .Junk/tmp .Junk/cur/$M15:2,; do
		row "$M/$p" 600 2 1
	done
} | sqlite3 "$dir/state-b/journal.db"
