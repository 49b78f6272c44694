#!/bin/sh
# dovecot.sh: after mhafsck --repair on the crafted stores (mkstores.sh),
# real Dovecot (its imap binary, pre-authenticated, one per store) reads
# the merged dovecot-uidlist and the renamed same-name copy: both stores
# show the same UIDs and flags per folder, UIDVALIDITY is unchanged, the
# UIDs untouched by the split are unchanged, the colliding ones are above
# the old next UID, and the renamed copy is a new message.  Each side's
# Dovecot has read its INBOX before the repair; the repair removes the
# indexes whose UIDs it moved (with the drop mark in each state dir), and
# Dovecot then serves each UID's own subject, not a cached one.
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
: "${top_builddir:=$top_srcdir}"
FSCK=$top_builddir/tools/mhafsck
IMAP=/usr/lib/dovecot/imap
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root (to own the stores as the mail user)"; exit 77; }
[ -x "$IMAP" ] || { echo "SKIP: no $IMAP (Debian package dovecot-imapd)"; exit 77; }
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: no sqlite3 CLI"; exit 77; }

work=$(mktemp -d /tmp/mhafsck-dovecot.XXXXXX)
chmod 755 "$work"   # the mail user must reach the stores
trap 'rm -rf "$work"' EXIT INT TERM
failures=0
fail() { echo "FAIL: $*"; failures=$((failures + 1)); }
ok() { echo "ok: $*"; }

sh "$top_srcdir/tests/fsck/mkstores.sh" "$work" || { echo "FAIL: mkstores"; exit 1; }

# imap SIDE: run Dovecot's imap on store SIDE with the commands on stdin;
# the untagged replies that describe the mailboxes go to stdout.
dc_conf() {
	mkdir -p "$work/dc-$1/run" "$work/dc-$1/state"
	cat >"$work/dc-$1/dovecot.conf" <<EOF
base_dir = $work/dc-$1/run
state_dir = $work/dc-$1/state
log_path = $work/dc-$1/log
mail_uid = 65534
mail_gid = 65534
ssl = no
EOF
}
imap() {
	s=$1
	dc_conf "$s"
	env -i PATH=/usr/bin:/bin USER=u1 HOME="$work/$s/u1" MAIL="maildir:$work/$s/u1/Maildir" \
		"$IMAP" -c "$work/dc-$s/dovecot.conf" 2>>"$work/dc-$s/log" |
		tr -d '\r' | grep -E '^\* ([0-9]+ FETCH|STATUS|OK \[UID)|^a[0-9]+ (NO|BAD)'
}
# subjects SIDE: "UID subject" of each INBOX message, as Dovecot serves it
# (from its cache when it has the field cached)
subjects() {
	printf 'a1 SELECT INBOX\na2 UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (SUBJECT)])\na3 LOGOUT\n' |
		env -i PATH=/usr/bin:/bin USER=u1 HOME="$work/$1/u1" MAIL="maildir:$work/$1/u1/Maildir" \
		"$IMAP" -c "$work/dc-$1/dovecot.conf" 2>>"$work/dc-$1/log" | tr -d '\r' |
		awk '/^\* [0-9]+ FETCH \(UID/ { uid = $5 } /^Subject: / && uid { sub(/^Subject: /, ""); print uid, $0; uid = "" }'
}
chown -R 65534:65534 "$work/a" "$work/b"
# Before the repair each side's Dovecot has read its INBOX and cached the
# subjects: b's UID 3 is b's copy of M12.  The merge gives UID 3 to a's
# copy and b's a new UID; a Dovecot index left behind would go on serving
# b's cached subject for UID 3 (it did before mhafsck removed it).
for s in a b; do
	dc_conf "$s"
	cp "$work/$s/u1/Maildir/dovecot-uidlist" "$work/uidlist-$s"
	subjects "$s" >"$work/subjects-before-$s"
	cmp -s "$work/uidlist-$s" "$work/$s/u1/Maildir/dovecot-uidlist" || fail "Dovecot rewrote $s's uidlist before the repair"
done
grep -qx '3 m12 as delivered on b' "$work/subjects-before-b" && [ -e "$work/b/u1/Maildir/dovecot.index.cache" ] &&
	ok "b's Dovecot cached its own M12 at UID 3" || fail "b before the repair: $(cat "$work/subjects-before-b")"
"$FSCK" --repair --state-a "$work/state-a" --state-b "$work/state-b" "$work/a" "$work/b" >"$work/repair" 2>"$work/repair.err"
rc=$?
[ "$rc" = 1 ] && ok "repaired" || { cat "$work/repair" "$work/repair.err"; fail "repair exit $rc"; }
for s in a b; do
	grep -q "u1/Maildir/dovecot-uidlist on $s: UIDs moved; removed Dovecot's index" "$work/repair.err" &&
		[ -s "$work/state-$s/index-drops" ] && ok "$s: Dovecot's INBOX index removed, drop mark written" ||
		fail "$s: no index removal reported or no drop mark: $(cat "$work/repair.err")"
done

CMDS='a1 SELECT INBOX
a2 UID FETCH 1:* (FLAGS)
a3 STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY)
a4 SELECT Sent
a5 UID FETCH 1:* (FLAGS)
a6 LOGOUT
'
chown -R 65534:65534 "$work/a" "$work/b"
printf '%s' "$CMDS" | imap a >"$work/imap-a"
printf '%s' "$CMDS" | imap b >"$work/imap-b"
cat "$work/imap-a"
if [ -s "$work/imap-a" ] && cmp -s "$work/imap-a" "$work/imap-b"; then
	ok "both stores show the same UIDs, flags and status"
else
	fail "the stores differ under Dovecot"
	diff "$work/imap-a" "$work/imap-b"
	cat "$work/dc-a/log" "$work/dc-b/log"
fi
[ -s "$work/imap-a" ] && ! grep -qE '^a[0-9]+ (NO|BAD)' "$work/imap-a" && ok "no command failed" || fail "an IMAP command failed"
grep -q 'UIDVALIDITY 1600000000\]' "$work/imap-a" && ok "UIDVALIDITY unchanged" || fail "UIDVALIDITY"
# INBOX: M10 (UID 1, answered+seen as b set it), M12 (UID 3, a's copy),
# nodea and nodeb (UID 5 collided: 6 and 7), b's M12 copy as new UID 8.
want='* 1 FETCH (UID 1 FLAGS (\Answered \Seen))
* 2 FETCH (UID 3 FLAGS ())
* 3 FETCH (UID 6 FLAGS ())
* 4 FETCH (UID 7 FLAGS (\Seen))
* 5 FETCH (UID 8 FLAGS (\Recent))'
got=$(grep -E '^\* [0-9]+ FETCH' "$work/imap-a" | head -5)
[ "$got" = "$want" ] && ok "INBOX UIDs and flags as the merge rules say" ||
	fail "INBOX: got
$got"
grep -q '^\* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))' "$work/imap-a" &&
	ok "the moved message is in Sent" || fail "Sent"
# (after the first session of each side, which the \Recent above needs)
for s in a b; do
	subjects "$s" >"$work/subjects-$s"
	grep -qx '3 m12 as delivered on a' "$work/subjects-$s" && grep -qx '8 m12 as delivered on b' "$work/subjects-$s" &&
		ok "$s: UID 3 is a's M12 and UID 8 b's, as the files say" ||
		fail "$s: subjects after the repair: $(tr '\n' ';' <"$work/subjects-$s")"
done
# Each Dovecot may write files of its own (a new uidlist for the folder
# whose uidlist went with its deletion gets a random mailbox GUID on each
# side): whatever differs now, one more repair converges and stays clean.
"$FSCK" --repair "$work/a" "$work/b" >"$work/after"
rc=$?
cat "$work/after"
[ "$rc" = 0 ] || [ "$rc" = 1 ] || fail "repair after Dovecot: exit $rc"
"$FSCK" "$work/a" "$work/b" >"$work/after2"
rc=$?
[ "$rc" = 0 ] && ok "converged after Dovecot used both stores" || { fail "after Dovecot: exit $rc"; cat "$work/after2"; }
for s in a b; do
	grep -qE 'Error|Panic|Fatal' "$work/dc-$s/log" && { fail "Dovecot logged errors on $s"; cat "$work/dc-$s/log"; }
done

echo "dovecot.sh: $failures failure(s)"
[ "$failures" = 0 ]
