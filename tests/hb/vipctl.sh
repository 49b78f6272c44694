#!/bin/sh
# vipctl.sh: vipctl by hand in network namespaces: add is idempotent and
# announces (the client's neighbour entry moves), del is idempotent, show,
# IPv6 without DAD, and clear errors for an unknown interface, a missing
# prefix, an address another host answers for, and no permission.
set -u
. "${top_srcdir:?}/tests/hb/lib.sh"
need_root
setup_net
V() { ns=$(ns_of "$1"); shift; ip netns exec "$ns" "$VIPCTL" "$@"; }

out=$(V a add $VIP/24 dev a0) || fail "add: $out"
echo "$out" | grep -q added || fail "add did not say added: $out"
out=$(V a add $VIP/24 dev a0) || fail "second add failed: $out"
echo "$out" | grep -q 'already present' || fail "second add: $out"
[ "$(ip -n "$NSA" -4 addr show dev a0 | grep -c "$VIP/24")" = 1 ] || fail "address added twice"
ip netns exec "$NSC" "$PY" "$HERE/client.py" $VIP 9 1 >/dev/null 2>&1 # fill the neighbour table
ip -n "$NSC" neigh show $VIP | grep -q "$(mac_of a)" || fail "client neighbour not at a"

# b may not take it while a answers for it
out=$(V b add $VIP/24 dev b0 2>&1) && fail "add of an address in use elsewhere succeeded"
echo "$out" | grep -q "already in use.*$(mac_of a)" || fail "conflict message: $out"
any_vip b && fail "refused add changed b"
# forced, and announced: the client's entry moves to b
V a del $VIP/24 dev a0 >/dev/null || fail "del"
out=$(V b add $VIP/24 dev b0 count 2) || fail "add on b: $out"
sleep 0.3
ip -n "$NSC" neigh show $VIP | grep -q "$(mac_of b)" ||
	fail "gratuitous ARP did not move the client's neighbour entry: $(ip -n "$NSC" neigh show $VIP)"
out=$(V b announce $VIP dev b0 count 1) || fail "announce: $out"

out=$(V b del $VIP dev b0) || fail "del: $out"
echo "$out" | grep -q removed || fail "del: $out"
out=$(V b del $VIP dev b0) || fail "second del failed: $out"
echo "$out" | grep -q 'not present' || fail "second del: $out"
V b show $VIP dev b0 >/dev/null; [ $? = 3 ] || fail "show of an absent address is not status 3"
V a show dev a0 | grep -q '192.0.2.1/24' || fail "show lists nothing"

# IPv6 (documentation prefix, inside the namespaces only): no DAD
out=$(V a add 2001:db8::100/64 dev a0) || fail "v6 add: $out"
ip -n "$NSA" -6 addr show dev a0 | grep '2001:db8::100/64' | grep -q nodad || fail "v6 VIP has DAD"
ip -n "$NSA" -6 addr show dev a0 | grep -q tentative && fail "v6 VIP tentative"
V a show dev a0 | grep -q '2001:db8::100/64 nodad' || fail "show does not list the v6 VIP"
out=$(V b add 2001:db8::100/64 dev b0 2>&1) && fail "v6 conflict not detected"
V a del 2001:db8::100/64 dev a0 >/dev/null || fail "v6 del"

# bad input: clear errors, nothing changed
out=$(V a add $VIP/24 dev nosuch0 2>&1); rc=$?
[ $rc = 1 ] && echo "$out" | grep -q "interface 'nosuch0' does not exist" || fail "unknown interface: $rc $out"
out=$(V a add $VIP dev a0 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'no prefix length' || fail "missing prefix: $rc $out"
out=$(V a add 192.0.2.300/24 dev a0 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'not an IPv4 or IPv6' || fail "bad address: $rc $out"
out=$(V a add $VIP/33 dev a0 2>&1); rc=$?
[ $rc = 2 ] && echo "$out" | grep -q 'prefix length' || fail "bad prefix: $rc $out"
out=$(V a frob 2>&1); [ $? = 2 ] || fail "unknown command accepted"
any_vip a && fail "bad input changed a"
if command -v setpriv >/dev/null; then
	out=$(ip netns exec "$NSA" setpriv --reuid=65534 --regid=65534 --clear-groups \
		"$VIPCTL" add $VIP/24 dev a0 force 2>&1); rc=$?
	[ $rc = 1 ] && echo "$out" | grep -q 'no permission' || fail "unprivileged add: $rc $out"
fi
echo "PASS: vipctl"
