#!/bin/bash
# tests/repl/fulllock.sh: a node whose disk is full does not hold the
# cluster's dovecot-uidlist.lock for its peer with an empty marker.  Found
# by the fault suite (seed 7, 30 min): with node 2's disk full, the marker
# it created for node 1's Dovecot had no "pid:host" in it; nobody could
# tell its holder, so node 2's applier waited 2 s on every uidlist node 1
# sent ("dovecot-uidlist.lock held for 2 s") for two minutes, replication
# fell minutes behind, and after a failover users moved messages a second
# time.  Now the lock is refused and the peer takes it alone.
. "$(dirname "$0")/lib.sh"
repl_preflight
repl_setup 1000
b_on_small_disk 4m
start_pair
M=u/Maildir
deliver a $M m0 1024
converge 10

# fill B's disk underneath (nothing to replicate, the link stays up)
dd if=/dev/zero of="$T/b/back/filler" bs=64k 2>/dev/null
[ "$(df --output=avail "$T/b/back" | tail -1)" -lt 64 ] || fail "B's disk did not fill"
alone=$(status_val a dotlocks_alone)
# A's Dovecot takes the mailbox's lock (O_EXCL, as Dovecot creates it)
( set -C; echo "$$:$(hostname)" > "$T/a/mnt/$M/dovecot-uidlist.lock" ) || fail "A cannot take the lock"
[ ! -e "$T/b/back/$M/dovecot-uidlist.lock" ] ||
	fail "B holds the lock for A with an empty marker ($(stat -c %s "$T/b/back/$M/dovecot-uidlist.lock") bytes) on its full disk"
grep -q "cannot hold lock $M/dovecot-uidlist.lock for peer alpha: No space left on device" "$T/b.log" ||
	fail "B did not log why it refused the lock"
[ "$(status_val a dotlocks_alone)" -gt "$alone" ] || fail "A did not count the lock as taken alone"
rm "$T/a/mnt/$M/dovecot-uidlist.lock"

# with room again, the lock is shared once more
rm -f "$T/b/back/filler"
( set -C; echo "$$:$(hostname)" > "$T/a/mnt/$M/dovecot-uidlist.lock" ) || fail "A cannot take the lock again"
[ -s "$T/b/back/$M/dovecot-uidlist.lock" ] || fail "B does not hold the lock for A with room on its disk"
rm "$T/a/mnt/$M/dovecot-uidlist.lock"
for _ in $(seq 50); do [ -e "$T/b/back/$M/dovecot-uidlist.lock" ] || break; sleep 0.1; done
[ ! -e "$T/b/back/$M/dovecot-uidlist.lock" ] || fail "B kept the lock after A gave it back"
echo "PASS: a full disk refuses the shared lock instead of holding it with an empty marker"
