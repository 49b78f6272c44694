#!/bin/bash
# tests/e2e/twoway.sh: both nodes deliver at once.  Two mail nodes on
# replicating mhafs mounts (sync mode), Dovecot LMTP on each; 8 LMTP
# streams into each node at the same time, each node to users of its own
# (as with both nodes serving).  Every delivery takes Dovecot's uidlist
# dotlock, which mhafs takes on both nodes (repl_lock.c), so each node
# grants the other locks while its own wait for grants.  No sync commit
# may wait out sync_timeout_ms (commit_timeouts stays 0 on both nodes: a
# timed-out commit is acknowledged before the peer has it), and every
# message is in both stores.  Before grants were answered without blocking
# the receiver, the two receivers waited for each other until the timeout.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"

e2e_init twoway
e2e_require_mail
e2e_require_mhafs
[ -x "$E2E_BUILD/tools/mhactl" ] || e2e_skip "no mhactl"
U1="" U2=""
for i in 1 2 3 4 5 6 7 8; do U1="$U1 a$i@$E2E_LMTP_DOMAIN"; U2="$U2 b$i@$E2E_LMTP_DOMAIN"; done
# shellcheck disable=SC2086
e2e_pair $U1 $U2
for n in 1 2; do E2E_LMTP_MIN=8 e2e_mail_start "$n" "$E2E_TMP/n$n-mnt" lmtp; done

cat >"$E2E_TMP/lmtp.py" <<'EOP'
import smtplib, sys
sock, user, tag, n = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
for i in range(n):
    s = smtplib.LMTP(sock)
    s.sendmail("two@way.test", [user],
               ("Subject: twoway\r\nMessage-ID: <%s-%d@twoway>\r\n\r\n" % (tag, i)).encode() + b"x" * 4000 + b"\r\n")
    s.quit()
EOP
deliver() { # NODE USERS: 8 streams of 25 messages into NODE, one per user
	local n=$1 u
	for u in $2; do
		"$E2E_PY" "$E2E_TMP/lmtp.py" "$(e2e_node_dir "$n")/run/lmtp" "$u" "n$n-${u%@*}" 25 &
		P="$P $!"
	done
}
P=""
deliver 1 "$U1"
deliver 2 "$U2"
fail=0
for p in $P; do wait "$p" || fail=1; done
[ "$fail" = 0 ] || e2e_die "an LMTP delivery failed"
for n in 1 2; do
	t=$(e2e_mhafs_status "$n" commit_timeouts)
	[ "$t" = 0 ] || e2e_die "node $n: $t sync commits waited out sync_timeout_ms (commit_timeouts=$t)"
done
count() { find "$E2E_TMP/n$1-mnt/$E2E_LMTP_DOMAIN" -path '*/Maildir/*' -type f \( -path '*/new/*' -o -path '*/cur/*' \) | wc -l; }
both() { [ "$(count 1)" = 400 ] && [ "$(count 2)" = 400 ]; }
e2e_wait 20 both || e2e_die "messages in the stores: node 1 $(count 1), node 2 $(count 2), not 400"
e2e_log "400 messages delivered on both nodes at once; no commit timed out; locks served: $(e2e_mhafs_status 1 dotlocks_held_for_peer) and $(e2e_mhafs_status 2 dotlocks_held_for_peer)"
for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: both nodes deliver at once without a commit timing out"
