#!/bin/sh
# inject.sh: forged, wrong-key and replayed heartbeats sent from the client
# namespace are dropped and counted and change nothing (roles, VIP owner,
# transitions); a peer restarted with another cluster key is logged and
# triggers no failover.
set -u
. "${top_srcdir:?}/tests/hb/lib.sh"
need_root
setup_net
write_conf a
write_conf b
svc_start a
svc_start b
sleep 0.3
hb_start a
hb_start b
wait_role a PRIMARY 10
wait_role b SECONDARY 5
one_owner a

head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/other.key"
tr_a=$(status a | sed -n 's/^transitions: //p')
tr_b=$(status b | sed -n 's/^transitions: //p')
mac0=$(counter b bad_mac)
rep0=$(counter b replay)
mal0=$(counter b malformed)

# forged "node 1 is leaving" packets to b, and to a claiming node 2
ip netns exec "$NSC" "$PY" "$HERE/inject.py" forge 192.0.2.2 7411 1 20 || fail "inject forge"
ip netns exec "$NSC" "$PY" "$HERE/inject.py" forge 192.0.2.1 7411 2 20 || fail "inject forge"
# the same, signed with a key that is not the cluster's
ip netns exec "$NSC" "$PY" "$HERE/inject.py" wrongkey 192.0.2.2 7411 1 20 "$T/other.key" || fail "inject wrongkey"
# real heartbeats from a, captured on its bridge port, played back to b
out=$(ip netns exec "$NSC" "$PY" "$HERE/inject.py" replay pa 192.0.2.2 192.0.2.1 7411 10 2>&1) || fail "inject replay: $out"
note "$out"
sleep 1.5

mac1=$(counter b bad_mac)
rep1=$(counter b replay)
mal1=$(counter b malformed)
note "b counters: bad_mac $mac0 -> $mac1, replay $rep0 -> $rep1, malformed $mal0 -> $mal1"
[ $((mac1 - mac0)) -ge 40 ] || fail "b counted $((mac1 - mac0)) bad-MAC packets, expected 40"
[ $((rep1 - rep0)) -ge 10 ] || fail "b counted $((rep1 - rep0)) replays, expected 10"
[ "$mal1" = "$mal0" ] || fail "injected packets were malformed, not refused for their MAC"
[ "$(counter a bad_mac)" -ge 20 ] || fail "a did not count the forged packets"
[ "$(status a | sed -n 's/^transitions: //p')" = "$tr_a" ] || fail "a changed state"
[ "$(status b | sed -n 's/^transitions: //p')" = "$tr_b" ] || fail "b changed state"
grep -q 'bad HMAC' "$T/hb-b.log" || fail "b did not log the forged packets"
[ "$(grep -c 'dropped .* heartbeat' "$T/hb-b.log")" -le 3 ] || fail "drop log not rate-limited"
one_owner a

# b restarted with another cluster key: it logs, stays out, a keeps the VIP
stop hb-b
sed -i "s|^cluster_key_file = .*|cluster_key_file = $T/other.key|" "$T/b/mhafs.conf"
hb_start b
sleep 3
[ "$(role b)" = STARTING ] || fail "b with the wrong key is $(role b), not STARTING"
wait_role a SOLO 3
one_owner a
grep -q 'bad HMAC' "$T/hb-a.log" || fail "a did not log the wrong key"
# the key fixed and reloaded with SIGHUP: b joins as SECONDARY
sed -i "s|^cluster_key_file = .*|cluster_key_file = $T/cluster.key|" "$T/b/mhafs.conf"
kill -HUP "$(cat "$T/hb-b.pid")"
wait_role b SECONDARY 5
wait_role a PRIMARY 5
one_owner a
grep -q 'configuration reloaded' "$T/hb-b.log" || fail "b did not log the reload"
echo "PASS: forged, wrong-key and replayed heartbeats change nothing"
