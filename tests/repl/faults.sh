#!/bin/bash
# tests/repl/faults.sh: replication through real faults.
#  - kill -9 of the peer's mhafs: deliveries still succeed (after the sync
#    timeout declares the peer down), and reach the peer when it returns;
#  - kill -9 of the peer in the middle of a stream, restart, convergence;
#  - the link cut in the middle of a stream and restored, convergence;
#  - a peer presenting a certificate from another CA is refused and logged,
#    and nothing it sends is written.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair

note "peer killed: deliveries on A succeed and are kept"
crash_node b
t0=$(date +%s%N)
for i in $(seq 1 30); do deliver a u/Maildir "down$i"; done
t1=$(date +%s%N)
note "30 deliveries with the peer dead took $(( (t1 - t0) / 1000000 )) ms (sync timeout 1000 ms)"
[ "$(ls "$T/a/back/u/Maildir/new" | wc -l)" = 30 ] || fail "deliveries lost on A while B was down"
start_node b
wait_synced a 15
converge 15
note "backlog streamed to B after its return: $(ls "$T/b/back/u/Maildir/new" | wc -l) messages"

note "kill -9 of B in the middle of a stream of 300 messages"
( for i in $(seq 1 300); do deliver a u/Maildir "burst$i" 2048; done ) &
burst=$!
PIDS="$PIDS $burst"
sleep 0.7
crash_node b
wait $burst || fail "deliveries on A failed while B was killed"
start_node b
wait_synced a 20
converge 20

note "link down in the middle of a stream, then up"
( for i in $(seq 1 200); do deliver b v/Maildir "cut$i" 2048; done ) &
burst=$!
PIDS="$PIDS $burst"
sleep 0.5
ip -n "$NS_A" link set "$VETH_A" down
wait $burst || fail "deliveries on B failed while the link was down"
ip -n "$NS_A" link set "$VETH_A" up
wait_synced b 30
converge 30

note "a peer with a certificate from another CA is refused"
stop_node b
cp "$T/b/mhafs.conf" "$T/b/good.conf"
sed -i "s#$T/keys/#$T/badkeys/#; s#^ca_file = .*#ca_file = $T/badkeys/ca.pem#" "$T/b/mhafs.conf"
deliver b evil/Maildir x1 2>/dev/null || true
start_node b
deliver b evil/Maildir x2
sleep 2
[ ! -e "$T/a/back/evil" ] || fail "A accepted data from a peer with a foreign certificate"
grep -q "refused connection" "$T/a.log" || fail "A did not log the refused connection"
grep -E "refused connection" "$T/a.log" | tail -1 | sed 's/^/#   A: /'
stop_node b
cp "$T/b/good.conf" "$T/b/mhafs.conf"
start_node b
wait_synced b 15
converge 15
echo "PASS: replication survives kill -9, link loss and refuses a foreign certificate"
