#!/bin/sh
# refusals.sh: set-up mistakes of a second node are refused with a message
# that says what to fix (issue 18, docs/SETUP.md):
#   - this node's certificate names the other node: mhafs exits 1 at start,
#     "certificate ... names node 'beta', but node_name is 'alpha'";
#   - its certificate comes from another cluster's CA: exits 1 at start,
#     "not valid under the cluster CA ... another cluster";
#   - both nodes have node_id 1: each refuses the other at the first
#     handshake and logs "give each node its own node_id", and neither
#     takes the other's stream;
#   - and, so that the above cannot pass by accident, the same two nodes
#     with ids 1 and 2 do connect.
# Two mhafs on loopback (127.0.0.1), each on its own store and mount.
set -u
top_builddir=${top_builddir:?}
MHAFS=$top_builddir/mhafs/mhafs
KEYGEN=$top_builddir/tools/mhafs-keygen
[ "$(id -u)" = 0 ] || { echo "SKIP: needs root"; exit 77; }
[ -c /dev/fuse ] || { echo "SKIP: no /dev/fuse"; exit 77; }
if [ ! -x "$MHAFS" ] || [ ! -x "$KEYGEN" ]; then
	echo "SKIP: build mhafs and mhafs-keygen first"
	exit 77
fi

T=$(mktemp -d /tmp/mhafs-refusals.XXXXXX) || exit 1
PIDS=""
cleanup() {
	for p in $PIDS; do kill "$p" 2>/dev/null; done
	for p in $PIDS; do wait "$p" 2>/dev/null; done
	for n in a b; do
		mountpoint -q "$T/$n/mnt" 2>/dev/null && umount -l "$T/$n/mnt"
	done
	rm -rf "$T"
}
trap cleanup EXIT INT TERM
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }

# ports of this run (tests may run in parallel)
PA=$((20000 + $$ % 10000 * 2))
PB=$((PA + 1))
"$KEYGEN" ca "$T/ca" >/dev/null && "$KEYGEN" node "$T/ca" alpha >/dev/null &&
	"$KEYGEN" node "$T/ca" beta >/dev/null && "$KEYGEN" ca "$T/ca2" >/dev/null &&
	"$KEYGEN" node "$T/ca2" alpha >/dev/null || { echo "FAIL: mhafs-keygen"; exit 1; }

# node n (a or b), its id, then -o options; run it in a subshell or in
# the background (it becomes mhafs)
run() {
	n=$1 id=$2
	shift 2
	if [ "$n" = a ]; then me=alpha peer=beta lp=$PA pp=$PB; else me=beta peer=alpha lp=$PB pp=$PA; fi
	rm -rf "${T:?}/$n"
	mkdir -p "$T/$n/store" "$T/$n/mnt" "$T/$n/state"
	exec ${PREFIX:-} "$MHAFS" "$T/$n/store" "$T/$n/mnt" -f -o "node_id=$id,node_name=$me,peer_name=$peer" \
		-o "peer_address=127.0.0.1,peer_port=$pp,listen_address=127.0.0.1,listen_port=$lp" \
		-o "state_dir=$T/$n/state,control_socket=$T/$n/ctl.sock,log_target=stderr" \
		-o "ca_file=$T/ca/ca.pem,cert_file=$T/ca/$me.pem,key_file=$T/ca/$me.key" "$@"
}
# wait up to $1 s for pattern $3 in file $2
wait_for() {
	i=0
	while [ "$i" -lt "$(($1 * 10))" ]; do
		grep -aq "$3" "$2" 2>/dev/null && return 0
		sleep 0.1
		i=$((i + 1))
	done
	return 1
}

# 1. this node's certificate names the other node (a mount that is made
# after all is ended by the timeout, and unmounted by cleanup)
PREFIX="timeout 20"
(run a 1 -o "cert_file=$T/ca/beta.pem,key_file=$T/ca/beta.key") >"$T/1.out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "a node with its peer's certificate: exit $rc, not 1"
grep -q "certificate $T/ca/beta.pem names node 'beta', but node_name is 'alpha'" "$T/1.out" ||
	fail "no message naming the wrong certificate: $(cat "$T/1.out")"
mountpoint -q "$T/a/mnt" && fail "mounted with the wrong certificate"

# 2. a certificate of another cluster
(run a 1 -o "cert_file=$T/ca2/alpha.pem,key_file=$T/ca2/alpha.key") >"$T/2.out" 2>&1
rc=$?
[ "$rc" = 1 ] || fail "a node with another cluster's certificate: exit $rc, not 1"
grep -q "is not valid under the cluster CA $T/ca/ca.pem.*another cluster" "$T/2.out" ||
	fail "no message naming another cluster's certificate: $(cat "$T/2.out")"

# 3. both nodes with node_id 1
PREFIX=""
run a 1 >"$T/a.log" 2>&1 &
PIDS="$PIDS $!"
run b 1 >"$T/b.log" 2>&1 &
PIDS="$PIDS $!"
for n in a b; do
	wait_for 10 "$T/$n.log" "give each node its own node_id" ||
		fail "node $n: no refusal of a peer with the same node_id: $(tail -n 5 "$T/$n.log")"
	grep -aq "connected to us" "$T/$n.log" && fail "node $n took a stream from a peer with its own node_id"
done
wait_for 10 "$T/a.log" "peer beta has node_id 1, the same as this node" ||
	fail "alpha's log does not name beta's node_id"
# the refused sender retries every 5 s at most, and each side logs each
# kind of refusal once, not once per attempt (mhafs(8): one line per 10 min)
sleep 12
for n in a b; do
	c=$(grep -ac "node_id" "$T/$n.log")
	k=$(grep -a "node_id" "$T/$n.log" | sed 's/^[0-9-]* [0-9:.]* //' | sort -u | wc -l)
	[ "$c" = "$k" ] || fail "node $n logged $c refusal lines of $k kinds in 12 s: $(grep -a node_id "$T/$n.log" | cut -c1-150)"
done
for p in $PIDS; do kill "$p"; wait "$p"; done
PIDS=""

# 4. the same pair with ids 1 and 2 connects
run a 1 >"$T/a.log" 2>&1 &
PIDS="$PIDS $!"
run b 2 >"$T/b.log" 2>&1 &
PIDS="$PIDS $!"
for n in a b; do
	wait_for 10 "$T/$n.log" "connected to us" ||
		fail "node $n: ids 1 and 2 did not connect: $(tail -n 5 "$T/$n.log")"
	grep -aq "node_id" "$T/$n.log" && fail "node $n complains of node ids: $(grep -a node_id "$T/$n.log")"
done

[ "$fails" = 0 ] || exit 1
echo "PASS: wrong certificate, another cluster, same node_id refused with what to fix (each kind logged once); ids 1 and 2 connect"
exit 0
