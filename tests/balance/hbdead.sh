#!/bin/bash
# tests/balance/hbdead.sh: a node's heartbeatd dies (kill -9) while its
# Dovecot serves on.  Its Dovecot keeps the sessions open there, and its
# node table, which nobody updates now, still has both nodes up; so the
# other node must not take its users either, or two Dovecots serve one
# mailbox (the short fault run saw one IMAP UID name different messages on
# the two nodes this way).
#  - a user whose home is node V holds an IMAP session there through the
#    VIP; V's heartbeatd is killed;
#  - node H keeps V up in its table (V's IMAP greets and the replication
#    link is up) and says why in its log, and HAProxy takes V out (its
#    agent is dead): new logins of V's users, through the VIP, all land
#    on H and are proxied to V, the held user's and another's alike;
#  - H's heartbeatd restarts meanwhile: the new run, which never heard V,
#    keeps V up as its last table had it, since V still serves;
#  - then V's Dovecot dies too: H's table marks V down, and V's users are
#    served by H (the users of a dead node still move).
# The old heartbeatd marked V down as soon as its heartbeats stopped, and
# H served V's users itself.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init hbdead
bal_require
USERS=""
for i in $(seq -w 1 10); do USERS="$USERS h$i@$E2E_LMTP_DOMAIN"; done
USERS=${USERS# }
# shellcheck disable=SC2086
bal_setup $USERS
V=$((3 - H)) # not the VIP holder: the VIP stays where it is
VU=""
for u in $USERS; do [ "$(bal_home "$u")" = "n$V" ] && VU="$VU $u"; done
VU=${VU# }
set -- $VU
[ $# -ge 2 ] || e2e_die "fewer than two users have node $V as their home: $VU"
HELD=$1 OTHER=$2
e2e_log "node $V is the home of $VU; $HELD holds a session there"

rm -f "$E2E_TMP/held-ready" "$E2E_TMP/held-release"
e2e_client "$E2E_PY" "$BAL" imap-hold --vip "$VIP" --count 1 --users "$HELD" \
	--ready "$E2E_TMP/held-ready" --release "$E2E_TMP/held-release" --hold 120 \
	>"$E2E_TMP/held.out" 2>&1 &
holder=$!
e2e_wait 20 test -s "$E2E_TMP/held-ready" || e2e_die "no IMAP session for $HELD"
# heartbeatd publishes the session every 2 s
e2e_wait 10 test -e "$E2E_TMP/n$V-mnt/.mhafs-sessions/n$V/$HELD" ||
	e2e_die "node $V does not publish $HELD's session: $(ls -R "$E2E_TMP/n$V-mnt/.mhafs-sessions" 2>&1)"

hbv=$(bal_hb_pid "$V") || exit 1
kill -KILL "$hbv"
e2e_wait 10 e2e_gone "$hbv" || e2e_die "node $V's heartbeatd did not die"
LOGH=$(e2e_node_dir "$H")/log/heartbeatd.log
victim_out() { case "$(e2e_haproxy_status "$H" imap "n$V")" in DOWN*|MAINT*) ;; *) return 1 ;; esac; }
e2e_wait 10 victim_out || e2e_die "HAProxy on node $H still sends to node $V, whose agent is dead"
sleep 2 # past peer_dead_ms (0.9 s) and two failed polls of V's agent
grep -q "^node $V .* up$" "$(e2e_nodes_file "$H")" ||
	e2e_die "node $H's table does not keep node $V up after its heartbeatd died: $(grep 'peer in the nodes file' "$LOGH" | tail -3)"
grep -q 'peer in the nodes file: up (heartbeats dead, but it serves' "$LOGH" ||
	e2e_die "node $H does not say why it keeps node $V up: $(grep 'peer in the nodes file' "$LOGH" | tail -3)"
e2e_log "node $V's heartbeatd killed: node $H keeps it up ($(grep 'peer in the nodes file' "$LOGH" | tail -1 | sed 's/.*(heartbeats/heartbeats/; s/)$//'))"

for _ in 1 2 3; do
	for u in "$HELD" "$OTHER"; do
		out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "$u" | awk '{ print $2 }')
		[ "$out" = "n$V" ] || e2e_die "with node $V's heartbeatd dead, a login of $u (home n$V) went to $out"
	done
done
e2e_log "new logins of $HELD and $OTHER went through node $H to node $V, where $HELD's session is open"

# node H's heartbeatd restarts while node V's is still dead: its last
# table had V up and V still serves, so the new run keeps V up too
hbh=$(bal_hb_pid "$H") || exit 1
kill -TERM "$hbh"
e2e_wait 15 e2e_gone "$hbh" || e2e_die "node $H's heartbeatd did not stop"
e2e_hb_start "$H"
kept_done() { grep -q 'nodes file: .*written anew' "$LOGH"; }
e2e_wait 15 kept_done || e2e_die "node $H's restarted heartbeatd did not decide on its nodes file: $(tail -5 "$LOGH")"
grep -q "^node $V .* up$" "$(e2e_nodes_file "$H")" ||
	e2e_die "node $H's restarted heartbeatd did not keep node $V, whose heartbeatd is dead, up: $(grep 'nodes file\|peer in the' "$LOGH" | tail -4)"
for u in "$HELD" "$OTHER"; do
	out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$(e2e_ip "$H")" --users "$u" | awk '{ print $2 }')
	[ "$out" = "n$V" ] || e2e_die "after node $H's heartbeatd restarted, a login of $u (home n$V) at node $H was served by $out"
done
e2e_log "node $H's heartbeatd restarted meanwhile: $(grep 'peer in the nodes file' "$LOGH" | tail -1 | sed 's/.*nodes file: //')"
: >"$E2E_TMP/held-release"
wait "$holder" || { cat "$E2E_TMP/held.out" >&2; e2e_die "the session held on node $V was cut"; }

# node V's Dovecot dies as well: V does not serve any more, its users move
d=$(e2e_node_dir "$V")
pid=$(tr -d ' \n' <"$d/run/master.pid")
kill -KILL "$pid" || e2e_die "cannot kill node $V's Dovecot ($pid)"
t_kill=$(e2e_ms)
victim_down() { grep -q "^node $V .* down$" "$(e2e_nodes_file "$H")"; }
e2e_wait 10 victim_down || e2e_die "node $H's table keeps node $V up after its Dovecot died: $(grep 'peer in the nodes file' "$LOGH" | tail -2)"
e2e_log "node $V's Dovecot killed: down in node $H's table after $(($(e2e_ms) - t_kill)) ms"
out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "$HELD,$OTHER" | awk '{ print $2 }' | sort -u)
[ "$out" = "n$H" ] || e2e_die "with node $V dead, its users were served by: $out"
e2e_log "PASS: a node without its heartbeatd keeps its users while its Dovecot serves, and loses them when that dies"
