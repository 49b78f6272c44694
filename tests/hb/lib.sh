# lib.sh: shared set-up for the heartbeatd integration tests (sourced).
# Builds three network namespaces on one bridge, all in 192.0.2.0/24:
#   node a  192.0.2.1 (dev a0, node_id 1)    node b  192.0.2.2 (dev b0, node_id 2)
#   client  192.0.2.3 on the bridge br0 (also the witness)
# VIPs 192.0.2.100/24 and 2001:db8::100/64 (the client has 2001:db8::3).  Each node runs heartbeatd, two greeting responders
# standing in for IMAP (143) and SMTP (25), and a stub of mhafs's control
# socket.  Everything started is recorded by PID and killed by the EXIT trap,
# and the namespaces are deleted, whether the test passes or fails.

HB=${top_builddir:?}/heartbeatd/heartbeatd
VIPCTL=$top_builddir/vipctl/vipctl
PY=/usr/bin/python3
HERE=${top_srcdir:?}/tests/hb
VIP=192.0.2.100
VIP6=2001:db8::100   # IPv6 documentation prefix, only inside the namespaces
NSA=mhhb-$$-a
NSB=mhhb-$$-b
NSC=mhhb-$$-c
T=

skip() { echo "SKIP: $*"; exit 77; }
fail() { echo "FAIL: $*"; dump_logs; exit 1; }
note() { echo "# $*"; }

need_root() {
	[ "$(id -u)" = 0 ] || skip "needs root (network namespaces)"
	[ -x "$PY" ] || skip "needs /usr/bin/python3"
	ip netns add "mhhb-$$-probe" 2>/dev/null || skip "cannot create network namespaces"
	ip netns del "mhhb-$$-probe"
}

ns_of() { case $1 in a) echo "$NSA" ;; b) echo "$NSB" ;; c) echo "$NSC" ;; esac; }
dev_of() { echo "${1}0"; }
ip_of() { case $1 in a) echo 192.0.2.1 ;; b) echo 192.0.2.2 ;; c) echo 192.0.2.3 ;; esac; }
peer_of() { case $1 in a) echo b ;; b) echo a ;; esac; }

# Start a command in a namespace in the background, recording its PID
# under a name so it can be killed later: bg NAME NS CMD...
bg() {
	name=$1 ns=$2
	shift 2
	# one process per name: a second start (svc_start again after
	# svc_stop, which leaves the mhafs stub) would lose the first's pid
	[ -f "$T/$name.pid" ] && stop "$name"
	ip netns exec "$ns" "$@" >>"$T/$name.log" 2>&1 &
	echo $! >"$T/$name.pid"
}

# kill [-SIG] NAME: signal a process we started, and wait for it.
stop() {
	sig=-TERM
	case $1 in -*) sig=$1; shift ;; esac
	[ -f "$T/$1.pid" ] || return 0
	pid=$(cat "$T/$1.pid")
	rm -f "$T/$1.pid"
	kill "$sig" "$pid" 2>/dev/null || return 0
	i=0
	while kill -0 "$pid" 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
	wait "$pid" 2>/dev/null || true
}

cleanup() {
	rc=$?
	if [ -n "$T" ] && [ -d "$T" ]; then
		# SIGTERM first, so a sanitizer build reports leaks at exit
		for f in "$T"/*.pid; do
			[ -f "$f" ] || continue
			stop -TERM "$(basename "$f" .pid)"
		done
		# a sanitizer report in any daemon's log fails the test
		if [ "$rc" = 0 ] && grep -l -E 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' \
			"$T"/*.log >/dev/null 2>&1; then
			echo "FAIL: sanitizer report:"
			grep -h -A12 -E 'ERROR: (Address|Leak|UndefinedBehavior)Sanitizer|runtime error:' "$T"/*.log | head -40
			rc=1
		fi
	fi
	for ns in "$NSA" "$NSB" "$NSC"; do ip netns del "$ns" 2>/dev/null || true; done
	[ -n "$T" ] && rm -rf "$T"
	exit $rc
}

dump_logs() {
	for n in a b; do
		[ -f "$T/hb-$n.log" ] || continue
		echo "---- heartbeatd $n (last 25 lines) ----"
		tail -n 25 "$T/hb-$n.log"
		echo "---- status $n ----"
		status "$n" 2>&1 | head -30
	done
}

write_conf() { # node [extra lines...]
	n=$1
	shift
	mkdir -p "$T/$n/mnt"
	cat >"$T/$n/mhafs.conf" <<EOC
# written by tests/hb/lib.sh
node_name = $n
node_id = $([ "$n" = a ] && echo 1 || echo 2)
peer_name = $(peer_of "$n")
peer_address = $(ip_of "$(peer_of "$n")")
vip = $VIP/24 $VIP6/64
vip_interface = $(dev_of "$n")
heartbeat_interface = $(dev_of "$n")
cluster_key_file = $T/cluster.key
mount_point = $T/$n/mnt
witness = 192.0.2.3
health_interval_ms = 300
health_imap_port = 143
health_smtp_port = 25
role_hook = $T/hook
heartbeat_socket = $T/$n/hb.sock
control_socket = $T/$n/mhafs.sock
log_target = stderr
log_level = info
EOC
	for l in "$@"; do echo "$l" >>"$T/$n/mhafs.conf"; done
}

setup_net() {
	T=$(mktemp -d /tmp/mhhb.XXXXXX)
	trap cleanup EXIT INT TERM
	ip netns add "$NSA" && ip netns add "$NSB" && ip netns add "$NSC" || fail "netns add"
	ip -n "$NSC" link add br0 type bridge
	ip link add a0 netns "$NSA" type veth peer name pa netns "$NSC"
	ip link add b0 netns "$NSB" type veth peer name pb netns "$NSC"
	ip -n "$NSC" link set pa master br0
	ip -n "$NSC" link set pb master br0
	for l in br0 pa pb lo; do ip -n "$NSC" link set "$l" up; done
	ip -n "$NSC" addr add 192.0.2.3/24 dev br0
	ip -n "$NSC" addr add 2001:db8::3/64 dev br0 nodad
	for n in a b; do
		ns=$(ns_of $n)
		ip -n "$ns" addr add "$(ip_of $n)/24" dev "$(dev_of $n)"
		ip -n "$ns" link set lo up
		ip -n "$ns" link set "$(dev_of $n)" up
	done
	# the bridge forwards at once (no STP learning delay)
	ip -n "$NSC" link set br0 type bridge forward_delay 0 stp_state 0 2>/dev/null || true
	head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$T/cluster.key"
	chmod 600 "$T/cluster.key"
	cat >"$T/hook" <<EOH
#!/bin/sh
echo "\$1 \$2" >>"$T/\${MHAFS_NODE:-x}.roles"
EOH
	chmod +x "$T/hook"
}

imap_start() { bg "imap-$1" "$(ns_of "$1")" "$PY" "$HERE/responder.py" 143 "* OK IMAP ready" "$1"; }
svc_start() { # node
	ns=$(ns_of "$1")
	imap_start "$1"
	bg "smtp-$1" "$ns" "$PY" "$HERE/responder.py" 25 "220 mail ESMTP ready" "$1"
	bg "mhafs-$1" "$ns" "$PY" "$HERE/mhafs_stub.py" "$T/$1/mhafs.sock" "$T/$1/mhafs.lines"
	svc_wait "$1"
}
# svc_wait NODE: until the node's stand-in IMAP and SMTP servers accept and
# its mhafs stub listens, so that a heartbeatd started next does not fail
# its first health check on a loaded machine (which would start it in
# FAULT and give the peer the primary role)
svc_wait() {
	i=0
	until ip netns exec "$(ns_of "$1")" bash -c 'exec 3<>/dev/tcp/127.0.0.1/143 && exec 4<>/dev/tcp/127.0.0.1/25' \
		2>/dev/null && [ -S "$T/$1/mhafs.sock" ]; do
		i=$((i + 1))
		[ "$i" -lt 100 ] || fail "node $1's stand-in servers did not start within 10 s"
		sleep 0.1
	done
}
svc_stop() { stop "${2:--TERM}" "imap-$1"; stop "${2:--TERM}" "smtp-$1"; }

hb_start() { # node
	bg "hb-$1" "$(ns_of "$1")" env MHAFS_NODE="$1" "$HB" -c "$T/$1/mhafs.conf"
}

status() { "$HB" -s "$T/$1/hb.sock" --status; }
role() { status "$1" 2>/dev/null | sed -n 's/^role: //p'; }
counter() { status "$1" 2>/dev/null | sed -n "s/^counters:.* $2=\([0-9]*\).*/\1/p"; }

wait_role() { # node role seconds
	i=0
	while [ $i -lt $(($3 * 10)) ]; do
		[ "$(role "$1")" = "$2" ] && return 0
		sleep 0.1
		i=$((i + 1))
	done
	fail "node $1 is $(role "$1"), not $2, after $3 s"
}

has_vip() { # node: holds both VIPs (IPv4 and IPv6); any_vip: holds either
	ip netns exec "$(ns_of "$1")" "$VIPCTL" show "$VIP" dev "$(dev_of "$1")" >/dev/null 2>&1 &&
		ip netns exec "$(ns_of "$1")" "$VIPCTL" show "$VIP6" dev "$(dev_of "$1")" >/dev/null 2>&1
}
any_vip() {
	ip netns exec "$(ns_of "$1")" "$VIPCTL" show "$VIP" dev "$(dev_of "$1")" >/dev/null 2>&1 ||
		ip netns exec "$(ns_of "$1")" "$VIPCTL" show "$VIP6" dev "$(dev_of "$1")" >/dev/null 2>&1
}
mac_of() { ip -n "$(ns_of "$1")" link show "$(dev_of "$1")" | sed -n 's/.*link\/ether \([0-9a-f:]*\).*/\1/p'; }

# Exactly one node holds the VIP, it is the expected one, and the client's
# neighbour entry for the VIP points at it.  Waits up to 5 s to settle,
# then demands it stays so for a second.
one_owner() { # node
	other=$(peer_of "$1")
	i=0
	while [ $i -lt 50 ]; do
		if has_vip "$1" && ! any_vip "$other"; then break; fi
		sleep 0.1
		i=$((i + 1))
	done
	sleep 1
	has_vip "$1" || fail "node $1 does not hold the VIP"
	any_vip "$other" && fail "both nodes hold a VIP"
	for v in "$VIP" "$VIP6"; do
		ip netns exec "$NSC" "$PY" "$HERE/client.py" "$v" 143 5 "$1" >/dev/null ||
			fail "client cannot reach the VIP $v on node $1"
		got=$(ip -n "$NSC" neigh show "$v" | sed -n 's/.*lladdr \([0-9a-f:]*\).*/\1/p')
		[ "$got" = "$(mac_of "$1")" ] || fail "client's neighbour entry for $v is '$got', not node $1 ($(mac_of "$1"))"
	done
	note "exactly one VIP owner: node $1 ($(role "$1")), peer $(role "$other"); client neighbour -> $got"
}

# Measure a fault: run "$@" (the fault), then time the client from the
# moment the fault began until the survivor greets on the VIP (IMAP), then
# check SMTP too.
measure() { # label survivor cmd...
	label=$1 surv=$2
	shift 2
	t0=$(date +%s%N)
	"$@"
	out=$(ip netns exec "$NSC" "$PY" "$HERE/client.py" "$VIP" 143 20 "$surv" "$t0") ||
		fail "$label: $out"
	ip netns exec "$NSC" "$PY" "$HERE/client.py" "$VIP" 25 5 "$surv" >/dev/null ||
		fail "$label: SMTP on the VIP not answered by $surv"
	echo "failover[$label]: ${out#* } ms from fault to first IMAP connection on node $surv"
}
