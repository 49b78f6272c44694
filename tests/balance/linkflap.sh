#!/bin/bash
# tests/balance/linkflap.sh: a node whose link goes down and comes back
# must have its SMTP PROXY listener back within seconds.  Behind the
# balancer Postfix's inet_interfaces names the node's own address; an
# smtpd that master(8) starts while that address's link is down exits
# ("fatal: parameter inet_interfaces: no local interface found"), and
# master then holds the service back for service_throttle_time: 60 s by
# default, long after the link is up (the 30-minute fault run, seed 101:
# a 7 s partition shut a node's PROXY listener for 60 s).
# conf/postfix-main.cf.in sets 5 s.  Here the node that does not hold the
# VIP has its link taken down, its smtpd processes ended (as after the
# fault run's restart of Postfix) and a connection made to its
# PROXY listener from inside it, so that master starts an smtpd that
# exits; then the link comes back, and the listener must greet a client
# (a PROXY v2 header, as HAProxy sends) within 20 s.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init linkflap
bal_require
bal_setup a1@$E2E_LMTP_DOMAIN a2@$E2E_LMTP_DOMAIN
V=$((3 - H))
DV=$(e2e_node_dir "$V")
NV=$(e2e_ns "$V")
IPV=$(e2e_ip "$V")
plog=$(wc -l <"$DV/log/postfix.log")

# greets NS: node V's SMTP PROXY listener answers 220 to a client's PROXY
# v2 header, asked from namespace NS within 3 s
greets() {
	e2e_in "$1" "$E2E_PY" "$BAL" greet --host "$IPV" --timeout 3 "$E2E_SMTP_PROXY_PORT:220" 2>/dev/null
}
greets "$(e2e_ns "$H")" || e2e_die "node $V's SMTP PROXY listener does not greet before the test"

ip -n "$NV" link set eth0 down || e2e_die "cannot take node $V's link down"
# the node's smtpd processes go (as after the fault run's restart of
# Postfix): the next connection makes master start a new one
n=0
for p in $(ip netns pids "$NV"); do
	[ "$(readlink "/proc/$p/exe" 2>/dev/null)" = /usr/lib/postfix/sbin/smtpd ] || continue
	kill -TERM "$p" 2>/dev/null && n=$((n + 1))
done
e2e_log "node $V: link down, $n smtpd processes ended"
sleep 1
# from inside the node (its address stays local with the link down): a
# connection master must start a new smtpd for
greets "$NV" && e2e_die "node $V's SMTP PROXY listener greeted with its link down: the test proves nothing"
exited() { tail -n +"$((plog + 1))" "$DV/log/postfix.log" | grep -q "no local interface found for $IPV"; }
e2e_wait 15 exited || e2e_die "no smtpd of node $V exited with its link down: the test proves nothing
$(tail -n +"$((plog + 1))" "$DV/log/postfix.log" | tail -5)"
tail -n +"$((plog + 1))" "$DV/log/postfix.log" | grep -q "throttling" ||
	e2e_die "node $V's master did not throttle the exited smtpd: the test proves nothing"
e2e_log "node $V: link down, an smtpd exited and master throttles the service"

ip -n "$NV" link set eth0 up || e2e_die "cannot bring node $V's link up"
t0=$(e2e_ms)
back=""
while [ $(($(e2e_ms) - t0)) -lt 40000 ]; do
	if greets "$(e2e_ns "$H")"; then back=$(($(e2e_ms) - t0)); break; fi
	sleep 0.5
done
[ -n "$back" ] || e2e_die "node $V's SMTP PROXY listener did not greet within 40 s of its link coming back"
e2e_log "node $V's SMTP PROXY listener greets $back ms after its link came back"
[ "$back" -le 20000 ] || e2e_die "node $V's SMTP PROXY listener came back only after $back ms (service_throttle_time?)"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: a link flap shuts node $V's SMTP PROXY listener for $back ms, not a minute"
