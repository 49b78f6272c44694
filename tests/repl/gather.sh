#!/bin/bash
# tests/repl/gather.sh: the receiver's group commit (protocol level 4).
# Node a delivers 40 messages, each followed by a flag rename of the one
# before: the delivery's commit waits for b, the rename does not.  b must
# hold every delivery durably when it returns (sync commit), acknowledge
# the renames too without anything else arriving, and sync the two
# kinds of entries together: fewer syncs of its store (apply_syncs) than
# entries applied.  A receiver that syncs at every pause of the stream
# (level 3) makes one sync per entry here and fails the last check.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 3000
start_pair
[ "$(status_val a peer_protocol)" -ge 4 ] || fail "the pair speaks level $(status_val a peer_protocol), not 4"

M=u1/Maildir
mkmaildir a "$M"
deliver a "$M" m0
converge 10
applied0=$(status_val b applied_ops)
syncs0=$(status_val b apply_syncs)
[ -n "$applied0" ] && [ -n "$syncs0" ] || fail "b's status lacks applied_ops or apply_syncs"

note "40 deliveries, each followed by a rename nobody waits for"
# one process, so that each rename follows its delivery within a moment
python3 - "$T/a/mnt/$M" "$T/b/back/$M" <<'PY' || fail "the deliveries failed"
import os, sys
a, b = sys.argv[1], sys.argv[2]
for i in range(1, 41):
    with open(os.path.join(a, "tmp", "m%d" % i), "wb") as f:
        f.write(os.urandom(4096))
    os.rename(os.path.join(a, "tmp", "m%d" % i), os.path.join(a, "new", "m%d" % i))
    if not os.path.exists(os.path.join(b, "new", "m%d" % i)):
        sys.exit("m%d not on b when its delivery returned" % i)
    os.rename(os.path.join(a, "new", "m%d" % (i - 1)), os.path.join(a, "cur", "m%d:2,S" % (i - 1)))
PY

note "the last rename is acknowledged without a further entry"
for _ in $(seq 50); do
	[ "$(status_val a acked_seq)" = "$(status_val a last_seq)" ] && break
	sleep 0.1
done
[ "$(status_val a acked_seq)" = "$(status_val a last_seq)" ] ||
	fail "a's last entry is not acknowledged: acked $(status_val a acked_seq) of $(status_val a last_seq)"
[ -f "$T/b/back/$M/cur/m39:2,S" ] || fail "the last rename did not reach b"
converge 10

applied=$(( $(status_val b applied_ops) - applied0 ))
syncs=$(( $(status_val b apply_syncs) - syncs0 ))
note "b applied $applied entries with $syncs syncs"
[ "$applied" -ge 80 ] || fail "b applied $applied entries, expected at least 80"
# each rename can share the next delivery's sync: about one sync per
# delivery; three in four entries alone would mean no gathering at all
[ $((syncs * 4)) -le $((applied * 3)) ] || fail "b made $syncs syncs for $applied entries: entries are not gathered"
stop_and_check
echo "PASS: b gathers entries nobody waits for into the next sync ($syncs syncs, $applied entries)"
