#!/bin/bash
# tests/balance/checkabort.sh: HAProxy's checks that give up on a slow node
# must not kill its Postfix.  A check sends a PROXY v2 LOCAL header (it has
# no client), and for LOCAL Postfix's smtpd (3.7) takes the client's address
# from the socket; if the check has timed out and reset the connection by
# the time an smtpd accepts it, getpeername() fails and smtpd dies with
# "fatal: smtpd_peer_hostaddr_to_sockaddr: ... Servname not supported for
# ai_socktype".  A fresh smtpd dying on its first connection makes Postfix's
# master throttle the service for a minute, and the checks it then gives
# up on are reset too, so the listener stays down long after the load that
# started it (seen under load in the 30-minute fault run).
# Here the node that does not hold the VIP has its Postfix and Dovecot
# frozen (SIGSTOP) past the check timeout three times, so both HAProxys
# give up on checks its kernel has already accepted; thawed, its daemons
# take those connections.  Then:
#  - the VIP holder's HAProxy did time out checks of the frozen node;
#  - Postfix's log has the abandoned checks (lost connection after CONNECT)
#    and no fatal and no throttling, Dovecot's log no Fatal or Panic;
#  - each of the node's six PROXY listeners greets a client at once.
# With checks that close by reset (conf/haproxy.cfg.in before `linger`),
# smtpd dies and the SMTP and submission listeners are throttled.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init checkabort
bal_require
bal_setup a1@$E2E_LMTP_DOMAIN a2@$E2E_LMTP_DOMAIN
V=$((3 - H))
DV=$(e2e_node_dir "$V")
e2e_log "node $V's mail daemons will be frozen; node $H's HAProxy checks them"

# mail_pids: node V's Postfix and Dovecot processes (not mhafs, heartbeatd
# or HAProxy)
mail_pids() {
	local p
	for p in $(ip netns pids "$(e2e_ns "$V")"); do
		case "$(readlink "/proc/$p/exe" 2>/dev/null)" in
		/usr/lib/postfix/sbin/* | /usr/sbin/dovecot | /usr/lib/dovecot/*) printf '%s ' "$p" ;;
		esac
	done
}
plog=$(wc -l <"$DV/log/postfix.log")
dlog=$(wc -l <"$DV/log/dovecot.log")
hlog=$(wc -l <"$(e2e_node_dir "$H")/log/haproxy.log")
for round in 1 2 3; do
	pids=$(mail_pids)
	[ -n "$pids" ] || e2e_die "no Postfix or Dovecot process in node $V's namespace"
	# shellcheck disable=SC2086
	kill -STOP $pids
	sleep 3 # three times the check timeout
	# shellcheck disable=SC2086
	kill -CONT $pids
	e2e_log "round $round: node $V's mail daemons frozen for 3 s ($(printf '%s\n' $pids | wc -l) processes)"
	sleep 3
done
sleep 2

gave_up=$(tail -n +"$((hlog + 1))" "$(e2e_node_dir "$H")/log/haproxy.log" | grep -c "^<.>Server [a-z0-9]*/n$V is DOWN, reason: Layer7 timeout")
[ "$gave_up" -gt 0 ] || e2e_die "node $H's HAProxy never timed out a check of the frozen node $V: the test proved nothing"
abandoned=$(tail -n +"$((plog + 1))" "$DV/log/postfix.log" | grep -c "lost connection after CONNECT from unknown\[192\.0\.2\.1[12]\]")
fatal=$(tail -n +"$((plog + 1))" "$DV/log/postfix.log" | grep -E "fatal:|throttling")
dfatal=$(tail -n +"$((dlog + 1))" "$DV/log/dovecot.log" | grep -E "Fatal:|Panic:")
e2e_log "HAProxy on node $H took node $V's servers down $gave_up times on a check timeout; node $V's smtpd logged $abandoned abandoned checks"
[ -z "$fatal" ] || e2e_die "node $V's Postfix, after checks that HAProxy gave up on:
$(printf '%s\n' "$fatal" | head -8)"
[ -z "$dfatal" ] || e2e_die "node $V's Dovecot, after checks that HAProxy gave up on:
$(printf '%s\n' "$dfatal" | head -8)"
[ "$abandoned" -gt 0 ] || e2e_die "node $V's Postfix logged none of the checks HAProxy gave up on: the test proved nothing"

# each PROXY listener of node V greets a client (a PROXY v2 header naming
# the client network, as HAProxy sends for a client), from node H
e2e_in "$(e2e_ns "$H")" "$E2E_PY" "$BAL" greet --host "$(e2e_ip "$V")" \
	"$E2E_SMTP_PROXY_PORT:220" "$E2E_SUBMISSION_PROXY_PORT:220" \
	"$E2E_IMAP_PROXY_PORT:* OK" "$E2E_POP3_PROXY_PORT:+OK" \
	"$E2E_IMAPS_PROXY_PORT:* OK:tls" "$E2E_POP3S_PROXY_PORT:+OK:tls" ||
	e2e_die "a PROXY listener of node $V does not greet"
e2e_log "every PROXY listener of node $V greets"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: checks HAProxy gave up on cost node $V no smtpd and no listener"
