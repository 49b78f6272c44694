#!/bin/bash
# tests/repl/stopbusy.sh: a stop by signal while a client is inside the
# mount and the peer keeps changing the directory it looks in.  When the
# signal ends the FUSE loop nobody answers the client's next LOOKUP, which
# holds the directory's lock; replication's invalidator, told by the
# receiver of the peer's new file in that directory, waits for the same
# lock.  mhafs must still stop on its own (no SIGKILL), say so in its log,
# leave no mount behind, and start again without the full check.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair

D=u/Maildir
mkmaildir a "$D"
mkmaildir b "$D"
converge 10

# the peer delivers into D/new without a pause
python3 - "$T/b/mnt/$D" <<'EOP' 2>/dev/null &
import os, sys
d = sys.argv[1]
i = 0
while True:
    i += 1
    t = "%s/tmp/m%d" % (d, i)
    with open(t, "w") as f:
        f.write("Subject: %d\n\nbody\n" % i)
    os.rename(t, "%s/new/m%d" % (d, i))
EOP
WRITER=$!
PIDS="$PIDS $WRITER"

# a reader on node a looks up names in D/new that do not exist: each one a
# LOOKUP in that directory (the shell's test is a stat, no fork)
(
	i=0
	while :; do
		i=$((i + 1))
		[ -e "$T/a/mnt/$D/new/absent$i" ]
	done
) 2>/dev/null &
READER=$!
PIDS="$PIDS $READER"

# until node a's mount shows the peer's deliveries arriving
for _ in $(seq 100); do
	n=$(ls "$T/a/mnt/$D/new" 2>/dev/null | wc -l)
	[ "$n" -ge 50 ] && break
	sleep 0.1
done
[ "$n" -ge 50 ] || fail "node a sees only $n of the peer's deliveries"

pid=$(cat "$T/a.pid")
note "SIGTERM to node a's mhafs ($pid) with $n of the peer's files arrived and the reader looking"
kill -TERM "$pid"
for _ in $(seq 200); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
if kill -0 "$pid" 2>/dev/null; then
	note "its threads:"
	for t in /proc/"$pid"/task/*; do
		echo "#   $(cat "$t/comm" 2>/dev/null): $(head -3 "$t/stack" 2>/dev/null | tr '\n' ' ')"
	done
	fail "mhafs on node a did not exit within 20 s of SIGTERM"
fi
wait "$pid" 2>/dev/null
rm -f "$T/a.pid"
kill "$READER" "$WRITER" 2>/dev/null
wait "$READER" "$WRITER" 2>/dev/null
grep -q "unmounted $T/a/mnt" "$T/a.log" || fail "node a's log does not say it unmounted"
ended=$(grep -E "$T/a/mnt( was in use: its waiting requests failed|: nothing was using it)" "$T/a.log") ||
	fail "node a's log does not say how the stop ended its FUSE connection"
note "$ended"
grep -q " $T/a/mnt " /proc/mounts && fail "node a's mount is still there after its mhafs exited"

note "restart: a clean stop needs no full check"
before=$(grep -c "last stop was not clean" "$T/a.log")
start_node a 30
wait_synced a 20
[ "$(grep -c "last stop was not clean" "$T/a.log")" = "$before" ] ||
	fail "node a checked the store after a stop by signal: $(grep "last stop was not clean" "$T/a.log" | tail -1)"
converge 20
stop_and_check
echo "PASS: mhafs stops by signal while a client waits in a directory the peer changes"
