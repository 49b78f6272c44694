#!/bin/bash
# tests/repl/unlinkrace.sh: a file written in place on the mount (not
# through tmp/: a Postfix queue file, say) and removed by another process
# as it is closed.  mhafs journals its content when it is closed; the
# removal must not be journaled before that content, or the catalog keeps
# a live row for a file that is gone (and the walk finds a difference
# there is none).  60 files of 2 MiB on node a, each unlinked by another
# process right after its writer closes it; then the catalog must match
# the store on both nodes (mhactl check) and the pair converge.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
start_pair
mkdir -p "$T/a/mnt/q/incoming" || fail "cannot make q/incoming"
python3 - "$T/a/mnt/q/incoming" <<'PY' || fail "the writers failed"
import os, sys, threading
d = sys.argv[1]
data = os.urandom(2 << 20)
def one(i):
    p = os.path.join(d, "f%d" % i)
    with open(p, "wb") as f:
        f.write(data)
    # another process's unlink, as the writer's close is still journaling
    pid = os.fork()
    if pid == 0:
        try:
            os.unlink(p)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
ts = [threading.Thread(target=one, args=(i,)) for i in range(60)]
for t in ts: t.start()
for t in ts: t.join()
PY
left=$(ls "$T/a/mnt/q/incoming" | wc -l)
[ "$left" = 0 ] || fail "$left files left in q/incoming"
wait_synced a 20
wait_synced b 20
converge 20
quiet_after_restart b a
stop_and_check
echo "PASS: files written in place and removed as they close leave no live catalog row"
