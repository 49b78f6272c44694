#!/bin/bash
# tests/balance/checks.sh: HAProxy's own checks of the nodes speak each
# protocol and wait for the node's agent (conf/haproxy.cfg.in).
#  - A PROXY listener that accepts but never greets: node 2's IMAP PROXY
#    port is redirected (nft, in node 2's namespace) to a listener that
#    accepts and stays silent.  HAProxy marks imap/n2 down while smtp/n2
#    stays up (the agent still says up: the IMAP check did it), and 20
#    IMAP logins through the VIP all succeed with none sent to n2.
#  - A node whose daemons answer while its heartbeatd does not (a crashed
#    node comes back with Dovecot and Postfix before heartbeatd): node 2's
#    heartbeatd is killed; HAProxy marks n2 down in every backend, and an
#    HAProxy started afresh then never has n2 up (its servers start in
#    maintenance until their agent first says ready).
# With plain TCP checks of the plain ports (the template before this test)
# every one of these fails.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init checks
bal_require
USERS=""
for i in $(seq -w 1 6); do USERS="$USERS c$i@$E2E_LMTP_DOMAIN"; done
USERS=${USERS# }
# shellcheck disable=SC2086
bal_setup $USERS
N2=$(e2e_ip 2)
STALL_PORT=10999

# imap_total N: the sessions node H's HAProxy has sent to imap/nN so far.
imap_total() {
	e2e_haproxy_cmd "$H" "show stat" | awk -F, -v s="n$1" '$1 == "imap" && $2 == s { print $8 }'
}
down() { # BACKEND SERVER: HAProxy on H has it DOWN (or in maintenance)
	case "$(e2e_haproxy_status "$H" "$1" "$2")" in DOWN* | MAINT*) return 0 ;; esac
	return 1
}

# --- a PROXY listener that accepts but never greets
setsid nsenter --net="/run/netns/$(e2e_ns 2)" -- "$E2E_PY" -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("0.0.0.0", int(sys.argv[1])))
s.listen(64)
held = []
while True:
    c, _ = s.accept()
    held.append(c)   # accepted, never answered
' "$STALL_PORT" </dev/null >"$E2E_TMP/stall.log" 2>&1 &
STALL_PID=$!
stall_listens() { e2e_in "$(e2e_ns 2)" ss -ltnH "sport = :$STALL_PORT" | grep -q LISTEN; }
e2e_wait 10 stall_listens ||
	e2e_die "the silent listener did not start"
cat >"$E2E_TMP/stall.nft" <<EOF
table ip mhafs_stall {
	chain pre {
		type nat hook prerouting priority dstnat;
		ip daddr $N2 tcp dport $E2E_IMAP_PROXY_PORT redirect to :$STALL_PORT
	}
	chain out {
		type nat hook output priority -100;
		ip daddr $N2 tcp dport $E2E_IMAP_PROXY_PORT redirect to :$STALL_PORT
	}
}
EOF
e2e_in "$(e2e_ns 2)" nft -f "$E2E_TMP/stall.nft" || e2e_die "cannot load the redirect"
# the redirect itself works: a connection to the IMAP PROXY port is accepted
# and gets no greeting in 2 s
e2e_in "$(e2e_ns 1)" "$E2E_PY" - "$N2" "$E2E_IMAP_PROXY_PORT" <<-'EOF' || e2e_die "the IMAP PROXY port is not silent"
	import socket, sys
	c = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=5)
	c.settimeout(2)
	try:
	    d = c.recv(100)
	    sys.exit(1 if d else 0)
	except socket.timeout:
	    sys.exit(0)
	EOF
e2e_wait 15 down imap n2 || e2e_die "HAProxy on node $H keeps imap/n2 $(e2e_haproxy_status "$H" imap n2) while its IMAP PROXY listener never greets"
e2e_haproxy_up "$H" smtp n2 || e2e_die "smtp/n2 is $(e2e_haproxy_status "$H" smtp n2): node 2's agent went down too, so the IMAP check proved nothing"
e2e_log "imap/n2 is $(e2e_haproxy_status "$H" imap n2), smtp/n2 $(e2e_haproxy_status "$H" smtp n2)"
before=$(imap_total 2)
LOGINS=""
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20; do LOGINS="$LOGINS,$(printf '%s\n' $USERS | sed -n "$(( (i - 1) % 6 + 1 ))p")"; done
out=$(timeout 120 nsenter --net="/run/netns/$E2E_ID-c" -- "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "${LOGINS#,}" 2>&1) ||
	e2e_die "IMAP logins through the VIP failed while node 2's IMAP listener was silent: $out"
[ "$(printf '%s\n' "$out" | grep -c .)" = 20 ] || e2e_die "not 20 logins: $out"
after=$(imap_total 2)
[ "$after" = "$before" ] || e2e_die "HAProxy sent $((after - before)) IMAP sessions to the silent node 2"
e2e_log "20 IMAP logins through the VIP, none sent to the silent listener (imap/n2 total $after)"
e2e_in "$(e2e_ns 2)" nft delete table ip mhafs_stall || e2e_die "cannot remove the redirect"
kill "$STALL_PID" 2>/dev/null
e2e_wait 15 e2e_haproxy_up "$H" imap n2 || e2e_die "imap/n2 did not come back once its listener greets again"

# --- daemons up, heartbeatd dead
hb2=$(bal_hb_pid 2) || exit 1
if [ "$H" = 2 ]; then
	e2e_log "node 2 holds the VIP: node 1 will take it when node 2's heartbeatd dies"
fi
kill -9 "$hb2"
H=1 # node 1 holds the VIP (or takes it now) and its HAProxy decides
all_down() { local b; for b in smtp submission imap pop3; do down "$b" n2 || return 1; done; }
e2e_wait 15 all_down || e2e_die "with node 2's heartbeatd dead HAProxy on node 1 has n2 smtp $(e2e_haproxy_status 1 smtp n2), imap $(e2e_haproxy_status 1 imap n2)"
e2e_log "node 2's heartbeatd killed: n2 down in every backend, $(e2e_haproxy_status 1 imap n2)"
# a fresh HAProxy on node 1 never has n2 up while node 2's agent is silent
kill "$(cat "$(e2e_node_dir 1)/run/haproxy.child")"
e2e_wait 10 sh -c "! kill -0 $(cat "$(e2e_node_dir 1)/run/haproxy.child") 2>/dev/null" || e2e_die "node 1's HAProxy did not stop"
rm -f "$(e2e_node_dir 1)/run/haproxy.sock"
e2e_haproxy_start 1
seen=""
for i in $(seq 1 30); do
	for b in smtp imap; do
		st=$(e2e_haproxy_status 1 "$b" n2)
		case "$st" in DOWN* | MAINT*) ;; *) seen="$seen $b:$st" ;; esac
	done
	sleep 0.1
done
[ -z "$seen" ] || e2e_die "a fresh HAProxy had n2, whose agent is silent, as:$seen"
e2e_wait 15 e2e_haproxy_up 1 imap n1 || e2e_die "the fresh HAProxy did not take n1 up ($(e2e_haproxy_status 1 imap n1))"
e2e_log "a fresh HAProxy: n1 $(e2e_haproxy_status 1 imap n1), n2 $(e2e_haproxy_status 1 imap n2) throughout"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: protocol checks: a silent listener and a node without its agent get no client"
