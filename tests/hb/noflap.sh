#!/bin/sh
# noflap.sh: no false failover.  With default timings and both CPUs busy
# (stress-ng), the VIP stays where it is and neither node changes state;
# nor when both daemons are frozen together for 1.5 s (SIGSTOP, as in a
# machine-wide stall) and resume; nor for 4 s, after which the health
# round is overdue (health_interval_ms + 2 x 1 s + 1 s): the health thread
# was frozen with the machine, not stuck on a check; nor when the IMAP
# server is starved longer and its check times out across those stalls.
# 20 s in make check; MHHB_LONG=1 runs it for 180 s (MHHB_SECONDS to choose).
set -u
. "${top_srcdir:?}/tests/hb/lib.sh"
need_root
command -v stress-ng >/dev/null || skip "stress-ng not installed (tools/install-deps)"
secs=${MHHB_SECONDS:-20}
[ -n "${MHHB_LONG:-}" ] && secs=${MHHB_SECONDS:-180}
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
tr_a=$(status a | sed -n 's/^transitions: //p')
tr_b=$(status b | sed -n 's/^transitions: //p')
bg stress "$NSC" stress-ng --cpu "$(nproc)" --cpu-method matrixprod --timeout "${secs}s" --quiet
note "both CPUs busy for $secs s"
end=$(($(date +%s) + secs))
while [ "$(date +%s)" -lt "$end" ]; do
	any_vip b && fail "VIP on b under load"
	has_vip a || fail "a lost the VIP under load"
	sleep 1
done
stop stress
[ "$(status a | sed -n 's/^transitions: //p')" = "$tr_a" ] || fail "a changed state under load"
[ "$(status b | sed -n 's/^transitions: //p')" = "$tr_b" ] || fail "b changed state under load"
one_owner a

pa=$(cat "$T/hb-a.pid") pb=$(cat "$T/hb-b.pid")
# freeze SECONDS: both daemons frozen together, then neither may change
# state nor take the stall for a hung health check
freeze() {
	stalled0=$(cat "$T/hb-a.log" "$T/hb-b.log" | grep -c "health checks stalled")
	kill -STOP "$pa" "$pb"
	sleep "$1"
	kill -CONT "$pa" "$pb"
	sleep 3
	[ "$(status a | sed -n 's/^transitions: //p')" = "$tr_a" ] || fail "a changed state after a $1 s stall"
	[ "$(status b | sed -n 's/^transitions: //p')" = "$tr_b" ] || fail "b changed state after a $1 s stall"
	[ "$(cat "$T/hb-a.log" "$T/hb-b.log" | grep -c "health checks stalled")" = "$stalled0" ] ||
		fail "a $1 s stall of the whole daemon was taken for a hung health check"
	one_owner a
}
freeze 1.5
[ "$(counter a stalls)" -ge 1 ] || fail "a did not notice its stall"
note "both daemons frozen for 1.5 s: no failover (stalls noticed: a $(counter a stalls), b $(counter b stalls))"
freeze 4
note "both daemons frozen for 4 s: no failover"

# A stall that starves the IMAP server longer than heartbeatd: a's IMAP
# stand-in frozen for 5.3 s, both heartbeatds twice for 1.8 s inside that,
# so that two health rounds in a row time out while heartbeatd itself is
# frozen.  Such a timeout proves nothing about the server and is not
# counted (health.c, health_count); counted, two would demote a to FAULT.
pi=$(cat "$T/imap-a.pid")
kill -STOP "$pi"
sleep 0.7
kill -STOP "$pa" "$pb"; sleep 1.8; kill -CONT "$pa" "$pb"
sleep 0.7
kill -STOP "$pa" "$pb"; sleep 1.8; kill -CONT "$pa" "$pb"
sleep 0.3
kill -CONT "$pi"
sleep 3
[ "$(status a | sed -n 's/^transitions: //p')" = "$tr_a" ] || fail "a changed state when its IMAP check timed out across its own stalls"
[ "$(status b | sed -n 's/^transitions: //p')" = "$tr_b" ] || fail "b changed state when a's IMAP check timed out across a's stalls"
[ "$(counter a uncounted_checks)" -ge 1 ] || fail "a counted no timed-out health round as uncounted"
grep -q "local health check not counted ([0-9]* so far): IMAP on port 143: no greeting within 1000 ms while heartbeatd itself stalled" "$T/hb-a.log" ||
	fail "a did not log the health round it did not count"
one_owner a
note "IMAP check timed out across a's own stalls: $(counter a uncounted_checks) round(s) not counted, no failover"
echo "PASS: no false failover in $secs s of full CPU load"
