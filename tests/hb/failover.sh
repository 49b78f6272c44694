#!/bin/sh
# failover.sh: heartbeatd moves the VIP to the survivor, in network
# namespaces, for each kind of fault, and after each one exactly one node
# holds the VIP once the failed node is back.  Prints fault-to-first-IMAP-
# connection times; fails only on functional errors (20 s bound).
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

# 1. start-up: the lower node id (a) becomes primary, b secondary
wait_role a PRIMARY 10
wait_role b SECONDARY 5
one_owner a
grep -q '^primary starting' "$T/a.roles" || fail "role_hook did not run with 'primary' on a"
grep -q 'PEER up' "$T/b/mhafs.lines" 2>/dev/null || { sleep 1; grep -q 'PEER up' "$T/b/mhafs.lines" 2>/dev/null; } ||
	fail "b did not tell mhafs 'PEER up'"

# 2. heartbeatd on the primary killed with SIGKILL (services stay up)
measure kill-heartbeatd b stop -KILL hb-a
wait_role b SOLO 5
grep -q 'PEER down' "$T/b/mhafs.lines" || fail "b did not tell mhafs 'PEER down'"
hb_start a
wait_role a SECONDARY 10
wait_role b PRIMARY 5
one_owner b

# 3. power loss of the primary: every process of node b killed at once
measure power-loss a sh -c "kill -KILL \$(cat $T/hb-b.pid $T/imap-b.pid $T/smtp-b.pid $T/mhafs-b.pid)"
rm -f "$T/hb-b.pid" "$T/imap-b.pid" "$T/smtp-b.pid" "$T/mhafs-b.pid"
wait_role a SOLO 5
svc_start b
hb_start b
wait_role b SECONDARY 10
one_owner a

# 4. the primary's service interface goes down (its bridge port, so the
#    node loses carrier): b takes over; a must not keep or re-take it
measure link-down b ip -n "$NSC" link set pa down
wait_role b SOLO 5
ip -n "$NSC" link set pa up
wait_role a SECONDARY 10
one_owner b

# 5. the IMAP server on the primary stops answering: b demotes itself
measure imap-stopped a stop -KILL imap-b
wait_role b FAULT 5
imap_start b
wait_role b SECONDARY 10
one_owner a

# 5b. the mount point stops answering (here: it disappears)
measure mount-gone b mv "$T/a/mnt" "$T/a/mnt.gone"
wait_role a FAULT 5
grep -q "mount point $T/a/mnt" "$T/hb-a.log" || fail "a did not log the mount failure"
mv "$T/a/mnt.gone" "$T/a/mnt"
wait_role a SECONDARY 10
one_owner b

# 6. clean shutdown (SIGTERM) of the primary: it releases the VIP and tells
#    the peer, which takes over without waiting for peer_dead_ms
measure clean-shutdown a stop -TERM hb-b
wait_role a SOLO 3
any_vip b && fail "b kept a VIP after SIGTERM"
grep -q 'peer-leaving' "$T/hb-a.log" || fail "a did not see b leave"
hb_start b
wait_role b SECONDARY 10
one_owner a

# 7. partition: the two nodes cannot hear each other but both still reach
#    the client and the witness (isolated bridge ports), so both hold the
#    VIP; on healing exactly one (the lower node id, a) keeps it.
ip -n "$NSC" link set dev pa type bridge_slave isolated on
ip -n "$NSC" link set dev pb type bridge_slave isolated on
wait_role a SOLO 5
wait_role b SOLO 5
note "partition: both nodes SOLO (split brain, as expected without a common witness view)"
ip -n "$NSC" link set dev pa type bridge_slave isolated off
ip -n "$NSC" link set dev pb type bridge_slave isolated off
wait_role a PRIMARY 5
wait_role b SECONDARY 5
one_owner a
echo "PASS: failover and rejoin for every fault"
