#!/bin/sh
# dovecot.sh: after mhafsck --repair on the crafted stores (mkstores.sh),
# real Dovecot (its imap binary, pre-authenticated, one per store) reads
# the merged dovecot-uidlist and the renamed same-name copy: both stores
# show the same UIDs and flags per folder, UIDVALIDITY is unchanged, the
# UIDs untouched by the split are unchanged, the colliding ones are above
# the old next UID, and the renamed copy is a new message.
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
"$FSCK" --repair --state-a "$work/state-a" --state-b "$work/state-b" "$work/a" "$work/b" >"$work/repair"
rc=$?
[ "$rc" = 1 ] && ok "repaired" || { cat "$work/repair"; fail "repair exit $rc"; }

# imap SIDE: run Dovecot's imap on store SIDE with the commands on stdin;
# the untagged replies that describe the mailboxes go to stdout.
imap() {
	s=$1
	mkdir -p "$work/dc-$s/run" "$work/dc-$s/state"
	cat >"$work/dc-$s/dovecot.conf" <<EOF
base_dir = $work/dc-$s/run
state_dir = $work/dc-$s/state
log_path = $work/dc-$s/log
mail_uid = 65534
mail_gid = 65534
ssl = no
EOF
	env -i PATH=/usr/bin:/bin USER=u1 HOME="$work/$s/u1" MAIL="maildir:$work/$s/u1/Maildir" \
		"$IMAP" -c "$work/dc-$s/dovecot.conf" 2>>"$work/dc-$s/log" |
		tr -d '\r' | grep -E '^\* ([0-9]+ FETCH|STATUS|OK \[UID)|^a[0-9]+ (NO|BAD)'
}
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
