#!/bin/bash
# tests/balance/failover.sh: a node that serves clients dies and returns;
# then its Dovecot alone, and its Postfix alone, die and are restarted.
# The balanced cluster of tests/balance/lib.sh serves SMTP and IMAP load
# through the VIP (balclient.py load); the node that does not hold the VIP
# is killed whole (kill -9 of mhafs, Dovecot, Postfix, heartbeatd, HAProxy).
#  - the VIP holder's HAProxy takes it out (the time is logged) and after
#    that no attempt fails: the survivor serves every user, its users too;
#  - it returns: new logins of its users go back to it, but a user whose
#    session held on the survivor during the outage is still open stays
#    there (Dovecot: one server per mailbox) and that session is not cut;
#    once it ends, the user's next login goes home;
#  - its Dovecot, then its Postfix, killed alone under load: its health
#    checks take the node out the same way, and it returns when restarted;
#  - no acknowledged message is lost: each is in both nodes' stores.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init failover
bal_require
USERS=""
for i in $(seq -w 1 10); do USERS="$USERS u$i@$E2E_LMTP_DOMAIN"; done
USERS=${USERS# }
# shellcheck disable=SC2086
bal_setup $USERS
V=$((3 - H))   # the victim: HAProxy on the VIP holder must notice it die
VICTIM_USERS=""
for u in $USERS; do [ "$(bal_home "$u")" = "n$V" ] && VICTIM_USERS="$VICTIM_USERS $u"; done
VICTIM_USERS=${VICTIM_USERS# }
NV=$(printf '%s\n' $VICTIM_USERS | wc -l)
[ -n "$VICTIM_USERS" ] || e2e_die "no user has node $V as its home"
e2e_log "node $V, home of $VICTIM_USERS, will die"

e2e_client "$E2E_PY" "$BAL" load --vip "$VIP" --users "${USERS// /,}" --seconds 14 \
	--out "$E2E_TMP/load" &
load=$!
sleep 3
t_kill=$(e2e_ms)
e2e_node_crash "$V" "$E2E_TMP/n$V-mnt"
victim_out() {
	local b st
	for b in smtp imap; do
		st=$(e2e_haproxy_status "$H" "$b" "n$V")
		case "$st" in DOWN*|MAINT*) ;; *) return 1 ;; esac
	done
}
e2e_wait 10 victim_out || e2e_die "HAProxy on node $H still has node $V: $(e2e_haproxy_status "$H" imap "n$V")"
t_out=$(e2e_ms)
e2e_log "HAProxy took node $V out $((t_out - t_kill)) ms after the kill"
# the node table follows heartbeatd's verdict
victim_down() { grep -q "^node $V .* down$" "$(e2e_nodes_file "$H")"; }
e2e_wait 10 victim_down || e2e_die "node $H's node table does not mark node $V down"
wait "$load" || e2e_die "the load client failed"
ok=$(grep -c ' ok ' "$E2E_TMP/load")
fails=$(grep -c ' fail ' "$E2E_TMP/load")
late=$(awk -v t="$t_out" '$3 == "fail" && $1 > t + 500' "$E2E_TMP/load")
e2e_log "load during the failure: $ok attempts served, $fails failed (all before the node was out + 0.5 s)"
[ -z "$late" ] || e2e_die "attempts failed after node $V was out:
$late"
out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "${VICTIM_USERS// /,}" | tr '\n' ' ')
[ "$(printf '%s\n' $out | grep -c "^n$H\$")" = "$NV" ] || e2e_die "node $V's users are not all served by node $H: $out"
e2e_log "node $V's users are served by node $H: $out"

# a session of one of node V's users, held on node H across the return
held_user=${VICTIM_USERS%% *}
rm -f "$E2E_TMP/held-ready" "$E2E_TMP/held-release"
e2e_client "$E2E_PY" "$BAL" imap-hold --vip "$VIP" --count 1 --users "$held_user" \
	--ready "$E2E_TMP/held-ready" --release "$E2E_TMP/held-release" --hold 120 \
	>"$E2E_TMP/held.out" 2>&1 &
holder=$!
e2e_wait 20 test -s "$E2E_TMP/held-ready" || e2e_die "no IMAP session for $held_user during the outage"

bal_node_up "$V"
victim_back() { e2e_haproxy_up "$H" imap "n$V" && e2e_haproxy_up "$H" smtp "n$V" &&
	grep -q "^node $V .* up$" "$(e2e_nodes_file "$H")"; }
e2e_wait 60 victim_back || e2e_die "node $V did not come back into service"
e2e_log "node $V is back in service"
RETURNED_USERS=$(printf '%s\n' $VICTIM_USERS | grep -vxF "$held_user" | tr '\n' ' ')
RETURNED_USERS=${RETURNED_USERS% }
if [ -n "$RETURNED_USERS" ]; then
	out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "${RETURNED_USERS// /,}" | tr '\n' ' ')
	[ "$(printf '%s\n' $out | grep -c "^n$V\$")" = "$((NV - 1))" ] ||
		e2e_die "node $V's users without open sessions did not go back to it: $out"
	e2e_log "new logins of node $V's other users are served by it again: $out"
fi
for _ in 1 2 3; do # every new login of the held user, wherever HAProxy sends it
	out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "$held_user" | awk '{ print $2 }')
	[ "$out" = "n$H" ] || e2e_die "$held_user has a session open on node $H, but a new login went to $out"
done
e2e_log "$held_user, with a session open on node $H, is still served there after node $V returned"
for n in 1 2; do # mhactl user says so on both nodes
	says=$("$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir "$n")/conf/mhafs.conf" user "$held_user" | sed -n 's/^serves=//p')
	[ "$says" = "n$H" ] || e2e_die "node $n's mhactl user $held_user says serves=$says, not n$H"
done
: >"$E2E_TMP/held-release"
wait "$holder" || { cat "$E2E_TMP/held.out" >&2; e2e_die "the session held on node $H was cut when node $V returned"; }
held_home() { [ "$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "$held_user" | awk '{ print $2 }')" = "n$V" ]; }
e2e_wait 15 held_home || e2e_die "$held_user's session on node $H ended, but the next login did not go home to node $V"
e2e_log "$held_user's session ended: the next login went home to node $V"

# --- each daemon alone: Dovecot, then Postfix, killed on node V under load;
# its health checks fail, its agent says down, HAProxy and both node tables
# take it out, its users go to node H; restarted, it comes back
for svc in dovecot postfix; do
	d=$(e2e_node_dir "$V")
	pidf=$([ "$svc" = dovecot ] && echo "$d/run/master.pid" || echo "$d/spool/pid/master.pid")
	pid=$(tr -d ' \n' <"$pidf")
	e2e_client "$E2E_PY" "$BAL" load --vip "$VIP" --users "${USERS// /,}" --seconds 12 \
		--out "$E2E_TMP/load-$svc" &
	load=$!
	sleep 2
	t_kill=$(e2e_ms)
	kill -KILL "$pid" || e2e_die "cannot kill node $V's $svc ($pid)"
	e2e_wait 10 victim_out || e2e_die "HAProxy still has node $V after its $svc died"
	t_out=$(e2e_ms)
	e2e_wait 10 victim_down || e2e_die "node $H's table does not mark node $V down after its $svc died"
	e2e_log "$svc of node $V killed: out of HAProxy after $((t_out - t_kill)) ms"
	wait "$load" || e2e_die "the load client failed"
	late=$(awk -v t="$t_out" '$3 == "fail" && $1 > t + 500' "$E2E_TMP/load-$svc")
	[ -z "$late" ] || e2e_die "attempts failed after node $V was out ($svc killed):
$late"
	out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$VIP" --users "${VICTIM_USERS// /,}" | tr '\n' ' ')
	[ "$(printf '%s\n' $out | grep -c "^n$H\$")" = "$NV" ] || e2e_die "with its $svc dead, node $V's users are not served by node $H: $out"
	e2e_wait 20 e2e_gone "$pid"
	if [ "$svc" = dovecot ]; then
		e2e_in "$(e2e_ns "$V")" dovecot -c "$d/conf/dovecot.conf" </dev/null >>"$d/log/dovecot.log" 2>&1 ||
			{ sleep 1; e2e_in "$(e2e_ns "$V")" dovecot -c "$d/conf/dovecot.conf" </dev/null >>"$d/log/dovecot.log" 2>&1; } ||
			e2e_die "dovecot did not restart on node $V"
	else
		rm -f "$d/spool/pid/master.pid"
		e2e_in "$(e2e_ns "$V")" postfix -c "$d/conf" start </dev/null >>"$d/log/postfix-start.log" 2>&1 ||
			e2e_die "postfix did not restart on node $V"
	fi
	e2e_wait 30 victim_back || e2e_die "node $V did not come back after its $svc restarted"
	e2e_log "$svc of node $V restarted: back in service"
done

# every acknowledged message, in both stores
cat "$E2E_TMP"/load* | grep ' smtp ok ' | awk '{ print $4 }' >"$E2E_TMP/acked"
acked=$(wc -l <"$E2E_TMP/acked")
missing() { # N: acknowledged messages not (yet) in node N's store
	grep -rhoa 'Message-ID: <load-[0-9]*@' "$E2E_TMP/n$1-mnt/$E2E_LMTP_DOMAIN" 2>/dev/null |
		sed 's/Message-ID: <//; s/@$//' | sort -u | comm -13 - <(sort -u "$E2E_TMP/acked")
}
none_missing() { [ -z "$(missing 1)" ] && [ -z "$(missing 2)" ]; }
e2e_wait 90 none_missing || e2e_die "acknowledged messages missing: node 1: $(missing 1 | tr '\n' ' '); node 2: $(missing 2 | tr '\n' ' ')"
e2e_log "all $acked acknowledged messages are in both stores"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: a node's death cost only the sessions it held; nothing acknowledged was lost"
