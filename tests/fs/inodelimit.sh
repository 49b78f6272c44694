#!/bin/sh
# tests/fs/inodelimit.sh: mhafs keeps a descriptor for every file the
# kernel holds through the mount (inode.c), so a kernel that caches more
# files than the open files limit allows would run mhafs out of
# descriptors: lookups, then the journal's own hashing would fail with
# EMFILE, and a delivery renamed into place would be acknowledged without
# a journal entry.  Instead mhafs holds at most the limit less a reserve
# (inodes_limit) of files and open handles together, refuses a new file
# or an open beyond it with ENFILE before making anything, and has the
# kernel drop the mount's unused entries, so it forgets their inodes and
# the descriptors close.
# Started with 512 open files, mhafs gets 1,200 Maildir deliveries (write
# in tmp/, rename into new/) into 20 folders from one client that keeps
# 60 other files open on the mount and retries an ENFILE after a pause.
# Checked: some were refused with ENFILE and none failed otherwise; every
# delivery is in the store; mhafs never ran out of descriptors, never
# failed a journal entry, said what it did in its log and `mhactl
# status`, held no more than inodes_limit; and the catalog matches the
# store (mhactl check).
set -u
: "${top_srcdir:=$(cd "$(dirname "$0")/../.." && pwd)}"
. "$top_srcdir/tests/fs/lib.sh"
need_root_fuse
command -v prlimit >/dev/null 2>&1 || skip "no prlimit (util-linux)"
command -v python3 >/dev/null 2>&1 || skip "no python3"
[ -x "$MHACTL" ] || skip "no mhactl at $MHACTL"
own_mount_ns "$@"
trap cleanup EXIT
trap 'exit 1' INT TERM HUP
scratch inodelimit

mkdir "$T/backing" "$T/mnt"
chmod 755 "$T/backing"
prlimit --pid $$ --nofile=512:512 || skip "cannot lower this shell's open files limit"
start_mhafs "$T/backing" "$T/mnt" "$T/state" "$T/mhafs.log" || die "mhafs did not mount"
status() { "$MHACTL" -c "$T/state/mhafs.conf" status | sed -n "s/^$1=//p"; }
limit=$(status inodes_limit)
[ "$limit" = 256 ] || fail "inodes_limit is '$limit', not 256 (512 less a reserve of 256)"

# deliveries: 1,200 messages into u0..u19/Maildir; an ENFILE is retried
# (up to 30 s per message), anything else fails the delivery
python3 - "$T/mnt" >"$T/deliver.out" 2>&1 <<'PY'
import errno, os, sys, time
mnt = sys.argv[1]
refused = failed = 0
for u in range(20):
    for d in ("tmp", "new", "cur"):
        os.makedirs(f"{mnt}/u{u}/Maildir/{d}")
os.makedirs(f"{mnt}/held")
held_open = [open(f"{mnt}/held/f{k}", "wb") for k in range(60)]
def retry(what):
    global refused
    deadline = time.monotonic() + 30
    while True:
        try:
            return what()
        except OSError as e:
            if e.errno != errno.ENFILE or time.monotonic() > deadline:
                raise
            refused += 1
            time.sleep(0.2)
def deliver(i):
    m = f"{mnt}/u{i % 20}/Maildir"
    name = f"{1796600000 + i}.M{i}P1.test"
    def write():
        with open(f"{m}/tmp/{name}", "wb") as f:
            f.write(os.urandom(512))
    retry(write)
    retry(lambda: os.rename(f"{m}/tmp/{name}", f"{m}/new/{name}"))
    retry(lambda: os.stat(f"{m}/new/{name}"))
for i in range(1200):
    try:
        deliver(i)
    except OSError as e:
        failed += 1
        print(f"delivery {i}: {e}")
print(f"refused {refused} failed {failed}")
PY
note "client: $(tail -1 "$T/deliver.out")"
grep -q "^refused [1-9][0-9]* failed 0$" "$T/deliver.out" ||
	fail "deliveries: $(head -3 "$T/deliver.out" | tr '\n' ' ') (want some refused with ENFILE, none failed)"
n=$(find "$T/backing" -path '*/new/*' -type f | wc -l)
[ "$n" = 1200 ] || fail "the store holds $n of 1200 deliveries"
grep -q "open files: .* refused with ENFILE" "$T/mhafs.log" ||
	fail "mhafs did not log the refusals and the relief"
# EMFILE's text, not ENFILE's ("... in system")
grep -q -E "Too many open files([^ ]|$| [^i])" "$T/mhafs.log" && fail "mhafs ran out of descriptors (EMFILE in its log)"
grep -q "journal: cannot" "$T/mhafs.log" && fail "mhafs failed a journal entry: $(grep -m1 'journal: cannot' "$T/mhafs.log")"
[ "$(status journal_failed)" = 0 ] || fail "mhactl status says journal_failed=$(status journal_failed)"
[ "$(status inodes_refused)" -gt 0 ] || fail "mhactl status counts no refusal"
held=$(( $(status inodes) + $(status open_handles) ))
[ "$held" -le "$limit" ] || fail "mhafs holds $held inodes and handles, more than its limit $limit"
note "mhafs holds $(status inodes) inodes, $(status open_handles) handles, $(ls /proc/$MHAFS_PID/fd | wc -l) descriptors; $(status inodes_refused) refusals"
unmount_wait "$T/mnt" "$MHAFS_PID" || fail "unmount"
out=$("$MHACTL" -c "$T/state/mhafs.conf" check "$T/backing" 2>&1) || fail "mhactl check: $out"
[ "$FAILED" = 0 ] && echo "PASS: at its open files limit mhafs refuses new files with ENFILE, has the kernel drop unused ones, and journals every delivery"
exit "$FAILED"
