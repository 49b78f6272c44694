#!/bin/bash
# tests/e2e/cluster.sh: two mail nodes, each with its own Dovecot and Postfix
# on its own mhafs mount, the mounts replicating each other (TLS, sync
# mode).  Mail delivered through either node (Dovecot LMTP and Postfix
# virtual(8)) and every IMAP change made through either node (flags, COPY
# as a hard link, MOVE, EXPUNGE, CREATE, RENAME) is seen through the other
# node's Dovecot with the same content and UIDs (tests/e2e/mailclient.py
# cluster).  At the end both backing trees must be equal except node-local
# files (tests/e2e/maildir-compare.py --replicated).
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

e2e_init cluster
e2e_require_mail
e2e_require_mhafs
[ -x "$E2E_BUILD/tools/mhactl" ] || e2e_skip "no mhactl"
e2e_pair alice@d1.test carol@d2.test
for n in 1 2; do e2e_mail_start "$n" "$E2E_TMP/n$n-mnt"; done

e2e_client "$E2E_PY" "$E2E_SRC/tests/e2e/mailclient.py" cluster \
	--host1 "$(e2e_ip 1)" --host2 "$(e2e_ip 2)" \
	--store1 "$E2E_TMP/n1-mnt" --store2 "$E2E_TMP/n2-mnt" ||
	e2e_die "two-node mail scenario failed"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do
	e2e_wait 15 e2e_peer_synced "$n" || e2e_die "node $n did not catch up with its peer"
done
# Errors while serving mail fail the test; the unmounts come after (the
# second node may log that the first one refused it while stopping).
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
for n in 1 2; do e2e_umount "$E2E_TMP/n$n-mnt"; done
"$E2E_PY" "$E2E_SRC/tests/e2e/maildir-compare.py" --replicated \
	"$E2E_TMP/n1-backing" "$E2E_TMP/n2-backing" >&2 ||
	e2e_die "the two nodes' backing trees differ (lines above)"
e2e_log "PASS: both nodes serve the same mail"
