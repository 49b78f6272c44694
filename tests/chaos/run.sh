#!/bin/bash
# tests/chaos/run.sh: the fault-injection run of issue 6.  It builds a
# two-node cluster (tests/e2e/lib.sh: namespaces, mhafs replicating in sync
# mode, Dovecot, Postfix, heartbeatd with the VIP), drives mail load through
# the VIP (loadgen.py) while a nemesis applies a fault schedule drawn from a
# seed, heals everything, waits for the nodes to converge, runs checker.py
# on both backing stores and both IMAP views and prints the verdict.
#
# Both nodes serve (issue 15, tests/e2e/lib-balance.sh): HAProxy on both
# nodes bound to the VIP, Postfix and Dovecot behind PROXY v2 listeners,
# heartbeatd's agent and node table, the home-node passdb.  A fault that
# restarts a node's processes starts its balancer parts again too (a crash
# of the node kills its HAProxy).  CHAOS_BALANCE=0: the VIP holder alone
# serves, as before issue 15.
#
# Queued mail (issue 17, tests/queue/lib.sh): each node's Postfix queue is
# on the store (queue_on_store, mhafs-queue prestart before every Postfix
# start, heartbeatd's role_hook runs mhafs-queue hook, so a node that dies
# has its queue delivered by the survivor), and one message in
# CHAOS_OUTGOING (5; 0: none, and the queue stays local) goes to a remote
# address that both nodes relay to an SMTP sink in a namespace of its own,
# which defers (451) for 6 s out of every 16 while the load runs and
# accepts everything once it stops.
#
#   run.sh [--seconds N] [--seed S] [--keep]
#   run.sh --short [--seed S]   every fault kind once, no more (~4 min)
#   run.sh --long [--seed S]    an hour of faults (--seconds 3600)
#   run.sh --plan [--seconds N] [--seed S]   print the schedule, touch nothing
#
# Node 2's backing dir is on its own small tmpfs, so that the nemesis can
# fill it.  Every fault kind is applied once (in a seeded order) before any
# repeats; faults keep coming until N seconds have passed.  Exit 0 when the
# checker finds nothing, 1 otherwise, 77 when the machine cannot run it.
set -u
. "${top_srcdir:-$(cd "$(dirname "$0")/../.." && pwd)}/tests/e2e/lib.sh"
. "$E2E_SRC/tests/e2e/lib-balance.sh"
# The survivor takes a silent peer's queue over only after the cut-off
# node has had time to fence itself (mhafs-queue(8), FENCING: 11 s with
# these timings), as in production (30 s): a partition of the run (3 to
# 8 s) then never has two Postfix instances on one queue.  Outages that
# long are rare here; tests/queue/ covers the takeover itself.
Q_DELAY=${Q_DELAY:-12}
. "$E2E_SRC/tests/queue/lib.sh"

SECONDS_WANTED=150 SEED=$(( $(date +%s) % 100000 )) PLAN=""
while [ $# -gt 0 ]; do
	case "$1" in
	--seconds) SECONDS_WANTED=${2:-}; shift 2 ;;
	--seed) SEED=${2:-}; shift 2 ;;
	--keep) E2E_KEEP=1; shift ;;
	--plan) PLAN=1; shift ;;
	--short) SECONDS_WANTED=0; shift ;;
	--long) SECONDS_WANTED=3600; shift ;;
	*) echo "usage: run.sh [--seconds N | --short | --long] [--seed S] [--keep] [--plan]" >&2; exit 2 ;;
	esac
done
case "$SECONDS_WANTED$SEED" in ''|*[!0-9]*)
	echo "run.sh: --seconds and --seed take non-negative integers" >&2; exit 2 ;; esac

BALANCE=${CHAOS_BALANCE:-1}
case "$BALANCE" in 0|1) ;; *) echo "run.sh: CHAOS_BALANCE is 0 or 1" >&2; exit 2 ;; esac
OUTGOING=${CHAOS_OUTGOING:-5}
case "$OUTGOING" in ''|*[!0-9]*) echo "run.sh: CHAOS_OUTGOING is a number (0: no outgoing mail)" >&2; exit 2 ;; esac
OUT_TO=ext@remote.test
VIP=192.0.2.100
USERS="alice@d1.test carol@d2.test"
# both nodes serve: one user at home on each node (with equal weights,
# alice's home is n1 and dave's n2), one delivered by LMTP (Postfix relays
# it to its home node), one by Postfix's virtual(8) on whichever node took
# the mail
[ "$BALANCE" = 0 ] || USERS="alice@d1.test dave@d2.test"
KINDS="kill-mhafs kill-heartbeatd kill-dovecot kill-postfix crash-node partition disk-full clock-offset restart-mhafs restart-heartbeatd restart-dovecot restart-postfix"
E2E_SYNC_TIMEOUT_MS=2000
FULLFS=""
if [ -n "$PLAN" ]; then
	# The same draws as the nemesis below, in the same order, with the
	# time a fault takes estimated (hold + 5 s to recover; clock-offset
	# twice that), since after the first round the wall clock decides how
	# many more faults come.
	RANDOM=$SEED
	rnd() { R=$(( RANDOM % ($2 - $1 + 1) + $1 )); }
	read -r -a order <<<"$KINDS"
	for ((i = ${#order[@]} - 1; i > 0; i--)); do
		rnd 0 "$i"; k=${order[i]}; order[i]=${order[R]}; order[R]=$k
	done
	t=0 first=${#order[@]}
	read -r -a kinds <<<"$KINDS"
	while [ "$first" -gt 0 ] || [ "$t" -lt "$SECONDS_WANTED" ]; do
		if [ "$first" -gt 0 ]; then k=${order[${#order[@]} - first]}; first=$((first - 1))
		else rnd 0 $((${#kinds[@]} - 1)); k=${kinds[R]}; fi
		rnd 1 2; n=$R; rnd 2 6; pause=$R; rnd 3 8; hold=$R
		[ "$k" != disk-full ] || n=2
		extra=""
		if [ "$k" = clock-offset ]; then
			rnd 0 1; off=$(( R * 2 - 1 )); rnd 5 60; extra=" clock_offset_ms=$(( off * R * 1000 ))"
		fi
		t=$((t + pause))
		printf '~%4ss %s node=%s hold=%ss%s\n' "$t" "$k" "$n" "$hold" "$extra"
		t=$((t + hold + 5))
		[ "$k" != clock-offset ] || t=$((t + 5))
	done
	exit 0
fi
chaos_cleanup() {
	local rc=$?
	[ -z "${LOADPID:-}" ] || { kill "$LOADPID" 2>/dev/null; wait "$LOADPID" 2>/dev/null; }
	[ -z "${TAPPID:-}" ] || { kill "$TAPPID" 2>/dev/null; wait "$TAPPID" 2>/dev/null; }
	[ -z "${BTAPPID:-}" ] || { kill "$BTAPPID" 2>/dev/null; wait "$BTAPPID" 2>/dev/null; }
	[ -z "${SINKTOGPID:-}" ] || { kill "$SINKTOGPID" 2>/dev/null; wait "$SINKTOGPID" 2>/dev/null; }
	local p
	for p in ${CONVPIDS:-}; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
	# Node 2's store goes with its tmpfs: keep a copy beside the logs.
	if [ "$rc" != 0 ] && [ "$rc" != 77 ] && [ -n "$FULLFS" ] && [ -d "$FULLFS/backing" ]; then
		cp -a "$FULLFS/backing" "$E2E_TMP/n2-backing" 2>/dev/null ||
			say "could not copy node 2's store out of $FULLFS"
	fi
	e2e_cleanup "$rc"
	if [ -n "$FULLFS" ] && mountpoint -q "$FULLFS"; then
		umount "$FULLFS" || umount -l "$FULLFS"
	fi
	[ -z "$FULLFS" ] || rmdir "$FULLFS" 2>/dev/null
	exit "$rc"
}
e2e_init chaos
trap chaos_cleanup EXIT
e2e_require_mail
e2e_require_mhafs
[ -x "$E2E_HB_BIN" ] || e2e_skip "no heartbeatd at $E2E_HB_BIN"
[ -x "$E2E_BUILD/tools/mhactl" ] || e2e_skip "no mhactl"
if [ "$OUTGOING" != 0 ]; then
	[ -x "$QTOOL" ] || e2e_skip "no $QTOOL"
	[ -x "$E2E_BUILD/tools/mhafsck" ] || e2e_skip "no mhafsck"
	command -v flock >/dev/null 2>&1 || e2e_skip "flock not installed"
	# before each start of a node's Postfix: the queue on the store and the
	# route to the sink (tests/queue/lib.sh)
	E2E_MAIL_PREP=q_prep
fi
HAPROXY_BIN=""
if [ "$BALANCE" != 0 ]; then
	e2e_balance_init "$VIP"
	HAPROXY_BIN=$(readlink -f "$(command -v haproxy)")
fi
e2e_vmail
CH=$E2E_TMP/chaos
mkdir -p "$CH" || e2e_die "mkdir $CH"
RECORD=$CH/history.jsonl FAULTS=$CH/faults.log
: >"$RECORD"; : >"$FAULTS"
say() { printf 'chaos: %s\n' "$*" >&2; }

mnt() { printf '%s/n%s-mnt' "$E2E_TMP" "$1"; }
backing() { [ "$1" = 2 ] && printf '%s/backing' "$FULLFS" || printf '%s/n1-backing' "$E2E_TMP"; }
state() { printf '%s/n%s-state' "$E2E_TMP" "$1"; }
OFFSET1=0 OFFSET2=0
BOOTS=0

# rotate FILE: keep the log of an earlier life (lib.sh truncates some).
rotate() { [ -s "$1" ] || return 0; BOOTS=$((BOOTS + 1)); mv "$1" "$1.$BOOTS"; }

# proc_in N EXE: pids of node N's processes running EXE.
proc_in() {
	local p want
	want=$(readlink -f "$2")
	for p in $(ip netns pids "$(e2e_ns "$1")" 2>/dev/null); do
		[ "$(readlink -f "/proc/$p/exe" 2>/dev/null)" = "$want" ] && printf '%s\n' "$p"
	done
}

mhafs_up() { # N: mount node N's mhafs (with its clock offset)
	local n=$1 off
	off=$([ "$n" = 1 ] && echo "$OFFSET1" || echo "$OFFSET2")
	E2E_MHAFS_CONF_EXTRA="$(e2e_peer_conf "$n" $((3 - n)))
$(e2e_hb_conf "$n" $((3 - n)) "$VIP/24")
$([ "$BALANCE" = 0 ] || e2e_balance_conf "$n" "$(mnt "$n")")
$([ "$OUTGOING" = 0 ] || q_conf "$n")
clock_offset_ms = $off"
	rotate "$(state "$n")/mhafs.log"
	e2e_mhafs_mount "$n" "$(backing "$n")" "$(mnt "$n")" "$(state "$n")"
	E2E_MHAFS_CONF_EXTRA=""
}
hb_up() { rotate "$(e2e_node_dir "$1")/log/heartbeatd.log"; e2e_hb_start "$1"; }
hb_pid() { proc_in "$1" "$E2E_HB_BIN"; }
# haproxy_up N: node N's HAProxy (balance mode), unless it runs.  It does
# not use the mount, so only a crash of the whole node stops it.
haproxy_pid() { [ "$BALANCE" = 0 ] || proc_in "$1" "$HAPROXY_BIN"; }
haproxy_up() {
	local d
	[ "$BALANCE" != 0 ] && [ -z "$(haproxy_pid "$1")" ] || return 0
	d=$(e2e_node_dir "$1")
	rotate "$d/log/haproxy.log"
	# its sockets from an earlier life: the start waits for a new one
	rm -f "$d/run/haproxy.sock" "$d/run/haproxy.pid"
	e2e_haproxy_start "$1"
}
# dovecot_leftovers N: Dovecot processes still running in node N's namespace.
dovecot_leftovers() {
	local p
	for p in $(ip netns pids "$(e2e_ns "$1")" 2>/dev/null); do
		case "$(readlink -f "/proc/$p/exe" 2>/dev/null)" in
		/usr/sbin/dovecot|/usr/lib/dovecot/*) printf '%s\n' "$p" ;;
		esac
	done
}
dovecot_up() {
	local d n=$1 i p left
	d=$(e2e_node_dir "$n")
	p=$(master_pid "$n" dovecot)
	[ -z "$p" ] || e2e_wait 20 reaped "$p"
	# As for Postfix below (what a supervisor does): children of a master
	# killed with -9 that are in a session live on and hold its listening
	# sockets.  Seen once: LMTP children whose user lookups failed answered
	# each RCPT with 451 on Postfix's cached connections, kept busy by the
	# retries of queued mail, and the new master could not bind port 24.
	# TERM, and KILL after 5 s, as systemd stops what is left of a unit.
	left=$(dovecot_leftovers "$n")
	if [ -n "$left" ]; then
		say "node $n: ending $(printf '%s\n' $left | wc -l) Dovecot processes left by the old master"
		# shellcheck disable=SC2086
		kill -TERM $left 2>/dev/null
		for p in $left; do
			e2e_wait 5 e2e_gone "$p" || kill -KILL "$p" 2>/dev/null
			e2e_wait 10 e2e_gone "$p" || say "pid $p survived kill -9 for 10 s"
		done
	fi
	for i in 1 2 3 4 5 6 7 8 9 10; do
		e2e_in "$(e2e_ns "$n")" dovecot -c "$d/conf/dovecot.conf" </dev/null >>"$d/log/dovecot.log" 2>&1 &&
			e2e_wait 10 e2e_port_open "$n" 143 && return 0
		sleep 1
	done
	e2e_die "dovecot did not restart on node $n"
}
# postfix_leftovers N: Postfix daemons of node N's own instance still
# running in its namespace (not those of a takeover instance delivering the
# peer's queue, which work in a queue directory under queue-local/).
postfix_leftovers() {
	local p tk
	tk=$(e2e_node_dir "$1")/queue-local/
	for p in $(ip netns pids "$(e2e_ns "$1")" 2>/dev/null); do
		case "$(readlink -f "/proc/$p/cwd" 2>/dev/null)/" in "$tk"*) continue ;; esac
		case "$(readlink -f "/proc/$p/exe" 2>/dev/null)" in
		/usr/lib/postfix/sbin/*) printf '%s\n' "$p" ;;
		esac
	done
}
postfix_up() {
	local d n=$1 i p left
	d=$(e2e_node_dir "$n")
	p=$(master_pid "$n" postfix)
	[ -z "$p" ] || e2e_wait 20 reaped "$p"
	# What a supervisor does before it starts a service again (systemd kills
	# the rest of the unit's processes when its main process dies): end what
	# is left of the old instance.  Children of a master killed with -9 live
	# on while they are in a session, holding the old listening sockets, and
	# Postfix binds with SO_REUSEPORT, so the new master's sockets would
	# share each port with them: the kernel would hand part of the new
	# connections to a socket nobody accepts on (they hung until the orphans
	# went, and the node's SMTP health check failed at random meanwhile).
	left=$(postfix_leftovers "$n")
	if [ -n "$left" ]; then
		say "node $n: ending $(printf '%s\n' $left | wc -l) Postfix processes left by the killed master"
		# shellcheck disable=SC2086
		kill -KILL $left 2>/dev/null
		for p in $left; do e2e_wait 10 e2e_gone "$p" || say "pid $p survived kill -9 for 10 s"; done
	fi
	# as Postfix's unit does before every start (mhafs-queue prestart)
	[ -z "${E2E_MAIL_PREP:-}" ] || "$E2E_MAIL_PREP" "$n" || e2e_die "$E2E_MAIL_PREP $n failed"
	for i in 1 2 3 4 5 6 7 8 9 10; do
		e2e_in "$(e2e_ns "$n")" postfix -c "$d/conf" start </dev/null >>"$d/log/postfix-start.log" 2>&1 &&
			e2e_wait 10 e2e_port_open "$n" 25 && return 0
		sleep 1
	done
	e2e_die "postfix did not restart on node $n"
}
master_pid() { # N dovecot|postfix
	local f
	f=$(e2e_node_dir "$1")/$([ "$2" = dovecot ] && echo run/master.pid || echo spool/pid/master.pid)
	tr -d ' \n' 2>/dev/null <"$f"
}
# node_kill_all N [KEEP_HB]: kill -9 what runs in node N's namespace, then
# detach its (dead or orphaned) FUSE mount as a reboot would.  KEEP_HB
# spares heartbeatd and HAProxy (neither uses the mount).
node_kill_all() {
	local n=$1 keep=${2:-} p pids="" hb=""
	if [ -n "$keep" ]; then
		# shellcheck disable=SC2046
		hb=$(printf '%s ' $(hb_pid "$n") $(haproxy_pid "$n"))
	else
		# started by us in the background: no "Killed" notice from bash
		for p in $(haproxy_pid "$n") $(hb_pid "$n"); do disown "$p" 2>/dev/null; done
	fi
	for p in $(ip netns pids "$(e2e_ns "$n")" 2>/dev/null); do
		case " $hb " in *" $p "*) ;; *) pids="$pids $p" ;; esac
	done
	# shellcheck disable=SC2086
	[ -z "$pids" ] || kill -KILL $pids 2>/dev/null
	for p in $pids; do e2e_wait 10 e2e_gone "$p" || say "pid $p survived kill -9 for 10 s"; done
	e2e_umount "$(mnt "$n")"
	fusermount3 -uz "$(mnt "$n")" 2>/dev/null
	E2E_MAIL=$(printf '%s\n' $E2E_MAIL | grep -vx "$n" | tr '\n' ' ')
}
# reaped PID: not even a zombie (Dovecot's "already running" test, kill(pid,
# 0), counts zombies; a killed daemon's new parent may be slow to reap it).
reaped() { [ ! -e "/proc/$1" ]; }
mail_up() {
	local p
	for p in "$(master_pid "$1" dovecot)" "$(master_pid "$1" postfix)"; do
		[ -z "$p" ] || e2e_wait 20 reaped "$p" || say "node $1: old master $p still not reaped"
	done
	e2e_mail_start "$1" "$(mnt "$1")"
}
# HAProxy before heartbeatd: the VIP may come as soon as heartbeatd runs
boot() { mhafs_up "$1"; mail_up "$1"; haproxy_up "$1"; hb_up "$1"; }

vip_settled() { [ "$(e2e_vip_holder "$VIP" 1 2 | wc -l)" = 1 ] && vip_greets; }
# vip_greets: an SMTP server greets a client of the VIP
vip_greets() {
	e2e_client timeout 3 bash -c "exec 3<>/dev/tcp/$VIP/25 && IFS= read -r -t 2 l <&3 && [[ \$l == 220* ]]" 2>/dev/null
}
# bal_serving: the VIP holder's HAProxy sends new SMTP and IMAP sessions to
# both nodes (balance mode)
bal_serving() {
	local h st n b
	h=$(e2e_vip_holder "$VIP" 1 2)
	case "$h" in [12]) ;; *) return 1 ;; esac
	st=$(e2e_haproxy_cmd "$h" "show stat") || return 1
	for b in smtp imap; do
		for n in 1 2; do
			[ "$(printf '%s\n' "$st" | awk -F, -v b="$b" -v s="n$n" '$1 == b && $2 == s { print $18 }')" = UP ] ||
				return 1
		done
	done
}

# ---- the cluster
e2e_net_client
e2e_cluster_keys 1 2
FULLFS=$(mktemp -d /tmp/chaos-fullfs.XXXXXX) || e2e_die "mktemp"
mount -t tmpfs -o size=64m,mode=0755 chaosfull "$FULLFS" || e2e_die "cannot mount a tmpfs on $FULLFS"
for n in 1 2; do e2e_net_node "$n"; e2e_users "$n" $USERS; done
for n in 1 2; do mhafs_up "$n"; done
for n in 1 2; do e2e_wait 20 e2e_peer_synced "$n" || e2e_die "node $n not in sync with its peer"; done
e2e_store_prepare "$(mnt 1)"
e2e_wait 15 test -d "$(mnt 2)/$E2E_VIRTUAL_DOMAIN" || e2e_die "store layout not replicated"
for n in 1 2; do mail_up "$n"; done
for n in 1 2; do haproxy_up "$n"; done
for n in 1 2; do hb_up "$n"; done
e2e_wait 20 vip_settled || e2e_die "no single node took the VIP"
if [ "$BALANCE" != 0 ]; then
	e2e_wait 60 bal_serving || e2e_die "the VIP holder's HAProxy does not have both nodes up"
	# what each HAProxy thinks of the servers, over time (chaos/balance.log)
	"$E2E_PY" "$E2E_SRC/tests/chaos/baltap.py" "$CH/balance.log" \
		"n1=$(e2e_node_dir 1)/run/haproxy.sock" "n2=$(e2e_node_dir 2)/run/haproxy.sock" &
	BTAPPID=$!
	say "both nodes serve: HAProxy on both, bound to the VIP; users $USERS"
else
	say "one node serves (CHAOS_BALANCE=0): the VIP holder's Postfix and Dovecot"
fi
say "cluster up, VIP on node $(e2e_vip_holder "$VIP" 1 2); seed $SEED, $SECONDS_WANTED s of faults"

# ---- the remote SMTP sink (tests/queue/qmail.py) for outgoing mail: it
# defers 6 s of every 16 while the load runs, then accepts for good.
if [ "$OUTGOING" != 0 ]; then
	SINK_DIR=$CH/sink
	mkdir -p "$SINK_DIR" || e2e_die "cannot create $SINK_DIR"
	: >"$SINK_DIR/received"
	e2e_net_node "$SINK_N"
	setsid nsenter --net="/run/netns/$(e2e_ns "$SINK_N")" -- "$E2E_PY" "$QMAIL" sink --dir "$SINK_DIR" \
		</dev/null >>"$SINK_DIR/sink.log" 2>&1 &
	e2e_wait 10 test -e "$SINK_DIR/listening" || e2e_die "the SMTP sink did not start"
	sink_toggle() {
		while [ ! -e "$CH/stop" ]; do
			rm -f "$SINK_DIR/accept"; echo "$(date '+%F %T') defer" >>"$SINK_DIR/modes.log"; sleep 6
			[ ! -e "$CH/stop" ] || break
			: >"$SINK_DIR/accept"; echo "$(date '+%F %T') accept" >>"$SINK_DIR/modes.log"; sleep 10
		done
		: >"$SINK_DIR/accept"; echo "$(date '+%F %T') accept (load stopped)" >>"$SINK_DIR/modes.log"
	}
	sink_toggle &
	SINKTOGPID=$!
	say "outgoing mail: 1 message in $OUTGOING to $OUT_TO, relayed to the sink at $(e2e_ip "$SINK_N"); queues on the store"
fi

# ---- evidence: each node's journal is pruned as it goes, so copy what it
# holds every 2 s (mhactl opens it read-only) into chaos/journal-nN.txt,
# sorted and without repeats, for tracing a finding to the operations.
journal_tap() {
	local n f
	while :; do
		for n in 1 2; do
			f=$CH/journal-n$n.txt
			"$E2E_BUILD/tools/mhactl" -c "$(e2e_node_dir "$n")/conf/mhafs.conf" journal \
				2>/dev/null | sort >"$f.new"
			sort -m -u "$f" "$f.new" >"$f.tmp" 2>/dev/null && mv "$f.tmp" "$f"
		done
		sleep 2
	done
}
for n in 1 2; do : >"$CH/journal-n$n.txt"; done
journal_tap &
TAPPID=$!

# ---- load
userargs=""
for u in $USERS; do userargs="$userargs --user $u=pw-${u%@*}"; done
# shellcheck disable=SC2086,SC2046
e2e_client "$E2E_PY" "$E2E_SRC/tests/chaos/loadgen.py" --host "$VIP" --record "$RECORD" \
	$userargs --seconds $((SECONDS_WANTED + 600)) --seed "$SEED" --run-id $$ \
	$([ "$BALANCE" = 0 ] || echo --per-connection 5) \
	$([ "$OUTGOING" = 0 ] || echo --outgoing-every "$OUTGOING" --outgoing-to "$OUT_TO") \
	--stop-file "$CH/stop" >"$CH/loadgen.out" 2>&1 &
LOADPID=$!

# ---- the nemesis: RANDOM seeded, so the schedule repeats for a seed
RANDOM=$SEED
# rnd LO HI: R = a number in [LO, HI].  Never call it in a subshell: bash
# reseeds RANDOM there, and the schedule would no longer follow the seed.
rnd() { R=$(( RANDOM % ($2 - $1 + 1) + $1 )); }
declare -A NFAULT=()
# After each heal, how long until both nodes report their peer in sync
# again (both streams caught up), watched in the background through the
# pause before the next fault; one the next fault cuts short is counted
# as cut, not as a time.  One line per heal in chaos/convergence.log.
FAULTNO=0 CONVPIDS=""
conv_watch() { # KIND FAULTNO HEALED_MS
	local i
	for ((i = 0; i < 600; i++)); do
		[ "$(cat "$CH/faultno" 2>/dev/null)" = "$2" ] || { echo "$1 cut" >>"$CH/convergence.log"; return; }
		if e2e_peer_synced 1 && e2e_peer_synced 2; then
			echo "$1 $(( $(e2e_ms) - $3 ))" >>"$CH/convergence.log"
			return
		fi
		sleep 0.2
	done
	echo "$1 timeout" >>"$CH/convergence.log"
}
fault() { # KIND NODE: inject, hold, heal
	local kind=$1 n=$2 hold t0 p
	[ "$kind" != disk-full ] || n=2   # node 2's backing is the small tmpfs
	rnd 3 8; hold=$R
	FAULTNO=$((FAULTNO + 1)); echo "$FAULTNO" >"$CH/faultno"
	t0=$(e2e_ms)
	printf '%s %s node=%s hold=%ss\n' "$(date '+%F %T.%3N')" "$kind" "$n" "$hold" >>"$FAULTS"
	say "fault: $kind on node $n for $hold s"
	case "$kind" in
	kill-mhafs)
		p=$(e2e_mhafs_pid "$(mnt "$n")") && { disown "$p" 2>/dev/null; kill -KILL "$p"; }
		sleep "$hold"
		node_kill_all "$n" keep-hb; mhafs_up "$n"; mail_up "$n" ;;
	kill-heartbeatd)
		p=$(hb_pid "$n"); [ -z "$p" ] || { disown $p 2>/dev/null; kill -KILL $p; }
		sleep "$hold"; hb_up "$n" ;;
	kill-dovecot)
		p=$(master_pid "$n" dovecot); [ -z "$p" ] || kill -KILL "$p"
		sleep "$hold"; dovecot_up "$n" ;;
	kill-postfix)
		p=$(master_pid "$n" postfix); [ -z "$p" ] || kill -KILL "$p"
		sleep "$hold"; postfix_up "$n" ;;
	crash-node)
		p=$(e2e_mhafs_pid "$(mnt "$n")") && disown "$p" 2>/dev/null
		node_kill_all "$n"
		# A rebooted machine comes up without the VIP on its interface.
		ip -n "$(e2e_ns "$n")" addr del "$VIP/24" dev eth0 2>/dev/null
		sleep "$hold"; boot "$n" ;;
	partition)
		ip -n "$(e2e_ns "$n")" link set eth0 down
		sleep "$hold"; ip -n "$(e2e_ns "$n")" link set eth0 up ;;
	disk-full)
		dd if=/dev/zero of="$FULLFS/filler" bs=1M 2>/dev/null
		sleep "$hold"; rm -f "$FULLFS/filler" ;;
	clock-offset)
		# The HLC's injectable offset, read at mhafs start: a restart of
		# the node's services with the offset, later one without.
		local off
		rnd 0 1; off=$(( R * 2 - 1 ))
		rnd 5 60; off=$(( off * R * 1000 ))
		say "  clock_offset_ms = $off on node $n"
		eval "OFFSET$n=$off"
		graceful_restart "$n"
		sleep "$hold"
		eval "OFFSET$n=0"
		graceful_restart "$n" ;;
	restart-mhafs) graceful_restart "$n" ;;
	restart-heartbeatd)
		p=$(hb_pid "$n"); [ -z "$p" ] || { kill -TERM $p; e2e_wait 10 e2e_gone "$p"; }
		hb_up "$n" ;;
	restart-dovecot)
		e2e_stop_pidfile "$(e2e_node_dir "$n")/run/master.pid"; dovecot_up "$n" ;;
	restart-postfix)
		e2e_stop_pidfile "$(e2e_node_dir "$n")/spool/pid/master.pid"; postfix_up "$n" ;;
	esac
	NFAULT[$kind]=$(( ${NFAULT[$kind]:-0} + 1 ))
	printf '%s healed %s after %s ms\n' "$(date '+%F %T.%3N')" "$kind" $(( $(e2e_ms) - t0 )) >>"$FAULTS"
	conv_watch "$kind" "$FAULTNO" "$(e2e_ms)" &
	CONVPIDS="$CONVPIDS $!"
}
# graceful_restart N: heartbeatd hands the VIP over, the mail servers and
# mhafs stop cleanly, then all start again as at boot.
graceful_restart() {
	local n=$1 p
	p=$(hb_pid "$1"); [ -z "$p" ] || { kill -TERM $p; e2e_wait 10 e2e_gone "$p"; }
	e2e_mail_stop "$n"
	e2e_umount "$(mnt "$n")"
	boot "$n"
}

# The first round: every kind once, in a shuffled order (Fisher-Yates).
read -r -a order <<<"$KINDS"
for ((i = ${#order[@]} - 1; i > 0; i--)); do
	rnd 0 "$i"; k=${order[i]}; order[i]=${order[R]}; order[R]=$k
done
next_fault() { # KIND: a pause, then KIND on a node drawn from the seed
	local k=$1 n
	rnd 1 2; n=$R
	rnd 2 6; sleep "$R"
	fault "$k" "$n"
}
T0=$SECONDS
for k in "${order[@]}"; do next_fault "$k"; done
read -r -a kinds <<<"$KINDS"
while [ $((SECONDS - T0)) -lt "$SECONDS_WANTED" ]; do
	rnd 0 $((${#kinds[@]} - 1))
	next_fault "${kinds[R]}"
done
FAULT_SECS=$((SECONDS - T0))

# ---- heal: every node's services up, one VIP holder, then stop the load
say "healing"
theal=$(e2e_ms)
for n in 1 2; do
	ip -n "$(e2e_ns "$n")" link set eth0 up
	e2e_is_fuse_mount "$(mnt "$n")" || boot "$n"
	haproxy_up "$n"
	[ -n "$(hb_pid "$n")" ] || hb_up "$n"
done
rm -f "$FULLFS/filler"
e2e_wait 30 vip_settled || say "VIP not settled 30 s after healing"
[ "$BALANCE" = 0 ] || e2e_wait 60 bal_serving || say "the VIP holder's HAProxy does not have both nodes up 60 s after healing"
sleep 5
touch "$CH/stop"
wait "$LOADPID"; LOADPID=""
# Converged: both Postfix queues delivered (a 250 from Postfix means "in
# this node's queue") and each node reports its peer in sync.
# Postfix's own notices to the postmaster (sender double-bounce@, e.g.
# the "resource" notice of a queue file write that failed on the full
# store) have nowhere to go in this cluster (no local postmaster): they are
# not mail of the load, stay queued, and are counted apart (notices_left).
queue_empty() {
	local out
	out=$(e2e_in "$(e2e_ns "$1")" postqueue -c "$(e2e_node_dir "$1")/conf" -j 2>/dev/null) || return 1
	[ -z "$(printf '%s\n' "$out" | grep -v '"sender": *"double-bounce@' | grep .)" ]
}
notices_left() {
	e2e_in "$(e2e_ns "$1")" postqueue -c "$(e2e_node_dir "$1")/conf" -j 2>/dev/null |
		grep -c '"sender": *"double-bounce@'
}
tconv0=$(e2e_ms)
conv=""
# outgoing mail: the sink accepts now; settled when it has every message
# acknowledged for it, or when both queues are empty (a lost one: the
# checker says so)
out_done() {
	"$E2E_PY" - "$RECORD" "$SINK_DIR/received" <<-'EOF'
	import json, sys
	want = set()
	for l in open(sys.argv[1]):
	    if '"out": true' in l:
	        r = json.loads(l)
	        if r.get("ack") is True:
	            want.add(r["mid"])
	got = set(l.strip() for l in open(sys.argv[2]))
	sys.exit(0 if want <= got else 1)
	EOF
}
out_settled() { out_done || { queue_empty 1 && queue_empty 2; }; }
if [ -n "${SINKTOGPID:-}" ]; then
	wait "$SINKTOGPID"; SINKTOGPID=""
fi
# in the node's namespace: behind the balancer its Postfix's inet_interfaces
# name the node's own address
for n in 1 2; do e2e_in "$(e2e_ns "$n")" postqueue -c "$(e2e_node_dir "$n")/conf" -f 2>/dev/null; done
if { [ "$OUTGOING" = 0 ] || e2e_wait 120 out_settled; } &&
	e2e_wait 120 queue_empty 1 && e2e_wait 120 queue_empty 2 &&
	e2e_wait 120 e2e_peer_synced 1 && e2e_wait 120 e2e_peer_synced 2; then
	conv_heal=$(( $(e2e_ms) - theal )) conv_stop=$(( $(e2e_ms) - tconv0 ))
	conv="$conv_heal ms after the last fault healed, $conv_stop"
else
	for n in 1 2; do say "node $n queue: $(e2e_in "$(e2e_ns "$n")" postqueue -c "$(e2e_node_dir "$n")/conf" -p 2>&1 | tail -1)"; done
fi
# the last heals' watchers end once the nodes are in sync (or time out)
for p in $CONVPIDS; do wait "$p" 2>/dev/null; done
CONVPIDS=""
[ -z "${BTAPPID:-}" ] || { kill "$BTAPPID" 2>/dev/null; wait "$BTAPPID" 2>/dev/null; BTAPPID=""; }
sleep 2
# ---- check
userpw=""
for u in $USERS; do userpw="$userpw --user $u=pw-${u%@*}"; done
# Each node's own IMAP view, asked from its peer's address: the home-node
# passdb serves a session the peer sent here where it lands (one hop), so
# node N shows what node N's Dovecot holds, not its user's home node's.
: >"$CH/checker.out"
vrc=0 views=""
for n in 1 2; do
	rm -f "$CH/imap-n$n.json"
	# shellcheck disable=SC2086
	e2e_in "$(e2e_ns $((3 - n)))" "$E2E_PY" "$E2E_SRC/tests/chaos/checker.py" --views-only \
		--record "$RECORD" --imap "n$n=$(e2e_ip "$n")" $userpw --save-view "$CH" \
		>>"$CH/checker.out" 2>&1 && [ -s "$CH/imap-n$n.json" ] || vrc=1
	[ ! -s "$CH/imap-n$n.json" ] || views="$views --view-json n$n=$CH/imap-n$n.json"
done
# outgoing mail: the sink's list, and the takeover instances' logs too
outargs=""
if [ "$OUTGOING" != 0 ]; then
	outargs="--sink $SINK_DIR/received"
	for f in "$(e2e_node_dir 1)"/log/postfix-takeover-*.log "$(e2e_node_dir 2)"/log/postfix-takeover-*.log; do
		[ ! -f "$f" ] || outargs="$outargs --delivery-log $f"
	done
fi
# shellcheck disable=SC2086
e2e_client "$E2E_PY" "$E2E_SRC/tests/chaos/checker.py" ${CHAOS_STRICT:+--strict} --record "$RECORD" $outargs \
	--tree "n1=$(backing 1)" --tree "n2=$(backing 2)" $views $userpw \
	--delivery-log "$(e2e_node_dir 1)/log/dovecot.log" --delivery-log "$(e2e_node_dir 2)/log/dovecot.log" \
	--delivery-log "$(e2e_node_dir 1)/log/postfix.log" --delivery-log "$(e2e_node_dir 2)/log/postfix.log" \
	--json "$CH/verdict.json" >>"$CH/checker.out" 2>&1
crc=$?
if [ "$vrc" != 0 ]; then
	say "an IMAP view could not be fetched (chaos/checker.out): not compared"
	crc=1
fi

# ---- figures
cat "$CH/loadgen.out" >&2
cat "$CH/checker.out"
printf 'chaos: seed %s; %s s of faults; faults by kind:' "$SEED" "$FAULT_SECS"
for k in $KINDS; do printf ' %s=%s' "$k" "${NFAULT[$k]:-0}"; done; echo
echo "chaos: converged (queues empty, peers in sync) ${conv:-NOT: not within 120 s} ms after the load stopped"
# The verdict in one block: the checker's counts, the IMAP operations, the
# faults, the failover times (VIP outages the SMTP probe saw) and the
# convergence time.
faults=""
for k in $KINDS; do faults="$faults $k=${NFAULT[$k]:-0}"; done
touch "$CH/convergence.log"
"$E2E_PY" - "$RECORD" "$CH/verdict.json" "${conv_heal:--1}" "$faults" "$CH/convergence.log" "$BALANCE" <<'EOF'
import json, sys
rec, vpath, conv, faults = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].split()
balance = sys.argv[6] != "0"
heals = [l.split() for l in open(sys.argv[5]) if l.strip()]
hc = sorted(int(h[1]) for h in heals if h[1].isdigit())
d = sorted(json.loads(l)["down_ms"] for l in open(rec) if '"probe"' in l)
def pct(xs, q):
    """the q-quantile of a sorted list (0 when empty)"""
    return xs[min(len(xs) - 1, int(q * len(xs)))] if xs else 0
try:
    v = json.load(open(vpath))
except (OSError, ValueError):
    v = None
print("chaos: ---- verdict")
print("chaos: %s" % ("both nodes serve: HAProxy on both bound to the VIP, PROXY listeners,"
                     " heartbeatd's agents, the home-node passdb" if balance else
                     "one node serves: the VIP holder's Postfix and Dovecot (CHAOS_BALANCE=0)"))
if v is None:
    print("chaos: no verdict from the checker (see checker.out)")
else:
    print("chaos: messages attempted %d, acknowledged %d, indeterminate %d" % (
        v["attempted"], v["acknowledged"], v["indeterminate"]))
    print("chaos: lost %d, duplicated %d, unexpected %d, divergent %d, resurrected %d" % tuple(
        v[k] for k in ("lost", "duplicated", "unexpected", "divergent", "resurrected")))
    ops = v["imap_ops"]
    print("chaos: IMAP operations completed %d (%s); moves/expunges without an OK: %s;"
          " left in two folders by them: %d" % (
              sum(ops.values()), " ".join("%s=%d" % kv for kv in sorted(ops.items())),
              " ".join("%s=%d" % kv for kv in sorted(v["imap_unanswered"].items())) or "none",
              v["left_in_both"]))
    print("chaos: UID anomalies the client saw during the run (two UIDs, one Message-ID):"
          " %d" % v.get("client_anomalies", 0))
    print("chaos: redelivered by the MTA (extra copies the logged delivery attempts account"
          " for, not a store duplicate): %d" % v.get("redelivered", 0))
    if "outgoing_attempted" in v and v["outgoing_attempted"]:
        print("chaos: outgoing mail (to the remote SMTP sink) attempted %d, acknowledged %d,"
              " indeterminate %d, delivered %d; lost %d, duplicated %d, redelivered by"
              " Postfix %d" % tuple(v[k] for k in (
                  "outgoing_attempted", "outgoing_acknowledged", "outgoing_indeterminate",
                  "outgoing_delivered", "lost_outgoing", "duplicated_outgoing",
                  "redelivered_outgoing")))
print("chaos: faults injected %d:%s" % (sum(int(f.split("=")[1]) for f in faults),
                                        "".join(" " + f for f in faults)))
print("chaos: failover (client-visible outages: an SMTP greeting on the VIP, probed every 0.2 s):"
      " %d, p50 %d ms, p99 %d ms, max %d ms" % (len(d), pct(d, 0.5), pct(d, 0.99), d[-1] if d else 0))
print("chaos: convergence after the last heal: %s"
      % ("%d ms" % conv if conv >= 0 else "NOT within 120 s"))
print("chaos: convergence after each heal (both nodes' peers in sync again): %d measured,"
      " p50 %d ms, p99 %d ms, max %d ms; cut short by the next fault %d, not within 120 s %d"
      % (len(hc), pct(hc, 0.5), pct(hc, 0.99), hc[-1] if hc else 0,
         sum(1 for h in heals if h[1] == "cut"), sum(1 for h in heals if h[1] == "timeout")))
EOF
# why the long outages happened: the fault in flight, heartbeatd's and
# HAProxy's view of it (chaos/outages.txt)
hblogs=""
[ "$BALANCE" = 0 ] || hblogs="--tap $CH/balance.log"
for n in 1 2; do
	for f in "$(e2e_node_dir "$n")"/log/heartbeatd.log*; do
		[ ! -s "$f" ] || hblogs="$hblogs --log n$n=$f"
	done
done
# shellcheck disable=SC2086
"$E2E_PY" "$E2E_SRC/tests/chaos/outages.py" --record "$RECORD" --faults "$FAULTS" \
	--out "$CH/outages.txt" $hblogs
[ -n "$conv" ] || crc=1
for n in 1 2; do
	# who served: messages Postfix took, IMAP sessions Dovecot served (its
	# own and those the peer proxied here), sessions it proxied to the
	# peer, LMTP deliveries it saved
	printf 'chaos: node %s served: SMTP messages %s, IMAP logins %s (proxied to the peer %s), LMTP deliveries %s\n' "$n" \
		"$(grep -c 'postfix/cleanup\[[0-9]*\]: [0-9A-Za-z]*: message-id=<chaos-' "$(e2e_node_dir "$n")/log/postfix.log")" \
		"$(grep -c "imap-login: .*Login: .*rip=$E2E_CLIENT_IP," "$(e2e_node_dir "$n")/log/dovecot.log")" \
		"$(grep -ci 'imap-login: .*proxy(.*started proxying' "$(e2e_node_dir "$n")/log/dovecot.log")" \
		"$(grep -c 'lmtp(.*saved mail to' "$(e2e_node_dir "$n")/log/dovecot.log")"
done
for n in 1 2; do
	# Evidence for the findings: what the daemons themselves noticed.
	printf 'chaos: node %s logs: mhafs errors %s, Dovecot "Fixed a duplicate" %s, Dovecot ENOSPC %s, Dovecot errors %s\n' "$n" \
		"$(cat "$(state "$n")"/mhafs.log* 2>/dev/null | grep -cE 'mhafs\[(error|crit|alert|emerg)\]')" \
		"$(grep -c 'Fixed a duplicate' "$(e2e_node_dir "$n")/log/dovecot.log")" \
		"$(grep -c 'No space left' "$(e2e_node_dir "$n")/log/dovecot.log")" \
		"$(grep -c ': Error: ' "$(e2e_node_dir "$n")/log/dovecot.log")"
	if [ "$OUTGOING" != 0 ]; then
		# the survivor's deliveries of a dead peer's queue; queue files
		# quarantined at a takeover or at a start (one line each)
		printf 'chaos: node %s queue: takeovers of the peer'"'"'s queue %s (messages %s), hand-backs %s, quarantined %s, Postfix notices to the postmaster left queued %s\n' "$n" \
			"$(cat "$(e2e_node_dir "$n")"/queue-local/*/takeover.log 2>/dev/null | grep -c "taking over")" \
			"$(cat "$(e2e_node_dir "$n")"/queue-local/*/takeover.log 2>/dev/null | sed -n 's/.*taking over .*queue: \([0-9]*\) message.*/\1/p' | paste -sd+ | sed 's/^$/0/' | bc)" \
			"$(cat "$(e2e_node_dir "$n")"/queue-local/*/takeover.log 2>/dev/null | grep -c "released")" \
			"$(cat "$(e2e_node_dir "$n")"/queue-local/*/takeover.log "$(e2e_node_dir "$n")/log/queue-ready.log" 2>/dev/null |
				grep -c "quarantined [^ ]* queue file ")" \
			"$(notices_left "$n")"
	fi
	bad=$(cat "$(state "$n")"/mhafs.log* 2>/dev/null | grep -cE 'Sanitizer|runtime error:')
	[ "$bad" = 0 ] || { say "node $n mhafs logged $bad sanitizer reports"; crc=1; }
done
if [ "$crc" = 0 ]; then echo "chaos: PASS"; else
	echo "chaos: FAIL (history and logs: $E2E_TMP, kept)"; E2E_KEEP=1; fi
exit "$crc"
