#!/bin/sh
# witness.sh: a node whose peer goes silent takes the VIP only if the
# witness answers.  b's witness is an address nobody answers for, so when
# a drops off the link b stays ISOLATED without the VIP; once b's witness
# is fixed and reloaded (SIGHUP), b takes the VIP; a rejoins as SECONDARY.
set -u
. "${top_srcdir:?}/tests/hb/lib.sh"
need_root
setup_net
write_conf a
write_conf b
sed -i 's/^witness = .*/witness = 192.0.2.250/' "$T/b/mhafs.conf"
svc_start a
svc_start b
sleep 0.3
hb_start a
hb_start b
wait_role a PRIMARY 10
wait_role b SECONDARY 5
one_owner a

ip -n "$NSC" link set pa down
wait_role b ISOLATED 5
sleep 2
[ "$(role b)" = ISOLATED ] || fail "b left ISOLATED without a witness: $(role b)"
any_vip b && fail "b took the VIP without reaching the witness"
status b | grep -q '^witness: 192.0.2.250 unreachable' || fail "status does not show the witness unreachable"

t0=$(date +%s%N)
sed -i 's/^witness = .*/witness = 192.0.2.3/' "$T/b/mhafs.conf"
kill -HUP "$(cat "$T/hb-b.pid")"
out=$(ip netns exec "$NSC" "$PY" "$HERE/client.py" "$VIP" 143 20 b "$t0") || fail "after reload: $out"
echo "witness reachable again: VIP on b after ${out#* } ms"
wait_role b SOLO 3
ip -n "$NSC" link set pa up
wait_role a SECONDARY 10
one_owner b
echo "PASS: the witness gates taking the VIP"
