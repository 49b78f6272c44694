#!/bin/bash
# tests/repl/silentpeer.sh: a peer that stops answering on an idle stream
# (its mhafs frozen with SIGSTOP: the kernel still holds the TCP
# connection, so nothing fails at that level) is dropped by the sender,
# which pings every second and waits 5 s at most for any frame back:
# node a's status says peer_connected=no and its log says why, instead of
# a connection that looks alive to mhactl and to mhafs-queue's takeover.
# Thawed, the peer is connected and in sync again and replication goes on.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
deliver a u1/Maildir before
converge 10
# the walk after connecting is over: the stream is idle
for _ in $(seq 100); do [ "$(walks a)" -ge 1 ] && break; sleep 0.1; done
[ "$(walks a)" -ge 1 ] || fail "node a did not walk after connecting"
sleep 1
bpid=$(cat "$T/b.pid")
thaw() { kill -CONT "$bpid" 2>/dev/null; }
trap 'r=$?; thaw; (exit $r); repl_exit' EXIT

note "node b frozen"
kill -STOP "$bpid" || fail "cannot stop node b's mhafs"
gone=""
for _ in $(seq 150); do
	[ "$(status_val a peer_connected)" = no ] && { gone=1; break; }
	sleep 0.1
done
if [ -z "$gone" ]; then
	thaw
	fail "node a still says peer_connected=$(status_val a peer_connected) 15 s after b froze"
fi
grep -q "peer beta has not answered for [0-9]* s; reconnecting" "$T/a.log" || { thaw; fail "no log line for the silent peer"; }

note "node b thawed"
thaw
wait_synced a 20
deliver a u1/Maildir after
[ -f "$T/b/back/u1/Maildir/new/after" ] || fail "a delivery after the thaw is not on b when it returns"
converge 10
stop_and_check
echo "PASS: a silent peer is dropped within seconds and replication resumes once it answers"
