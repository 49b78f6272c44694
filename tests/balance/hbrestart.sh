#!/bin/bash
# tests/balance/hbrestart.sh: a heartbeatd restart keeps the routing.  A
# user whose home is node 2 logs in at node 1's own IMAP port again and
# again (IMAP ID names the node that serves the session) while node 1's
# heartbeatd is stopped cleanly, left stopped a while and started again:
# every login is proxied to node 2, before, during and after.  Node 1's
# nodes file stays through the stop as it was, and the restarted
# heartbeatd keeps it until it knows the peer.  (heartbeatd used to remove
# the file at a clean stop, and Dovecot's script then served every user
# on node 1.)  Node 2, told that node 1's heartbeatd left, keeps node 1 up
# while its Dovecot serves, so a user whose home is node 1 logging in at
# node 2 meanwhile is served by node 1, where that user's sessions are.
# (A clean stop used to mark node 1 down in both tables: its users' new
# sessions went to node 2 while their open ones stayed on node 1.)
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
. "$E2E_SRC/tests/balance/lib.sh"

e2e_init hbrestart
bal_require
USERS=""
for i in $(seq -w 1 8); do USERS="$USERS r$i@$E2E_LMTP_DOMAIN"; done
USERS=${USERS# }
# shellcheck disable=SC2086
bal_setup $USERS
U=""
for u in $USERS; do [ "$(bal_home "$u")" = n2 ] && U=$u && break; done
[ -n "$U" ] || e2e_die "no user has node 2 as its home"
U1=""
for u in $USERS; do [ "$(bal_home "$u")" = n1 ] && U1=$u && break; done
[ -n "$U1" ] || e2e_die "no user has node 1 as its home"
e2e_log "$U's home is n2; logins at node 1 ($(e2e_ip 1):143)"

# logins at node 1 until $E2E_TMP/stop exists: one line each, "ms NODE"
# or "ms fail WHY"
e2e_client "$E2E_PY" - "$(e2e_ip 1)" "$U" "$E2E_TMP/stop" "$E2E_SRC/tests/balance" >"$E2E_TMP/logins" 2>&1 <<-'EOF' &
	import imaplib, os, sys, time
	host, user, stop = sys.argv[1:4]
	sys.path.insert(0, sys.argv[4])
	from balclient import serving_node
	while not os.path.exists(stop):
	    t = int(time.time() * 1000)
	    try:
	        m = imaplib.IMAP4(host, 143, timeout=20)
	        m.login(user, "pw-" + user.split("@")[0])
	        node = serving_node(m) or "unknown"
	        m.logout()
	        print(t, node, flush=True)
	    except Exception as e:
	        print(t, "fail", repr(e).replace("\n", " "), flush=True)
	    time.sleep(0.1)
	EOF
client=$!
have() { [ "$(wc -l <"$E2E_TMP/logins")" -ge "$1" ]; }
e2e_wait 20 have 3 || e2e_die "no logins at node 1: $(cat "$E2E_TMP/logins")"

hb1=$(bal_hb_pid 1) || exit 1
t_stop=$(e2e_ms)
kill -TERM "$hb1"
e2e_wait 15 sh -c "! kill -0 $hb1 2>/dev/null" || e2e_die "node 1's heartbeatd did not stop"
NF=$(e2e_nodes_file 1)
[ -e "$NF" ] || e2e_die "node 1's nodes file is gone after a clean stop"
bal_table_up 1 || e2e_die "node 1's nodes file after a clean stop: $(cat "$NF")"
stamp_stop=$(sed -n 's/^stamp //p' "$NF")
n0=$(wc -l <"$E2E_TMP/logins")
e2e_wait 20 have $((n0 + 5)) || e2e_die "logins at node 1 stalled while its heartbeatd was stopped"
bal_table_up 2 || e2e_die "node 2's table does not keep node 1 up while its heartbeatd is stopped: $(cat "$(e2e_nodes_file 2)")"
grep -q 'peer in the nodes file: up (it left, but it serves' "$(e2e_node_dir 2)/log/heartbeatd.log" ||
	e2e_die "node 2 does not say why it keeps node 1: $(grep 'peer in the nodes file' "$(e2e_node_dir 2)/log/heartbeatd.log" | tail -3)"
out=$(e2e_client "$E2E_PY" "$BAL" imap-who --vip "$(e2e_ip 2)" --users "$U1,$U1" | awk '{ print $2 }' | sort -u)
[ "$out" = n1 ] || e2e_die "with node 1's heartbeatd stopped, $U1 (home n1) logging in at node 2 was served by: $out"
e2e_log "node 1's heartbeatd stopped: node 2 keeps node 1 up, and $U1 (home n1) is served by n1 through node 2"
t_start=$(e2e_ms)
told=$(grep -c 'heartbeat says peer' "$E2E_TMP/n1-state/mhafs.log")
e2e_hb_start 1
e2e_wait 20 bal_table_up 1 || e2e_die "node 1's table did not come back with both up: $(cat "$NF")"
t_up=$(e2e_ms)
n1=$(wc -l <"$E2E_TMP/logins")
e2e_wait 20 have $((n1 + 3)) || e2e_die "logins at node 1 stalled after its heartbeatd returned"
: >"$E2E_TMP/stop"
wait "$client"

during=$(awk -v a="$t_stop" -v b="$t_up" '$1 >= a && $1 <= b' "$E2E_TMP/logins" | wc -l)
total=$(wc -l <"$E2E_TMP/logins")
e2e_log "$total logins at node 1, $during of them between the stop and both nodes up again ($((t_start - t_stop)) ms stopped, $((t_up - t_start)) ms to both up)"
bad=$(awk '$2 != "n2"' "$E2E_TMP/logins")
[ -z "$bad" ] || e2e_die "logins of $U at node 1 not served by its home n2:
$bad"
[ "$during" -ge 5 ] || e2e_die "only $during logins while heartbeatd was away: proves nothing"
grep -q 'kept as the last run left it' "$(e2e_node_dir 1)/log/heartbeatd.log" ||
	e2e_die "node 1's heartbeatd did not log that it kept the nodes file"
# the kept table has a new stamp from the start on, so that every user's
# MODSEQ floor is raised again at its next session here (a table kept
# from before a crash would otherwise not raise it: tests/balance/modseq.sh)
restamp=$(sed -n 's/.*kept with a new stamp \([0-9]*\) .*/\1/p' "$(e2e_node_dir 1)/log/heartbeatd.log" | tail -1)
[ -n "$restamp" ] && [ -n "$stamp_stop" ] && [ "$restamp" -gt "$stamp_stop" ] ||
	e2e_die "node 1's heartbeatd kept the nodes file without a new stamp (${stamp_stop:-?} at the stop, '${restamp}' logged)"

# the restarted heartbeatd had not heard node 2 yet, which does not make
# node 2 down: telling node 1's mhafs so made it stop waiting for its
# peer and catch up again (seconds, under load, of node 1 not ready: a
# 5.4 s outage of the fault suite, seed 79)
[ "$(grep -c 'heartbeat says peer' "$E2E_TMP/n1-state/mhafs.log")" = "$told" ] ||
	e2e_die "node 1's restarted heartbeatd told its mhafs the peer was down: $(grep 'told mhafs' "$(e2e_node_dir 1)/log/heartbeatd.log" | tail -3)"

for n in 1 2; do e2e_mail_stop "$n"; done
for n in 1 2; do e2e_mhafs_log_clean "$E2E_TMP/n$n-state"; done
e2e_log "PASS: logins of a user homed on the peer proxied there through a heartbeatd restart"
