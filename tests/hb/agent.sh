#!/bin/sh
# agent.sh: heartbeatd's part in balancing, in network namespaces with a
# plain TCP client: the HAProxy agent answers "up ready W%" with the
# configured weight, "up drain" after mhactl drain (kept across a restart;
# both nodes' nodes files say drain) and is back after undrain, "up drain"
# after a start until mhafs has caught up with the peer (or the peer has
# been down 5 s); the nodes
# file on both nodes, kept over a restart (as it was after a clean stop); a peer killed with SIGKILL is down in the survivor's
# file within 2 s, unless it still serves mail (its IMAP greets, the
# replication link is up): then it stays as its agent last said; a peer
# whose agent answers garbage is down; a taken
# agent_port and a bad node_weight are refused with a clear message;
# mhactl user agrees with the file (and with an independent Python
# implementation of the hash); mhactl status shows the balancer.
set -u
. "${top_srcdir:?}/tests/hb/lib.sh"
MHACTL=$top_builddir/tools/mhactl
PORT=7412
need_root
setup_net
weight_of() { [ "$1" = a ] && echo 3 || echo 1; }
conf() { # node [extra...]
	n=$1
	shift
	write_conf "$n" "node_address = $(ip_of "$n")" "agent_port = $PORT" "node_weight = $(weight_of "$n")" \
		"nodes_file = $T/$n/run/nodes" "state_dir = $T/$n/state" "haproxy_socket = $T/$n/haproxy.sock" "$@"
}
conf a
conf b
svc_start a
svc_start b
sleep 0.3
hb_start a
hb_start b

# agent NODE: what the node's agent answers a plain TCP client (one line)
agent() {
	ip netns exec "$NSC" "$PY" -c '
import socket, sys
try:
    s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=1)
    s.settimeout(1)
    d = b""
    while True:
        b = s.recv(256)
        if not b:
            break
        d += b
    sys.stdout.write(d.decode(errors="replace"))
except OSError as e:
    print("ERROR %s" % e)
' "$(ip_of "$1")" "$PORT"
}
wait_agent() { # node expected-line seconds
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		[ "$(agent "$1")" = "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "agent of $1 says '$(agent "$1")', not '$2', after $3 s"
}
nodes_line() { # node-file-of peer-name: that node's record in the file
	sed -n "s/^node [0-9]* $2 /&/p" "$T/$1/run/nodes" 2>/dev/null
}
wait_state() { # file-of node state seconds
	i=0
	while [ $i -lt $(($4 * 10)) ]; do
		nodes_line "$1" "$2" | grep -q " $3\$" && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "$1's nodes file gives $2 as '$(nodes_line "$1" "$2")', not $3, after $4 s"
}
mh() { n=$1; shift; "$MHACTL" -c "$T/$n/mhafs.conf" "$@"; }

# 1. both agents up with their weights; the nodes files
wait_role a PRIMARY 10
wait_agent a "up ready 3%" 10
wait_agent b "up ready 1%" 10
wait_state a b up 5
wait_state b a up 5
head='# mhafs nodes file, written by heartbeatd: read by the Dovecot passdb script and mhactl user'
printf '%s\nself 1\nnode 1 a 192.0.2.1 3 up\nnode 2 b 192.0.2.2 1 up\n' "$head" >"$T/want-a"
printf '%s\nself 2\nnode 2 b 192.0.2.2 1 up\nnode 1 a 192.0.2.1 3 up\n' "$head" >"$T/want-b"
# each writing carries a stamp of its own (the MODSEQ floor's trigger)
stamp_a=$(sed -n 's/^stamp \([1-9][0-9]*\)$/\1/p' "$T/a/run/nodes")
[ -n "$stamp_a" ] || fail "a's nodes file has no stamp: $(cat "$T/a/run/nodes")"
grep -v '^stamp ' "$T/a/run/nodes" | cmp -s "$T/want-a" - || fail "a's nodes file: $(cat "$T/a/run/nodes")"
grep -v '^stamp ' "$T/b/run/nodes" | cmp -s "$T/want-b" - || fail "b's nodes file: $(cat "$T/b/run/nodes")"
[ "$(stat -c %a "$T/a/run/nodes")" = 644 ] || fail "nodes file mode $(stat -c %a "$T/a/run/nodes")"
status a | grep -q '^agent: up ready 3% ' || fail "a's status: $(status a | grep agent)"
status a | grep -q '^peer_agent: up weight 1$' || fail "a's status: $(status a | grep peer_agent)"
note "agents: a '$(agent a)', b '$(agent b)'; nodes files as expected"

# 2. mhactl user agrees with the file, on both nodes, and with Python
homes() { # node: "login home" for a set of logins
	for u in alice@d1.test Bob@D1.test carol@d2.test dave@d2.test erin@d1.test frank@d3.test; do
		echo "$u $(mh "$1" user "$u" | sed -n 's/^home=\([^ ]*\) .*/\1/p')"
	done
}
pyhomes() { # nodes-file
	"$PY" - "$1" <<'EOP'
import math, sys
M = (1 << 64) - 1
def h(key, nid):
    x = 0xcbf29ce484222325
    for b in key.encode() + b"\0" + str(nid).encode():
        x = ((x ^ b) * 0x100000001b3) & M
    x ^= x >> 33; x = (x * 0xff51afd7ed558ccd) & M; x ^= x >> 33
    x = (x * 0xc4ceb9fe1a85ec53) & M; x ^= x >> 33
    return x
nodes, me = [], None
for l in open(sys.argv[1]):
    f = l.split()
    if f[0] == "self": me = int(f[1])
    if f[0] == "node": nodes.append((int(f[1]), f[2], int(f[4]), f[5]))
for u in ["alice@d1.test", "Bob@D1.test", "carol@d2.test", "dave@d2.test", "erin@d1.test", "frank@d3.test"]:
    k = "".join(c.lower() if "A" <= c <= "Z" else c for c in u)
    best = None
    for nid, name, w, st in nodes:
        if st != "up": continue
        s = -w / math.log(((h(k, nid) >> 11) + 0.5) / 2.0 ** 53)
        if best is None or s > best[0] or (s == best[0] and nid < best[1]): best = (s, nid, name)
    print(u, best[2] if best else [n for i, n, w, s in nodes if i == me][0])
EOP
}
homes a >"$T/homes-a"
homes b >"$T/homes-b"
pyhomes "$T/a/run/nodes" >"$T/homes-py"
cmp -s "$T/homes-a" "$T/homes-b" || fail "mhactl user differs between a and b: $(paste "$T/homes-a" "$T/homes-b")"
cmp -s "$T/homes-a" "$T/homes-py" || fail "mhactl user differs from Python: $(paste "$T/homes-a" "$T/homes-py")"
grep -q ' b$' "$T/homes-a" && grep -q ' a$' "$T/homes-a" || fail "all logins on one node: $(cat "$T/homes-a")"
ub=$(sed -n 's/ b$//p' "$T/homes-a" | head -1)   # a user whose home is b
mh a user "$ub" >"$T/user.out" || fail "mhactl user $ub failed"
grep -q "^reason=highest weighted score among up nodes a,b$" "$T/user.out" || fail "reason: $(cat "$T/user.out")"
grep -q "^natural_home=b (id 2)$" "$T/user.out" || fail "natural_home: $(cat "$T/user.out")"
grep -q "^score_a=.*(id 1, weight 3, up, this node)$" "$T/user.out" || fail "score_a: $(cat "$T/user.out")"
note "mhactl user: $(tr '\n' ' ' <"$T/homes-a")"

# 3. mhactl status: the balancer (HAProxy's stats socket stubbed: a 6, b 2)
bg haproxy-a "$NSA" "$PY" "$HERE/haproxy_stub.py" "$T/a/haproxy.sock" a=3 b=1 other=5
i=0; while [ ! -S "$T/a/haproxy.sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
mh a status >"$T/st-a" 2>&1
grep -q '^balancer_node_a=up weight 3 id 1 192.0.2.1 (this node)$' "$T/st-a" || fail "status: $(grep balancer "$T/st-a")"
grep -q '^balancer_node_b=up weight 1 id 2 192.0.2.2$' "$T/st-a" || fail "status: $(grep balancer "$T/st-a")"
grep -q '^balancer_connections_a=6 (75.0%)$' "$T/st-a" || fail "status: $(grep balancer "$T/st-a")"
grep -q '^balancer_connections_b=2 (25.0%)$' "$T/st-a" || fail "status: $(grep balancer "$T/st-a")"
grep -q '^heartbeat_agent=up ready 3% ' "$T/st-a" || fail "status: $(grep heartbeat_agent "$T/st-a")"
grep -q '^heartbeat_drained=no$' "$T/st-a" || fail "status: $(grep drained "$T/st-a")"
mh b status >"$T/st-b" 2>&1
grep -q "^balancer_haproxy=no answer from $T/b/haproxy.sock: " "$T/st-b" || fail "status b: $(grep balancer "$T/st-b")"
note "status: $(grep '^balancer_' "$T/st-a" | tr '\n' ' ')"

# 4. drain b: its agent says drain, both files say so, users move to a;
#    the drain survives a restart of heartbeatd; undrain brings it back
mh b drain | grep -q '^drained=yes$' || fail "mhactl drain"
wait_agent b "up drain" 2
wait_state b b drain 3
wait_state a b drain 3
stamp2=$(sed -n 's/^stamp //p' "$T/a/run/nodes")
[ -n "$stamp2" ] && [ "$stamp2" != "$stamp_a" ] || fail "a's nodes file kept its stamp $stamp_a through a change"
status b | grep -q '^drained: yes$' || fail "b's status does not say drained"
mh a user "$ub" >"$T/user.out"
grep -q "^home=a (id 1, 192.0.2.1)$" "$T/user.out" || fail "drained b still home: $(cat "$T/user.out")"
grep -q "^reason=b (natural home) is drain: a has the highest weighted score among up nodes a$" "$T/user.out" ||
	fail "reason: $(cat "$T/user.out")"
stop hb-b
hb_start b
wait_role b SECONDARY 10
sleep 1
[ "$(agent b)" = "up drain" ] || fail "b forgot its drain over a restart: '$(agent b)'"
grep -q 'drained (.*heartbeatd.drained exists' "$T/hb-b.log" || fail "b did not log the kept drain"
mh b undrain | grep -q '^drained=no$' || fail "mhactl undrain"
wait_agent b "up ready 1%" 2
wait_state a b up 3
wait_state b b up 3
note "drain: agent and both nodes files followed; kept over a restart"

# 4b. readiness: b restarts while its mhafs says its stream to the peer
#     has not caught up: drain until it has; a clean stop keeps the file
#     as it is, and the file keeps both nodes through the restart
#     (without the peer's line Dovecot's script would serve everyone on b)
(while :; do c=$(grep -c '^node' "$T/b/run/nodes" 2>/dev/null); echo "${c:-0}"; sleep 0.02; done) \
	>"$T/b-lines" 2>/dev/null &
watch=$!
stop hb-b
[ -e "$T/b/run/nodes" ] || fail "b's nodes file was removed by a clean stop"
nodes_line b b | grep -q ' up$' || fail "b's nodes file after a clean stop gives b as '$(nodes_line b b)', not up"
nodes_line b a | grep -q ' up$' || fail "b's nodes file after a clean stop gives a as '$(nodes_line b a)', not up"
printf 'replication=on\npeer_connected=yes\npeer_synced=no\npeer_stream_in=yes\nfull_sync=no\n' \
	>"$T/b/mhafs.lines.status"
hb_start b
wait_role b SECONDARY 10
sleep 1
[ "$(agent b)" = "up drain" ] || fail "b not caught up but its agent says '$(agent b)'"
wait_state a b drain 3
status b | grep -q "^ready: no (waiting: mhafs's stream to the peer has not caught up)" ||
	fail "b's status: $(status b | grep ready)"
sed -i 's/peer_synced=no/peer_synced=yes/' "$T/b/mhafs.lines.status"
wait_agent b "up ready 1%" 3
wait_state a b up 3
grep -q 'agent: ready (mhafs is connected to the peer both ways and caught up)' "$T/hb-b.log" ||
	fail "b did not log why it became ready"
rm -f "$T/b/mhafs.lines.status"
kill "$watch"
wait "$watch" 2>/dev/null
grep -qvx 2 "$T/b-lines" && fail "b's nodes file had not both nodes during its restart: $(sort "$T/b-lines" | uniq -c | tr '\n' ' ')"
grep -q 'kept as the last run left it' "$T/hb-b.log" || fail "b did not log that it kept the nodes file"
note "readiness: drain until mhafs caught up, then up; the nodes file kept both nodes through the restart ($(wc -l <"$T/b-lines") looks)"

# 4c. b restarts not caught up while a, alive, serves nobody (its health
#     checks fail): b must not wait to catch up, or HAProxy has no node
stop hb-b
printf 'replication=on\npeer_connected=no\npeer_synced=no\npeer_stream_in=no\nfull_sync=no\n' \
	>"$T/b/mhafs.lines.status"
svc_stop a
hb_start b
# b is SECONDARY for as long as a's health checks take to fail, maybe
# less than one look: PRIMARY will do as well
i=0
until role b | grep -qx 'SECONDARY\|PRIMARY'; do
	[ $i -lt 100 ] || fail "node b is $(role b), not SECONDARY or PRIMARY, after 10 s"
	sleep 0.1
	i=$((i + 1))
done
wait_state b a down 5
wait_agent b "up ready 1%" 12
grep -q 'agent: ready (the peer has been down for 1 s: it serves nobody)' "$T/hb-b.log" ||
	fail "b did not log why it became ready: $(grep 'agent: ' "$T/hb-b.log" | tail -3)"
svc_start a
rm -f "$T/b/mhafs.lines.status"
wait_state b a up 10
note "readiness: not waited for while the peer serves nobody"

# 5. heartbeatd on b killed with SIGKILL: a's file has b down within 2 s
t0=$(date +%s%N)
stop -KILL hb-b
wait_state a b down 2
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q 'peer in the nodes file: down' "$T/hb-a.log" || fail "a did not log the peer going down"
note "peer killed: down in a's nodes file after $ms ms"

# 5b. heartbeatd on b killed while b still serves mail (its IMAP greets,
#     a's mhafs is connected to b's both ways): a keeps b as its agent
#     last said, for b's Dovecot goes on serving the users whose sessions
#     are open there; once b's IMAP stops greeting, b is down within 2 s.
#     (heartbeatd used to mark b down at once: two servers on one mailbox.)
hb_start b
wait_state a b up 10
printf 'replication=on\npeer_connected=yes\npeer_synced=yes\npeer_stream_in=yes\nfull_sync=no\n' \
	>"$T/a/mhafs.lines.status"
stop -KILL hb-b
i=0
while [ $i -lt 30 ]; do # 3 s: well past peer_dead_ms and PEER_FAILS_DOWN polls
	nodes_line a b | grep -q ' up$' || fail "b down in a's nodes file while its IMAP greets: $(grep 'peer in the nodes file' "$T/hb-a.log" | tail -2)"
	sleep 0.1
	i=$((i + 1))
done
grep -q 'peer in the nodes file: up (heartbeats dead, but it serves (its IMAP greets and mhafs is connected to the peer.s both ways): as its agent last said)' "$T/hb-a.log" ||
	fail "a did not log why it keeps b: $(grep 'peer in the nodes file' "$T/hb-a.log" | tail -2)"
status a | grep -q '^peer_serves: yes' || fail "a's status: $(status a | grep peer_)"
t0=$(date +%s%N)
svc_stop b
wait_state a b down 2
ms=$((($(date +%s%N) - t0) / 1000000))
grep -q 'peer in the nodes file: down (heartbeats: peer dead)' "$T/hb-a.log" || fail "a did not log b going down"
note "b's heartbeatd killed: b kept up while its IMAP greets; down $ms ms after its IMAP stopped"
# the same with the replication link down instead: b down
svc_start b
hb_start b
wait_state a b up 10
stop -KILL hb-b
sleep 2
nodes_line a b | grep -q ' up$' || fail "b not kept up in a's file (second kill)"
printf 'replication=on\npeer_connected=no\npeer_synced=no\npeer_stream_in=yes\nfull_sync=no\n' \
	>"$T/a/mhafs.lines.status"
wait_state a b down 2
rm -f "$T/a/mhafs.lines.status"
note "b's heartbeatd killed, then the replication link down: b down"

# 6. agent_port taken: heartbeatd refuses to start, saying so
bg squat "$NSB" "$PY" -c 'import socket,time
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("192.0.2.2", 7412)); s.listen(1)
while True:
    c, _ = s.accept(); c.sendall(b"hello there\n"); c.close()'
sleep 0.5
out=$(ip netns exec "$NSB" timeout 10 "$HB" -c "$T/b/mhafs.conf" 2>&1); rc=$?
[ $rc = 1 ] || fail "heartbeatd started with agent_port taken (rc $rc): $out"
echo "$out" | grep -q 'agent_port: cannot listen on 192.0.2.2:7412: Address already in use' ||
	fail "message: $out"
note "port taken: $(echo "$out" | grep agent_port | sed 's/.*heartbeatd[^:]*: //')"

# 7. b alive (heartbeats) but what answers on its agent port is garbage:
#    b is down in a's file, with the reason logged
bg hb-b "$NSB" env MHAFS_NODE=b "$HB" -c "$T/b/mhafs.conf" -o agent_port=0
wait_role b SECONDARY 10
sleep 1
wait_state a b down 2
grep -q "peer in the nodes file: down (its agent at 192.0.2.2:7412: garbled answer: 'hello there')" "$T/hb-a.log" ||
	fail "a did not log the garbage: $(grep 'nodes file' "$T/hb-a.log")"
stop squat
stop hb-b
hb_start b
wait_state a b up 5

# 8. a bad node_weight, and agent_port without node_address: refused,
#    naming file:line
for w in 0 257 lots -1; do
	sed "s/^node_weight = .*/node_weight = $w/" "$T/a/mhafs.conf" >"$T/bad.conf"
	line=$(grep -n '^node_weight' "$T/bad.conf" | cut -d: -f1)
	out=$(ip netns exec "$NSA" "$HB" -c "$T/bad.conf" --check 2>&1) && fail "node_weight $w accepted"
	echo "$out" | grep -q "bad.conf:$line: node_weight: '$w' is not auto or a whole number 1..256" ||
		fail "node_weight $w: $out"
done
sed "s/^node_weight = .*/node_weight = auto/" "$T/a/mhafs.conf" >"$T/auto.conf"
ip netns exec "$NSA" "$HB" -c "$T/auto.conf" --check >/dev/null || fail "node_weight auto refused"
sed '/^node_address/d' "$T/a/mhafs.conf" >"$T/bad.conf"
out=$(ip netns exec "$NSA" "$HB" -c "$T/bad.conf" --check 2>&1) && fail "agent_port without node_address accepted"
echo "$out" | grep -q 'agent_port is set but node_address is not' || fail "no node_address: $out"
note "refused: $out"

# 9. mhactl user without a nodes file
sed "s|^nodes_file = .*|nodes_file = $T/none|" "$T/a/mhafs.conf" >"$T/nf.conf"
out=$("$MHACTL" -c "$T/nf.conf" user alice 2>&1); rc=$?
[ $rc = 3 ] || fail "mhactl user without a nodes file: rc $rc"
echo "$out" | grep -q "cannot read the nodes file: $T/none: No such file" || fail "mhactl user: $out"
echo "PASS: agent, drain, nodes file, mhactl user and balancer status"
