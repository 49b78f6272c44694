#!/bin/bash
# tests/balance/tls.sh: IMAPS (993) and POP3S (995) through the VIP.
# HAProxy passes the client's TLS through to the nodes' imaps/pop3s
# listeners behind a PROXY v2 header (conf/haproxy.cfg.in,
# conf/dovecot-balance.conf.in), with the lab's self-signed certificate:
#  - HAProxy has both nodes up in the imaps and pop3s backends (their
#    servers track the imap and pop3 ones);
#  - each user logs in by IMAPS through the VIP, the client verifying the
#    certificate, 3 times: every session is served by the user's home node
#    (IMAP ID), and the users' homes cover both nodes;
#  - a POP3S login through the VIP works;
#  - Dovecot logs the client's own address for the TLS logins.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init tls
bal_require
command -v openssl >/dev/null 2>&1 || e2e_skip "openssl not installed"
USERS=""
for i in $(seq -w 1 8); do USERS="$USERS t$i@$E2E_LMTP_DOMAIN"; done
USERS=${USERS# }
# shellcheck disable=SC2086
bal_setup $USERS
tls_up() {
	local b n
	for b in imaps pop3s; do
		for n in 1 2; do e2e_haproxy_up "$H" "$b" "n$n" || return 1; done
	done
}
e2e_wait 15 tls_up || e2e_die "HAProxy on node $H: imaps n1 $(e2e_haproxy_status "$H" imaps n1), n2 $(e2e_haproxy_status "$H" imaps n2), pop3s n1 $(e2e_haproxy_status "$H" pop3s n1), n2 $(e2e_haproxy_status "$H" pop3s n2)"
e2e_log "imaps and pop3s up on both nodes"

LOGINS=""
for u in $USERS; do LOGINS="$LOGINS,$u,$u,$u"; done
e2e_client "$E2E_PY" - "$VIP" "$E2E_TMP/tls/cert.pem" "${LOGINS#,}" "$E2E_SRC/tests/balance" >"$E2E_TMP/imaps" 2>&1 <<-'EOF' ||
	import imaplib, poplib, ssl, sys
	vip, ca, users = sys.argv[1], sys.argv[2], sys.argv[3].split(",")
	sys.path.insert(0, sys.argv[4])
	from balclient import serving_node
	ctx = ssl.create_default_context(cafile=ca)   # verifies the certificate and the VIP's address
	for u in users:
	    m = imaplib.IMAP4_SSL(vip, 993, ssl_context=ctx, timeout=30)
	    m.login(u, "pw-" + u.split("@")[0])
	    node = serving_node(m) or "unknown"
	    m.select("INBOX")
	    m.logout()
	    print("imaps", u, node, flush=True)
	p = poplib.POP3_SSL(vip, 995, context=ctx, timeout=30)
	p.user(users[0])
	p.pass_("pw-" + users[0].split("@")[0])
	print("pop3s", users[0], "stat", p.stat()[0], flush=True)
	p.quit()
	EOF
	e2e_die "TLS logins through the VIP failed: $(tail -5 "$E2E_TMP/imaps")"
n=$(grep -c '^imaps ' "$E2E_TMP/imaps")
[ "$n" = $(($(printf '%s\n' $USERS | wc -l) * 3)) ] || e2e_die "only $n IMAPS logins: $(cat "$E2E_TMP/imaps")"
grep -q '^pop3s ' "$E2E_TMP/imaps" || e2e_die "no POP3S login: $(cat "$E2E_TMP/imaps")"
bad=0
while read -r _ u node; do
	home=$(bal_home "$u")
	[ "$node" = "$home" ] || { bad=$((bad + 1)); e2e_log "$u: home $home, served by $node"; }
done < <(grep '^imaps ' "$E2E_TMP/imaps")
[ "$bad" = 0 ] || e2e_die "$bad IMAPS sessions not served by their user's home node"
homes=$(for u in $USERS; do bal_home "$u"; done | sort -u | tr '\n' ' ')
[ "$homes" = "n1 n2 " ] || e2e_die "the users' homes do not cover both nodes ($homes): proves little"
e2e_log "$n IMAPS logins through the VIP, each served by its user's home ($homes)"
# the TLS logins a node served itself (the others it proxied to the peer):
# Dovecot has the client's address from HAProxy's PROXY header
tls_logins=$(cat "$E2E_TMP"/n[12]/log/dovecot.log | grep -E '(imap|pop3)-login: Info: Login: ' | grep -c 'TLS')
client_tls=$(cat "$E2E_TMP"/n[12]/log/dovecot.log | grep -E '(imap|pop3)-login: Info: Login: ' |
	grep 'TLS' | grep -c "rip=$E2E_CLIENT_IP,")
[ "$tls_logins" -gt 0 ] && [ "$tls_logins" = "$client_tls" ] ||
	e2e_die "Dovecot logged $tls_logins TLS logins, $client_tls of them from the client's address $E2E_CLIENT_IP"
e2e_log "Dovecot logged $tls_logins TLS logins, all from $E2E_CLIENT_IP"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: IMAPS and POP3S through the VIP, TLS passed through, each user on its home node"
