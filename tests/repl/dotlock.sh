#!/bin/bash
# tests/repl/dotlock.sh: Dovecot's dotlock dovecot-uidlist.lock is one
# lock for the cluster.  Created with O_EXCL on one node, it is held on the
# other too (a marker naming that node's mhafs, which the other node's
# Dovecot sees as a live holder), so a second O_EXCL create there fails
# with EEXIST; renaming it over dovecot-uidlist brings the new uidlist to
# the peer before the peer lets the lock go; a lock left on one node by a
# Dovecot that died is stale for the other node too after two minutes
# unchanged (Dovecot's rule); a peer that dies releases what it held; with
# the peer down the lock is taken alone.
. "$(dirname "$0")/lib.sh"
repl_preflight
command -v python3 >/dev/null || skip "no python3"
repl_setup 1500
start_pair

M=u/Maildir
L=$M/dovecot-uidlist.lock
mkdir -p "$T/a/mnt/$M/cur" "$T/a/mnt/$M/new" "$T/a/mnt/$M/tmp"
printf '3 V1 N1 G0123456789abcdef0123456789abcdef\n' > "$T/a/mnt/$M/dovecot-uidlist"
converge 10

# excl NODE: create the lock through NODE's mount as Dovecot does
# (O_CREAT|O_EXCL), write TEXT into it; prints "ok" or the errno name
excl() {
	python3 - "$T/$1/mnt/$L" "${2:-}" <<'PY'
import errno, os, sys
try:
    fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
except OSError as e:
    print(errno.errorcode.get(e.errno, e.errno)); sys.exit(0)
os.write(fd, sys.argv[2].encode().decode("unicode_escape").encode()); os.close(fd); print("ok")
PY
}
# wait_gone FILE SECONDS
wait_gone() {
	for _ in $(seq $(($2 * 10))); do [ -e "$1" ] || return 0; sleep 0.1; done
	return 1
}

note "node a takes the lock: node b holds a marker for it"
[ "$(excl a '3 V1 N2 G0123456789abcdef0123456789abcdef\n1 :1700000001.M1P1.a\n')" = ok ] ||
	fail "node a could not create its dotlock"
[ -f "$T/b/back/$L" ] || fail "node b holds no marker for node a's lock"
pid_b=$(cat "$T/b.pid")
grep -q "^$pid_b:" "$T/b/back/$L" || fail "node b's marker does not name its mhafs (pid $pid_b): $(cat "$T/b/back/$L")"
r=$(excl b x)
[ "$r" = EEXIST ] || fail "node b could create the lock node a holds: $r"
stat "$T/b/mnt/$L" >/dev/null || fail "node b's mount does not show the held lock"

note "node a renames the lock over dovecot-uidlist: node b has the new uidlist, then the lock is free"
printf '3 V1 N2 G0123456789abcdef0123456789abcdef\n1 :1700000001.M1P1.a\n' > "$T/want"
mv "$T/a/mnt/$L" "$T/a/mnt/$M/dovecot-uidlist"
wait_gone "$T/b/back/$L" 5 || fail "node b kept its marker after node a gave the lock back"
cmp -s "$T/b/back/$M/dovecot-uidlist" "$T/want" || fail "node b's uidlist is not node a's new one"
cmp -s "$T/b/mnt/$M/dovecot-uidlist" "$T/want" || fail "node b's mount shows an old dovecot-uidlist"

note "node b takes it now; node a refuses a second holder; unlink gives it back"
[ "$(excl b '')" = ok ] || fail "node b could not take the free lock"
[ -f "$T/a/back/$L" ] || fail "node a holds no marker for node b's lock"
[ "$(excl a x)" = EEXIST ] || fail "node a could create the lock node b holds"
rm "$T/b/mnt/$L"
wait_gone "$T/a/back/$L" 5 || fail "node a kept its marker after node b removed the lock"

note "under the lock, node a appends to dovecot-uidlist in place and keeps it open; then it"
note "recreates it through dovecot-uidlist.tmp: node b has each version before the lock is free"
python3 - "$T/a/mnt/$M" "$T/b/back/$M" <<'PY' || fail "in-place and recreated uidlists did not reach node b in time"
import os, sys, time
a, b = sys.argv[1], sys.argv[2]
def take():
    fd = os.open(a + "/dovecot-uidlist.lock", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
def wait_free():
    for _ in range(50):
        if not os.path.exists(b + "/dovecot-uidlist.lock"):
            return
        time.sleep(0.1)
    sys.exit("node b kept its marker")
def on_b():
    return open(b + "/dovecot-uidlist", "rb").read()
# 1: append in place, keep the file open, give the lock back by unlink
take()
u = os.open(a + "/dovecot-uidlist", os.O_WRONLY | os.O_APPEND)
os.write(u, b"2 :1700000002.M2P2.a\n")
os.fsync(u)
want = open(a + "/dovecot-uidlist", "rb").read()
os.unlink(a + "/dovecot-uidlist.lock")
wait_free()
if on_b() != want:
    sys.exit("node b's uidlist lacks the append made under the lock: %r" % on_b())
# 2: recreate through .tmp, rename while still open, then unlink the lock
take()
t = os.open(a + "/dovecot-uidlist.tmp", os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
new = want + b"3 :1700000003.M3P3.a\n"
os.write(t, new)
os.fsync(t)
os.rename(a + "/dovecot-uidlist.tmp", a + "/dovecot-uidlist")
if on_b() != new:
    sys.exit("the renamed uidlist is not complete on node b when the rename returns: %r" % on_b())
os.unlink(a + "/dovecot-uidlist.lock")
wait_free()
os.close(t)
os.close(u)
if os.path.exists(b + "/dovecot-uidlist.tmp"):
    sys.exit("dovecot-uidlist.tmp was replicated")
PY

note "a Dovecot killed while it held the lock on node b: node b's apply does not wait for it"
sh -c 'exit 0' & dead=$!; wait "$dead"
printf '%s:%s\n' "$dead" "$(hostname)" > "$T/b/back/$L"
printf '3 V1 N9 G0123456789abcdef0123456789abcdef\n' > "$T/a/mnt/$M/dovecot-uidlist"
for _ in $(seq 30); do
	grep -q N9 "$T/b/back/$M/dovecot-uidlist" && break; sleep 0.1
done
grep -q N9 "$T/b/back/$M/dovecot-uidlist" || fail "node b did not install the uidlist within 3 s"
grep -q "apply: removed a stale $L (its holder is gone)" "$T/b.log" || fail "node b did not remove the stale lock"
! grep -q "held for 2 s" "$T/b.log" || fail "node b waited for a dead holder"

note "a lock on node b whose holder lives but never lets go: node b's apply waits for it once, not per uidlist"
sleep 300 & live=$!; PIDS="$PIDS $live"
printf '%s:%s\n' "$live" "$(hostname)" > "$T/b/back/$L"
before=$(grep -c "held for 2 s" "$T/b.log")
for v in 10 11 12; do
	printf '3 V1 N%s G0123456789abcdef0123456789abcdef\n' "$v" > "$T/a/mnt/$M/dovecot-uidlist"
	for _ in $(seq 40); do grep -q "N$v " "$T/b/back/$M/dovecot-uidlist" && break; sleep 0.1; done
	grep -q "N$v " "$T/b/back/$M/dovecot-uidlist" || fail "node b did not install uidlist version $v within 4 s"
done
waits=$(( $(grep -c "held for 2 s" "$T/b.log") - before ))
[ "$waits" = 1 ] || fail "node b waited $waits times for the same unchanged lock (once expected)"
grep -q "apply: $M/dovecot-uidlist.lock held for 2 s" "$T/b.log" || fail "node b's log does not name the lock it waited for"
kill "$live"; wait "$live" 2>/dev/null
rm -f "$T/b/back/$L"

note "a Dovecot on node b died before it wrote into its lock: node a waits, then takes it as Dovecot would"
: > "$T/b/back/$L"  # an excl lock holds the new uidlist, and no pid
[ "$(excl a x)" = EEXIST ] || fail "node a took a lock that node b's Dovecot may still hold"
touch -d '-150 seconds' "$T/b/back/$L"
[ "$(excl a '')" = ok ] || fail "node a could not take the lock left unchanged on node b for 150 s"
grep -q "removed a stale $L (unchanged for two minutes) for peer" "$T/b.log" ||
	fail "node b did not log the stale lock it removed"
[ -s "$T/b/back/$L" ] && [ "$(stat -c %Y "$T/b/back/$L")" -gt "$(( $(date +%s) - 60 ))" ] ||
	fail "node b holds no fresh marker for node a's lock"
rm "$T/a/mnt/$L"
wait_gone "$T/b/back/$L" 10 || fail "node b kept the marker after node a gave the lock back"

note "node b takes it and dies: node a releases its marker"
[ "$(excl b '')" = ok ] || fail "node b could not take the lock again"
[ -f "$T/a/back/$L" ] || fail "node a holds no marker for node b's second lock"
crash_node b
wait_gone "$T/a/back/$L" 10 || fail "node a kept the marker of a dead peer"
grep -q "released 1 lock(s) held for it" "$T/a.log" || fail "node a did not log the released lock"

note "with the peer down the lock is taken alone"
rm -f "$T/b/back/$L"  # node b's own lock, left by its crash
[ "$(excl a '')" = ok ] || fail "node a could not take the lock with its peer down"
rm "$T/a/mnt/$L"
shared=$(status_val a dotlocks_shared) alone=$(status_val a dotlocks_alone)
held=$(status_val a dotlocks_held_for_peer)
note "node a: dotlocks_shared=$shared dotlocks_alone=$alone dotlocks_held_for_peer=$held"
[ "${shared:-0}" -ge 1 ] && [ "${alone:-0}" -ge 1 ] && [ "${held:-0}" -ge 2 ] ||
	fail "mhactl status does not count the locks"
echo "PASS: dovecot-uidlist.lock is one lock for both nodes"
