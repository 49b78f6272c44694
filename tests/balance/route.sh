#!/bin/bash
# tests/balance/route.sh: Postfix delivers each user's mail straight to the
# node that serves the user (mhafs-route as its transport table), not
# through its own Dovecot's LMTP proxy.  Two serving nodes as in spread.sh:
#  - mhafs-route answers, on node 1's files, what `mhactl user` says: the
#    peer's routed LMTP port (then node 1's own LMTP as the fallback) for
#    a user node 2 serves, NOTFOUND for a user node 1 serves, for the
#    other domain and for a malformed address; an address extension is
#    routed as its user; PERM for another map name and for a broken
#    netstring (and it then ends);
#  - on a node table and sessions directory of its own: a user with
#    sessions open on one live node goes there, whatever its home, also
#    when no node is up; on both (or on a down node) the home decides; a
#    drained node with the sessions still gets the mail; no table:
#    NOTFOUND; and in every one of these states Dovecot's routing script
#    (conf/mhafs-home.lua's passdb, run by lua5.4 on the same files)
#    sends the user to the same node;
#  - a bad command line or configuration: exit 2 when run by hand; under
#    spawn (standard output a socket) it answers NOTFOUND to everything,
#    so Postfix's lookups never fail;
#  - mail for a user homed on node 2, submitted to node 1's Postfix, is
#    relayed by node 1's Postfix to node 2's routed LMTP port and saved by
#    node 2, and node 1's Dovecot proxies nothing; mail for a user homed
#    on node 1 stays on node 1;
#  - a stale answer (node 1's user sent to node 2's routed port) is
#    proxied back by node 2's Dovecot and saved by node 1 only;
#  - the nexthop list it answers works in Postfix: a first nexthop whose
#    packets vanish is given up after lmtp_connect_timeout and the mail is
#    delivered by the fallback.
# With E2E_NO_ROUTE=1 (Postfix without the table) the relay checks fail.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init route
bal_require
ROUTE=$E2E_BUILD/tools/mhafs-route
[ -x "$ROUTE" ] || e2e_skip "no mhafs-route"
USERS=""
for i in $(seq -w 1 12); do USERS="$USERS u$i@$E2E_LMTP_DOMAIN"; done
USERS=${USERS# }
# shellcheck disable=SC2086
bal_setup $USERS
D1=$(e2e_node_dir 1) D2=$(e2e_node_dir 2)
A="" B=""
for u in $USERS; do
	case $(bal_home "$u") in
	n1) [ -n "$A" ] || A=$u ;;
	n2) [ -n "$B" ] || B=$u ;;
	esac
done
[ -n "$A" ] && [ -n "$B" ] || e2e_die "the users' homes are not on both nodes"
e2e_log "$A is homed on node 1, $B on node 2"

# ask ARGS... -- REQUEST: mhafs-route's reply to one raw request
ask() {
	local args=()
	while [ "$1" != -- ]; do args+=("$1"); shift; done
	printf '%s' "$2" | "$ROUTE" "${args[@]}"
}
ns() { printf '%d:%s,' "${#1}" "$1"; } # the netstring of a string
expect() { # WHAT GOT WANT
	[ "$2" = "$3" ] || e2e_die "$1: mhafs-route answered '$2', expected '$3'"
}
FB="[127.0.0.1]:24" RP=$E2E_LMTP_ROUTE_PORT
C1=(-c "$D1/conf/mhafs.conf" -p "$RP" -f "$FB" "$E2E_LMTP_DOMAIN")
ok2="OK lmtp:inet:[$(e2e_ip 2)]:$RP, $FB"
expect "$B on node 1" "$(ask "${C1[@]}" -- "$(ns "route $B")")" "$(ns "$ok2")"
expect "$B in capitals" "$(ask "${C1[@]}" -- "$(ns "route ${B^^}")")" "$(ns "$ok2")"
expect "$A on node 1" "$(ask "${C1[@]}" -- "$(ns "route $A")")" "$(ns "NOTFOUND ")"
expect "$B with an extension" "$(ask "${C1[@]}" -- "$(ns "route ${B%@*}+box@${B#*@}")")" "$(ns "$ok2")"
expect "$A with an extension" "$(ask "${C1[@]}" -- "$(ns "route ${A%@*}+${B%@*}@${A#*@}")")" "$(ns "NOTFOUND ")"
expect "the other domain" "$(ask "${C1[@]}" -- "$(ns "route ${B%@*}@$E2E_VIRTUAL_DOMAIN")")" "$(ns "NOTFOUND ")"
expect "a domain alone" "$(ask "${C1[@]}" -- "$(ns "route $E2E_LMTP_DOMAIN")")" "$(ns "NOTFOUND ")"
expect "an empty local part" "$(ask "${C1[@]}" -- "$(ns "route @$E2E_LMTP_DOMAIN")")" "$(ns "NOTFOUND ")"
# the answers agree with mhactl user, user by user, and two requests on
# one connection get two answers
for u in $USERS; do
	want=$(ns "NOTFOUND ")
	[ "$("$MHACTL" -c "$D1/conf/mhafs.conf" user "$u" | sed -n 's/^serves=//p')" = n1 ] || want=$(ns "$ok2")
	expect "$u" "$(ask "${C1[@]}" -- "$(ns "route $u")$(ns "route $u")")" "$want$want"
done
got=$(ask "${C1[@]}" -- "$(ns "lmtp $B")")
case $got in *":PERM unknown map name"*) ;; *) e2e_die "another map name: '$got'" ;; esac
got=$(ask "${C1[@]}" -- "$(ns "route $B")5:rou${B}" ; echo " rc=$?")
case $got in "$(ns "$ok2")"*":PERM "*" rc=1") ;; *) e2e_die "a broken netstring after a good one: '$got'" ;; esac
got=$(ask "${C1[@]}" -- "$(ns "route $B")$(ns "route $A")"; echo " rc=$?")
expect "two requests then the end" "$got" "$(ns "$ok2")$(ns "NOTFOUND ") rc=0"
e2e_log "mhafs-route answers as mhactl user on node 1's files"

# --- the sessions rule and the states, on a table of the test's own
T=$E2E_TMP/rt
mkdir -p "$T/sessions/n1" "$T/sessions/n2" || e2e_die "cannot create $T"
printf 'nodes_file = %s/nodes\nsessions_dir = %s/sessions\n' "$T" "$T" >"$T/mhafs.conf"
table() { # STATE1 STATE2
	printf 'self 1\nnode 1 n1 %s 1 %s\nnode 2 n2 %s 1 %s\n' "$(e2e_ip 1)" "$1" "$(e2e_ip 2)" "$2" >"$T/nodes"
}
# the routing script's passdb on the same files, as Dovecot calls it for
# an LMTP delivery that arrived on the routed port: prints the address it
# proxies to, or "here"
command -v lua5.4 >/dev/null 2>&1 || e2e_skip "lua5.4 not installed (tools/install-deps)"
sed -e "s|^local nodes_file = .*|local nodes_file = \"$T/nodes\"|" \
	-e "s|^local sessions_dir = .*|local sessions_dir = \"$T/sessions\"|" \
	"$E2E_SRC/conf/mhafs-home.lua" >"$T/home.lua" || e2e_die "cannot render the routing script"
cat >"$T/passdb.lua" <<EOF
dovecot = { auth = { PASSDB_RESULT_OK = 1 } }
dofile("$T/home.lua")
local function nolog(_, _) end
local req = { user = arg[1], service = "lmtp", real_rip = "$(e2e_ip 1)", real_lport = $RP,
	log_debug = nolog, log_info = nolog, log_warning = nolog }
local _, f = auth_passdb_lookup(req)
print(f.proxy == "y" and f.host or "here")
EOF
lua_says() { lua5.4 "$T/passdb.lua" "$1"; }
# same LOGIN: mhafs-route's answer on $T and the script's agree
same() {
	local got lua want
	got=$(ask "${CT[@]}" -- "$(ns "route $1")")
	lua=$(lua_says "$1") || e2e_die "the routing script failed for $1"
	want=$nf
	[ "$lua" = here ] || want=$(ns "OK lmtp:inet:[$lua]:24")
	[ "$got" = "$want" ] || e2e_die "$1 ($(tr '\n' ' ' <"$T/nodes"| sed 's/self 1 //'); sessions: $(cd "$T/sessions" && echo */*)): mhafs-route answered '$got', the routing script says $lua"
}
CT=(-c "$T/mhafs.conf" -p 24 "$E2E_LMTP_DOMAIN")
to2=$(ns "OK lmtp:inet:[$(e2e_ip 2)]:24")
nf=$(ns "NOTFOUND ")
table up up
expect "$B, no sessions" "$(ask "${CT[@]}" -- "$(ns "route $B")")" "$to2"
same "$A"; same "$B"
touch "$T/sessions/n1/$B"
expect "$B with sessions on node 1" "$(ask "${CT[@]}" -- "$(ns "route $B")")" "$nf"
same "$A"; same "$B"
touch "$T/sessions/n2/$B"
expect "$B with sessions on both" "$(ask "${CT[@]}" -- "$(ns "route $B")")" "$to2"
same "$A"; same "$B"
rm "$T/sessions/n1/$B"; touch "$T/sessions/n2/$A"
expect "$A with sessions on node 2" "$(ask "${CT[@]}" -- "$(ns "route $A")")" "$to2"
same "$A"; same "$B"
table up drain
expect "$A with sessions on drained node 2" "$(ask "${CT[@]}" -- "$(ns "route $A")")" "$to2"
same "$A"; same "$B"
expect "$B homed on drained node 2, sessions there" "$(ask "${CT[@]}" -- "$(ns "route $B")")" "$to2"
same "$A"; same "$B"
rm "$T/sessions/n2/$B"
expect "$B homed on drained node 2" "$(ask "${CT[@]}" -- "$(ns "route $B")")" "$nf"
same "$A"; same "$B"
table up down
expect "$A with sessions on down node 2" "$(ask "${CT[@]}" -- "$(ns "route $A")")" "$nf"
same "$A"; same "$B"
table down drain
expect "$A with sessions on drained node 2, no node up" "$(ask "${CT[@]}" -- "$(ns "route $A")")" "$to2"
same "$A"; same "$B"
table down down
expect "no node up" "$(ask "${CT[@]}" -- "$(ns "route $B")")" "$nf"
same "$A"; same "$B"
rm "$T/nodes"
expect "no node table" "$(ask "${CT[@]}" -- "$(ns "route $B")")" "$nf"
"$ROUTE" -c "$T/missing.conf" "$E2E_LMTP_DOMAIN" </dev/null 2>/dev/null; [ $? = 2 ] || e2e_die "mhafs-route ran by hand without its configuration"
"$ROUTE" -p 24x "$E2E_LMTP_DOMAIN" </dev/null 2>/dev/null; [ $? = 2 ] || e2e_die "mhafs-route took a bad port"
# as spawn runs it, on a socket: a bad configuration turns routing off
# rather than failing Postfix's lookups (which would defer all its mail)
cat >"$E2E_TMP/onsock.py" <<'EOF'
import socket, subprocess, sys
a, b = socket.socketpair()
p = subprocess.Popen(sys.argv[2:], stdin=b, stdout=b, stderr=b)
b.close()
req = sys.argv[1].encode()
a.sendall(b"%d:%s," % (len(req), req))
a.shutdown(socket.SHUT_WR)
out = b"".join(iter(lambda: a.recv(4096), b""))
p.wait()
sys.stdout.write(out.decode() + " rc=%d" % p.returncode)
EOF
on_socket() { "$E2E_PY" "$E2E_TMP/onsock.py" "route $B" "$ROUTE" "$@"; }
expect "a missing configuration, under spawn" "$(on_socket -c "$T/missing.conf" "$E2E_LMTP_DOMAIN")" "$nf rc=0"
expect "a bad fallback, under spawn" "$(on_socket -c "${C1[1]}" -f "unix:/x" "$E2E_LMTP_DOMAIN")" "$nf rc=0"
expect "no domain, under spawn" "$(on_socket -c "${C1[1]}")" "$nf rc=0"
expect "node 1's files, under spawn" "$(on_socket "${C1[@]}")" "$(ns "$ok2") rc=0"
# a fallback Postfix would die on (a unix: socket after the first nexthop)
for f in "unix:$D1/run/lmtp" "inet:[127.0.0.1]:24" "[127.0.0.1]" "127.0.0.1:24, [::1]:24" "[127.0.0.1]:x"; do
	"$ROUTE" -f "$f" "$E2E_LMTP_DOMAIN" </dev/null 2>/dev/null; [ $? = 2 ] || e2e_die "mhafs-route took the fallback '$f'"
done
for f in "[127.0.0.1]:24" "localhost:24"; do
	"$ROUTE" -c "$T/mhafs.conf" -f "$f" "$E2E_LMTP_DOMAIN" </dev/null || e2e_die "mhafs-route refused the fallback '$f'"
done
e2e_log "mhafs-route follows the sessions, the states and a missing table as the routing script does (checked against it)"

# --- through Postfix: node 1's Postfix sends node 2's user's mail to node 2
P1=$D1/log/postfix.log
out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$(e2e_ip 1)" --count 4 --users "$B,$A" --tag route) ||
	e2e_die "SMTP to node 1 failed: $out"
[ "$out" = "n1 4" ] || e2e_die "the SMTP sessions were not node 1's: $out"
saved_on() { grep -q "msgid=<route-$2@balance.mhafs.test>: saved mail to INBOX" "$(e2e_node_dir "$1")/log/dovecot.log"; }
for i in 0 2; do
	e2e_wait 20 saved_on 2 "$i" || e2e_die "$B's message $i was not saved by node 2"
	saved_on 1 "$i" && e2e_die "$B's message $i was saved by node 1"
done
for i in 1 3; do
	e2e_wait 20 saved_on 1 "$i" || e2e_die "$A's message $i was not saved by node 1"
done
n=$(grep -c "to=<$B>, relay=$(e2e_ip 2)\[$(e2e_ip 2)\]:$RP,.* status=sent" "$P1")
[ "$n" = 2 ] || e2e_die "node 1's Postfix relayed $n of $B's 2 messages to node 2's LMTP: $(grep "to=<$B>" "$P1")"
grep -q "to=<$A>, relay=.*status=sent" "$P1" && ! grep -q "to=<$A>, relay=$(e2e_ip 2)" "$P1" ||
	e2e_die "$A's mail did not stay on node 1: $(grep "to=<$A>" "$P1")"
! grep -q "Sent message to <$B>" "$D1/log/dovecot.log" ||
	e2e_die "node 1's Dovecot proxied $B's mail"
e2e_log "node 1's Postfix delivered $B's mail to node 2's LMTP itself, $A's to its own"

# --- a stale answer, and a first nexthop that never answers: node 1's
# texthash table (searched before mhafs-route) sends A, whom node 1
# serves, to node 2's routed port, and C to an address whose packets node
# 1's firewall drops, then the fallback: what mhafs-route would answer
C=""
for u in $USERS; do [ "$u" = "$A" ] || [ "$u" = "$B" ] || { C=$u; break; }; done
printf '%s lmtp:inet:[%s]:%s\n' "$A" "$(e2e_ip 2)" "$RP" >>"$D1/conf/transport"
printf '%s lmtp:inet:[192.0.2.99]:24, %s\n' "$C" "$FB" >>"$D1/conf/transport"
printf 'table inet routetest {\n\tchain out { type filter hook output priority 0; ip daddr 192.0.2.99 drop; }\n}\n' >"$E2E_TMP/drop.nft"
e2e_in "$(e2e_ns 1)" nft -f "$E2E_TMP/drop.nft" || e2e_die "cannot load node 1's drop rule"
e2e_in "$(e2e_ns 1)" postfix -c "$D1/conf" reload >/dev/null 2>&1 || e2e_die "postfix reload failed"
sleep 1
out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$(e2e_ip 1)" --count 1 --users "$A" --tag stale) ||
	e2e_die "SMTP to node 1 failed: $out"
st_saved() { grep -q "msgid=<stale-0@balance.mhafs.test>: saved mail to INBOX" "$(e2e_node_dir "$1")/log/dovecot.log"; }
e2e_wait 30 st_saved 1 || e2e_die "$A's message sent to node 2's routed port was not saved by node 1"
st_saved 2 && e2e_die "node 2 saved $A's message: a stale answer made a second server"
grep -q "to=<$A>, relay=$(e2e_ip 2)\[$(e2e_ip 2)\]:$RP,.* status=sent" "$P1" ||
	e2e_die "node 1's Postfix did not relay $A's message to node 2: $(grep "to=<$A>" "$P1")"
e2e_log "a stale answer: node 2's Dovecot proxied $A's message back to node 1, which saved it"
t0=$(e2e_ms)
out=$(e2e_client "$E2E_PY" "$BAL" smtp --vip "$(e2e_ip 1)" --count 1 --users "$C" --tag fallback) ||
	e2e_die "SMTP to node 1 failed: $out"
fb_saved() { grep -q "msgid=<fallback-0@balance.mhafs.test>: saved mail to INBOX" "$D1/log/dovecot.log" "$D2/log/dovecot.log"; }
e2e_wait 30 fb_saved || e2e_die "the message behind a dead first nexthop was not delivered: $(grep "to=<$C>" "$P1")"
ms=$(($(e2e_ms) - t0))
grep -q "to=<$C>, relay=127.0.0.1\[127.0.0.1\]:24,.*status=sent" "$P1" ||
	e2e_die "the fallback did not deliver it: $(grep "to=<$C>" "$P1")"
grep -q "connect to 192.0.2.99\[192.0.2.99\]:24: .*" "$P1" ||
	e2e_die "Postfix did not try the first nexthop: $(grep "to=<$C>" "$P1")"
e2e_log "a dead first nexthop: delivered by the fallback after $ms ms ($(grep -o 'connect to 192.0.2.99[^)]*' "$P1" | head -1))"
e2e_log "PASS: each user's mail goes from Postfix straight to the node that serves the user"
