#!/bin/sh
# failover.sh: failover-time benchmark (prints figures, never fails on
# them).  In the same three namespaces as tests/hb (two nodes and a client
# on one bridge, VIP 192.0.2.100/24) it measures, over N trials per fault
# type, the time from the fault to the first successful IMAP connection on
# the VIP, for mhafs's heartbeatd (default timings) and for keepalived
# (Debian package) with its default VRRP timing (advert_int 1) on the same
# VIP.  Fault types: power loss (every process of the VIP owner killed with
# SIGKILL) and link down (the owner's bridge port down); heartbeatd also
# for IMAP stopped (keepalived has no health check by default).
# Usage: bench/failover.sh [-n TRIALS] [--only heartbeatd|keepalived]
# Needs root; run from a build tree or set top_srcdir / top_builddir.
set -u
here=$(cd "$(dirname "$0")/.." && pwd)
top_srcdir=${top_srcdir:-$here}
top_builddir=${top_builddir:-$here/_build}
export top_srcdir top_builddir
trials=20
only=
while [ $# -gt 0 ]; do
	case $1 in
	-n) trials=$2; shift 2 ;;
	--only) only=$2; shift 2 ;;
	*) echo "usage: $0 [-n TRIALS] [--only heartbeatd|keepalived]" >&2; exit 2 ;;
	esac
done
. "$top_srcdir/tests/hb/lib.sh"
need_root
[ -x "$HB" ] || { echo "build first: $HB missing" >&2; exit 1; }
setup_net
RES=$T/results

owner() { if any_vip a; then echo a; elif any_vip b; then echo b; else echo none; fi; }

# One trial: fault the current owner, time the client to the survivor.
trial() { # impl type
	o=$(owner)
	[ "$o" = none ] && { sleep 2; o=$(owner); }
	[ "$o" = none ] && { echo "# no VIP owner, trial skipped"; return 1; }
	s=$(peer_of "$o")
	t0=$(date +%s%N)
	case $2 in
	power) fault_power_$1 "$o" ;;
	link) ip -n "$NSC" link set "p$o" down ;;
	imap) stop -KILL "imap-$o" ;;
	esac
	out=$(ip netns exec "$NSC" "$PY" "$HERE/client.py" "$VIP" 143 30 "$s" "$t0") || out="fail 30000"
	echo "${out#* }" >>"$RES.$1.$2"
	# repair the failed node and let it rejoin as the backup
	case $2 in
	power) # the node comes back from a power cycle without the VIP
		ip netns exec "$(ns_of "$o")" "$VIPCTL" del "$VIP" dev "$(dev_of "$o")" >/dev/null
		svc_start "$o"; start_$1 "$o" ;;
	link) ip -n "$NSC" link set "p$o" up ;;
	imap) imap_start "$o" ;;
	esac
	settle_$1 "$o"
}

# ---- heartbeatd ----
start_heartbeatd() { hb_start "$1"; }
# every process of the node at once, then reap them
killall_node() { # node names...
	n=$1
	shift
	pids=
	for p in "$@"; do [ -f "$T/$p-$n.pid" ] && pids="$pids $(cat "$T/$p-$n.pid")"; done
	# shellcheck disable=SC2086
	kill -KILL $pids 2>/dev/null
	for p in "$@"; do stop -KILL "$p-$n"; done
}
fault_power_heartbeatd() { killall_node "$1" hb imap smtp mhafs; }
settle_heartbeatd() { # the repaired node is SECONDARY again
	i=0
	while [ "$(role "$1")" != SECONDARY ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 0.5
}

# ---- keepalived ----
ka_conf() { # node
	mkdir -p "$T/$1"
	cat >"$T/$1/keepalived.conf" <<EOK
global_defs {
	router_id mhhb_$1
}
vrrp_instance mhhb {
	state BACKUP
	nopreempt
	interface $(dev_of "$1")
	virtual_router_id 51
	priority $([ "$1" = a ] && echo 150 || echo 100)
	advert_int 1
	virtual_ipaddress {
		$VIP/24 dev $(dev_of "$1")
	}
}
EOK
}
start_keepalived() {
	bg "ka-$1" "$(ns_of "$1")" keepalived -n -l -G -P -f "$T/$1/keepalived.conf" \
		-p "$T/$1/ka.pid" -r "$T/$1/ka-vrrp.pid" -c "$T/$1/ka-chk.pid"
}
fault_power_keepalived() {
	vp=$(cat "$T/$1/ka-vrrp.pid" 2>/dev/null)
	[ -n "$vp" ] && kill -KILL "$vp" 2>/dev/null
	killall_node "$1" ka imap smtp mhafs
}
settle_keepalived() { sleep 3; }

run_impl() { # impl types...
	impl=$1
	shift
	for n in a b; do svc_start $n; done
	sleep 0.3
	for n in a b; do start_$impl $n; done
	i=0
	while [ "$(owner)" = none ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
	sleep 2
	note "$impl: VIP on node $(owner)"
	for ty in "$@"; do
		k=0
		while [ $k -lt "$trials" ]; do
			trial "$impl" "$ty" || true
			k=$((k + 1))
		done
		note "$impl $ty: $k trials done"
	done
	for n in a b; do
		case $impl in
		heartbeatd) stop "hb-$n" ;;
		keepalived) stop "ka-$n" ;;
		esac
		for p in imap smtp mhafs; do stop "$p-$n"; done
		ip netns exec "$(ns_of $n)" "$VIPCTL" del "$VIP" dev "$(dev_of $n)" >/dev/null 2>&1
	done
}

stats() { # file label
	[ -f "$1" ] || return 0
	sort -n "$1" | awk -v label="$2" '
		{ v[NR] = $1; if ($1 >= 30000) failed++ }
		END {
			n = NR; if (!n) exit
			p50 = v[int((n - 1) * 0.50) + 1]; p99 = v[int((n - 1) * 0.99) + 1]
			printf "%-24s trials %3d  p50 %6d ms  p99 %6d ms  max %6d ms%s\n",
				label, n, p50, p99, v[n], failed ? "  (" failed " never reconnected)" : ""
		}'
}

if [ "$only" != keepalived ]; then
	for n in a b; do write_conf $n; done
	run_impl heartbeatd power link imap
fi
if [ "$only" != heartbeatd ]; then
	if command -v keepalived >/dev/null; then
		for n in a b; do ka_conf $n; done
		run_impl keepalived power link
	else
		note "keepalived not installed: skipped (tools/install-deps installs it)"
	fi
fi
if [ -n "${MHHB_BENCH_LOGS:-}" ]; then
	for f in "$T"/*.log; do echo "---- $f"; tail -n 40 "$f"; done
fi
echo "failover time, fault to first IMAP connection on the VIP:"
for impl in heartbeatd keepalived; do
	for ty in power link imap; do stats "$RES.$impl.$ty" "$impl $ty"; done
done
