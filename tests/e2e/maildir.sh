#!/bin/bash
# tests/e2e/maildir.sh: Dovecot and Postfix on a real mhafs mount behave as
# on a plain directory.  One node namespace runs the same mail scenario
# (tests/e2e/mailclient.py: SMTP in, LMTP and virtual(8) delivery, IMAP and
# POP3 read-back, flags, COPY as hard link, MOVE, EXPUNGE, CREATE, RENAME)
# twice: on a plain directory and on an mhafs mount.  The resulting stores
# (the mount, then its backing directory after unmount) must equal the plain
# one after normalization (tests/e2e/maildir-compare.py).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

e2e_init maildir
e2e_require_mail
e2e_require_mhafs
e2e_vmail
e2e_net_client
e2e_net_node 1
e2e_users 1 alice@d1.test bob@d1.test carol@d2.test

compare() {
	"$E2E_PY" "$E2E_SRC/tests/e2e/maildir-compare.py" "$1" "$2" >&2 ||
		e2e_die "$3: the Maildir trees differ (lines above)"
}

# run_scenario LABEL STORE: the whole mail scenario against STORE.
run_scenario() {
	e2e_log "scenario on $1 ($2)"
	e2e_store_prepare "$2"
	e2e_mail_start 1 "$2"
	e2e_client "$E2E_PY" "$E2E_SRC/tests/e2e/mailclient.py" scenario \
		--host "$(e2e_ip 1)" --store "$2" || e2e_die "mail scenario failed on $1"
	e2e_mail_stop 1
}

plain=$E2E_TMP/plain
mkdir -p "$plain" || e2e_die "cannot create $plain"
run_scenario "a plain directory" "$plain"

backing=$E2E_TMP/backing mnt=$E2E_TMP/mnt
e2e_mhafs_mount 1 "$backing" "$mnt" "$E2E_TMP/mhafs-state"
run_scenario "an mhafs mount" "$mnt"
compare "$plain" "$mnt" "plain directory vs mhafs mount"
e2e_umount "$mnt"
compare "$plain" "$backing" "plain directory vs mhafs backing directory"
e2e_mhafs_log_clean "$E2E_TMP/mhafs-state"

# The comparison must be able to fail: one flag changed must be reported.
cp -a "$plain" "$E2E_TMP/mutant" || e2e_die "cp -a failed"
f=$(find "$E2E_TMP/mutant" -path '*/cur/*:2,S' | head -1)
[ -n "$f" ] && mv "$f" "${f%:2,S}:2,FS" || e2e_die "no seen message to mutate"
if "$E2E_PY" "$E2E_SRC/tests/e2e/maildir-compare.py" "$plain" "$E2E_TMP/mutant" >/dev/null; then
	e2e_die "maildir-compare did not notice a changed flag"
fi
e2e_log "PASS: mhafs store equals the plain store"
