# tests/repl/lib.sh: a two-node mhafs cluster for tests, in two network
# namespaces joined by a veth pair (192.0.2.1 and 192.0.2.2).  Each node's
# mhafs runs with its network in its namespace (nsenter --net, so its FUSE
# mount stays visible in the test's mount namespace).  Source it, call
# repl_setup, and everything is torn down by the EXIT trap, on failure too.

: "${top_builddir:?}" "${top_srcdir:?}"
MHAFS=$top_builddir/mhafs/mhafs
MHACTL=$top_builddir/tools/mhactl
KEYGEN=$top_builddir/tools/mhafs-keygen

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump_logs; exit 1; }
note() { echo "# $*"; }

repl_preflight() {
	[ "$(id -u)" = 0 ] || skip "needs root"
	[ -c /dev/fuse ] || skip "no /dev/fuse"
	[ -x "$MHAFS" ] && [ -x "$KEYGEN" ] || skip "binaries not built"
	command -v nsenter >/dev/null || skip "no nsenter"
}

T=""
NS_A=""; NS_B=""
PIDS=""
REPL_MOUNTS=""

dump_logs() {
	[ -n "$T" ] || return 0
	for n in a b; do
		[ -f "$T/$n.log" ] && { echo "--- log of node $n (last 30 lines)"; tail -30 "$T/$n.log"; }
	done
	return 0
}

repl_cleanup() {
	set +e
	for n in a b; do stop_node $n 2>/dev/null; done
	for p in $PIDS; do kill -9 "$p" 2>/dev/null; done
	[ -n "$NS_A" ] && ip netns del "$NS_A" 2>/dev/null
	[ -n "$NS_B" ] && ip netns del "$NS_B" 2>/dev/null
	if [ -n "$T" ]; then
		for m in "$T"/a/mnt "$T"/b/mnt; do
			grep -q " $m " /proc/mounts && { fusermount3 -uz "$m" 2>/dev/null || umount -l "$m"; }
		done
		# other file systems a test mounted under $T (REPL_MOUNTS)
		for m in $REPL_MOUNTS; do
			grep -q " $m " /proc/mounts && umount -l "$m"
		done
		rm -rf "$T"
	fi
}

# On exit: a sanitizer report in a node's log fails the test, then clean up.
repl_exit() {
	rc=$?
	if [ -n "$T" ] && grep -l -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log >/dev/null 2>&1; then
		echo "FAIL: sanitizer report in a node's log:"
		grep -h -A5 -E "AddressSanitizer|LeakSanitizer|runtime error:" "$T"/*.log | head -40
		[ "$rc" = 0 ] && rc=1
	fi
	repl_cleanup
	exit "$rc"
}

# repl_setup [sync_timeout_ms]: namespaces, keys, configs (nodes not started)
repl_setup() {
	timeout_ms=${1:-1500}
	T=$(mktemp -d /tmp/mhrepl.XXXXXX)
	trap repl_exit EXIT
	trap 'exit 1' INT TERM
	id=$$
	NS_A=mhr$id-a; NS_B=mhr$id-b
	ip netns add "$NS_A" && ip netns add "$NS_B" || fail "cannot create namespaces"
	ip link add "va$id" type veth peer name "vb$id" || fail "veth"
	ip link set "va$id" netns "$NS_A"; ip link set "vb$id" netns "$NS_B"
	ip -n "$NS_A" addr add 192.0.2.1/24 dev "va$id"; ip -n "$NS_B" addr add 192.0.2.2/24 dev "vb$id"
	ip -n "$NS_A" link set "va$id" up; ip -n "$NS_B" link set "vb$id" up
	ip -n "$NS_A" link set lo up; ip -n "$NS_B" link set lo up
	VETH_A=va$id; VETH_B=vb$id
	mkdir -p "$T/keys" "$T/badkeys"
	"$KEYGEN" ca "$T/keys" >/dev/null && "$KEYGEN" node "$T/keys" alpha >/dev/null &&
		"$KEYGEN" node "$T/keys" beta >/dev/null || fail "keygen"
	"$KEYGEN" ca "$T/badkeys" >/dev/null && "$KEYGEN" node "$T/badkeys" beta >/dev/null || fail "keygen (bad CA)"
	write_conf a alpha 1 beta 192.0.2.2 "$T/keys" beta
	write_conf b beta 2 alpha 192.0.2.1 "$T/keys" beta
}

# b_on_small_disk SIZE: node B's backing directory on a tmpfs of SIZE
# (unmounted at cleanup), for what a full disk does; before start_pair
b_on_small_disk() {
	mkdir -p "$T/b/back"
	mount -t tmpfs -o "size=$1,mode=0755" mhrepl-full "$T/b/back" || skip "cannot mount a tmpfs"
	REPL_MOUNTS="$REPL_MOUNTS $T/b/back"
}

# write_conf NODE NAME ID PEER PEERADDR KEYDIR CERTNAME
write_conf() {
	d=$T/$1
	mkdir -p "$d/back" "$d/mnt" "$d/state"
	cat > "$d/mhafs.conf" <<EOC
node_name = $2
node_id = $3
backing_dir = $d/back
mount_point = $d/mnt
state_dir = $d/state
control_socket = $d/ctl.sock
peer_name = $4
peer_address = $5
ca_file = $6/ca.pem
cert_file = $6/$2.pem
key_file = $6/$2.key
sync_timeout_ms = $timeout_ms
log_target = stderr
log_level = info
EOC
}

ns_of() { [ "$1" = a ] && echo "$NS_A" || echo "$NS_B"; }

# start_node NODE [SECONDS]: mount and wait until the mount answers
# (5 s, or SECONDS for a long start-up check)
start_node() {
	n=$1
	d=$T/$n
	nsenter --net=/run/netns/"$(ns_of $n)" "$MHAFS" "$d/back" "$d/mnt" -f -o config="$d/mhafs.conf" \
		>>"$T/$n.log" 2>&1 &
	echo $! > "$T/$n.pid"
	for _ in $(seq $((${2:-5} * 10))); do
		grep -q " $d/mnt fuse" /proc/mounts && return 0
		kill -0 "$(cat "$T/$n.pid")" 2>/dev/null || fail "mhafs on node $n exited at start"
		sleep 0.1
	done
	fail "node $n did not mount"
}

# stop_node NODE: clean unmount, wait for the daemon
stop_node() {
	n=$1
	[ -f "$T/$n.pid" ] || return 0
	pid=$(cat "$T/$n.pid")
	if kill -0 "$pid" 2>/dev/null; then
		fusermount3 -u "$T/$n/mnt" 2>/dev/null || kill "$pid"
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
	fi
	grep -q " $T/$n/mnt " /proc/mounts && fusermount3 -uz "$T/$n/mnt"
	rm -f "$T/$n.pid"
}

# crash_node NODE: kill -9 and detach the dead mount
crash_node() {
	n=$1
	kill -9 "$(cat "$T/$n.pid")" 2>/dev/null
	sleep 0.2
	fusermount3 -uz "$T/$n/mnt" 2>/dev/null || umount -l "$T/$n/mnt" 2>/dev/null
	rm -f "$T/$n.pid"
}

status_of() { "$MHACTL" -c "$T/$1/mhafs.conf" status 2>/dev/null; }
status_val() { status_of "$1" | sed -n "s/^$2=//p"; }

# wait_synced NODE [seconds]: until NODE's sender is connected and caught up
wait_synced() {
	for _ in $(seq $((${2:-10} * 10))); do
		[ "$(status_val "$1" peer_synced)" = yes ] && return 0
		sleep 0.1
	done
	fail "node $1 did not get in sync with its peer"
}

# start_pair: both nodes up and caught up with each other
start_pair() {
	start_node a
	start_node b
	wait_synced a
	wait_synced b
}

# tree NODE: the replicated state of NODE's backing tree, one line per
# object (type, mode, owner, size) and one per file content hash, sorted;
# node-local paths skipped
TREE_PRUNE='( -name tmp -o -name .mhafs-staging -o -name dovecot.index* -o -name dovecot.list.index* -o -name *.lock -o -name dovecot-uidlist.tmp )'
tree() {
	( cd "$T/$1/back" || exit 1
	  set -f
	  find . -mindepth 1 $TREE_PRUNE -prune -o -type d -printf 'd %m %u:%g %p\n' -o -printf '%y %m %u:%g %s %p\n'
	  find . -mindepth 1 $TREE_PRUNE -prune -o -type f -print0 | xargs -0 -r sha1sum | cut -c1-12,41- | sed 's/^/H /'
	) | sort
}

# age_arrivals: wait out the sibling window of mhafs/arrivals.h (5 s with
# the default sync_timeout_ms; these tests set 1 s, the least is 5 s), so
# that a copy made next of a message delivered through the same node is
# taken for a move, not for a second copy of one delivery
age_arrivals() { sleep 5.1; }

# plant_live_row NODE PATH LIKE: with NODE stopped, make its catalog row of
# PATH live again, with the HLC and origin of LIKE's row (as a delivery
# left it), and have the digest tree rebuilt from the catalog at start
plant_live_row() {
	local db=$T/$1/state/journal.db
	sqlite3 "$db" "UPDATE catalog SET deleted = 0, (hlc, origin) =
		(SELECT hlc, origin FROM catalog WHERE path = '$3') WHERE path = '$2';
		UPDATE mtree_meta SET built = 0" || fail "cannot plant node $1's stale row of $2"
	[ "$(sqlite3 "$db" "SELECT deleted FROM catalog WHERE path = '$2'")" = 0 ] ||
		fail "node $1: the plant of $2 did not take"
}

# converge [seconds]: wait until both trees are equal
converge() {
	for _ in $(seq $((${1:-15} * 5))); do
		[ "$(tree a)" = "$(tree b)" ] && return 0
		sleep 0.2
	done
	diff <(tree a) <(tree b) | head -20
	fail "trees did not converge"
}

# walks NODE: how many reconciliation walks NODE has logged;
# wait_walk NODE COUNT: until it has logged more than COUNT
walks() { grep -c "reconcile: with peer" "$T/$1.log"; }
wait_walk() {
	for _ in $(seq 100); do [ "$(walks "$1")" -gt "$2" ] && return 0; sleep 0.1; done
	fail "node $1 did not walk again"
}
# quiet_after_restart NODE WATCHER: restart NODE; WATCHER's next walk must
# find no difference (converged, and nothing left to resend)
quiet_after_restart() {
	local before last
	before=$(walks "$2")
	stop_node "$1"
	start_node "$1"
	wait_walk "$2" "$before"
	last=$(grep "reconcile: with peer" "$T/$2.log" | tail -1)
	case $last in *" 0 differences"*) ;; *) fail "node $2's walk after $1 restarted still finds: $last" ;; esac
}

# stop_and_check: stop both nodes; each catalog must match its store
# (mhactl check)
stop_and_check() {
	local n out
	stop_node a
	stop_node b
	for n in a b; do
		out=$("$MHACTL" -c "$T/$n/mhafs.conf" check 2>&1) || fail "node $n: mhactl check: $(echo "$out" | head -5)"
	done
}

# mkmaildir NODE DIR: a Maildir (tmp/, new/, cur/) on NODE's mount
mkmaildir() { mkdir -p "$T/$1/mnt/$2/tmp" "$T/$1/mnt/$2/new" "$T/$1/mnt/$2/cur"; }

# deliver NODE DIR NAME [SIZE]: Maildir delivery on NODE's mount
deliver() {
	mkmaildir "$1" "$2"
	head -c "${4:-4096}" /dev/urandom > "$T/$1/mnt/$2/tmp/$3"
	mv "$T/$1/mnt/$2/tmp/$3" "$T/$1/mnt/$2/new/$3"
}
