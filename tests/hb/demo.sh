#!/bin/sh
# demo.sh: a narrated failover for tools/demo (or by hand, as root): two
# nodes and a client in network namespaces, heartbeatd on both, the VIP on
# the primary; then the primary is killed (every process, SIGKILL) and the
# VIP moves; then it comes back as the secondary.  Cleans up on exit.
#   top_srcdir=... top_builddir=... tests/hb/demo.sh
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
top_srcdir=${top_srcdir:-$here}
top_builddir=${top_builddir:-$here/_build}
export top_srcdir top_builddir
. "$top_srcdir/tests/hb/lib.sh"
need_root
show() {
	for n in a b; do
		r=$(role $n)
		if [ -z "$r" ]; then
			printf '  node %s: (down)\n' "$n"
		else
			printf '  node %s: %-9s VIP %s\n' "$n" "$r" "$(any_vip $n && echo held || echo -)"
		fi
	done
}
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
echo "== two nodes up, VIP $VIP on the primary:"
show
out=$(ip netns exec "$NSC" "$PY" "$HERE/client.py" "$VIP" 143 5) && echo "  client -> $VIP:143 answered by node ${out% *}"
echo "== power loss of node a (all its processes killed):"
t0=$(date +%s%N)
# shellcheck disable=SC2046
kill -KILL $(cat "$T/hb-a.pid" "$T/imap-a.pid" "$T/smtp-a.pid" "$T/mhafs-a.pid")
ip -n "$NSA" link set a0 down    # and its network card with it
for p in hb imap smtp mhafs; do stop -KILL "$p-a"; done
out=$(ip netns exec "$NSC" "$PY" "$HERE/client.py" "$VIP" 143 20 b "$t0") || fail "$out"
echo "  client -> $VIP:143 answered by node b, ${out#* } ms after the fault"
wait_role b SOLO 5
show
echo "== node a restarts (a rebooted machine has no VIP) and rejoins:"
ip netns exec "$NSA" "$VIPCTL" del "$VIP" dev a0 >/dev/null
ip netns exec "$NSA" "$VIPCTL" del "$VIP6" dev a0 >/dev/null
ip -n "$NSA" link set a0 up
svc_start a
sleep 0.5
hb_start a
wait_role a SECONDARY 10
wait_role b PRIMARY 5
show
echo "== status of node b (heartbeatd --status):"
status b | sed 's/^/  /'
