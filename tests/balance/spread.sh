#!/bin/bash
# tests/balance/spread.sh: both nodes serve.  Two mail nodes on replicating
# mhafs mounts, heartbeatd with the VIP and its HAProxy agent on each, HAProxy
# on both bound to the VIP, node weights 2:1.  Through the VIP only:
#  - 200 SMTP sessions split by weight (node 1's share 67 +/- 10 points), and
#    Postfix on both nodes logs the client's own address;
#  - each user's LMTP deliveries land on its home node, and the Lua passdb's
#    map agrees with `mhactl user`, login by login;
#  - 200 IMAP sessions held at once split by weight, each served by its
#    user's home node (the other node proxies), Dovecot logs the client's
#    address;
#  - `mhactl drain` on node 2 sends new sessions to node 1 only while the
#    held sessions live on, except new logins of the users whose sessions
#    node 2 holds, which join them there; `mhactl undrain` brings node 2
#    back;
#  - a forged PROXY header from the client network is refused.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init spread
bal_require
command -v lua5.4 >/dev/null 2>&1 || e2e_skip "lua5.4 not installed (tools/install-deps)"
USERS=""
for i in $(seq -w 1 20); do USERS="$USERS u$i@$E2E_LMTP_DOMAIN"; done
USERS=${USERS# }
E2E_WEIGHT_1=2 E2E_WEIGHT_2=1
# shellcheck disable=SC2086
bal_setup $USERS
both_weighted() { bal_weighted; }
cmp -s <(grep '^node' "$(e2e_nodes_file 1)" | sort) <(grep '^node' "$(e2e_nodes_file 2)" | sort) ||
	e2e_die "the two nodes' node tables differ"

# --- the map: the Lua passdb and mhactl agree, login by login
lua_homes() { # NODES_FILE LOGIN...: "login home" per login, by conf/mhafs-home.lua
	local f=$1
	shift
	sed "s|^local nodes_file = .*|local nodes_file = \"$f\"|" "$E2E_SRC/conf/mhafs-home.lua" >"$E2E_TMP/home.lua"
	printf 'dofile("%s")\nfor _, l in ipairs(arg) do print(l, mhafs_home(l)) end\n' \
		"$E2E_TMP/home.lua" >"$E2E_TMP/homes.lua"
	lua5.4 "$E2E_TMP/homes.lua" "$@"
}
home_of() { bal_home "$1"; }
LOGINS="$USERS"
for i in $(seq 1 60); do LOGINS="$LOGINS login$i@example.test Mixed.Case$i@D1.Test"; done
# shellcheck disable=SC2086
lua_homes "$(e2e_nodes_file 1)" $LOGINS >"$E2E_TMP/lua-homes" || e2e_die "the Lua map failed"
disagree=0
while read -r login home; do
	[ "$(home_of "$login")" = "$home" ] || { disagree=$((disagree + 1)); e2e_log "$login: Lua says $home, mhactl says $(home_of "$login")"; }
done <"$E2E_TMP/lua-homes"
[ "$disagree" = 0 ] || e2e_die "$disagree logins mapped differently by the Lua passdb and mhactl user"
awk '$2 == "n1" { a = 1 } $2 == "n2" { b = 1 } END { exit !(a && b) }' "$E2E_TMP/lua-homes" ||
	e2e_die "every login has the same home node"
e2e_log "the Lua passdb and mhactl user agree on $(wc -l <"$E2E_TMP/lua-homes") logins"

# --- 200 SMTP sessions through the VIP
share_ok() { # COUNT TOTAL: within 67 +/- 10 points
	[ $(( $1 * 100 )) -ge $(( 57 * $2 )) ] && [ $(( $1 * 100 )) -le $(( 77 * $2 )) ]
}
out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$VIP" --count 200 --users "${USERS// /,}" --tag spread) ||
	e2e_die "SMTP through the VIP failed: $out"
s1=$(printf '%s\n' "$out" | awk '$1 == "n1" { print $2 }'); s1=${s1:-0}
s2=$(printf '%s\n' "$out" | awk '$1 == "n2" { print $2 }'); s2=${s2:-0}
e2e_log "SMTP sessions: n1 $s1, n2 $s2"
[ $((s1 + s2)) = 200 ] || e2e_die "SMTP banners named other nodes: $out"
share_ok "$s1" 200 || e2e_die "node 1 took $s1 of 200 SMTP sessions (weights 2:1 want 114 to 154)"
for n in 1 2; do
	log=$(e2e_node_dir "$n")/log/postfix.log
	grep -q "client=unknown\[$E2E_CLIENT_IP\]" "$log" || e2e_die "node $n's Postfix logged no client at $E2E_CLIENT_IP"
	bad=$(grep -o 'client=[^,]*' "$log" | grep -v "\[$E2E_CLIENT_IP\]" | sort -u)
	[ -z "$bad" ] || e2e_die "node $n's Postfix saw clients other than the client's own address: $bad"
done

# --- each user's deliveries on its home node
saved() { cat "$E2E_TMP"/n[12]/log/dovecot.log | grep -c 'lmtp(.*saved mail to INBOX'; }
all_saved() { [ "$(saved)" -ge 200 ]; }
e2e_wait 60 all_saved || e2e_die "only $(saved) of 200 messages were delivered"
for u in $USERS; do
	home=$(home_of "$u")
	other=$([ "$home" = n1 ] && echo 2 || echo 1)
	! grep -q "lmtp($u)<.*saved mail to INBOX" "$(e2e_node_dir "$other")/log/dovecot.log" ||
		e2e_die "$u (home $home) had mail delivered by node $other"
	grep -q "lmtp($u)<.*saved mail to INBOX" "$(e2e_node_dir "${home#n}")/log/dovecot.log" ||
		e2e_die "$u's home node $home delivered none of its mail"
done
e2e_log "every user's deliveries were made by its home node"

# --- 200 IMAP sessions held at once, then drain and undrain node 2
rm -f "$E2E_TMP/imap-ready" "$E2E_TMP/imap-release"
e2e_client "$E2E_PY" "$BAL" imap-hold --vip "$VIP" --count 200 --users "${USERS// /,}" \
	--ready "$E2E_TMP/imap-ready" --release "$E2E_TMP/imap-release" --hold 300 \
	>"$E2E_TMP/imap-hold.out" 2>&1 &
holder=$!
e2e_wait 120 test -s "$E2E_TMP/imap-ready" || { kill "$holder"; e2e_die "200 IMAP sessions did not open"; }
[ "$(cat "$E2E_TMP/imap-ready")" = 200 ] || { kill "$holder"; cat "$E2E_TMP/imap-hold.out" >&2; e2e_die "only $(cat "$E2E_TMP/imap-ready") IMAP sessions opened"; }
# the sessions HAProxy holds open to each node
i1=$(e2e_haproxy_cmd "$H" "show stat" | awk -F, '$1 == "imap" && $2 == "n1" { print $5 }')
i2=$(e2e_haproxy_cmd "$H" "show stat" | awk -F, '$1 == "imap" && $2 == "n2" { print $5 }')
e2e_log "IMAP sessions open: n1 $i1, n2 $i2"
[ $((i1 + i2)) = 200 ] || e2e_die "HAProxy holds $((i1 + i2)) IMAP sessions, not 200"
share_ok "$i1" 200 || e2e_die "node 1 took $i1 of 200 IMAP sessions (weights 2:1 want 114 to 154)"
for u in $USERS; do
	home=$(home_of "$u")
	other=$([ "$home" = n1 ] && echo 2 || echo 1)
	! grep -q "imap($u)<" "$(e2e_node_dir "$other")/log/dovecot.log" ||
		e2e_die "$u (home $home) has an IMAP session served by node $other"
	grep -q "Login: user=<$u>.*rip=$E2E_CLIENT_IP," "$(e2e_node_dir "${home#n}")/log/dovecot.log" ||
		e2e_die "$u's home node $home logged no login from the client's address"
done
bad=$(grep -ho 'Login: user=<[^>]*>, method=[A-Z]*, rip=[0-9.]*' "$E2E_TMP"/n[12]/log/dovecot.log | grep -v "rip=$E2E_CLIENT_IP\$" | sort -u)
[ -z "$bad" ] || e2e_die "Dovecot saw logins from other than the client's address: $bad"
e2e_log "every user's IMAP sessions are served by its home node"

# mhactl status on the VIP holder shows the weights and each node's share
st=$("$MHACTL" -c "$(e2e_node_dir "$H")/conf/mhafs.conf" status)
c1=$(printf '%s\n' "$st" | sed -n 's/^balancer_connections_n1=\([0-9]*\) .*/\1/p')
c2=$(printf '%s\n' "$st" | sed -n 's/^balancer_connections_n2=\([0-9]*\) .*/\1/p')
[ -n "$c1" ] && [ -n "$c2" ] && [ $((c1 + c2)) -ge 200 ] && share_ok "$c1" $((c1 + c2)) ||
	e2e_die "mhactl status does not show the connections split 2:1: $(printf '%s\n' "$st" | grep '^balancer_')"
printf '%s\n' "$st" | grep -q '^balancer_node_n1=.*weight 2' ||
	e2e_die "mhactl status does not show node 1's weight: $(printf '%s\n' "$st" | grep '^balancer_')"
e2e_log "mhactl status: $(printf '%s\n' "$st" | grep '^balancer_' | tr '\n' ' ')"

# and as the client sees it: IMAP ID after login names the serving node
e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "${USERS// /,}" >"$E2E_TMP/who" ||
	e2e_die "IMAP ID through the VIP failed"
while read -r u node; do
	[ "$node" = "$(home_of "$u")" ] || e2e_die "$u was served by $node, its home is $(home_of "$u")"
done <"$E2E_TMP/who"

N2USERS=""
for u in $USERS; do [ "$(home_of "$u")" = n2 ] && N2USERS="$N2USERS $u"; done
N2USERS=${N2USERS# }
[ -n "$N2USERS" ] || e2e_die "no user has node 2 as its home"
"$MHACTL" -c "$(e2e_node_dir 2)/conf/mhafs.conf" drain || e2e_die "mhactl drain failed"
drained() { case "$(e2e_haproxy_status "$H" smtp n2) $(e2e_haproxy_status "$H" imap n2)" in "DRAIN"*" DRAIN"*) return 0 ;; esac; return 1; }
e2e_wait 10 drained || e2e_die "HAProxy has node 2 $(e2e_haproxy_status "$H" smtp n2), not DRAIN, after mhactl drain"
out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$VIP" --count 20 --users "${USERS// /,}" --tag drain) ||
	e2e_die "SMTP through the VIP failed while node 2 drained: $out"
[ "$(printf '%s\n' "$out" | awk '$1 == "n1" { print $2 }')" = 20 ] ||
	e2e_die "a drained node 2 took new SMTP sessions: $out"
# node 2 still serves the sessions it holds: its users' new logins join
# them there, not node 1 (one server per mailbox)
for u in $N2USERS; do
	test -e "$E2E_TMP/n2-mnt/.mhafs-sessions/n2/$u" || e2e_die "node 2 does not publish $u's held sessions"
	"$MHACTL" -c "$(e2e_node_dir 1)/conf/mhafs.conf" user "$u" | grep -q '^serves=n2$' ||
		e2e_die "mhactl user $u does not say node 2, drained, serves it: $("$MHACTL" -c "$(e2e_node_dir 1)/conf/mhafs.conf" user "$u" | tr '\n' ' ')"
	node=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "$u" | awk '{ print $2 }')
	[ "$node" = n2 ] || e2e_die "with node 2 drained, a login of $u, whose sessions are open there, was served by $node"
done
e2e_log "node 2 drained: new logins of its users with open sessions ($N2USERS) still served there"
"$MHACTL" -c "$(e2e_node_dir 2)/conf/mhafs.conf" undrain || e2e_die "mhactl undrain failed"
e2e_wait 10 both_weighted || e2e_die "node 2 did not come back after mhactl undrain"
out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$VIP" --count 12 --users "${USERS// /,}" --tag undrain) ||
	e2e_die "SMTP through the VIP failed after undrain: $out"
printf '%s\n' "$out" | grep -q '^n2 ' || e2e_die "node 2 took no SMTP session after undrain: $out"
: >"$E2E_TMP/imap-release"
wait "$holder" || { cat "$E2E_TMP/imap-hold.out" >&2; e2e_die "held IMAP sessions did not survive the drain"; }
e2e_log "drain and undrain: $(tr '\n' ' ' <"$E2E_TMP/imap-hold.out")"

# --- forged PROXY headers
for hp in "$(e2e_ip 1) $E2E_SMTP_PROXY_PORT" "$(e2e_ip 2) $E2E_IMAP_PROXY_PORT" "$(e2e_ip 1) $E2E_POP3_PROXY_PORT"; do
	set -- $hp
	out=$(e2e_client "$E2E_PY" "$BAL" forge --host "$1" --port "$2") || e2e_die "$1:$2: $out"
done
! grep -q '192\.0\.2\.99' "$E2E_TMP"/n[12]/log/*.log || e2e_die "a forged client address reached a mail server's log"

bad=$(grep -h 'mhafs-home: ' "$E2E_TMP"/n[12]/log/dovecot.log | grep -v 'HIGHESTMODSEQ floor')
[ -z "$bad" ] || e2e_die "the home-node script complained:
$bad"
floors=$(cat "$E2E_TMP"/n[12]/log/dovecot.log | grep -c 'HIGHESTMODSEQ floor')
[ "$floors" -ge 20 ] || e2e_die "only $floors MODSEQ floors were raised for 20 users"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: both nodes serve by weight, each user on its home node"
